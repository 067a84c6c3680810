"""Spans from Spyglass's own client package (scope `spyglass`).

They follow the GenAI conventions, plus `spyglass.span.type`: `llm.request` is the call, and
`llm.stream` is the streamed response of the call it is a child of. The stream span carries
the output, the usage and the stream's timing; it is not a call of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.conventions.common import LlmSummary, as_float, as_int, structured
from app.conventions.otel_genai import CONVENTION as GENAI

SPAN_TYPE = "spyglass.span.type"


class Spyglass:
    name = "spyglass"

    def claims(self, attributes: dict[str, Any]) -> bool:
        return attributes.get(SPAN_TYPE) in ("llm.request", "llm.stream")

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
        self, attributes: dict[str, Any], parts: Sequence[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        """The request span's input, with the output, usage and timing of its stream span."""
        conversation = GENAI.conversation(attributes)
        stream = next((p for p in parts if p.get(SPAN_TYPE) == "llm.stream"), None)
        if stream is None and attributes.get(SPAN_TYPE) == "llm.stream":
            stream = attributes
        if stream is not None and stream is not attributes:
            streamed = GENAI.conversation(stream)
            for key in ("output_messages", "usage", "finish_reasons", "response_model"):
                conversation[key] = streamed[key]
        conversation["streaming"] = _streaming(stream) if stream is not None else None
        return conversation


def _streaming(attributes: dict[str, Any]) -> dict[str, Any]:
    timeline = structured(attributes.get("spyglass.stream.timeline"))
    return {
        "time_to_first_token_ms": as_float(
            attributes.get("spyglass.stream.time_to_first_token_ms")
        ),
        "duration_ms": as_float(attributes.get("spyglass.stream.duration_ms")),
        "chunk_count": as_int(attributes.get("spyglass.stream.chunk_count")),
        "output_tokens_per_second": as_float(
            attributes.get("spyglass.stream.output_tokens_per_second")
        ),
        "complete": attributes.get("spyglass.stream.complete") is True,
        "timeline": timeline if isinstance(timeline, list) else [],
    }


CONVENTION = Spyglass()
