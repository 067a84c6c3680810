"""End to end: an app using the spyglass package, the real anthropic client, a fake Anthropic API,
and a real collector. Every way of calling Claude, streamed or not, arrives as a trace."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import httpx

from tests.collector_process import Collector
from tests.fake_anthropic import FakeAnthropic, Reply, text_block, thinking_block, tool_use_block

APP = textwrap.dedent(
    """
    import asyncio, os, anthropic, spyglass

    spyglass.configure(endpoint=os.environ["COLLECTOR"], service_name="e2e-client")
    spyglass.instrument_anthropic()
    kwargs = dict(model="claude-sonnet-4-6", max_tokens=200,
                  messages=[{"role": "user", "content": "What is the weather in Paris?"}],
                  system="You are terse.")
    client = anthropic.Anthropic(base_url=os.environ["FAKE"], api_key="test", max_retries=0)

    with spyglass.span("create"):
        client.messages.create(**kwargs)
    with spyglass.span("create stream"):
        for _ in client.messages.create(stream=True, **kwargs):
            pass
    with spyglass.span("stream text_stream"):
        with client.messages.stream(**kwargs) as stream:
            "".join(stream.text_stream)
    with spyglass.span("stream get_final_message"):
        with client.messages.stream(**kwargs) as stream:
            stream.get_final_message()
    with spyglass.span("stream until_done"):
        with client.messages.stream(**kwargs) as stream:
            stream.until_done()

    async def main():
        async_client = anthropic.AsyncAnthropic(base_url=os.environ["FAKE"], api_key="test")
        with spyglass.span("async create stream"):
            async for _ in await async_client.messages.create(stream=True, **kwargs):
                pass
        with spyglass.span("async stream"):
            async with async_client.messages.stream(**kwargs) as stream:
                await stream.get_final_message()
        await async_client.close()

    asyncio.run(main())
    print("done")
    """
)
STREAMED = {
    "create stream",
    "stream text_stream",
    "stream get_final_message",
    "stream until_done",
    "async create stream",
    "async stream",
}
CONTENT = [
    thinking_block("Paris weather needs a lookup.", "sig_x"),
    text_block("Let me check."),
    tool_use_block("get_weather", {"city": "Paris"}),
]


def test_every_call_style_reaches_the_collector(collector: Collector) -> None:
    with FakeAnthropic() as fake:
        fake.enqueue(*[Reply.stream(content=CONTENT, stop_reason="tool_use") for _ in range(7)])
        env = {**os.environ, "COLLECTOR": collector.url, "FAKE": fake.base_url}
        result = subprocess.run(
            [sys.executable, "-c", APP], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"

    listed = httpx.get(f"{collector.url}/api/v1/traces", params={"limit": 50}).json()["traces"]
    by_name = {trace["name"]: trace for trace in listed}
    assert set(by_name) == STREAMED | {"create"}
    for name, summary in by_name.items():
        # One call per trace, whatever the number of spans it took to record it.
        assert summary["llm_call_count"] == 1, name
        assert summary["input_tokens"] == 135, name
        assert summary["cache_read_input_tokens"] == 100, name
        assert summary["cache_creation_input_tokens"] == 10, name
        assert summary["models"] == ["claude-sonnet-4-6"], name
        assert summary["service_name"] == "e2e-client"

        trace = httpx.get(f"{collector.url}/api/v1/traces/{summary['trace_id']}").json()
        types = sorted(s["attributes"].get("spyglass.span.type", "user") for s in trace["spans"])
        if name in STREAMED:
            assert types == ["llm.request", "llm.stream", "user"], name
            stream = next(
                s
                for s in trace["spans"]
                if s["attributes"].get("spyglass.span.type") == "llm.stream"
            )
            request = next(
                s
                for s in trace["spans"]
                if s["attributes"].get("spyglass.span.type") == "llm.request"
            )
            assert stream["parent_span_id"] == request["span_id"]
            assert stream["attributes"]["spyglass.stream.complete"] is True, name
            assert stream["llm"]["streaming"] is True
            # The request span summarises the whole call, its stream's facts folded in.
            assert request["llm"]["input_tokens"] == 135
            assert request["llm"]["time_to_first_token_ms"] > 0
            assert request["llm"]["finish_reasons"] == ["tool_use"]
            assert stream["llm"]["time_to_first_token_ms"] > 0
            # The call is one conversation, asked of either of its two spans.
            base = f"{collector.url}/api/v1/traces/{summary['trace_id']}/spans"
            conversation = httpx.get(f"{base}/{request['span_id']}/conversation").json()
            from_stream = httpx.get(f"{base}/{stream['span_id']}/conversation").json()
            assert {**from_stream, "span_id": None} == {**conversation, "span_id": None}
            assert conversation["system_instructions"] == [
                {"type": "text", "content": "You are terse."}
            ]
            assert conversation["usage"]["input_tokens"] == 135
            assert conversation["finish_reasons"] == ["tool_use"]
            assert conversation["streaming"]["complete"] is True
            parts = conversation["output_messages"][0]["parts"]
            assert [p["type"] for p in parts] == ["reasoning", "text", "tool_call"], name
            assert parts[2]["arguments"] == {"city": "Paris"}
            assert conversation["streaming"]["chunk_count"] > 0
            assert (
                conversation["streaming"]["timeline"][-1][1]
                == stream["attributes"]["spyglass.stream.output_chars"]
            )
        else:
            assert types == ["llm.request", "user"], name
            request = next(
                s
                for s in trace["spans"]
                if s["attributes"].get("spyglass.span.type") == "llm.request"
            )
            conversation = httpx.get(
                f"{collector.url}/api/v1/traces/{summary['trace_id']}/spans/{request['span_id']}/conversation"
            ).json()
            assert conversation["system_instructions"] == [
                {"type": "text", "content": "You are terse."}
            ]
            assert (
                conversation["input_messages"][0]["parts"][0]["content"]
                == "What is the weather in Paris?"
            )
            assert conversation["output_messages"][0]["finish_reason"] == "tool_use"
