"""Spans from OpenInference (placeholder: claims nothing yet)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.conventions.common import LlmSummary
from app.conventions.otel_genai import CONVENTION as GENAI


class OpenInference:
    name = "openinference"

    def claims(self, attributes: dict[str, Any], scope_name: str = "") -> bool:
        return False

    def summarize(self, attributes: dict[str, Any]) -> LlmSummary:
        return GENAI.summarize(attributes)

    def conversation(
        self,
        attributes: dict[str, Any],
        parts: Sequence[dict[str, Any]] = (),
        *,
        events: Sequence[dict[str, Any]] = (),
        logs: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        return GENAI.conversation(attributes, parts, events=events, logs=logs)


CONVENTION = OpenInference()
