"""The REST API against its own OpenAPI schema, with requests that Schemathesis generates.

Every operation under /api/v1 is called with generated parameters, on a real database that
holds a few traces (their ids are put into some of the generated paths, so the 200 replies of
lookups are checked too, not only the 404s). Each reply must not be a server error, must have
a status the schema documents, and must match the schema of that status. The pages are not in
the schema; they are called with generated query strings and must never answer 5xx.

The app runs in-process through the same TestClient as the other app tests, so its writer and
engine live and end with the test. `SPYGLASS_FUZZ_EXAMPLES` raises the number of examples, as
for test_fuzz_receiver.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from app.settings import Settings
from tests.app.test_fuzz_receiver import fuzz_settings
from tests.otlp_builders import BASE_NS, request, span, to_otlp_json

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
LLM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-6",
    "gen_ai.input.messages": json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": "Write a haiku."}]}]
    ),
    "gen_ai.output.messages": json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": "Tides."}]}]
    ),
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 4,
}


@pytest.fixture
def stored(database_url: str) -> Iterator[tuple[TestClient, list[tuple[str, str]]]]:
    """The app on its own database, with two traces sent through the receiver."""
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        ids = []
        for index in range(2):
            root = span("agent", start_ns=BASE_NS + index, attributes={"user": "ada"})
            call = span(
                "chat claude-sonnet-4-6",
                trace=root.trace_id,
                parent=root.span_id,
                kind=3,
                status=2 * index,
                attributes=LLM,
            )
            body = json.dumps(to_otlp_json(request(root, call)))
            reply = client.post(
                "/v1/traces", content=body, headers={"content-type": "application/json"}
            )
            assert reply.status_code == 200
            ids += [
                (root.trace_id.hex(), root.span_id.hex()),
                (call.trace_id.hex(), call.span_id.hex()),
            ]
        yield client, ids


@pytest.fixture
def schema(stored: tuple[TestClient, list]) -> Any:
    client, _ = stored
    return schemathesis.openapi.from_dict(client.get("/openapi.json").json())


def api_operations() -> list[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite://"))
    paths = app.openapi()["paths"]
    return [
        (path, method.upper())
        for path, methods in paths.items()
        if path.startswith("/api/v1/")
        for method in methods
    ]


@pytest.mark.parametrize(("path", "method"), api_operations())
def test_api_operation_conforms_to_its_schema(
    stored: tuple[TestClient, list[tuple[str, str]]], schema: Any, path: str, method: str
) -> None:
    client, ids = stored
    operation = schema[path][method]
    statuses: set[int] = set()

    @fuzz_settings(examples=100, deadline_seconds=10)
    @given(operation.as_strategy(), st.sampled_from([None, *ids]))
    def check(case: Any, known: tuple[str, str] | None) -> None:
        if known is not None and case.path_parameters:
            # A stored trace and span, so that lookups find something to return.
            trace_id, span_id = known
            case.path_parameters.update(
                {
                    k: v
                    for k, v in (("trace_id", trace_id), ("span_id", span_id))
                    if k in case.path_parameters
                }
            )
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        reply = client.request(
            kwargs["method"],
            kwargs["url"],
            params=kwargs.get("params"),
            headers=kwargs.get("headers"),
        )
        statuses.add(reply.status_code)
        case.validate_response(reply, checks=CHECKS)

    check()
    # The stored ids and the generated ones both reached the app: found, and refused.
    assert 200 in statuses and statuses & {404, 422}, statuses


PAGES = [
    "/",
    "/partials/traces",
    "/traces/{trace_id}",
    "/partials/traces/{trace_id}/spans/{span_id}",
]
QUERY = st.dictionaries(
    st.sampled_from(
        ["q", "service", "model", "status", "range", "since", "until", "cursor", "span"]
    ),
    st.one_of(
        st.text(max_size=30),
        st.sampled_from(["error", "ok", "1h", "2026-12-04T17:00:00Z", "0", "9" * 30, "zz"]),
    ),
    max_size=4,
)


def test_pages_never_answer_a_server_error(
    stored: tuple[TestClient, list[tuple[str, str]]],
) -> None:
    client, ids = stored
    statuses: set[int] = set()
    identifiers = st.one_of(
        st.sampled_from(ids), st.tuples(st.text(max_size=40), st.text(max_size=20))
    )

    @fuzz_settings(examples=60, deadline_seconds=10)
    @given(st.sampled_from(PAGES), identifiers, QUERY)
    def check(page: str, known: tuple[str, str], query: dict[str, str]) -> None:
        trace_id, span_id = known
        path = page.format(trace_id=quote(trace_id, safe=""), span_id=quote(span_id, safe=""))
        reply = client.get(path, params=query)
        statuses.add(reply.status_code)
        assert reply.status_code < 500, (path, query, reply.text[:300])

    check()
    assert {200, 404, 422} <= statuses, statuses
