"""Realistic LLM spans for benchmarks: about 9 KB each, as OpenTelemetry GenAI attributes.

Each span is a chat call with a system prompt, several turns and a tool call, the shape an
instrumented agent sends. Ids are random, so every batch is new data.
"""

from __future__ import annotations

import gzip
import json
import os
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

SYSTEM = "You are a meticulous travel assistant. " * 40
TURNS = [
    {"role": "user", "parts": [{"type": "text", "content": "Plan three days in Lisbon. " * 30}]},
    {
        "role": "assistant",
        "parts": [
            {"type": "text", "content": "Let me check the weather first. " * 10},
            {
                "type": "tool_call",
                "id": "toolu_01",
                "name": "get_weather",
                "arguments": {"city": "Lisbon"},
            },
        ],
    },
    {
        "role": "user",
        "parts": [
            {
                "type": "tool_call_response",
                "id": "toolu_01",
                "response": "Sunny, 21°C, light wind. " * 20,
            }
        ],
    },
]
OUTPUT = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "Day one: Alfama and the castle. " * 60}],
        "finish_reason": "end_turn",
    }
]


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    raise TypeError(value)


ATTRIBUTES = [
    _kv("gen_ai.operation.name", "chat"),
    _kv("gen_ai.provider.name", "anthropic"),
    _kv("gen_ai.request.model", "claude-sonnet-4-5"),
    _kv("gen_ai.response.model", "claude-sonnet-4-5-20250929"),
    _kv("gen_ai.request.max_tokens", 1024),
    _kv("gen_ai.usage.input_tokens", 1350),
    _kv("gen_ai.usage.output_tokens", 400),
    _kv("gen_ai.usage.cache_read.input_tokens", 1000),
    _kv("gen_ai.system_instructions", json.dumps([{"type": "text", "content": SYSTEM}])),
    _kv("gen_ai.input.messages", json.dumps(TURNS)),
    _kv("gen_ai.output.messages", json.dumps(OUTPUT)),
]


def batch(spans: int, service: str = "bench") -> bytes:
    """One ExportTraceServiceRequest of `spans` new spans, protobuf-encoded."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(_kv("service.name", service))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "bench"
    now = time.time_ns()
    trace_id = os.urandom(16)
    for index in range(spans):
        if index % 10 == 0:
            trace_id = os.urandom(16)
        scope_spans.spans.append(
            Span(
                trace_id=trace_id,
                span_id=os.urandom(8),
                name="chat claude-sonnet-4-5",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=now + index,
                end_time_unix_nano=now + index + 850_000_000,
                attributes=ATTRIBUTES,
            )
        )
    return request.SerializeToString()


def gzipped_batch(spans: int) -> bytes:
    return gzip.compress(batch(spans), compresslevel=1)
