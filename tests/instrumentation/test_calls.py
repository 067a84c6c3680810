"""One span per API call: what it records, for every kind of call, sync and async.

Each test drives the real anthropic client over real HTTP to the fake API, and reads the spans
the instrumentation finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import anthropic
import pydantic
import pytest
from opentelemetry import context as otel_context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.trace import SpanKind, StatusCode

import spyglass
from spyglass import _internal
from spyglass._anthropic import _call
from tests.fake_anthropic import (
    COUNT_TOKENS,
    FakeAnthropic,
    Reply,
    text_block,
    thinking_block,
)
from tests.instrumentation.conftest import MODEL, Captured, ask

SDK_SCOPE = "com.anthropic.sdk.python"
MODES = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])


def run(fake: FakeAnthropic, is_async: bool, action: Callable[[Any], Any], **options: Any) -> Any:
    """`action(client)` with a sync or an async client; an async action's awaitables are awaited."""
    settings = {"base_url": fake.base_url, "api_key": "test", "max_retries": 0, **options}
    if not is_async:
        with anthropic.Anthropic(**settings) as client:
            return action(client)

    async def main() -> Any:
        async with anthropic.AsyncAnthropic(**settings) as client:
            result = action(client)
            while inspect.isawaitable(result):
                result = await result
            return result

    return asyncio.run(main())


def chat_params(**extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hi"}],
        **extra,
    }


def scope_names(spans: Captured) -> set[str]:
    return {span.instrumentation_scope.name for span in spans.spans}


# --- messages.create ----------------------------------------------------------------------------


@MODES
def test_create_records_the_request_and_response(
    fake: FakeAnthropic, spans: Captured, instrumented: Any, is_async: bool
) -> None:
    fake.enqueue(
        Reply.message(
            [thinking_block("Greet back.", "sig_Greet"), text_block("Hello there")],
            usage={"output_tokens_details": {"thinking_tokens": 7}},
        )
    )
    params = chat_params(
        system="You are terse.",
        stop_sequences=["\n\nHuman:", "END"],
        thinking={"type": "enabled", "budget_tokens": 2048},
        tool_choice={"type": "auto"},
        service_tier="auto",
        extra_body={"temperature": 0.2, "top_k": 5},
    )

    message = run(fake, is_async, lambda client: client.messages.create(**params))

    assert message.content[1].text == "Hello there"
    span = spans.one()
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.name == "spyglass"
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes)
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.stop_sequences": ("\n\nHuman:", "END"),
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_k": 5,
        "anthropic.thinking.type": "enabled",
        "anthropic.thinking.budget_tokens": 2048,
        "anthropic.tool_choice.type": "auto",
        "anthropic.request.service_tier": "auto",
        "gen_ai.response.id": "msg_fake0001",
        "anthropic.request.id": "req_fake0001",
        "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ("end_turn",),
        "gen_ai.usage.input_tokens": 135,  # 25 + 100 cache read + 10 cache write
        "gen_ai.usage.output_tokens": 12,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.cache_creation.input_tokens": 10,
        "gen_ai.usage.cache_write.input_tokens": 10,
        "gen_ai.usage.reasoning.output_tokens": 7,
    }
    assert {key: attributes.get(key) for key in expected} == expected
    assert Captured.json(span, "anthropic.request.parameters") == {
        "model": MODEL,
        "max_tokens": 100,
        "stop_sequences": ["\n\nHuman:", "END"],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tool_choice": {"type": "auto"},
        "service_tier": "auto",
        "temperature": 0.2,
        "top_k": 5,
    }
    assert Captured.json(span, "gen_ai.system_instructions") == [
        {"type": "text", "content": "You are terse."}
    ]
    assert Captured.json(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]}
    ]
    assert Captured.json(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Greet back.", "signature": "sig_Greet"},
                {"type": "text", "content": "Hello there"},
            ],
            "finish_reason": "end_turn",
        }
    ]
    # The request the API saw is the one the caller made: extra_body reached it.
    assert fake.requests[0].body["temperature"] == 0.2


def test_system_instructions_as_blocks(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    system = [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}},
    ]

    ask(client, system=system)

    assert Captured.json(spans.one(), "gen_ai.system_instructions") == [
        {"type": "text", "content": "You are terse."},
        {"type": "text", "content": "Answer in French."},
    ]


def test_without_thinking_tokens_no_reasoning_usage(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    ask(client)

    span = spans.one()
    assert "gen_ai.usage.reasoning.output_tokens" not in span.attributes
    assert "gen_ai.system_instructions" not in span.attributes
    assert span.attributes["gen_ai.usage.input_tokens"] == 135


@MODES
def test_beta_create_records_the_betas(
    fake: FakeAnthropic, spans: Captured, instrumented: Any, is_async: bool
) -> None:
    betas = ["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"]

    message = run(fake, is_async, lambda c: c.beta.messages.create(betas=betas, **chat_params()))

    assert message.content[0].text == "Hello! How can I help?"
    assert fake.requests[0].headers["anthropic-beta"] == ",".join(betas)
    span = spans.one()
    assert span.name == f"chat {MODEL}"
    assert span.attributes["anthropic.beta"] == tuple(betas)
    assert span.attributes["gen_ai.response.id"] == "msg_fake0001"
    assert Captured.json(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "Hello! How can I help?"}
    ]


class Weather(pydantic.BaseModel):
    city: str
    celsius: int


@MODES
def test_parse_with_an_output_format(
    fake: FakeAnthropic, spans: Captured, instrumented: Any, is_async: bool
) -> None:
    fake.enqueue(Reply.message([text_block('{"city": "Paris", "celsius": 21}')]))

    parsed = run(fake, is_async, lambda c: c.messages.parse(output_format=Weather, **chat_params()))

    assert parsed.parsed_output == Weather(city="Paris", celsius=21)
    span = spans.one()
    assert span.name == f"chat {MODEL}"
    assert span.attributes["gen_ai.output.type"] == "json"
    sent_format = fake.requests[0].body["output_config"]["format"]
    assert Captured.json(span, "anthropic.request.parameters")["output_config"] == {
        "format": sent_format
    }
    assert Captured.json(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": '{"city": "Paris", "celsius": 21}'}
    ]


# --- calls that are not chats -----------------------------------------------------------------


@MODES
def test_count_tokens_is_an_operation_span(
    fake: FakeAnthropic, spans: Captured, instrumented: Any, is_async: bool
) -> None:
    counted = run(
        fake,
        is_async,
        lambda c: c.messages.count_tokens(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}]
        ),
    )

    assert counted.input_tokens == COUNT_TOKENS
    [span] = spans.spans
    assert span.name == "anthropic.messages.count_tokens"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.name == "spyglass"
    assert "gen_ai.operation.name" not in span.attributes
    assert "spyglass.span.type" not in span.attributes
    assert span.attributes["url.path"] == "/v1/messages/count_tokens"
    assert span.attributes["anthropic.usage.input_tokens"] == COUNT_TOKENS
    assert span.attributes["anthropic.request.id"] == "req_fake0001"


BATCH_REQUEST = {
    "custom_id": "first",
    "params": {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]},
}


def test_operation_names_without_the_sdks_span_name() -> None:
    # anthropic < 1.14 does not name its calls: the span is named for the route, ids elided.
    options = SimpleNamespace(method="get")

    assert (
        _call._operation_name(
            options, "get", "/v1/messages/batches/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d"
        )
        == "anthropic GET /v1/messages/batches/{id}"
    )
    assert _call._operation_name(options, "post", "/v1/files") == "anthropic POST /v1/files"


def test_batches_and_models_sync(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    batches = client.messages.batches

    def one_span(name: str, action: Callable[[], Any]) -> Any:
        spans.exporter.clear()
        result = action()
        assert [span.name for span in spans.spans] == [name]
        assert spans.spans[0].kind is SpanKind.CLIENT
        assert "gen_ai.operation.name" not in spans.spans[0].attributes
        return result

    batch = one_span(
        "anthropic.messages.batches.create", lambda: batches.create(requests=[BATCH_REQUEST])
    )
    assert spans.spans[0].attributes["anthropic.response.id"] == batch.id
    one_span("anthropic.messages.batches.retrieve", lambda: batches.retrieve(batch.id))
    listed = one_span("anthropic.messages.batches.list", lambda: batches.list())
    assert [b.id for b in listed.data] == [batch.id]
    one_span("anthropic.messages.batches.cancel", lambda: batches.cancel(batch.id))
    models = one_span("anthropic.models.list", lambda: client.models.list())
    assert models.data[0].id == MODEL

    spans.exporter.clear()
    results = list(batches.results(batch.id))  # it retrieves the batch for its results URL
    assert [r.custom_id for r in results] == ["first"]
    names = [span.name for span in spans.spans]
    assert names == ["anthropic.messages.batches.retrieve", "anthropic.messages.batches.results"]
    # results are fetched from the absolute results_url; the span still records just its path
    assert spans.spans[1].attributes["url.path"] == f"/v1/messages/batches/{batch.id}/results"

    one_span("anthropic.messages.batches.delete", lambda: batches.delete(batch.id))


def test_batches_and_models_async(fake: FakeAnthropic, spans: Captured, instrumented: Any) -> None:
    async def main(client: anthropic.AsyncAnthropic) -> list[str]:
        batches = client.messages.batches
        batch = await batches.create(requests=[BATCH_REQUEST])
        await batches.retrieve(batch.id)
        await batches.list()
        await batches.cancel(batch.id)
        [result] = [r async for r in await batches.results(batch.id)]
        await batches.delete(batch.id)
        await client.models.list()
        return [result.custom_id]

    assert run(fake, True, main) == ["first"]
    assert [span.name for span in spans.spans] == [
        "anthropic.messages.batches.create",
        "anthropic.messages.batches.retrieve",
        "anthropic.messages.batches.list",
        "anthropic.messages.batches.cancel",
        "anthropic.messages.batches.retrieve",
        "anthropic.messages.batches.results",
        "anthropic.messages.batches.delete",
        "anthropic.models.list",
    ]
    assert scope_names(spans) == {"spyglass"}


# --- raw and streaming responses -----------------------------------------------------------------


@MODES
def test_with_raw_response_records_the_output(
    fake: FakeAnthropic, spans: Captured, instrumented: Any, is_async: bool
) -> None:
    async def create_and_parse(client: anthropic.AsyncAnthropic) -> Any:
        raw = await client.messages.with_raw_response.create(**chat_params())
        return raw, await raw.parse()

    def action(client: Any) -> Any:
        if is_async:
            return create_and_parse(client)
        raw = client.messages.with_raw_response.create(**chat_params())
        return raw, raw.parse()

    raw, message = run(fake, is_async, action)

    assert raw.http_response.status_code == 200
    assert message.content[0].text == "Hello! How can I help?"
    span = spans.one()
    assert span.attributes["gen_ai.response.id"] == message.id
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["anthropic.request.id"] == message._request_id == "req_fake0001"
    assert Captured.json(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "Hello! How can I help?"}
    ]


def test_with_streaming_response_leaves_the_body_to_the_caller(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    with client.messages.with_streaming_response.create(**chat_params()) as response:
        span = spans.one()  # ended with the headers, before anyone read the body
        assert not response.http_response.is_stream_consumed
        message = response.parse()

    assert message.content[0].text == "Hello! How can I help?"
    assert span.name == f"chat {MODEL}"
    assert span.attributes["http.response.status_code"] == 200
    assert "gen_ai.output.messages" not in span.attributes


def test_with_streaming_response_async(
    fake: FakeAnthropic, spans: Captured, instrumented: Any
) -> None:
    async def main(client: anthropic.AsyncAnthropic) -> Any:
        async with client.messages.with_streaming_response.create(**chat_params()) as response:
            assert [span.name for span in spans.spans] == [f"chat {MODEL}"]
            assert not response.http_response.is_stream_consumed
            return await response.parse()

    message = run(fake, True, main)

    assert message.content[0].text == "Hello! How can I help?"
    assert spans.one().attributes["http.response.status_code"] == 200


# --- errors and retries --------------------------------------------------------------------------


@MODES
def test_an_api_error_marks_the_span_and_reaches_the_caller_untouched(
    fake: FakeAnthropic, spans: Captured, is_async: bool
) -> None:
    error = Reply.error(400, "invalid_request_error", "max_tokens: must be at least 1")
    fake.enqueue(error, error)

    def fail() -> anthropic.BadRequestError:
        with pytest.raises(anthropic.BadRequestError) as caught:
            run(fake, is_async, lambda client: client.messages.create(**chat_params()))
        return caught.value

    bare = fail()
    with spyglass.instrument_anthropic():
        spans.exporter.clear()
        instrumented = fail()

    assert type(instrumented) is type(bare) is anthropic.BadRequestError
    assert str(instrumented) == str(bare).replace("req_fake0001", "req_fake0002")
    assert instrumented.type == "invalid_request_error"
    span = spans.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "invalid_request_error"
    assert span.attributes["http.response.status_code"] == 400
    assert span.attributes["anthropic.request.id"] == "req_fake0002"
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"].endswith("BadRequestError")
    assert "max_tokens: must be at least 1" in event.attributes["exception.message"]


@MODES
def test_a_retried_call_is_one_span_with_its_resend_count(
    fake: FakeAnthropic, spans: Captured, instrumented: Any, is_async: bool
) -> None:
    fake.enqueue(Reply.error(529, "overloaded_error", "Overloaded"), Reply.message())

    message = run(
        fake, is_async, lambda client: client.messages.create(**chat_params()), max_retries=1
    )

    assert message.content[0].text == "Hello! How can I help?"
    assert len(fake.requests) == 2
    span = spans.one()
    assert [s.name for s in spans.spans] == [f"chat {MODEL}"]
    assert span.attributes["http.request.resend_count"] == 1
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["gen_ai.response.id"] == message.id


def test_a_timeout_is_an_error_span(
    fake: FakeAnthropic, spans: Captured, instrumented: Any
) -> None:
    fake.enqueue(Reply.hang(10))

    with pytest.raises(anthropic.APITimeoutError):
        run(fake, False, lambda client: client.messages.create(**chat_params()), timeout=0.2)

    span = spans.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "APITimeoutError"
    assert "http.response.status_code" not in span.attributes
    assert [event.name for event in span.events] == ["exception"]


def test_a_call_without_retries_has_no_resend_count(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    ask(client)

    assert "http.request.resend_count" not in spans.one().attributes


# --- no duplicates, suppression ------------------------------------------------------------------


def test_the_sdks_own_spans_are_off_while_instrumented(
    client: anthropic.Anthropic, spans: Captured
) -> None:
    ask(client)
    assert scope_names(spans) == {SDK_SCOPE}  # anthropic >= 1.14 traces by default

    with spyglass.instrument_anthropic():
        spans.exporter.clear()
        ask(client)
        client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
        assert [s.name for s in spans.spans] == [
            f"chat {MODEL}",
            "anthropic.messages.count_tokens",
        ]
        assert scope_names(spans) == {"spyglass"}

    spans.exporter.clear()
    ask(client)
    assert scope_names(spans) == {SDK_SCOPE}


def _traceparent(fake: FakeAnthropic) -> str | None:
    return fake.requests[-1].headers.get("traceparent")


def test_the_request_carries_the_trace_context_of_spyglass_span(
    fake: FakeAnthropic, client: anthropic.Anthropic, spans: Captured
) -> None:
    # The SDK's tracing writes its span's context into the request; turning it off for an
    # instrumented client must not take the header off the wire (a traced gateway joins by it).
    ask(client)
    assert _traceparent(fake) is not None

    with spyglass.instrument_anthropic():
        spans.exporter.clear()
        ask(client)
        ours = spans.one().context
        assert (
            _traceparent(fake)
            == f"00-{ours.trace_id:032x}-{ours.span_id:016x}-{ours.trace_flags:02x}"
        )

        quiet = client.with_options(open_telemetry={"propagation": False})
        ask(quiet)
        assert _traceparent(fake) is None  # the SDK would not have sent one either


def test_suppressed_instrumentation_records_nothing(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    token = otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        message = ask(client)
    finally:
        otel_context.detach(token)

    assert message.content[0].text == "Hello! How can I help?"
    assert spans.spans == []
    ask(client)
    assert len(spans.spans) == 1


# --- idempotent and reversible -------------------------------------------------------------------


def _hooks() -> list[Any]:
    from anthropic._base_client import AsyncAPIClient, BaseClient, SyncAPIClient

    return [
        SyncAPIClient.__dict__["request"],
        AsyncAPIClient.__dict__["request"],
        BaseClient.__dict__["_calculate_retry_timeout"],
        BaseClient.__dict__["_tracer"],
    ]


def test_instrumenting_twice_records_each_call_once(
    client: anthropic.Anthropic, spans: Captured
) -> None:
    with (
        spyglass.instrument_anthropic(),
        spyglass.instrument_anthropic(client),
        spyglass.instrument_anthropic(),
    ):
        ask(client)

    assert len(spans.spans) == 1


def test_leaving_restores_the_sdks_methods_exactly(
    client: anthropic.Anthropic, spans: Captured
) -> None:
    originals = _hooks()

    with spyglass.instrument_anthropic():
        patched = _hooks()
        with spyglass.instrument_anthropic(client):
            assert _hooks() == patched  # patched once, whatever the number of targets
        assert all(now is not before for now, before in zip(patched, originals, strict=True))

    assert all(now is before for now, before in zip(_hooks(), originals, strict=True))
    ask(client)
    assert scope_names(spans) == {SDK_SCOPE}


def test_leaving_one_of_two_instrumentations_keeps_recording(
    client: anthropic.Anthropic, spans: Captured
) -> None:
    originals = _hooks()
    first = spyglass.instrument_anthropic(client)
    second = spyglass.instrument_anthropic(client)

    with first:
        ask(client)
    ask(client)
    assert scope_names(spans) == {"spyglass"}
    assert len(spans.spans) == 2

    second.uninstrument()
    second.uninstrument()  # a second time does nothing
    assert all(now is before for now, before in zip(_hooks(), originals, strict=True))
    spans.exporter.clear()
    ask(client)
    assert scope_names(spans) == {SDK_SCOPE}


def test_instrument_rejects_what_is_not_a_client() -> None:
    with pytest.raises(TypeError, match="anthropic client"):
        spyglass.instrument_anthropic("not a client")


# --- user spans ----------------------------------------------------------------------------------


def test_calls_inside_a_user_span_are_its_children(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    with spyglass.span(
        "Asking Claude to write some code",
        user="ada",
        turn=3,
        tags=["code", "python"],
        context={"repo": "spyglass", "files": 2},
        team=None,
    ):
        ask(client)
        client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hi"}])

    [parent] = spans.named("Asking Claude to write some code")
    assert dict(parent.attributes) == {
        "user": "ada",
        "turn": 3,
        "tags": ("code", "python"),
        "context": '{"repo":"spyglass","files":2}',  # JSON, never a Python repr
    }
    children = [s for s in spans.spans if s is not parent]
    assert len(children) == 2
    for child in children:
        assert child.parent is not None
        assert child.parent.span_id == parent.context.span_id
        assert child.context.trace_id == parent.context.trace_id


# --- never break the caller ----------------------------------------------------------------------


def test_an_internal_error_is_logged_once_and_the_call_goes_on(
    client: anthropic.Anthropic,
    spans: Captured,
    instrumented: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("SPYGLASS_RAISE_INTERNAL_ERRORS")
    monkeypatch.setattr(_internal, "_reported", set())

    def broken(self: Any, response: Any) -> None:
        raise RuntimeError("a bug in spyglass")

    monkeypatch.setattr(_call.Call, "_record_response", broken)

    with caplog.at_level(logging.ERROR, logger="spyglass"):
        first = ask(client)
        second = ask(client)

    assert isinstance(first, anthropic.types.Message)
    assert second.content[0].text == "Hello! How can I help?"
    logged = [r for r in caplog.records if r.name == "spyglass"]
    assert len(logged) == 1
    assert "internal error" in logged[0].getMessage()
    assert logged[0].exc_info is not None and "a bug in spyglass" in str(logged[0].exc_info[1])
    assert [s.name for s in spans.spans] == [f"chat {MODEL}", f"chat {MODEL}"]  # both ended


def test_an_internal_error_is_raised_under_the_test_suite(
    client: anthropic.Anthropic, instrumented: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, response: Any) -> None:
        raise RuntimeError("a bug in spyglass")

    monkeypatch.setattr(_call.Call, "_record_response", broken)

    with pytest.raises(RuntimeError, match="a bug in spyglass"):
        ask(client)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


APP = """
import anthropic, spyglass

spyglass.configure(endpoint="http://127.0.0.1:{port}")
spyglass.instrument_anthropic()
client = anthropic.Anthropic(base_url="{base_url}", api_key="test", max_retries=0)
message = client.messages.create(
    model="{model}", max_tokens=10, messages=[{{"role": "user", "content": "Hi"}}]
)
print("answer:", message.content[0].text, flush=True)
"""


@pytest.mark.parametrize("collector", ["closed port", "accepts and never answers"])
def test_a_collector_that_is_down_never_breaks_the_app(fake: FakeAnthropic, collector: str) -> None:
    with contextlib.ExitStack() as stack:
        if collector == "closed port":
            port = _closed_port()
        else:
            silent = stack.enter_context(socket.socket())
            silent.bind(("127.0.0.1", 0))
            silent.listen(16)  # connections queue up and are never read
            port = silent.getsockname()[1]
        elapsed = _run_app(fake, port)
    # EXIT_FLUSH_TIMEOUT_S is 3 s: the exit gives up on the collector after that.
    assert elapsed < 10
    assert len(fake.requests) == 1


def _run_app(fake: FakeAnthropic, port: int) -> float:
    code = APP.format(port=port, base_url=fake.base_url, model=MODEL)
    # As in production: internal errors are swallowed, not raised.
    env = {k: v for k, v in os.environ.items() if k != "SPYGLASS_RAISE_INTERNAL_ERRORS"}
    started = time.monotonic()

    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )

    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert "answer: Hello! How can I help?" in done.stdout
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    return elapsed
