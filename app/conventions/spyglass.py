"""Spans from Spyglass's own client package (scope `spyglass`).

They follow the GenAI conventions, plus `spyglass.span.type`: `llm.request` is the call, and
`llm.stream` is the streamed response of the call it is a child of. The stream span carries
the output, the usage and the stream's timing; it is not a call of its own. The client also
records every request parameter the GenAI keys leave out, in `anthropic.*`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from app.conventions.common import (
    LlmSummary,
    as_float,
    as_int,
    as_str,
    clipped,
    jsonable,
    streaming,
    structured,
)
from app.conventions.otel_genai import CONVENTION as GENAI
from app.conventions.otel_genai import MAX_PARAM_CHARS

SPAN_TYPE = "spyglass.span.type"
# What the stream span knows better than the request span, which ended before the output began.
STREAMED_KEYS = (
    "output_messages",
    "usage",
    "finish_reasons",
    "finish_reasons_normalized",
    "response_model",
    "error",
)
# The JSON of every parameter sent but messages, system and tools. The model is not a parameter.
SENT_PARAMETERS = "anthropic.request.parameters"
NOT_PARAMS = frozenset({"model"})
# The client's timeline holds at most ~257 points; more than this is thinned for the page.
MAX_TIMELINE_POINTS = 1024


class Spyglass:
    name = "spyglass"

    def claims(self, attributes: dict[str, Any], scope_name: str = "") -> bool:
        return isinstance(attributes, dict) and attributes.get(SPAN_TYPE) in (
            "llm.request",
            "llm.stream",
        )

    def summarize(self, attributes: dict[str, Any]) -> LlmSummary:
        summary = GENAI.summarize(attributes)
        if attributes.get(SPAN_TYPE) == "llm.stream":
            summary.is_call = False
            summary.streaming = True
            ttft = as_float(attributes.get("spyglass.stream.time_to_first_token_ms"))
            summary.time_to_first_token_ms = (
                ttft if ttft is not None else summary.time_to_first_token_ms
            )
        return summary

    def conversation(
        self,
        attributes: dict[str, Any],
        parts: Sequence[dict[str, Any]] = (),
        *,
        events: Sequence[dict[str, Any]] = (),
        logs: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """The request span's input, with the output, usage and timing of its stream span.

        Asked of a stream span alone (its request span not stored), the conversation is the
        output. Asked of a streamed request whose stream span has not arrived, `streaming`
        holds only Nones: the call streamed, but nothing is known of the stream yet.
        """
        if not isinstance(attributes, dict):
            attributes = {}
        conversation = GENAI.conversation(attributes)
        conversation["request_params"] = jsonable(
            _request_params(attributes, conversation["request_params"])
        )
        stream = _stream_of(attributes, parts)
        if stream is not None and stream is not attributes:
            streamed = GENAI.conversation(stream)
            for key in STREAMED_KEYS:
                conversation[key] = streamed[key]
        if stream is not None:
            conversation["streaming"] = jsonable(_streaming(stream))
        return conversation


def _stream_of(attributes: dict[str, Any], parts: Any) -> dict[str, Any] | None:
    if attributes.get(SPAN_TYPE) == "llm.stream":
        return attributes
    candidates = parts if isinstance(parts, list | tuple) else ()
    return next(
        (p for p in candidates if isinstance(p, dict) and p.get(SPAN_TYPE) == "llm.stream"),
        None,
    )


def _request_params(attributes: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The GenAI parameters, and every other one the client recorded, under its API name.

    With content capture on, the client records the whole body but the content; with it off,
    only the few parameters it names in `anthropic.*` keys.
    """
    sent = structured(attributes.get(SENT_PARAMETERS))
    if isinstance(sent, dict):
        extra = {
            key: value
            for key, value in sent.items()
            if isinstance(key, str) and key not in NOT_PARAMS
        }
    else:
        extra = {}
        for name, keys in (
            ("thinking", ("type", "budget_tokens")),
            ("tool_choice", ("type", "name")),
        ):
            found = {
                key: attributes[f"anthropic.{name}.{key}"]
                for key in keys
                if f"anthropic.{name}.{key}" in attributes
            }
            if found:
                extra[name] = found
        if "anthropic.request.service_tier" in attributes:
            extra["service_tier"] = attributes["anthropic.request.service_tier"]
    for key, value in extra.items():
        params.setdefault(key, clipped(value, MAX_PARAM_CHARS))
    return params


def _streaming(attributes: dict[str, Any]) -> dict[str, Any]:
    ttft = as_float(attributes.get("spyglass.stream.time_to_first_token_ms"))
    if ttft is None:
        ttft = GENAI.summarize(attributes).time_to_first_token_ms
    return streaming(
        time_to_first_token_ms=ttft,
        duration_ms=as_float(attributes.get("spyglass.stream.duration_ms")),
        chunk_count=as_int(attributes.get("spyglass.stream.chunk_count")),
        output_chars=as_int(attributes.get("spyglass.stream.output_chars")),
        output_tokens_per_second=as_float(
            attributes.get("spyglass.stream.output_tokens_per_second")
        ),
        complete=attributes.get("spyglass.stream.complete") is True,
        outcome=as_str(attributes.get("spyglass.stream.outcome")),
        timeline=timeline(attributes.get("spyglass.stream.timeline")),
    )


def timeline(value: Any) -> list[list[float | int]]:
    """The (ms, cumulative characters) points, from JSON text or a structured list.

    Points that are not a pair of numbers are left out: the timeline is derived timing, not
    content, and the page plots it. A very long one is thinned evenly, first and last kept.
    """
    value = structured(value)
    if not isinstance(value, list):
        return []
    points: list[list[float | int]] = []
    for point in value:
        if isinstance(point, list | tuple) and len(point) == 2:
            offset, chars = as_float(point[0]), as_int(point[1])
            if offset is not None and chars is not None:
                points.append([offset, chars])
    if len(points) > MAX_TIMELINE_POINTS:
        step = math.ceil((len(points) - 1) / (MAX_TIMELINE_POINTS - 1))
        points = [*points[:-1:step], points[-1]]
    return points


CONVENTION = Spyglass()
