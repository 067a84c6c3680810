"""Apps that call Claude through a third-party instrumentor and export to a collector over OTLP/HTTP.

Each source (an instrumentor, a format of one, or the anthropic SDK's own tracing) is set up the
way its documentation tells a user to, then the app has the same conversation with the real
anthropic client: a system prompt, a tool round trip, thinking, and a streamed answer. Each
call runs in an app span named after its step, so each step is one trace named after it.

Run one as `python -m tests.e2e.instrumented_apps SOURCE` from the repository root, with `FAKE`
(the fake Anthropic API), `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_SERVICE_NAME` set; queue
`replies(SOURCE)` on the fake first. The instrumentors are imported only in that process.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from tests.fake_anthropic import Reply, text_block, thinking_block, tool_use_block

SOURCES = (
    "openinference",
    "openllmetry",
    "logfire-v1",
    "logfire-v2",
    "anthropic-sdk",
    "anthropic-sdk-content",
)
# Set in the app's environment, as a user would in the shell.
ENVIRONMENT = {"anthropic-sdk-content": {"ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE": "content"}}
STEPS = ("system prompt", "tool call", "tool result", "thinking", "stream")

MODEL = "claude-sonnet-4-6"
SYSTEM = "You are a terse geography tutor."
QUESTION = "What is the capital of France?"
ANSWER = "Paris."
WEATHER_QUESTION = "What is the weather in Paris?"
PREAMBLE = "Let me check the weather."
TOOL_NAME = "get_weather"
TOOL_ARGS = {"city": "Paris"}
# Not ASCII: some sources write JSON with \u escapes, and the viewer must show the degree sign.
TOOL_RESULT = "18°C and sunny"
WEATHER_ANSWER = "It is 18°C and sunny in Paris."
THINKING_QUESTION = "What is 2 + 2?"
THINKING = "The user asks 2 + 2. That is 4."
SIGNATURE = "sig_thinking01"
THINKING_ANSWER = "2 + 2 = 4."
STORY_QUESTION = "Tell me a very short story."
STORY = "Once upon a time, a lighthouse keeper counted the waves until dawn."
# The stream waits this long before each of its deltas (8 characters each), so its timing is
# well above the noise: about 0.3 s in all.
CHUNK_DELAY_S = 0.03
CHUNK_SIZE = 8
STREAM_DELTAS = -(-len(STORY) // CHUNK_SIZE)
# Output tokens the fake reports for each step; the input is always the fake's default usage.
OUTPUT_TOKENS = {
    "system prompt": 4,
    "tool call": 23,
    "tool result": 11,
    "thinking": 19,
    "stream": 17,
}
TOOLS = [
    {
        "name": TOOL_NAME,
        "description": "Current weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


def _slug(source: str) -> str:
    return source.replace("-", "_")


def tool_id(source: str) -> str:
    """The id of the source's tool call. Ids are unique across the sources, as real ones are:
    the apps run side by side into one collector, which may match spans by id."""
    return f"toolu_{_slug(source)}_01"


def message_id(source: str, step: str) -> str:
    return f"msg_{_slug(source)}_{STEPS.index(step) + 1:02d}"


def replies(source: str) -> list[Reply]:
    """What the fake answers, in the order the app asks."""
    tokens = OUTPUT_TOKENS

    def ids(step: str) -> dict[str, Any]:
        return {"message_id": message_id(source, step), "usage": {"output_tokens": tokens[step]}}

    return [
        Reply.message([text_block(ANSWER)], **ids("system prompt")),
        Reply.message(
            [text_block(PREAMBLE), tool_use_block(TOOL_NAME, TOOL_ARGS, tool_id(source))],
            stop_reason="tool_use",
            **ids("tool call"),
        ),
        Reply.message([text_block(WEATHER_ANSWER)], **ids("tool result")),
        Reply.message(
            [thinking_block(THINKING, SIGNATURE), text_block(THINKING_ANSWER)], **ids("thinking")
        ),
        Reply.stream(
            [text_block(STORY)], chunk_delay=CHUNK_DELAY_S, chunk_size=CHUNK_SIZE, **ids("stream")
        ),
    ]


def converse(client: Any, step: Callable[[str], contextlib.AbstractContextManager[Any]]) -> None:
    """The conversation every source records; `step(name)` opens the app span of one step."""
    with step("system prompt"):
        client.messages.create(
            model=MODEL,
            max_tokens=256,
            system=SYSTEM,
            messages=[{"role": "user", "content": QUESTION}],
        )
    asked = [{"role": "user", "content": WEATHER_QUESTION}]
    with step("tool call"):
        first = client.messages.create(model=MODEL, max_tokens=512, tools=TOOLS, messages=asked)
    call = next(block for block in first.content if block.type == "tool_use")
    answered = [
        *asked,
        # As apps do: the response's own content blocks go back as the assistant turn.
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": TOOL_RESULT}],
        },
    ]
    with step("tool result"):
        client.messages.create(model=MODEL, max_tokens=512, tools=TOOLS, messages=answered)
    with step("thinking"):
        client.messages.create(
            model=MODEL,
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": THINKING_QUESTION}],
        )
    with (
        step("stream"),
        client.messages.stream(
            model=MODEL,
            max_tokens=256,
            system=SYSTEM,
            messages=[{"role": "user", "content": STORY_QUESTION}],
        ) as stream,
    ):
        text = "".join(stream.text_stream)
    assert text == STORY, text


# --- the sources ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _otel_sdk() -> Iterator[Callable[[str], Any]]:
    """A global tracer provider exporting over OTLP/HTTP, configured by the standard variables
    (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`), as every OTel instrumentor expects."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("instrumented-app")
    try:
        yield tracer.start_as_current_span
    finally:
        # Exports what is left and waits for the collector's answer.
        provider.shutdown()


@contextlib.contextmanager
def openinference() -> Iterator[Callable[[str], Any]]:
    from openinference.instrumentation.anthropic import AnthropicInstrumentor

    with _otel_sdk() as step:
        AnthropicInstrumentor().instrument()
        yield step


@contextlib.contextmanager
def openllmetry() -> Iterator[Callable[[str], Any]]:
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

    with _otel_sdk() as step:
        AnthropicInstrumentor().instrument()
        yield step


@contextlib.contextmanager
def anthropic_sdk() -> Iterator[Callable[[str], Any]]:
    """No instrumentor: anthropic 2.x traces its own calls once a global provider is set.
    `ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE=content` (set by the caller) adds content."""
    with _otel_sdk() as step:
        yield step


def _logfire(version: int) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    @contextlib.contextmanager
    def setup() -> Iterator[Callable[[str], Any]]:
        import logfire

        # Logfire adds an OTLP exporter for traces, metrics and logs when
        # OTEL_EXPORTER_OTLP_ENDPOINT is set; nothing goes to Logfire's own service.
        logfire.configure(
            send_to_logfire=False,
            service_name=os.environ["OTEL_SERVICE_NAME"],
            console=False,
            inspect_arguments=False,
        )
        logfire.instrument_anthropic(version=version)
        try:
            yield logfire.span
        finally:
            logfire.shutdown()

    return setup


SETUPS: dict[str, Callable[[], contextlib.AbstractContextManager[Any]]] = {
    "openinference": openinference,
    "openllmetry": openllmetry,
    "logfire-v1": _logfire(1),
    "logfire-v2": _logfire(2),
    "anthropic-sdk": anthropic_sdk,
    "anthropic-sdk-content": anthropic_sdk,
}


def main(source: str) -> None:
    with SETUPS[source]() as step:
        import anthropic

        client = anthropic.Anthropic(base_url=os.environ["FAKE"], api_key="test", max_retries=0)
        converse(client, step)
    print("done")


if __name__ == "__main__":
    main(sys.argv[1])
