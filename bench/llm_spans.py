"""Realistic LLM spans for benchmarks: agent loops, about 9 KB of attributes a span on average.

Each trace is one conversation of an agent: call k sends the system prompt, the whole history
so far (the task, every earlier assistant turn with its tool call, every tool result) and gets
a new assistant turn back, which calls the next tool or, on the last call, answers. So the
same text comes back again and again within a trace, as it does in a real agent. Half the
traces are written as OpenTelemetry GenAI attributes (`gen_ai.input.messages`,
`gen_ai.output.messages` and `gen_ai.system_instructions` JSON, usage, models, response id),
half as OpenInference attributes (flattened `llm.input_messages.{i}.message.*`, the request
and response again as `input.value` and `output.value` JSON, token counts, tool schemas), with
the key names and shapes of tests/fixtures/captures/. The system prompt is the same in every
trace, as in one app; every other text is new to its trace: each is a random draw of sentences
from a pool built at import (with a seeded `random.Random`, from a vocabulary with Zipf-like
weights), so generating is fast and a message of one trace never appears in another.

`batch(spans)` takes the next spans of an endless stream of such traces, so a 100-span batch
holds whole traces and parts of traces. Ids and that stream's choices are random, so every batch
is new data, even to a collector that has had a run before; `AgentTraces(seed=…)` repeats one.

    .venv/bin/python bench/llm_spans.py    # prints the average span size
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SEED = 20261204
MODEL = "claude-sonnet-4-5"
RESPONSE_MODEL = "claude-sonnet-4-5-20250929"
MAX_TOKENS = 4096
MS = 1_000_000
GENAI_SCOPE = "opentelemetry.instrumentation.genai.anthropic"
OPENINFERENCE_SCOPE = "openinference.instrumentation.anthropic"
# Calls per trace for the ingest load: an agent loop of a few tool calls and a final answer.
CALLS_PER_TRACE = (2, 9)

# --- text ----------------------------------------------------------------------------------------

_rng = random.Random(SEED)
_ONSETS = [*"bcdfghjklmnprstvwz", "br", "ch", "cl", "dr", "fl", "gr", "pl", "pr", "sh", "st"]
_ONSETS += ["th", "tr"]
_VOWELS = [*"aeiou", "ai", "ea", "ee", "oo", "ou"]
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "nd", "st", "ck"]


def _word(rng: random.Random) -> str:
    return "".join(
        rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
        for _ in range(rng.choice((1, 1, 2, 2, 2, 3)))
    )


# A vocabulary drawn with Zipf-like weights, so the text compresses about as prose does.
_COMMON = ["the", "a", "of", "to", "and", "in", "is", "that", "it", "for", "on", "with", "as"]
VOCABULARY = _COMMON + list(dict.fromkeys(_word(_rng) for _ in range(6000)))
_CUMULATIVE = list(itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(VOCABULARY))))


def _sentence(rng: random.Random) -> str:
    words = rng.choices(VOCABULARY, cum_weights=_CUMULATIVE, k=rng.randint(6, 22))
    return " ".join(words).capitalize() + rng.choice(".....?:")


# 20,000 sentences (about 2 MB): a message is a random draw of them, so no two are alike.
SENTENCES = [_sentence(_rng) for _ in range(20_000)]
AVERAGE_SENTENCE = sum(map(len, SENTENCES)) / len(SENTENCES)


def text(rng: random.Random, chars: int) -> str:
    """About `chars` characters of new prose, in paragraphs."""
    # Two sentences at least: 20,000² pairs, so even a short text is new to its trace.
    sentences = rng.choices(SENTENCES, k=max(2, round(chars / (AVERAGE_SENTENCE + 1))))
    paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5)]
    return "\n\n".join(paragraphs)


# The app's system prompt, the same in every trace.
SYSTEM = "You are a careful coding agent. " + text(random.Random(SEED + 1), 1000)
TOOLS = [
    {
        "name": name,
        "description": description,
        "input_schema": {
            "type": "object",
            "properties": {arg: {"type": "string", "description": f"The {arg}."} for arg in args},
            "required": list(args[:1]),
        },
    }
    for name, description, args in [
        ("read_file", "Read a file of the repository.", ("path", "start_line", "end_line")),
        ("search_code", "Search the repository for a pattern.", ("pattern", "glob")),
        ("run_tests", "Run the test suite, or a part of it.", ("selector", "timeout")),
        ("edit_file", "Replace a range of lines in a file.", ("path", "old", "new")),
    ]
]
TOOL_NAMES = [tool["name"] for tool in TOOLS]

# --- one conversation ----------------------------------------------------------------------------


@dataclass
class Message:
    """One turn: text, and either a tool call (an assistant's) or a tool result (a user's)."""

    role: str
    text: str = ""
    tool_call: dict[str, Any] | None = None  # {"id", "name", "arguments"}
    tool_result: tuple[str, str] | None = None  # (tool call id, result text)
    _genai: str | None = field(default=None, repr=False)
    _anthropic: str | None = field(default=None, repr=False)
    _openinference: dict[int, list[KeyValue]] = field(default_factory=dict, repr=False)

    def genai_json(self) -> str:
        """As one GenAI message, JSON (cached: the history sends it again and again)."""
        if self._genai is None:
            parts: list[dict[str, Any]] = []
            if self.tool_result is not None:
                call_id, result = self.tool_result
                parts.append({"type": "tool_call_response", "id": call_id, "response": result})
            if self.text:
                parts.append({"type": "text", "content": self.text})
            if self.tool_call is not None:
                parts.append({"type": "tool_call", **self.tool_call})
            self._genai = _dumps({"role": self.role, "parts": parts})
        return self._genai

    def anthropic_json(self) -> str:
        """As one message of an Anthropic request, JSON (what `input.value` holds)."""
        if self._anthropic is None:
            content: str | list[dict[str, Any]]
            if self.tool_result is not None:
                call_id, result = self.tool_result
                content = [{"type": "tool_result", "tool_use_id": call_id, "content": result}]
            elif self.tool_call is not None:
                call = self.tool_call
                content = [
                    {"type": "text", "text": self.text},
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": call["name"],
                        "input": call["arguments"],
                    },
                ]
            else:
                content = self.text
            self._anthropic = json.dumps({"role": self.role, "content": content})
        return self._anthropic

    def openinference(self, prefix: str) -> list[KeyValue]:
        """As flattened OpenInference keys under `prefix` (`llm.input_messages.3`)."""
        pairs = [_kv(f"{prefix}.message.role", self.role)]
        if self.tool_result is not None:
            call_id, result = self.tool_result
            pairs.append(_kv(f"{prefix}.message.tool_call_id", call_id))
            pairs.append(_kv(f"{prefix}.message.content", result))
        elif prefix.startswith("llm.output_messages"):
            content = f"{prefix}.message.contents.0.message_content"
            pairs.append(_kv(f"{content}.type", "text"))
            pairs.append(_kv(f"{content}.text", self.text))
        else:
            pairs.append(_kv(f"{prefix}.message.content", self.text))
        if self.tool_call is not None:
            call = f"{prefix}.message.tool_calls.0.tool_call"
            pairs.append(_kv(f"{call}.id", self.tool_call["id"]))
            pairs.append(_kv(f"{call}.function.name", self.tool_call["name"]))
            pairs.append(_kv(f"{call}.function.arguments", json.dumps(self.tool_call["arguments"])))
        return pairs


@dataclass
class Call:
    """One LLM call of an agent loop."""

    trace_id: bytes
    span_id: bytes
    start_ns: int
    end_ns: int
    history: list[Message]  # what is sent, after the system prompt
    output: Message
    finish_reason: str
    response_id: str
    cache_read_tokens: int


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _tokens(chars: int) -> int:
    return chars // 4


def conversation(rng: random.Random, calls: int, end_ns: int) -> Iterator[Call]:
    """The `calls` calls of one agent run, ending about `end_ns`: each sends the whole history
    and gets a new assistant turn; every turn but the last calls a tool, whose result is the
    next turn."""
    trace_id = os.urandom(16)
    starts, durations = [], []
    clock = 0
    for _ in range(calls):
        starts.append(clock)
        durations.append(rng.randint(600, 4000) * MS)
        clock += durations[-1] + rng.randint(20, 800) * MS  # the tool runs in between
    offset = end_ns - clock
    history = [Message("user", text(rng, rng.randint(250, 700)))]
    previous_input = 0
    for index in range(calls):
        last = index == calls - 1
        if last:
            output = Message("assistant", text(rng, rng.randint(500, 1400)))
        else:
            name = rng.choice(TOOL_NAMES)
            arguments = {"path": f"src/module_{rng.randint(1, 400)}.py", "reason": _sentence(rng)}
            output = Message(
                "assistant",
                text(rng, rng.randint(80, 300)),
                tool_call={
                    "id": f"toolu_{rng.getrandbits(64):016x}",
                    "name": name,
                    "arguments": arguments,
                },
            )
        input_chars = len(SYSTEM) + sum(
            len(m.text) + len((m.tool_result or ("", ""))[1]) for m in history
        )
        yield Call(
            trace_id=trace_id,
            span_id=os.urandom(8),
            start_ns=offset + starts[index],
            end_ns=offset + starts[index] + durations[index],
            history=list(history),
            output=output,
            finish_reason="end_turn" if last else "tool_use",
            response_id=f"msg_{rng.getrandbits(96):024x}",
            cache_read_tokens=previous_input,
        )
        previous_input = _tokens(input_chars)
        if not last:
            assert output.tool_call is not None
            result = text(rng, rng.randint(150, 420))
            history += [output, Message("user", tool_result=(output.tool_call["id"], result))]


# --- attributes ----------------------------------------------------------------------------------


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, list):
        items = [_kv("", item).value for item in value]
        return KeyValue(key=key, value=AnyValue(array_value=ArrayValue(values=items)))
    raise TypeError(value)


SYSTEM_INSTRUCTIONS = _kv(
    "gen_ai.system_instructions", _dumps([{"type": "text", "content": SYSTEM}])
)
GENAI_CONSTANT = [
    _kv("gen_ai.operation.name", "chat"),
    _kv("gen_ai.provider.name", "anthropic"),
    _kv("gen_ai.request.model", MODEL),
    _kv("gen_ai.request.max_tokens", MAX_TOKENS),
    _kv("gen_ai.request.temperature", 0.2),
    _kv("server.address", "api.anthropic.com"),
    _kv("gen_ai.response.model", RESPONSE_MODEL),
]


def genai_span(call: Call) -> Span:
    inputs = "[" + ",".join(m.genai_json() for m in call.history) + "]"
    output = call.output.genai_json()
    output = output[:-1] + f',"finish_reason":"{call.finish_reason}"' + "}"
    input_tokens = _tokens(len(SYSTEM) + len(inputs))
    attributes = [
        *GENAI_CONSTANT,
        _kv("gen_ai.response.id", call.response_id),
        _kv("gen_ai.response.finish_reasons", [call.finish_reason]),
        _kv("gen_ai.usage.input_tokens", input_tokens),
        _kv("gen_ai.usage.output_tokens", _tokens(len(output))),
        _kv("gen_ai.usage.cache_read.input_tokens", min(call.cache_read_tokens, input_tokens)),
        SYSTEM_INSTRUCTIONS,
        _kv("gen_ai.input.messages", inputs),
        _kv("gen_ai.output.messages", "[" + output + "]"),
    ]
    return _span(call, f"chat {MODEL}", Span.SPAN_KIND_CLIENT, attributes)


TOOLS_JSON = json.dumps(TOOLS)
INVOCATION_PARAMETERS = json.dumps({"max_tokens": MAX_TOKENS, "temperature": 0.2})
OPENINFERENCE_CONSTANT = [
    _kv("llm.provider", "anthropic"),
    _kv("llm.system", "anthropic"),
    _kv("input.mime_type", "application/json"),
    _kv("llm.request.model_name", MODEL),
    _kv("llm.input_messages.0.message.role", "system"),
    _kv("llm.input_messages.0.message.content", SYSTEM),
    *[
        _kv(f"llm.tools.{index}.tool.json_schema", json.dumps(tool))
        for index, tool in enumerate(TOOLS)
    ],
    _kv("llm.invocation_parameters", INVOCATION_PARAMETERS),
    _kv("llm.model_name", RESPONSE_MODEL),
    _kv("llm.response.model_name", RESPONSE_MODEL),
    _kv("output.mime_type", "application/json"),
    _kv("openinference.span.kind", "LLM"),
]
REQUEST_HEAD = (
    f'{{"model": "{MODEL}", "max_tokens": {MAX_TOKENS}, "temperature": 0.2,'
    f' "system": {json.dumps(SYSTEM)}, "tools": {TOOLS_JSON}, "messages": ['
)


def openinference_span(call: Call) -> Span:
    # Each message's keys are cached on it: its index is the same in every later call.
    flattened: list[KeyValue] = []
    for index, message in enumerate(call.history, start=1):
        if index not in message._openinference:
            message._openinference[index] = message.openinference(f"llm.input_messages.{index}")
        flattened += message._openinference[index]
    request = REQUEST_HEAD + ", ".join(m.anthropic_json() for m in call.history) + "]}"
    output = call.output
    content: list[dict[str, Any]] = [{"citations": None, "text": output.text, "type": "text"}]
    if output.tool_call is not None:
        tool = output.tool_call
        content.append(
            {"id": tool["id"], "input": tool["arguments"], "name": tool["name"], "type": "tool_use"}
        )
    prompt = _tokens(len(request))
    completion = _tokens(len(output.text) + 60)
    response = {
        "id": call.response_id,
        "content": content,
        "model": RESPONSE_MODEL,
        "role": "assistant",
        "stop_reason": call.finish_reason,
        "stop_sequence": None,
        "type": "message",
        "usage": {
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": min(call.cache_read_tokens, prompt),
            "input_tokens": prompt - min(call.cache_read_tokens, prompt),
            "output_tokens": completion,
            "service_tier": "standard",
        },
    }
    attributes = [
        *OPENINFERENCE_CONSTANT,
        *flattened,
        *output.openinference("llm.output_messages.0"),
        _kv("input.value", request),
        _kv("llm.finish_reason", call.finish_reason),
        _kv("llm.token_count.prompt", prompt),
        _kv("llm.token_count.completion", completion),
        _kv("llm.token_count.prompt_details.cache_read", min(call.cache_read_tokens, prompt)),
        _kv("llm.token_count.total", prompt + completion),
        _kv("output.value", _dumps(response)),
    ]
    return _span(call, "messages.create", Span.SPAN_KIND_INTERNAL, attributes)


def _span(call: Call, name: str, kind: int, attributes: list[KeyValue]) -> Span:
    return Span(
        trace_id=call.trace_id,
        span_id=call.span_id,
        name=name,
        kind=kind,
        start_time_unix_nano=call.start_ns,
        end_time_unix_nano=call.end_ns,
        attributes=attributes,
        status=Status(code=Status.STATUS_CODE_OK),
    )


# --- the stream of traces ------------------------------------------------------------------------

GENAI, OPENINFERENCE = "genai", "openinference"


class AgentTraces:
    """An endless stream of agent-loop spans as (scope name, span), trace after trace.

    `calls` is the number of calls per trace, or a (low, high) range drawn per trace;
    `conventions` the attribute conventions, taken in turn trace by trace."""

    def __init__(
        self,
        calls: int | tuple[int, int] = CALLS_PER_TRACE,
        conventions: tuple[str, ...] = (GENAI, OPENINFERENCE),
        seed: int = SEED,
    ) -> None:
        self.rng = random.Random(seed)
        self.calls = calls
        self.conventions = conventions
        self._spans = self._generate()

    def _generate(self) -> Iterator[tuple[str, Span]]:
        traces = 0
        while True:
            convention = self.conventions[traces % len(self.conventions)]
            traces += 1
            low, high = self.calls if isinstance(self.calls, tuple) else (self.calls, self.calls)
            calls = self.rng.randint(low, high)
            for call in conversation(self.rng, calls, time.time_ns()):
                if convention == GENAI:
                    yield GENAI_SCOPE, genai_span(call)
                else:
                    yield OPENINFERENCE_SCOPE, openinference_span(call)

    def take(self, spans: int) -> list[tuple[str, Span]]:
        return [next(self._spans) for _ in range(spans)]

    def request(self, spans: int, service: str = "bench") -> ExportTraceServiceRequest:
        """The next `spans` spans as one export request."""
        return export_request(self.take(spans), service)


def export_request(
    spans: Iterable[tuple[str, Span]], service: str = "bench"
) -> ExportTraceServiceRequest:
    """(scope name, span) pairs as one export request, a scope for each scope name."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(_kv("service.name", service))
    scopes: dict[str, Any] = {}
    for scope_name, span in spans:
        if scope_name not in scopes:
            scopes[scope_name] = resource_spans.scope_spans.add()
            scopes[scope_name].scope.name = scope_name
        scopes[scope_name].spans.append(span)
    return request


_traces = AgentTraces(seed=int.from_bytes(os.urandom(8)))


def batch(spans: int, service: str = "bench") -> bytes:
    """One ExportTraceServiceRequest of the next `spans` spans, protobuf-encoded."""
    return _traces.request(spans, service).SerializeToString()


def gzipped_batch(spans: int) -> bytes:
    return gzip.compress(batch(spans), compresslevel=1)


def span_sizes(spans: int = 2000, traces: AgentTraces | None = None) -> dict[str, float]:
    """Average sizes over `spans` spans of a fresh stream: protobuf bytes per span (the span
    message alone), attribute bytes (keys and string values), and by convention."""
    stream = traces or AgentTraces(seed=SEED + 2)
    by_convention: dict[str, list[int]] = {}
    attribute_bytes = 0
    for scope_name, span in stream.take(spans):
        by_convention.setdefault(scope_name, []).append(span.ByteSize())
        attribute_bytes += sum(
            len(kv.key) + len(kv.value.string_value.encode()) for kv in span.attributes
        )
    every = [size for sizes in by_convention.values() for size in sizes]
    result = {"protobuf": sum(every) / len(every), "attributes": attribute_bytes / len(every)}
    for scope_name, sizes in by_convention.items():
        result[scope_name] = sum(sizes) / len(sizes)
    return result


def print_span_sizes(spans: int = 2000) -> None:
    sizes = span_sizes(spans)
    genai = sizes.get(GENAI_SCOPE, 0)
    openinference = sizes.get(OPENINFERENCE_SCOPE, 0)
    print(
        f"span size: {sizes['protobuf']:,.0f} bytes of protobuf per span on average"
        f" ({sizes['attributes']:,.0f} of attribute keys and text; GenAI {genai:,.0f},"
        f" OpenInference {openinference:,.0f}; {spans} spans, {CALLS_PER_TRACE[0]}-"
        f"{CALLS_PER_TRACE[1]} calls a trace)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=2000)
    args = parser.parse_args()
    print_span_sizes(args.spans)


if __name__ == "__main__":
    main()
