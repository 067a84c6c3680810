"""The fake Anthropic API, driven by the real `anthropic` client over real HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.fake_anthropic import (
    DEFAULT_TEXT,
    FakeAnthropic,
    Reply,
    char_location_citation,
    message_events,
    redacted_thinking_block,
    text_block,
    thinking_block,
    tool_use_block,
)

MODEL = "claude-sonnet-4-6"
MESSAGES: Any = [{"role": "user", "content": "Hi"}]
SCRIPTED = [
    thinking_block("The user greets me; a greeting back is polite.", "sig_Ab12"),
    redacted_thinking_block("ZW5jcnlwdGVk"),
    text_block("Paris is the capital.", [char_location_citation("Paris is the capital")]),
    tool_use_block("get_weather", {"city": "Paris", "days": [1, 2], "units": "celsius"}),
]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def sdk(fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0) as client:
        yield client


def create(client: anthropic.Anthropic, **kwargs: Any) -> Any:
    return client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, **kwargs)


def test_default_reply(sdk: anthropic.Anthropic) -> None:
    message = create(sdk)

    assert message.id == "msg_fake0001"
    assert message.model == MODEL
    assert [block.to_dict() for block in message.content] == [
        {"type": "text", "text": DEFAULT_TEXT}
    ]
    assert message.stop_reason == "end_turn"
    assert message.usage.to_dict() == {
        "input_tokens": 25,
        "cache_creation_input_tokens": 10,
        "cache_read_input_tokens": 100,
        "output_tokens": 12,
    }
    assert message._request_id == "req_fake0001"


def test_scripted_message_with_thinking_and_tool_use(
    fake: FakeAnthropic, sdk: anthropic.Anthropic
) -> None:
    fake.enqueue(Reply.message(SCRIPTED, stop_reason="tool_use", usage={"output_tokens": 99}))

    message = create(sdk)

    assert [block.to_dict() for block in message.content] == SCRIPTED
    assert message.content[0].type == "thinking"
    assert message.content[0].signature == "sig_Ab12"
    assert message.content[3].type == "tool_use"
    assert message.content[3].input == {"city": "Paris", "days": [1, 2], "units": "celsius"}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (25, 99)
    # Queued replies are used once, then the default answers again.
    assert fake.pending() == 0
    assert create(sdk).content[0].to_dict() == {"type": "text", "text": DEFAULT_TEXT}


def test_create_stream_yields_events_in_api_order(
    fake: FakeAnthropic, sdk: anthropic.Anthropic
) -> None:
    fake.enqueue(Reply.stream([text_block("0123456789"), SCRIPTED[3]], chunk_size=4))

    with create(sdk, stream=True) as stream:
        events = [event.to_dict() for event in stream]

    shape = [(e["type"], e.get("index"), e.get("delta", {}).get("type")) for e in events]
    input_json = '{"city": "Paris", "days": [1, 2], "units": "celsius"}'
    assert shape == [
        ("message_start", None, None),
        ("content_block_start", 0, None),
        *[("content_block_delta", 0, "text_delta")] * 3,
        ("content_block_stop", 0, None),
        ("content_block_start", 1, None),
        *[("content_block_delta", 1, "input_json_delta")] * -(-len(input_json) // 4),
        ("content_block_stop", 1, None),
        ("message_delta", None, None),
        ("message_stop", None, None),
    ]
    start = events[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["output_tokens"] == 1
    assert start["usage"]["cache_read_input_tokens"] == 100
    assert events[1]["content_block"] == {"type": "text", "text": ""}
    assert [e["delta"]["text"] for e in events[2:5]] == ["0123", "4567", "89"]
    assert events[6]["content_block"]["input"] == {}
    assert "".join(e["delta"]["partial_json"] for e in events[7:-3]) == input_json
    assert events[-2]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events[-2]["usage"] == {"output_tokens": 12}


def test_wire_format_has_event_lines_and_a_ping(fake: FakeAnthropic) -> None:
    import httpx2

    body = {"model": MODEL, "max_tokens": 5, "messages": MESSAGES, "stream": True}
    with httpx2.Client() as http:
        response = http.post(f"{fake.base_url}/v1/messages", json=body)

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    frames = response.text.split("\n\n")
    assert frames[-1] == ""
    names = [frame.splitlines()[0] for frame in frames[:-1]]
    assert names[:3] == ["event: message_start", "event: content_block_start", "event: ping"]
    assert all(frame.splitlines()[1].startswith("data: {") for frame in frames[:-1])


def test_stream_helper_rebuilds_the_scripted_message(
    fake: FakeAnthropic, sdk: anthropic.Anthropic
) -> None:
    fake.enqueue(Reply.stream(SCRIPTED, stop_reason="tool_use", chunk_size=5))

    with sdk.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        message = stream.get_final_message()

    assert [block.to_dict() for block in message.content] == SCRIPTED
    assert message.stop_reason == "tool_use"
    assert message.usage.to_dict() == {
        "input_tokens": 25,
        "cache_creation_input_tokens": 10,
        "cache_read_input_tokens": 100,
        "output_tokens": 12,
    }
    assert fake.requests[-1].headers["x-stainless-helper-method"] == "stream"


def test_async_client_streams_and_creates(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply.stream(SCRIPTED), Reply.message([text_block("async")]))

    async def main() -> tuple[Any, Any]:
        async with anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="test") as client:
            async with client.messages.stream(
                model=MODEL, max_tokens=100, messages=MESSAGES
            ) as stream:
                streamed = await stream.get_final_message()
            created = await client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
        return streamed, created

    streamed, created = asyncio.run(main())

    assert [block.to_dict() for block in streamed.content] == SCRIPTED
    assert created.content[0].text == "async"
    assert fake.requests[-1].headers["x-stainless-async"].startswith("async:")


def test_bad_request_raises(fake: FakeAnthropic, sdk: anthropic.Anthropic) -> None:
    fake.enqueue(Reply.error(400, "invalid_request_error", "max_tokens: too large"))

    with pytest.raises(anthropic.BadRequestError) as caught:
        create(sdk)

    assert caught.value.status_code == 400
    assert caught.value.body["error"] == {  # type: ignore[index]
        "type": "invalid_request_error",
        "message": "max_tokens: too large",
    }
    assert caught.value.request_id == caught.value.body["request_id"]  # type: ignore[index]


def test_overloaded_then_success_is_retried(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply.error(529, "overloaded_error", "Overloaded"))

    with anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=1) as client:
        started = time.monotonic()
        message = create(client)
        elapsed = time.monotonic() - started

    assert message.content[0].text == DEFAULT_TEXT
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1"]
    assert elapsed < 0.4  # `retry-after-ms: 10` replaced the SDK's 0.5 s backoff


def test_should_retry_false_stops_the_sdk_retrying(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply.error(529, "overloaded_error", "Overloaded", should_retry=False))

    with (
        anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=2) as client,
        pytest.raises(anthropic.OverloadedError),
    ):
        create(client)

    assert len(fake.requests) == 1


def test_mid_stream_error_raises_during_iteration(
    fake: FakeAnthropic, sdk: anthropic.Anthropic
) -> None:
    fake.enqueue(Reply.stream([text_block("abcdefghijkl")], chunk_size=2, fail_after=3))

    received = []
    with pytest.raises(anthropic.APIStatusError) as caught, create(sdk, stream=True) as stream:
        for event in stream:
            received.append(event)

    assert [e.delta.text for e in received if e.type == "content_block_delta"] == ["ab", "cd", "ef"]
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_mid_stream_error_raises_in_the_async_stream_helper(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply.stream(SCRIPTED, fail_after=0))

    async def main() -> None:
        async with (
            anthropic.AsyncAnthropic(
                base_url=fake.base_url, api_key="test", max_retries=0
            ) as client,
            client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream,
        ):
            await stream.get_final_message()

    with pytest.raises(anthropic.APIStatusError):
        asyncio.run(main())


def test_chunk_delay_spaces_deltas_on_the_client(
    fake: FakeAnthropic, sdk: anthropic.Anthropic
) -> None:
    delay, deltas = 0.05, 6
    fake.enqueue(Reply.stream([text_block("x" * deltas)], chunk_size=1, chunk_delay=delay))

    arrivals = []
    with create(sdk, stream=True) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                arrivals.append(time.monotonic())

    expected = delay * (deltas - 1)
    assert len(arrivals) == deltas
    assert 0.8 * expected <= arrivals[-1] - arrivals[0] <= expected + 1.0


def test_hang_lets_the_client_time_out(fake: FakeAnthropic, sdk: anthropic.Anthropic) -> None:
    fake.enqueue(Reply.hang(5))

    started = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError):
        create(sdk, timeout=0.2)

    assert time.monotonic() - started < 2


def test_hang_then_answers(fake: FakeAnthropic, sdk: anthropic.Anthropic) -> None:
    fake.enqueue(Reply.hang(0.1, then=Reply.message([text_block("late")])))

    assert create(sdk).content[0].text == "late"


def test_hand_written_events(fake: FakeAnthropic, sdk: anthropic.Anthropic) -> None:
    events = message_events(
        {"id": "msg_x", "type": "message", "role": "assistant", "model": MODEL, "content": []}
    )
    fake.enqueue(Reply.events([*events[:-1], ("future_event", {"type": "future_event"})]))

    with create(sdk, stream=True) as stream:
        names = [event.type for event in stream]

    assert names == ["message_start", "message_delta", "future_event"]


def test_count_tokens(sdk: anthropic.Anthropic) -> None:
    count = sdk.messages.count_tokens(model=MODEL, messages=MESSAGES)

    assert count.input_tokens == 42


def test_message_batches(fake: FakeAnthropic, sdk: anthropic.Anthropic) -> None:
    params: Any = {"model": MODEL, "max_tokens": 10, "messages": MESSAGES}
    batches = sdk.messages.batches

    created = batches.create(requests=[{"custom_id": "a", "params": params}])
    assert created.id.startswith("msgbatch_")
    assert created.type == "message_batch"
    assert created.processing_status == "in_progress"
    assert created.request_counts.processing == 1
    assert created.results_url is None
    assert (created.expires_at - created.created_at).total_seconds() == 24 * 3600

    retrieved = batches.retrieve(created.id)
    assert retrieved.processing_status == "ended"
    assert retrieved.request_counts.succeeded == 1
    assert retrieved.results_url == f"{fake.base_url}/v1/messages/batches/{created.id}/results"

    results = list(batches.results(created.id))
    assert [r.custom_id for r in results] == ["a"]
    assert results[0].result.type == "succeeded"
    assert results[0].result.message.content[0].text == DEFAULT_TEXT  # type: ignore[union-attr]
    assert fake.requests[-1].headers["accept"] == "application/binary"

    second = batches.create(requests=[{"custom_id": "b", "params": params}])
    canceling = batches.cancel(second.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    with pytest.raises(anthropic.BadRequestError):
        batches.delete(second.id)

    page = batches.list()
    assert [b.id for b in page.data] == [second.id, created.id]
    assert (page.has_more, page.first_id, page.last_id) == (False, second.id, created.id)
    assert page.data[0].request_counts.canceled == 1
    assert [r.result.type for r in batches.results(second.id)] == ["canceled"]

    deleted = batches.delete(second.id)
    assert (deleted.id, deleted.type) == (second.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        batches.retrieve(second.id)


def test_beta_calls_and_queries_share_the_routes_and_the_queue(
    fake: FakeAnthropic, sdk: anthropic.Anthropic
) -> None:
    fake.enqueue(Reply.message([text_block("beta")]), Reply.message([text_block("query")]))

    beta = sdk.beta.messages.create(
        model=MODEL, max_tokens=10, messages=MESSAGES, betas=["context-1m-2025-08-07"]
    )
    # Older SDKs marked beta calls with `?beta=true`; the fake ignores the query when routing.
    queried = create(sdk, extra_query={"beta": "true"})
    batch = sdk.beta.messages.batches.create(
        requests=[{"custom_id": "a", "params": {"model": MODEL, "max_tokens": 1, "messages": []}}]
    )

    assert beta.content[0].text == "beta"  # type: ignore[union-attr]
    assert queried.content[0].text == "query"
    assert batch.processing_status == "in_progress"
    first, second, _ = fake.requests
    # SDK 2.x sends beta calls to the plain path; only the `anthropic-beta` header tells them apart.
    assert first.path == "/v1/messages"
    assert first.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert second.path == "/v1/messages?beta=true"
    assert (second.route, second.query) == ("/v1/messages", {"beta": "true"})


def test_models(sdk: anthropic.Anthropic) -> None:
    models = list(sdk.models.list())
    assert models[0].id == MODEL
    assert all(model.type == "model" for model in models)

    assert sdk.models.retrieve(MODEL).display_name == "Claude Sonnet 4.6"
    with pytest.raises(anthropic.NotFoundError):
        sdk.models.retrieve("claude-nonexistent")


def test_unknown_path_is_a_not_found_api_error(sdk: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        sdk.get("/v1/nowhere", cast_to=object)

    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_requests_are_recorded(fake: FakeAnthropic, sdk: anthropic.Anthropic) -> None:
    create(sdk, system="Be brief.", metadata={"user_id": "u1"})

    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["authorization"] == "Bearer test"
    assert request.headers["anthropic-version"]
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "model": MODEL,
        "max_tokens": 100,
        "messages": MESSAGES,
        "system": "Be brief.",
        "metadata": {"user_id": "u1"},
    }


def test_close_ends_idle_keep_alive_connections_and_joins_threads() -> None:
    threads_before = threading.active_count()
    fake = FakeAnthropic()
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0)
    try:
        create(client)  # leaves a pooled connection open on the server
        assert threading.active_count() == threads_before + 2  # serving, and one connection
        started = time.monotonic()
        fake.close()
        assert time.monotonic() - started < 1
        assert threading.active_count() == threads_before
    finally:
        client.close()


def test_close_interrupts_a_slow_stream() -> None:
    with FakeAnthropic() as fake, anthropic.Anthropic(base_url=fake.base_url, api_key="t") as sdk:
        fake.enqueue(Reply.stream([text_block("x" * 50)], chunk_size=1, chunk_delay=1.0))
        stream = create(sdk, stream=True)
        assert next(iter(stream)).type == "message_start"
        started = time.monotonic()
        fake.close()
        assert time.monotonic() - started < 1
        with pytest.raises(anthropic.APIConnectionError):
            list(stream)


def test_a_bug_in_the_fake_fails_the_test_at_close() -> None:
    with pytest.raises(RuntimeError, match="failed") as caught:  # noqa: SIM117
        with (
            FakeAnthropic() as fake,
            anthropic.Anthropic(base_url=fake.base_url, api_key="t") as sdk,
        ):
            fake.enqueue(Reply.json({"not json": object()}))
            with pytest.raises(anthropic.InternalServerError):
                create(sdk)

    assert isinstance(caught.value.__cause__, TypeError)
