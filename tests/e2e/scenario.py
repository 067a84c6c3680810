"""A small agent run recorded end to end: the app a user writes, the real anthropic client
instrumented by spyglass, the fake Anthropic API and a real collector.

The run makes two calls in one trace: a plain call that sees an image and a document and
answers with thinking and two tool calls, then a streamed call that gets one tool result and
one tool error back and answers with thinking, redacted thinking and Markdown. The browser
tests read it; `python -m tests.e2e.scenario URL` records one into a running collector to look at.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import httpx

from tests.fake_anthropic import (
    FakeAnthropic,
    Reply,
    redacted_thinking_block,
    text_block,
    thinking_block,
    tool_use_block,
)

# A 1×1 PNG, kept by the client (keep_media) so the page can show it.
PIXEL_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
SYSTEM_PROMPT = "You are a **travel assistant**. Use the tools; answer in one short paragraph."
QUESTION = "What is the weather in Paris right now, and what time is it there?"
THINKING = "The user wants weather and local time for Paris. I should call both tools."
WEATHER = "18°C, light rain, wind 12 km/h"
TIME_ERROR = "timezone service unavailable"
ANSWER_THINKING = "Weather came back; the time lookup failed, so I will say so plainly."
ANSWER = (
    "It is **18°C with light rain** in Paris.\n\n"
    "I could not get the local time:\n\n"
    "```python\nraise TimeoutError('timezone service unavailable')\n```\n\n"
    "| city | weather |\n|---|---|\n| Paris | rain |\n"
)
ROOT_SPAN = "plan a trip"

APP = textwrap.dedent(
    """
    import os, anthropic, spyglass

    spyglass.configure(endpoint=os.environ["COLLECTOR"], service_name="travel-agent",
                       keep_media=True)
    spyglass.instrument_anthropic()
    client = anthropic.Anthropic(base_url=os.environ["FAKE"], api_key="test", max_retries=0)
    tools = [
        {"name": "get_weather", "description": "Current weather for a city.",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "get_time", "description": "Local time in a time zone.",
         "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}}},
    ]
    question = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": os.environ["PIXEL"]}},
        {"type": "document", "title": "Itinerary",
         "source": {"type": "text", "media_type": "text/plain", "data": "Day 1: Louvre."}},
        {"type": "text", "text": os.environ["QUESTION"]},
    ]
    messages = [{"role": "user", "content": question}]
    with spyglass.span(os.environ["ROOT_SPAN"]):
        first = client.messages.create(model="claude-sonnet-4-6", max_tokens=1024,
                                       system=os.environ["SYSTEM"], tools=tools,
                                       messages=messages,
                                       thinking={"type": "enabled", "budget_tokens": 512})
        calls = [b for b in first.content if b.type == "tool_use"]
        messages += [
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": calls[0].id,
                 "content": os.environ["WEATHER"]},
                {"type": "tool_result", "tool_use_id": calls[1].id, "is_error": True,
                 "content": os.environ["TIME_ERROR"]},
            ]},
        ]
        with client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024,
                                    system=os.environ["SYSTEM"], tools=tools,
                                    messages=messages) as stream:
            stream.get_final_message()
    print("done")
    """
)


def replies() -> list[Reply]:
    return [
        Reply.message(
            [
                thinking_block(THINKING),
                text_block("Let me check both."),
                tool_use_block("get_weather", {"city": "Paris"}, "toolu_weather01"),
                tool_use_block("get_time", {"tz": "Europe/Paris"}, "toolu_time01"),
            ],
            stop_reason="tool_use",
            usage={"input_tokens": 420, "cache_read_input_tokens": 1800, "output_tokens": 96},
        ),
        Reply.stream(
            [
                thinking_block(ANSWER_THINKING),
                redacted_thinking_block(),
                text_block(ANSWER),
            ],
            usage={"input_tokens": 610, "cache_read_input_tokens": 1800, "output_tokens": 58},
            chunk_delay=0.004,
            chunk_size=6,
        ),
    ]


def record(collector_url: str, fake: FakeAnthropic) -> None:
    """Run the app once against `fake`, exporting to the collector at `collector_url`."""
    fake.enqueue(*replies())
    env = {
        **os.environ,
        "COLLECTOR": collector_url,
        "FAKE": fake.base_url,
        "PIXEL": PIXEL_PNG,
        "QUESTION": QUESTION,
        "SYSTEM": SYSTEM_PROMPT,
        "WEATHER": WEATHER,
        "TIME_ERROR": TIME_ERROR,
        "ROOT_SPAN": ROOT_SPAN,
    }
    run = subprocess.run(
        [sys.executable, "-c", APP], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and "done" in run.stdout, run.stderr


def trace_id_named(collector_url: str, name: str) -> str:
    reply = httpx.get(f"{collector_url}/api/v1/traces", params={"limit": 1000})
    reply.raise_for_status()
    return next(t["trace_id"] for t in reply.json()["traces"] if t["name"] == name)


if __name__ == "__main__":
    with FakeAnthropic() as fake:
        record(sys.argv[1], fake)
    print(trace_id_named(sys.argv[1], ROOT_SPAN))
