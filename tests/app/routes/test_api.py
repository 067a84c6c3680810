"""The REST API under /api/v1, fed through the OTLP receiver, as a client sees it."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from google.protobuf.message import Message
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.otlp_builders import (
    BASE_NS,
    key_values,
    log_record,
    logs_request,
    request,
    span,
    span_id,
    trace_id,
)

HOUR_NS = 3_600_000_000_000
SECOND_NS = 1_000_000_000
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
SUMMARY_KEYS = {
    "trace_id",
    "root_span_id",
    "name",
    "service_name",
    "start_time",
    "end_time",
    "duration_ms",
    "span_count",
    "llm_call_count",
    "models",
    "error_count",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
}
SPAN_KEYS = {
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_time",
    "end_time",
    "duration_ms",
    "status_code",
    "status_message",
    "service_name",
    "scope_name",
    "attributes",
    "resource_attributes",
    "events",
    "llm",
}
LLM_KEYS = {
    "provider",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "finish_reasons",
    "streaming",
    "time_to_first_token_ms",
}
MESSAGES = [
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    {
        "role": "assistant",
        "parts": [
            {
                "type": "tool_call",
                "id": "toolu_1",
                "name": "get_weather",
                "arguments": {"city": "Paris"},
            }
        ],
    },
]


def export(client: TestClient, message: Message, path: str = "/v1/traces") -> None:
    reply = client.post(
        path,
        content=message.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert reply.status_code == 200, reply.content


def get(client: TestClient, url: str, **params: Any) -> Any:
    reply = client.get(url, params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def iso(ns: int) -> str:
    """RFC 3339 with Z of a whole second."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ns // SECOND_NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def page_through(client: TestClient, url: str, key: str, **params: Any) -> list[list[dict]]:
    """Every page of a list, following next_cursor until it is null."""
    pages, cursor = [], None
    while True:
        reply = get(client, url, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(reply[key])
        cursor = reply["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "next_cursor never ends"


def trace_names(client: TestClient, **params: Any) -> list[str]:
    return [trace["name"] for trace in get(client, "/api/v1/traces", **params)["traces"]]


def gen_ai(**extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-x",
        **extra,
    }


# --- the trace list ----------------------------------------------------------------------------


def test_trace_list_is_newest_first_in_the_contract_shape(client: TestClient) -> None:
    old, new, root = trace_id(), trace_id(), span_id()
    usage = {
        "gen_ai.response.model": "claude-x-1",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 340,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.cache_creation.input_tokens": 0,
    }
    export(client, request(span("old", trace=old, start_ns=BASE_NS)))
    export(
        client,
        request(
            span("new", trace=new, ident=root, start_ns=BASE_NS + HOUR_NS, duration_ns=812_400_000),
            span(
                "call",
                trace=new,
                parent=root,
                start_ns=BASE_NS + HOUR_NS + 1,
                attributes=gen_ai(**usage),
            ),
            span("boom", trace=new, parent=root, start_ns=BASE_NS + HOUR_NS + 2, status=2),
            service="my-app",
        ),
    )

    reply = get(client, "/api/v1/traces")
    assert set(reply) == {"traces", "next_cursor"}
    assert reply["next_cursor"] is None
    newest, oldest = reply["traces"]
    assert set(newest) == SUMMARY_KEYS
    assert newest == {
        "trace_id": new.hex(),
        "root_span_id": root.hex(),
        "name": "new",
        "service_name": "my-app",
        "start_time": "2026-12-04T17:00:00.000000Z",
        "end_time": "2026-12-04T17:00:00.812400Z",
        "duration_ms": 812.4,
        "span_count": 3,
        "llm_call_count": 1,
        "models": ["claude-x-1"],
        "error_count": 1,
        "input_tokens": 1200,
        "output_tokens": 340,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 0,
    }
    assert oldest["trace_id"] == old.hex()
    assert isinstance(oldest["duration_ms"], float)


@pytest.mark.parametrize(("total", "limit"), [(23, 5), (20, 5), (3, 1)])
def test_paging_through_traces_returns_each_exactly_once(
    client: TestClient, total: int, limit: int
) -> None:
    # Groups of four traces share a start time, so the order must fall back to the id.
    spans = [span(f"t{i}", start_ns=BASE_NS + (i // 4) * 1000) for i in range(total)]
    export(client, request(*spans))
    expected = [
        s.trace_id.hex()
        for s in sorted(spans, key=lambda s: (s.start_time_unix_nano, s.trace_id), reverse=True)
    ]

    pages = page_through(client, "/api/v1/traces", "traces", limit=limit)
    assert [len(page) for page in pages[:-1]] == [limit] * (len(pages) - 1)
    assert 1 <= len(pages[-1]) <= limit
    assert [trace["trace_id"] for page in pages for trace in page] == expected


def test_the_trace_list_defaults_to_fifty(client: TestClient) -> None:
    export(client, request(*(span(start_ns=BASE_NS + i) for i in range(51))))
    reply = get(client, "/api/v1/traces")
    assert len(reply["traces"]) == 50
    assert reply["next_cursor"] is not None


def test_limit_1000_is_allowed(client: TestClient) -> None:
    export(client, request(span()))
    assert len(get(client, "/api/v1/traces", limit=1000)["traces"]) == 1


@pytest.fixture
def hourly(client: TestClient) -> TestClient:
    """Traces named h16 to h19, starting on the hour 16:00Z to 19:00Z."""
    export(client, request(*(span(f"h{16 + i}", start_ns=BASE_NS + i * HOUR_NS) for i in range(4))))
    return client


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"since": "2026-12-04T17:00:00Z"}, ["h19", "h18", "h17"]),
        ({"since": "2026-12-04T17:00:00.000001Z"}, ["h19", "h18"]),
        ({"since": "2026-12-04t17:00:00z"}, ["h19", "h18", "h17"]),
        ({"since": "2026-12-04T18:00:00+01:00"}, ["h19", "h18", "h17"]),  # 17:00Z
        ({"since": "2026-12-04T18:30:00+01:00"}, ["h19", "h18"]),  # 17:30Z
        ({"since": "2026-12-04T12:00:00-05:00"}, ["h19", "h18", "h17"]),  # 17:00Z
        ({"since": str(BASE_NS + 2 * HOUR_NS)}, ["h19", "h18"]),
        ({"until": "2026-12-04T18:00:00Z"}, ["h17", "h16"]),  # until is exclusive
        ({"until": "2026-12-04T19:00:00+01:00"}, ["h17", "h16"]),
        ({"until": str(BASE_NS + 1)}, ["h16"]),
        ({"since": "2026-12-04T17:00:00Z", "until": "2026-12-04T19:00:00Z"}, ["h18", "h17"]),
        ({"since": "", "until": ""}, ["h19", "h18", "h17", "h16"]),
        # Past the 64-bit nanosecond range: nothing is older or newer.
        ({"since": "0001-01-01T00:00:00Z"}, ["h19", "h18", "h17", "h16"]),
        ({"until": "9999-12-31T23:59:59Z"}, ["h19", "h18", "h17", "h16"]),
        ({"since": "9" * 30}, []),
    ],
)
def test_traces_since_and_until(hourly: TestClient, params: dict, names: list[str]) -> None:
    assert trace_names(hourly, **params) == names
    # The span list reads times the same way.
    spans = get(hourly, "/api/v1/spans", **params)["spans"]
    assert [item["name"] for item in spans] == names


def test_traces_by_service_match_any_span_of_the_trace(client: TestClient) -> None:
    mixed, root = trace_id(), span_id()
    export(client, request(span("mixed", trace=mixed, ident=root), service="frontend"))
    export(
        client,
        request(span("work", trace=mixed, parent=root, start_ns=BASE_NS + 1), service="worker"),
    )
    export(client, request(span("alone", start_ns=BASE_NS - 1), service="other"))

    assert trace_names(client, service="frontend") == ["mixed"]
    assert trace_names(client, service="worker") == ["mixed"]
    assert trace_names(client, service="other") == ["alone"]
    assert trace_names(client, service="nobody") == []
    assert trace_names(client, service="") == ["mixed", "alone"]


def test_traces_by_model_match_request_or_response_model(client: TestClient) -> None:
    export(
        client,
        request(
            span("llm", attributes=gen_ai(**{"gen_ai.response.model": "claude-x-1"})),
            span(
                "other", start_ns=BASE_NS - 1, attributes=gen_ai(**{"gen_ai.request.model": "gpt"})
            ),
            span("plain", start_ns=BASE_NS - 2),
        ),
    )
    assert trace_names(client, model="claude-x") == ["llm"]
    assert trace_names(client, model="claude-x-1") == ["llm"]
    assert trace_names(client, model="gpt") == ["other"]
    assert trace_names(client, model="claude") == []


def test_traces_by_status(client: TestClient) -> None:
    failed, root = trace_id(), span_id()
    export(
        client,
        request(
            span("failed", trace=failed, ident=root, status=Status.STATUS_CODE_OK),
            span("inner", trace=failed, parent=root, start_ns=BASE_NS + 1, status=2),
            span("fine", start_ns=BASE_NS - 1, status=Status.STATUS_CODE_OK),
            span("unset", start_ns=BASE_NS - 2),
        ),
    )
    assert trace_names(client, status="error") == ["failed"]
    assert trace_names(client, status="ok") == ["fine", "unset"]
    assert trace_names(client) == ["failed", "fine", "unset"]


def test_q_searches_span_names_and_attribute_values_ignoring_case(client: TestClient) -> None:
    named, root = trace_id(), span_id()
    export(
        client,
        request(
            span("Checkout", trace=named, ident=root),
            span("Fetch Weather", trace=named, parent=root, start_ns=BASE_NS + 1),
            span("valued", start_ns=BASE_NS - 1, attributes={"note": "The Quick Brown fox"}),
            span("keyed", start_ns=BASE_NS - 2, attributes={"weather.key": "x"}),
            span(
                "messages",
                start_ns=BASE_NS - 3,
                attributes=gen_ai(**{"gen_ai.input.messages": orjson.dumps(MESSAGES).decode()}),
            ),
        ),
    )
    assert trace_names(client, q="FETCH weather") == ["Checkout"]
    assert trace_names(client, q="weather.key") == []  # a key, not a value
    assert trace_names(client, q="quick BROWN") == ["valued"]
    assert trace_names(client, q="get_weather") == ["messages"]
    assert trace_names(client, q="nowhere") == []


def test_q_finds_hyphenated_words_on_every_backend(client: TestClient) -> None:
    # PostgreSQL indexes "gpt-4o" as the whole word and its parts; a query that parsed it twice
    # looked for five words in a row and found nothing.
    export(
        client,
        request(
            span("models", attributes={"note": "compare gpt-4o with claude-fake-sonnet today"}),
            span("mail", start_ns=BASE_NS - 1, attributes={"note": "send an e-mail, foo-bar"}),
        ),
    )
    assert trace_names(client, q="gpt-4o") == ["models"]
    assert trace_names(client, q="claude-fake-sonnet") == ["models"]
    assert trace_names(client, q="e-mail foo-bar") == ["mail"]
    assert trace_names(client, q='"foo-bar"') == ["mail"]
    assert trace_names(client, q="gpt-5") == []


def test_q_finds_words_whatever_punctuation_surrounds_them(client: TestClient) -> None:
    export(
        client,
        request(
            span("percent", attributes={"note": "100% done"}),
            span("thousand", start_ns=BASE_NS - 1, attributes={"note": "1000 done"}),
            span("snake", start_ns=BASE_NS - 2, attributes={"note": "a_b"}),
            span("plain", start_ns=BASE_NS - 3, attributes={"note": "axb"}),
            span("slash", start_ns=BASE_NS - 4, attributes={"note": "a\\b"}),
        ),
    )
    # Search is by word: "%" is no wildcard, and "100" is a word that "1000" only starts with.
    assert trace_names(client, q="100%") == ["percent", "thousand"]
    assert trace_names(client, q='"100"') == ["percent"]
    # Punctuation separates words: "a_b" and "a\\b" are both the words "a b", in that order.
    assert trace_names(client, q="a_b") == ["snake", "slash"]
    assert trace_names(client, q="a\\b") == ["snake", "slash"]
    assert trace_names(client, q="axb") == ["plain"]


@pytest.mark.parametrize("q", ["%", "_", "%_\\", '"', "\x00"])
def test_q_without_words_is_a_bad_parameter(client: TestClient, q: str) -> None:
    export(client, request(span(attributes={"note": "100% a_b"})))
    reply = client.get("/api/v1/traces", params={"q": q})
    assert reply.status_code == 422, reply.text
    assert "no words" in reply.text


# --- the span list -----------------------------------------------------------------------------


def test_paging_through_spans_returns_each_exactly_once(client: TestClient) -> None:
    traces = [trace_id() for _ in range(3)]
    # 57 spans over three traces; groups of five share a start time, across and within traces.
    spans = [span(f"s{i}", trace=traces[i % 3], start_ns=BASE_NS + (i // 5)) for i in range(57)]
    export(client, request(*spans))
    expected = [
        (s.trace_id.hex(), s.span_id.hex())
        for s in sorted(
            spans, key=lambda s: (s.start_time_unix_nano, s.trace_id, s.span_id), reverse=True
        )
    ]

    pages = page_through(client, "/api/v1/spans", "spans", limit=10)
    assert [len(page) for page in pages] == [10, 10, 10, 10, 10, 7]
    assert [(s["trace_id"], s["span_id"]) for page in pages for s in page] == expected


def test_paging_through_spans_keeps_the_filters(client: TestClient) -> None:
    spans = [span(f"s{i}", start_ns=BASE_NS, attributes={"even": i % 2 == 0}) for i in range(9)]
    export(client, request(*spans))
    pages = page_through(client, "/api/v1/spans", "spans", limit=2, attr="even=true")
    assert sorted(s["name"] for page in pages for s in page) == ["s0", "s2", "s4", "s6", "s8"]


@pytest.fixture
def labelled(client: TestClient) -> dict[str, str]:
    """Four spans in two traces, newest a2, then g2, b1, a1; returns label -> span id."""
    t1, t2 = trace_id(), trace_id()
    ids = {label: span_id() for label in ("a1", "b1", "g2", "a2")}
    common = {"http.method": "GET", "retries": 3}
    export(
        client,
        request(
            span(
                "alpha",
                trace=t1,
                ident=ids["a1"],
                start_ns=BASE_NS,
                attributes={
                    **common,
                    "ratio": 0.25,
                    "cached": True,
                    "query": "a=b=c",
                    "service.x.y": "dotted",
                },
            ),
            span(
                "beta",
                trace=t1,
                ident=ids["b1"],
                start_ns=BASE_NS + SECOND_NS,
                duration_ns=8_199_999,
                status=Status.STATUS_CODE_OK,
                attributes={"http.method": "POST", "retries": 0, "ratio": 1.0, "cached": False},
            ),
            service="svc-a",
        ),
    )
    export(
        client,
        request(
            span(
                "gamma",
                trace=t2,
                ident=ids["g2"],
                start_ns=BASE_NS + 2 * SECOND_NS,
                duration_ns=8_200_000,
                status=Status.STATUS_CODE_ERROR,
                attributes=gen_ai(
                    **{"gen_ai.response.model": "claude-x-1", "http.method": "GET", "retries": "3"}
                ),
            ),
            span(
                "alpha",
                trace=t2,
                ident=ids["a2"],
                start_ns=BASE_NS + 3 * SECOND_NS,
                duration_ns=50_000_000,
                attributes={**common, "cached": True},
            ),
            service="svc-b",
        ),
    )
    ids["t1"], ids["t2"] = t1.hex(), t2.hex()
    return {label: value if isinstance(value, str) else value.hex() for label, value in ids.items()}


@pytest.mark.parametrize(
    ("params", "labels"),
    [
        ({}, ["a2", "g2", "b1", "a1"]),
        ({"trace_id": "t1"}, ["b1", "a1"]),
        ({"name": "alpha"}, ["a2", "a1"]),
        ({"service": "svc-b"}, ["a2", "g2"]),
        ({"model": "claude-x"}, ["g2"]),
        ({"model": "claude-x-1"}, ["g2"]),
        ({"since": iso(BASE_NS + SECOND_NS)}, ["a2", "g2", "b1"]),
        ({"until": iso(BASE_NS + 2 * SECOND_NS)}, ["b1", "a1"]),
        ({"since": str(BASE_NS + 1), "until": str(BASE_NS + 3 * SECOND_NS)}, ["g2", "b1"]),
        ({"status": "unset"}, ["a2", "a1"]),
        ({"status": "ok"}, ["b1"]),
        ({"status": "error"}, ["g2"]),
        ({"min_duration_ms": "0"}, ["a2", "g2", "b1", "a1"]),
        # 8.2 ms is 8199999.999... ns as a float: b1 lasts 8199999 ns and must not match.
        ({"min_duration_ms": "8.2"}, ["a2", "g2"]),
        ({"min_duration_ms": "50"}, ["a2"]),
        ({"min_duration_ms": "50.000001"}, []),
        ({"attr": "http.method=GET"}, ["a2", "g2", "a1"]),
        ({"attr": "service.x.y=dotted"}, ["a1"]),
        ({"attr": "retries=3"}, ["a2", "g2", "a1"]),  # the int 3 and the string "3"
        ({"attr": "retries=0"}, ["b1"]),
        ({"attr": "ratio=0.25"}, ["a1"]),
        ({"attr": "ratio=1"}, ["b1"]),  # the double 1.0
        ({"attr": "cached=true"}, ["a2", "a1"]),
        ({"attr": "cached=false"}, ["b1"]),
        ({"attr": "query=a=b=c"}, ["a1"]),
        ({"attr": "query=a"}, []),
        ({"attr": "http.method=get"}, []),
        ({"attr": "missing=GET"}, []),
        ({"attr": ["http.method=GET", "cached=true"]}, ["a2", "a1"]),
        ({"attr": ["http.method=GET", "retries=3", "ratio=0.25"]}, ["a1"]),
        ({"attr": ["http.method=POST", "cached=true"]}, []),
        ({"name": "alpha", "service": "svc-a", "attr": "cached=true"}, ["a1"]),
    ],
)
def test_span_filters(
    client: TestClient, labelled: dict[str, str], params: dict, labels: list[str]
) -> None:
    if "trace_id" in params:
        params = {**params, "trace_id": labelled[params["trace_id"]]}
    spans = get(client, "/api/v1/spans", **params)["spans"]
    assert [item["span_id"] for item in spans] == [labelled[label] for label in labels]


# --- one trace, one span, one conversation -----------------------------------------------------


def test_a_trace_lists_its_spans_in_start_order(client: TestClient) -> None:
    trace, root = trace_id(), span_id()
    starts = [7, 3, 9, 0, 3, 5]
    spans = [
        span(
            f"at {start}",
            trace=trace,
            ident=root if start == 0 else None,
            parent=b"" if start == 0 else root,
            start_ns=BASE_NS + start,
        )
        for start in starts
    ]
    export(client, request(*spans[:3]))
    export(client, request(*spans[3:]))
    export(client, request(span("another trace", start_ns=BASE_NS + 4)))

    reply = get(client, f"/api/v1/traces/{trace.hex()}")
    assert reply["trace"]["trace_id"] == trace.hex()
    assert reply["trace"]["name"] == "at 0"
    assert reply["trace"]["span_count"] == 6
    expected = sorted(spans, key=lambda s: (s.start_time_unix_nano, s.span_id))
    assert [s["span_id"] for s in reply["spans"]] == [s.span_id.hex() for s in expected]
    for item in reply["spans"]:
        assert set(item) >= SPAN_KEYS


def test_ids_may_be_upper_case(client: TestClient) -> None:
    one = span("one")
    export(client, request(one))
    trace, ident = one.trace_id.hex().upper(), one.span_id.hex().upper()
    assert get(client, f"/api/v1/traces/{trace}")["trace"]["trace_id"] == one.trace_id.hex()
    assert get(client, f"/api/v1/traces/{trace}/spans/{ident}")["span_id"] == one.span_id.hex()


def test_one_span_carries_every_field(client: TestClient) -> None:
    trace, ident, parent, linked = trace_id(), span_id(), span_id(), trace_id()
    full = Span(
        trace_id=trace,
        span_id=ident,
        parent_span_id=parent,
        trace_state="k=v",
        flags=1,
        name="GET /weather",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=BASE_NS + 1_234_567,
        end_time_unix_nano=BASE_NS + 3_434_567,
        attributes=key_values({"double": 1.0, "bytes": b"\x00\xff", "kv": {"a": [1, "b"]}}),
        dropped_attributes_count=1,
        events=[
            Span.Event(
                time_unix_nano=BASE_NS + 2_000_000,
                name="retry",
                attributes=key_values({"attempt": 2}),
                dropped_attributes_count=3,
            )
        ],
        dropped_events_count=2,
        links=[Span.Link(trace_id=linked, span_id=ident, attributes=key_values({"x": True}))],
        dropped_links_count=4,
        status=Status(code=Status.STATUS_CODE_ERROR, message="timeout"),
    )
    message = request(full, service="weather-app", scope="weather.client")
    message.resource_spans[0].scope_spans[0].scope.version = "1.2.3"
    export(client, message)
    export(
        client,
        logs_request(
            log_record("second", trace=trace, ident=ident, time_ns=BASE_NS + 2_500_000),
            log_record({"event": "first"}, trace=trace, ident=ident, time_ns=BASE_NS + 1_500_000),
            log_record("elsewhere", trace=trace, ident=span_id(), time_ns=BASE_NS + 1_600_000),
        ),
        "/v1/logs",
    )

    item = get(client, f"/api/v1/traces/{trace.hex()}/spans/{ident.hex()}")
    assert set(item) >= SPAN_KEYS | {"logs"}
    assert item["trace_id"] == trace.hex()
    assert item["span_id"] == ident.hex()
    assert item["parent_span_id"] == parent.hex()
    assert item["name"] == "GET /weather"
    assert item["kind"] == "client"
    assert item["start_time"] == "2026-12-04T16:00:00.001234Z"
    assert item["end_time"] == "2026-12-04T16:00:00.003434Z"
    assert item["duration_ms"] == 2.2
    assert (item["status_code"], item["status_message"]) == ("error", "timeout")
    assert item["service_name"] == "weather-app"
    assert (item["scope_name"], item["scope_version"]) == ("weather.client", "1.2.3")
    assert (item["trace_state"], item["flags"]) == ("k=v", 1)
    assert item["attributes"] == {"double": 1.0, "bytes": "AP8=", "kv": {"a": [1, "b"]}}
    assert "1.0" in client.get(f"/api/v1/traces/{trace.hex()}/spans/{ident.hex()}").text
    assert item["resource_attributes"] == {"service.name": "weather-app"}
    assert item["events"] == [
        {
            "name": "retry",
            "time": "2026-12-04T16:00:00.002000Z",
            "attributes": {"attempt": 2},
            "dropped_attributes_count": 3,
        }
    ]
    assert item["links"] == [
        {
            "trace_id": linked.hex(),
            "span_id": ident.hex(),
            "trace_state": "",
            "flags": 0,
            "attributes": {"x": True},
            "dropped_attributes_count": 0,
        }
    ]
    counts = [item[f"dropped_{what}_count"] for what in ("attributes", "events", "links")]
    assert counts == [1, 2, 4]
    assert item["llm"] is None
    assert [(log["time"], log["body"]) for log in item["logs"]] == [
        ("2026-12-04T16:00:00.001500Z", {"event": "first"}),
        ("2026-12-04T16:00:00.002500Z", "second"),
    ]
    assert item["logs"][0]["severity_number"] == 9


def test_an_llm_span_carries_its_summary(client: TestClient) -> None:
    call = span(
        "chat claude-x",
        attributes=gen_ai(
            **{
                "gen_ai.response.model": "claude-x-1",
                "gen_ai.usage.input_tokens": 135,
                "gen_ai.usage.output_tokens": 40,
                "gen_ai.usage.cache_read.input_tokens": 100,
                "gen_ai.usage.cache_creation.input_tokens": 10,
                "gen_ai.response.finish_reasons": ["tool_use"],
                "gen_ai.response.time_to_first_chunk": 0.412,
            }
        ),
    )
    export(client, request(call))
    item = get(client, f"/api/v1/traces/{call.trace_id.hex()}/spans/{call.span_id.hex()}")
    assert set(item["llm"]) >= LLM_KEYS
    assert {key: item["llm"][key] for key in LLM_KEYS} == {
        "provider": "anthropic",
        "request_model": "claude-x",
        "response_model": "claude-x-1",
        "input_tokens": 135,
        "output_tokens": 40,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 10,
        "finish_reasons": ["tool_use"],
        "streaming": True,
        "time_to_first_token_ms": 412.0,
    }
    assert item["logs"] == []


@pytest.mark.parametrize("encoded", ["json string", "structured"])
def test_the_conversation_of_a_gen_ai_span(client: TestClient, encoded: str) -> None:
    def value(messages: Any) -> Any:
        return orjson.dumps(messages).decode() if encoded == "json string" else messages

    call = span(
        "chat",
        attributes=gen_ai(
            **{
                "gen_ai.input.messages": value(MESSAGES[:1]),
                "gen_ai.output.messages": value(MESSAGES[1:]),
                "gen_ai.system_instructions": value([{"type": "text", "content": "Be brief."}]),
                "gen_ai.request.max_tokens": 1000,
                "gen_ai.usage.input_tokens": 135,
            }
        ),
    )
    export(client, request(call))
    trace, ident = call.trace_id.hex(), call.span_id.hex()
    reply = get(client, f"/api/v1/traces/{trace.upper()}/spans/{ident}/conversation")
    assert (reply["trace_id"], reply["span_id"]) == (trace, ident)
    assert reply["convention"] == "otel-genai"
    assert (reply["provider"], reply["operation"]) == ("anthropic", "chat")
    assert reply["request_model"] == "claude-x"
    assert reply["system_instructions"] == [{"type": "text", "content": "Be brief."}]
    assert reply["input_messages"] == MESSAGES[:1]
    assert reply["output_messages"] == MESSAGES[1:]
    assert reply["request_params"] == {"max_tokens": 1000}
    assert reply["usage"]["input_tokens"] == 135
    assert reply["streaming"] is None


def test_parts_of_other_kinds_are_kept_under_raw(client: TestClient) -> None:
    # The GenAI conventions allow parts of any type; the contract puts those under "raw",
    # at any depth, whichever convention recorded them.
    weird = {"type": "weird_thing", "foo": 1}
    result = {"type": "tool_call_response", "id": "t1", "response": [weird]}
    messages = [{"role": "assistant", "parts": [weird, result, {"type": "text", "content": "ok"}]}]
    call = span(
        "chat", attributes=gen_ai(**{"gen_ai.output.messages": orjson.dumps(messages).decode()})
    )
    export(client, request(call))
    path = f"/api/v1/traces/{call.trace_id.hex()}/spans/{call.span_id.hex()}/conversation"
    [message] = get(client, path)["output_messages"]
    raw = {"type": "weird_thing", "raw": weird}
    assert message["parts"] == [
        raw,
        {"type": "tool_call_response", "id": "t1", "response": [raw]},
        {"type": "text", "content": "ok"},
    ]


def test_a_span_that_is_not_an_llm_call_has_no_conversation(client: TestClient) -> None:
    plain = span("plain", attributes={"http.method": "GET"})
    export(client, request(plain))
    reply = client.get(
        f"/api/v1/traces/{plain.trace_id.hex()}/spans/{plain.span_id.hex()}/conversation"
    )
    assert reply.status_code == 404
    assert "not an LLM call" in reply.json()["detail"]


# --- errors ------------------------------------------------------------------------------------


def test_unknown_ids_are_404(client: TestClient) -> None:
    known = span("known")
    export(client, request(known))
    trace, ident = known.trace_id.hex(), known.span_id.hex()
    other_trace, other_span = "ab" * 16, "cd" * 8
    for url in (
        f"/api/v1/traces/{other_trace}",
        f"/api/v1/traces/{other_trace}/spans/{ident}",
        f"/api/v1/traces/{trace}/spans/{other_span}",
        f"/api/v1/traces/{trace}/spans/{other_span}/conversation",
    ):
        reply = client.get(url)
        assert reply.status_code == 404, url
        assert "not found" in reply.json()["detail"], url


GOOD_TRACE, GOOD_SPAN = "ab" * 16, "cd" * 8


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("/api/v1/traces/abc", "trace id must be 32 hex characters"),
        (f"/api/v1/traces/{'g' * 32}", "trace id must be 32 hex characters"),
        (f"/api/v1/traces/{'ab' * 17}", "trace id must be 32 hex characters"),
        (f"/api/v1/traces/{'%20'.join(['0a'] * 16)}", "trace id must be 32 hex characters"),
        (f"/api/v1/traces/{GOOD_TRACE}/spans/abc", "span id must be 16 hex characters"),
        (f"/api/v1/traces/{GOOD_TRACE}/spans/{'z' * 16}", "span id must be 16 hex characters"),
        (f"/api/v1/traces/abc/spans/{GOOD_SPAN}/conversation", "trace id"),
        (f"/api/v1/traces/{GOOD_TRACE}/spans/xyz/conversation", "span id"),
        ("/api/v1/spans?trace_id=xyz", "trace id"),
        ("/api/v1/traces?limit=0", "limit"),
        ("/api/v1/traces?limit=1001", "limit"),
        ("/api/v1/traces?limit=abc", "limit"),
        ("/api/v1/traces?limit=-5", "limit"),
        ("/api/v1/spans?limit=0", "limit"),
        ("/api/v1/spans?limit=1001", "limit"),
        ("/api/v1/spans?limit=abc", "limit"),
        ("/api/v1/traces?cursor=garbage!", "cursor"),
        ("/api/v1/spans?cursor=garbage!", "cursor"),
        ("/api/v1/traces?since=yesterday", "since"),
        ("/api/v1/traces?until=2026-13-01T00:00:00Z", "until"),
        ("/api/v1/traces?since=%C2%B2", "since"),  # "²" is a digit to str.isdigit
        ("/api/v1/traces?until=-5", "until"),
        ("/api/v1/spans?since=2026-12-04T25:00:00Z", "since"),
        ("/api/v1/spans?until=noon", "until"),
        ("/api/v1/traces?status=broken", "status"),
        ("/api/v1/traces?status=unset", "status"),
        ("/api/v1/spans?status=failed", "status"),
        ("/api/v1/spans?attr=noequals", "KEY=VALUE"),
        ("/api/v1/spans?attr==value", "KEY=VALUE"),
        ("/api/v1/spans?attr=a=1&attr=bad", "KEY=VALUE"),
        ("/api/v1/spans?min_duration_ms=-1", "min_duration_ms"),
        ("/api/v1/spans?min_duration_ms=abc", "min_duration_ms"),
        ("/api/v1/spans?min_duration_ms=nan", "min_duration_ms"),
    ],
)
def test_a_bad_parameter_is_422_with_a_readable_message(
    client: TestClient, url: str, fragment: str
) -> None:
    reply = client.get(url)
    assert reply.status_code == 422, reply.text
    detail = reply.json()["detail"]
    assert isinstance(detail, str)
    assert fragment in detail


def test_attr_compares_large_integers_exactly(client: TestClient) -> None:
    # As floats, 10**17 and 10**17 + 1 are the same number.
    items = [span(f"n{i}", start_ns=BASE_NS + i, attributes={"big": 10**17 + i}) for i in range(4)]
    export(client, request(*items))
    found = get(client, "/api/v1/spans", attr=f"big={10**17 + 1}")["spans"]
    assert [s["name"] for s in found] == ["n1"]
    for value in ("inf", "nan", "1e400"):
        assert get(client, "/api/v1/spans", attr=f"big={value}")["spans"] == []


def test_an_attr_value_too_long_to_filter_on_is_a_422_not_an_empty_page(
    client: TestClient,
) -> None:
    # Values of 256 characters or more are stored apart from the span's attributes.
    item = span(attributes={"short": "L" * 255, "long": "L" * 256})
    export(client, request(item))
    found = get(client, "/api/v1/spans", attr="short=" + "L" * 255)["spans"]
    assert [s["span_id"] for s in found] == [item.span_id.hex()]
    reply = client.get("/api/v1/spans", params={"attr": "long=" + "L" * 256})
    assert reply.status_code == 422
    assert "256 characters or more cannot be filtered on" in reply.json()["detail"]


def test_a_span_cursor_is_refused_by_the_trace_list_and_back(client: TestClient) -> None:
    export(client, request(*(span() for _ in range(3))))
    span_cursor = get(client, "/api/v1/spans", limit=1)["next_cursor"]
    trace_cursor = get(client, "/api/v1/traces", limit=1)["next_cursor"]
    assert span_cursor and trace_cursor
    for url, cursor in (("/api/v1/traces", span_cursor), ("/api/v1/spans", trace_cursor)):
        reply = client.get(url, params={"cursor": cursor})
        assert reply.status_code == 422
        assert "cursor" in reply.json()["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "99999999999999999999"},
        {"since": "1" * 5000},
        {"until": "0" * 30 + "5"},
        {"until": "9999-12-31T23:59:59.999999+00:00"},
        {"since": "0001-01-01T00:00:00+14:00"},
        {"since": "2026-12-04T17:00:00.123456789Z"},
        {"attr": "retries=99999999999999999999"},
        {"attr": "retries=1e400"},
        {"attr": "retries=nan"},
        {"attr": "k\x00=v\x00"},
        {"name": "\x00", "service": "é" * 1000, "model": "'; DROP TABLE spans; --"},
        {"min_duration_ms": "1e12"},
        {"cursor": "WyJzIiwxODQ0Njc0NDA3MzcwOTU1MTYxNSwiMDAiLCIwMCJd"},  # 2**64 - 1
    ],
)
def test_odd_span_list_parameters_never_get_a_5xx(client: TestClient, params: dict) -> None:
    export(client, request(span(attributes={"retries": 3})))
    reply = client.get("/api/v1/spans", params=params)
    assert reply.status_code in (200, 422), reply.text


@pytest.mark.parametrize(
    "params",
    [
        {"q": "\x00"},
        {"q": "%_\\"},
        {"q": "x" * 5000},
        {"service": "\x00", "model": "\U0001f600"},
        {"cursor": "WyJ0IiwxODQ0Njc0NDA3MzcwOTU1MTYxNSwiMDAiXQ"},  # 2**64 - 1
        {"cursor": "WyJ0Iix0cnVlLCIwMCJd"},  # true is not a position
    ],
)
def test_odd_trace_list_parameters_never_get_a_5xx(client: TestClient, params: dict) -> None:
    export(client, request(span(attributes={"note": "text"})))
    reply = client.get("/api/v1/traces", params=params)
    assert reply.status_code in (200, 422), reply.text


# --- documentation -----------------------------------------------------------------------------


def test_openapi_lists_the_api(client: TestClient) -> None:
    paths = get(client, "/openapi.json")["paths"]
    for path in (
        "/api/v1/traces",
        "/api/v1/traces/{trace_id}",
        "/api/v1/spans",
        "/api/v1/traces/{trace_id}/spans/{span_id}",
        "/api/v1/traces/{trace_id}/spans/{span_id}/conversation",
    ):
        assert "get" in paths[path], path


def test_docs_answer(client: TestClient) -> None:
    reply = client.get("/docs")
    assert reply.status_code == 200
    assert "text/html" in reply.headers["content-type"]
    assert "/openapi.json" in reply.text
