"""End to end: third-party instrumentors, the real anthropic client, a fake Anthropic API and a
real collector, read back through the REST API and the page.

Each source (OpenInference, OpenLLMetry, Logfire formats 1 and 2, and the anthropic SDK's own
tracing without and with content) runs `tests/e2e/instrumented_apps.py` in a process of its own,
exporting to one collector under its own service name; the apps run side by side. Every app
has the same conversation, one trace per step. What a source does not record is written below as
that source's expectation, with the reason (`conventions.md` in the shared reference, by section).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup, Tag

from app.timeline import format_ms
from tests.collector_process import Collector
from tests.e2e import instrumented_apps as apps
from tests.fake_anthropic import DEFAULT_USAGE, FakeAnthropic

ROOT = Path(__file__).resolve().parents[2]
# The apps take a few seconds each (importing anthropic is most of it), side by side.
APP_TIMEOUT_S = 60
# The apps flush before they exit, and a 200 means stored, so the traces are there at once;
# the wait only guards against a retried export.
ARRIVAL_TIMEOUT_S = 10
# The first test also pays for the module's fixture: the collector, the apps, the wait.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(APP_TIMEOUT_S + ARRIVAL_TIMEOUT_S + 60)]
INPUT_TOKENS = (
    DEFAULT_USAGE["input_tokens"]
    + DEFAULT_USAGE["cache_creation_input_tokens"]
    + DEFAULT_USAGE["cache_read_input_tokens"]
)
# Every delta of the stream waits CHUNK_DELAY_S first; timers may round a little.
STREAM_MIN_MS = apps.STREAM_DELTAS * apps.CHUNK_DELAY_S * 1000 * 0.9
FIRST_DELTA_MIN_MS = apps.CHUNK_DELAY_S * 1000 * 0.9


@dataclass(frozen=True)
class Source:
    """What one source records of the conversation, and where it falls short."""

    name: str  # as instrumented_apps.SOURCES has it
    convention: str  # the `convention` its calls are read with
    scope: str  # the instrumentation scope of the span that records a call
    spans: dict[str, int]  # spans in each step's trace, the app's own span included
    content: bool = True
    tool_result_role: str = "user"
    tools: bool = True
    thinking: bool = True
    signed_thinking: bool = False
    tool_finish_reason: str = "tool_use"
    ttft: bool = True
    # Every source times the whole stream (§8.4): OpenInference's, OpenLLMetry's and the SDK's
    # spans end when the stream is consumed, and Logfire's log span has a `duration`.
    stream_duration: bool = True

    @property
    def service(self) -> str:
        return f"instrumented-{self.name}"


def _spans(each: int, stream: int | None = None) -> dict[str, int]:
    return {step: stream if step == "stream" and stream else each for step in apps.STEPS}


SOURCES = {
    source.name: source
    for source in (
        Source(
            "openinference",
            "openinference",
            "openinference.instrumentation.anthropic",
            # §0.1: the SDK's own span is recorded too, as a child of OpenInference's (its
            # sibling for `messages.stream()`, whose span OpenInference does not make current).
            spans=_spans(3),
            # §5: OpenInference 3.x gives a tool result a message of its own, role `tool`.
            tool_result_role="tool",
            # §5: message_content.signature.
            signed_thinking=True,
            # OpenInference records no time to first token for Anthropic (§8.4); the SDK's
            # child span does, and Spyglass keeps it when it folds the two (§0.1).
        ),
        Source(
            "openllmetry",
            "openllmetry",
            "opentelemetry.instrumentation.anthropic",
            # §0.1: OpenLLMetry does not make its span current, so the SDK's span is its
            # sibling under the app's span (a separate trace without one).
            spans=_spans(3),
            # §0.4, §6.2: OpenLLMetry maps finish reasons to the OTel enum.
            tool_finish_reason="tool_call",
            # §0.5: OpenLLMetry counts one output token too many on a stream (message_start's
            # placeholder); the SDK's sibling span has the right count, and Spyglass keeps it.
            # §0.7: the signature of a thinking block is dropped. Time to first token and
            # streaming come from the SDK's sibling span (§0.1): `messages.stream()` does not
            # set gen_ai.is_streaming (§6.2).
        ),
        Source(
            "logfire-v1",
            "logfire",
            "logfire.anthropic",
            # §0.1: Logfire suppresses the SDK's span. §0.6: a stream is two records, the
            # request span and a log span at the end of the stream.
            spans=_spans(2, stream=3),
            # §0.7, §7.1: format 1 keeps only the text of the response; thinking is dropped.
            thinking=False,
            # §7.2: no time to first token; the log span's `duration` times the stream.
            ttft=False,
        ),
        Source(
            "logfire-v2",
            "logfire",
            "logfire.anthropic",
            spans=_spans(2, stream=3),  # as format 1
            # The assistant turn sent back (the response's own content blocks) is recorded as
            # Python reprs of the SDK's objects (anthropic-sdk.md §0.7); Spyglass reads them.
            # §3.2: the raw thinking block, signature included.
            signed_thinking=True,
            ttft=False,  # as format 1
        ),
        Source(
            "anthropic-sdk",
            "anthropic-sdk",
            "com.anthropic.sdk.python",
            spans=_spans(2),
            # §0.1: metadata only unless the content mode is set: no messages, no tools.
            content=False,
            tools=False,
            thinking=False,
        ),
        Source(
            "anthropic-sdk-content",
            "anthropic-sdk",
            "com.anthropic.sdk.python",
            spans=_spans(2),
            # The SDK records no tool definitions, even in content mode (anthropic-sdk.md §7).
            tools=False,
            # §0.7: the SDK's reasoning part drops the signature.
        ),
    )
}
assert set(SOURCES) == set(apps.SOURCES)


# --- running the apps ----------------------------------------------------------------------------


class Run:
    """One source's app run, and what the collector made of it; fetched once, on demand."""

    def __init__(self, source: Source, url: str) -> None:
        self.source = source
        self.url = url
        self.error: str | None = None
        self.traces: dict[str, dict[str, Any]] = {}  # step -> GET /api/v1/traces/{id}
        self._conversations: dict[str, dict[str, Any]] = {}
        self._pages: dict[str, BeautifulSoup] = {}

    def trace_id(self, step: str) -> str:
        return self.traces[step]["trace"]["trace_id"]

    def call(self, step: str) -> dict[str, Any]:
        """The span of the source's own instrumentation that records the step's call."""
        spans = self.traces[step]["spans"]
        ours = [s for s in spans if s["scope_name"] == self.source.scope and s["llm"]]
        assert ours, f"{step}: no LLM span of {self.source.scope} in {_names(spans)}"
        # A stream may be recorded by two spans (Logfire's request span and its log span);
        # the call is the one that says so, the last when several do.
        calls = [s for s in ours if s["llm"]["is_call"]] or ours
        return calls[-1]

    def conversation(self, step: str) -> dict[str, Any]:
        if step not in self._conversations:
            span = self.call(step)
            reply = httpx.get(
                f"{self.url}/api/v1/traces/{self.trace_id(step)}/spans/{span['span_id']}/conversation",
                timeout=10,
            )
            assert reply.status_code == 200, reply.text
            self._conversations[step] = reply.json()
        return self._conversations[step]

    def page(self, step: str) -> Tag:
        """The detail pane of the step's call on its trace page."""
        span_id = self.call(step)["span_id"]
        if step not in self._pages:
            reply = httpx.get(
                f"{self.url}/traces/{self.trace_id(step)}", params={"span": span_id}, timeout=10
            )
            assert reply.status_code == 200, reply.text
            self._pages[step] = BeautifulSoup(reply.text, "html.parser")
        detail = self._pages[step].select_one("#detail article.span-detail")
        assert detail is not None
        assert detail["data-span-id"] == span_id
        return detail


def _names(spans: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["name"], s["scope_name"]) for s in spans]


def _app_environment(source: Source, collector: Collector, fake: FakeAnthropic) -> dict[str, str]:
    # Nothing from the developer's shell may steer the app (an OTEL_ or ANTHROPIC_ setting).
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "SPYGLASS_", "ANTHROPIC_", "LOGFIRE_"))
    }
    return {
        **base,
        "FAKE": fake.base_url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_SERVICE_NAME": source.service,
        **apps.ENVIRONMENT.get(source.name, {}),
    }


def _await_traces(run: Run) -> None:
    """Wait, up to a deadline, until every step's trace holds the spans the source makes."""
    expected = run.source.spans
    seen: dict[str, int] = {}
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    while True:
        reply = httpx.get(
            f"{run.url}/api/v1/traces",
            params={"service": run.source.service, "limit": 100},
            timeout=10,
        )
        reply.raise_for_status()
        listed = reply.json()["traces"]
        seen = {trace["name"]: trace["span_count"] for trace in listed}
        if seen == expected:
            break
        if time.monotonic() > deadline:
            run.error = f"spans per step trace: expected {expected}, got {seen}"
            return
        time.sleep(0.05)
    for trace in listed:
        detail = httpx.get(f"{run.url}/api/v1/traces/{trace['trace_id']}", timeout=10)
        detail.raise_for_status()
        run.traces[trace["name"]] = detail.json()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Every source's app, run side by side against one collector, each with its own fake."""
    collector = Collector(tmp_path_factory.mktemp("instrumentors") / "collector-data")
    collector.env = {k: v for k, v in collector.env.items() if not k.startswith("SPYGLASS_")}
    collector.start()
    runs = {name: Run(source, collector.url) for name, source in SOURCES.items()}
    try:
        with contextlib.ExitStack() as stack:
            processes: dict[str, subprocess.Popen[str]] = {}
            fakes: dict[str, FakeAnthropic] = {}
            try:
                for name, source in SOURCES.items():
                    fake = fakes[name] = stack.enter_context(FakeAnthropic())
                    fake.enqueue(*apps.replies(name))
                    processes[name] = subprocess.Popen(
                        [sys.executable, "-m", "tests.e2e.instrumented_apps", name],
                        cwd=ROOT,
                        env=_app_environment(source, collector, fake),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                deadline = time.monotonic() + APP_TIMEOUT_S
                for name, process in processes.items():
                    left = max(deadline - time.monotonic(), 0.1)
                    try:
                        stdout, stderr = process.communicate(timeout=left)
                    except subprocess.TimeoutExpired:
                        runs[name].error = f"the app did not finish in {APP_TIMEOUT_S}s"
                        continue
                    if process.returncode != 0 or stdout.strip() != "done":
                        runs[name].error = f"the app failed ({process.returncode}):\n{stderr}"
                    elif stderr:
                        # An instrumentor's internal error or a failed export is logged, not raised.
                        runs[name].error = f"the app logged errors:\n{stderr}"
                    elif fakes[name].pending():
                        runs[name].error = f"{fakes[name].pending()} replies were not asked for"
            finally:
                for process in processes.values():
                    if process.poll() is None:
                        process.kill()
                        process.communicate()
        for run in runs.values():
            if run.error is None:
                _await_traces(run)
        yield runs
    finally:
        collector.stop()


@pytest.fixture(params=list(SOURCES))
def run(request: pytest.FixtureRequest, runs: dict[str, Run]) -> Run:
    found = runs[request.param]
    if found.error is not None:
        pytest.fail(f"{found.source.name}: {found.error}", pytrace=False)
    return found


# --- reading conversations -----------------------------------------------------------------------


def _texts(parts: list[dict[str, Any]]) -> list[str]:
    return [p["content"] for p in parts if p.get("type") == "text"]


def _turns(messages: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    return [(m["role"], _texts(m["parts"])) for m in messages]


def _parts(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [p for m in messages for p in m["parts"] if p.get("type") == kind]


def _flat_text(value: Any) -> str:
    """A tool result's text, whether the source kept it as a string or as content blocks."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_flat_text(item) for item in value)
    if isinstance(value, dict):
        return _flat_text(value.get("content", value.get("text", "")))
    return ""


def _text(element: Tag | None) -> str:
    assert element is not None
    return " ".join(element.get_text(" ", strip=True).split())


# --- the REST API --------------------------------------------------------------------------------


def test_the_convention_names_the_source(run: Run) -> None:
    for step in apps.STEPS:
        conversation = run.conversation(step)
        assert conversation["convention"] == run.source.convention, step
        assert conversation["provider"] == "anthropic", step
        assert conversation["request_model"] == apps.MODEL, step


def test_each_call_is_counted_once(run: Run) -> None:
    # §0.1: a source that records a call twice (its span and the SDK's) is folded into one.
    for step in apps.STEPS:
        trace = run.traces[step]
        calls = [s for s in trace["spans"] if s["llm"] and s["llm"]["is_call"]]
        assert [s["span_id"] for s in calls] == [run.call(step)["span_id"]], (
            step,
            _names(calls),
        )
        summary = trace["trace"]
        assert summary["llm_call_count"] == 1, step
        assert summary["input_tokens"] == INPUT_TOKENS, step
        assert summary["output_tokens"] == apps.OUTPUT_TOKENS[step], step
        assert summary["models"] == [apps.MODEL], step


def test_roles_and_text(run: Run) -> None:
    plain = run.conversation("system prompt")
    streamed = run.conversation("stream")
    if not run.source.content:
        for conversation in (plain, streamed):
            assert conversation["system_instructions"] == []
            assert conversation["input_messages"] == []
            assert conversation["output_messages"] == []
        return
    assert _texts(plain["system_instructions"]) == [apps.SYSTEM]
    assert _turns(plain["input_messages"]) == [("user", [apps.QUESTION])]
    assert _turns(plain["output_messages"]) == [("assistant", [apps.ANSWER])]
    assert _texts(streamed["system_instructions"]) == [apps.SYSTEM]
    assert _turns(streamed["input_messages"]) == [("user", [apps.STORY_QUESTION])]
    assert _turns(streamed["output_messages"]) == [("assistant", [apps.STORY])]


def test_tool_calls_with_their_results(run: Run) -> None:
    asked = run.conversation("tool call")
    answered = run.conversation("tool result")
    assert asked["finish_reasons"] == [run.source.tool_finish_reason]
    tool_names = [tool.get("name") for tool in asked["tools"]]
    assert tool_names == ([apps.TOOL_NAME] if run.source.tools else [])
    if not run.source.content:
        assert asked["output_messages"] == answered["input_messages"] == []
        return
    tool_id = apps.tool_id(run.source.name)
    call = {"type": "tool_call", "id": tool_id, "name": apps.TOOL_NAME}
    output = asked["output_messages"]
    assert _turns(output) == [("assistant", [apps.PREAMBLE])]
    [made] = _parts(output, "tool_call")
    assert made == {**made, **call, "arguments": apps.TOOL_ARGS}

    # The call goes back as the assistant's turn, its result in the next one.
    history = answered["input_messages"]
    roles = [message["role"] for message in history]
    assert roles == ["user", "assistant", run.source.tool_result_role]
    assert _texts(history[1]["parts"]) == [apps.PREAMBLE]
    [sent_back] = _parts(history[1:2], "tool_call")
    assert sent_back == {**sent_back, **call}
    [result] = _parts(history[2:], "tool_call_response")
    assert result["id"] == tool_id
    assert _flat_text(result["response"]) == apps.TOOL_RESULT
    assert _turns(answered["output_messages"]) == [("assistant", [apps.WEATHER_ANSWER])]


def test_thinking(run: Run) -> None:
    output = run.conversation("thinking")["output_messages"]
    if not run.source.content:
        assert output == []
        return
    parts = [(p["type"], p.get("content")) for m in output for p in m["parts"]]
    thinking = [("reasoning", apps.THINKING)] if run.source.thinking else []
    assert parts == [*thinking, ("text", apps.THINKING_ANSWER)]


def test_usage(run: Run) -> None:
    for step in apps.STEPS:
        assert run.conversation(step)["usage"] == {
            "input_tokens": INPUT_TOKENS,
            "output_tokens": apps.OUTPUT_TOKENS[step],
            "cache_read_input_tokens": DEFAULT_USAGE["cache_read_input_tokens"],
            "cache_creation_input_tokens": DEFAULT_USAGE["cache_creation_input_tokens"],
        }, step


def test_streaming_timing(run: Run) -> None:
    for step in apps.STEPS:
        if step != "stream":
            assert run.conversation(step)["streaming"] is None, step
    streaming = run.conversation("stream")["streaming"]
    assert streaming is not None
    ttft = streaming["time_to_first_token_ms"]
    if run.source.ttft:
        # The SDK times the first content delta, which the fake sends after one delay.
        assert ttft is not None and ttft >= FIRST_DELTA_MIN_MS, streaming
    else:
        assert ttft is None, streaming
    duration = streaming["duration_ms"]
    if run.source.stream_duration:
        assert duration is not None and duration >= STREAM_MIN_MS, streaming
    if ttft is not None and duration is not None:
        assert ttft < duration, streaming


# --- the page ------------------------------------------------------------------------------------


def _messages(detail: Tag) -> list[Tag]:
    return detail.select(".conversation .chat-view > .msg")


def _roles(detail: Tag) -> list[str]:
    return [_text(message.select_one(".role")) for message in _messages(detail)]


def _message_texts(message: Tag) -> list[str]:
    return [_text(block) for block in message.select(":scope > .block-text .prose")]


def test_the_page_shows_roles_and_text(run: Run) -> None:
    for step, question, answer in (
        ("system prompt", apps.QUESTION, apps.ANSWER),
        ("stream", apps.STORY_QUESTION, apps.STORY),
    ):
        detail = run.page(step)
        if not run.source.content:
            assert _messages(detail) == [], step
            assert "No messages were recorded" in _text(detail.select_one(".chat-view")), step
            continue
        assert _roles(detail) == ["System", "user", "assistant · response"], step
        texts = [_message_texts(message) for message in _messages(detail)]
        assert texts == [[apps.SYSTEM], [question], [answer]], step


def test_the_page_pairs_the_tool_call_with_its_result(run: Run) -> None:
    asked = run.page("tool call")
    answered = run.page("tool result")
    if not run.source.content:
        assert asked.select(".block-tool-call") == answered.select(".block-tool-result") == []
        return
    tool_id = apps.tool_id(run.source.name)
    call = asked.select_one(f"#call-{tool_id}")
    assert call is not None
    assert _text(call.select_one(".tool-name")) == apps.TOOL_NAME
    assert '"city": "Paris"' in call.select_one(".mono").get_text()

    roles = ["user", "assistant", run.source.tool_result_role, "assistant · response"]
    assert _roles(answered) == roles
    sent_back = answered.select_one(f"#call-{tool_id}")
    result = answered.select_one(f"#result-{tool_id}")
    assert sent_back is not None and result is not None
    assert sent_back.select_one("a.pair-link")["href"] == f"#result-{tool_id}"
    assert result.select_one("a.pair-link")["href"] == f"#call-{tool_id}"
    assert apps.TOOL_RESULT in _text(result)
    assert _message_texts(_messages(answered)[-1]) == [apps.WEATHER_ANSWER]


def test_the_page_shows_thinking(run: Run) -> None:
    detail = run.page("thinking")
    thinking = detail.select("details.block-reasoning")
    if not (run.source.content and run.source.thinking):
        assert thinking == []
        return
    [block] = thinking
    assert _text(block.select_one(".prose")) == apps.THINKING
    facts = {_text(d.dt): _text(d.dd) for d in block.select(".block-facts > div")}
    assert facts.get("signed") == ("yes" if run.source.signed_thinking else None)


def test_the_page_shows_usage(run: Run) -> None:
    for step in apps.STEPS:
        usage = run.page(step).select_one("section.call .usage")
        assert usage is not None, step
        figures = {_text(d.dt): _text(d.dd) for d in usage.select("dl.figures > div")}
        assert figures == {
            "Input": str(INPUT_TOKENS),
            "Output": str(apps.OUTPUT_TOKENS[step]),
            "Cache read": str(DEFAULT_USAGE["cache_read_input_tokens"]),
            "Cache write": str(DEFAULT_USAGE["cache_creation_input_tokens"]),
            "Uncached input": str(DEFAULT_USAGE["input_tokens"]),
        }, step


def test_the_page_shows_streaming_timing(run: Run) -> None:
    assert run.page("system prompt").select("dl.timeline-figures") == []
    streaming = run.conversation("stream")["streaming"]
    # A chart when the source records each chunk's time (ours does); the figures alone when
    # it records only the time to first token and the duration, as these sources do.
    shown = run.page("stream").select_one("section.call dl.timeline-figures")
    assert shown is not None, streaming
    figures = {_text(d.dt): _text(d.dd) for d in shown.select(":scope > div")}
    ttft, duration = streaming["time_to_first_token_ms"], streaming["duration_ms"]
    if run.source.ttft:
        assert figures["First token"] == format_ms(ttft)
    if run.source.stream_duration:
        assert figures["Duration"] == format_ms(duration)
