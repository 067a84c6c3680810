"""What the instrumentation records: content or metadata only, media data, and size caps.

`configure()` sets these; until it is called they come from the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


@dataclass(frozen=True)
class Settings:
    # Record prompts, outputs and tool definitions. Off: model, parameters, usage and timing only.
    capture_content: bool = True
    # Keep base64 image and document data. Off: media type, byte size and SHA-256 instead.
    keep_media: bool = False
    # Any one text longer than this many characters is cut and marked as truncated.
    max_text_chars: int = 100_000
    # A message attribute larger than this is shrunk by cutting its longest texts further, so
    # that a span never outgrows what an OTLP receiver accepts.
    max_attribute_bytes: int = 1_000_000


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip().lower() not in ("false", "0", "no", "off")


def from_environment() -> Settings:
    capture = _env_flag(CAPTURE_ENV)
    return Settings(capture_content=True if capture is None else capture)


_current: Settings | None = None


def current() -> Settings:
    return _current if _current is not None else from_environment()


def update(**changes: object) -> Settings:
    global _current
    _current = replace(current(), **changes)  # type: ignore[arg-type]
    return _current
