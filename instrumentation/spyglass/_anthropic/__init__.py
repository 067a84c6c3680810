"""`instrument_anthropic()`: record every call an anthropic client makes."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from spyglass._anthropic._patching import patches, registry

__all__ = ["Instrumentation", "instrument_anthropic"]


class Instrumentation:
    """Active from the moment it is made; leaving it (or `uninstrument()`) removes it.

    When the last active instrumentation goes, the SDK's methods are put back exactly.
    """

    def __init__(self, target: Any) -> None:
        self.target = target
        self.active = True
        with registry.lock:
            if not patches.applied:
                patches.apply()
            registry.add(target)

    def uninstrument(self) -> None:
        with registry.lock:
            if not self.active:
                return
            self.active = False
            registry.remove(self.target)
            if registry.empty():
                patches.remove()

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.uninstrument()


def instrument_anthropic(target: Any = None) -> Instrumentation:
    """Record the calls of `target`: a client, a client class, or None for every client.

    Returns a context manager; the instrumentation is on at once, and leaving the context
    manager removes it. Instrumenting the same target twice records each call once.
    """
    try:
        from anthropic._base_client import BaseClient
    except ImportError as exc:  # pragma: no cover - anthropic is the caller's dependency
        raise ImportError("instrument_anthropic needs the anthropic package installed") from exc
    valid = (
        target is None
        or (isinstance(target, type) and issubclass(target, BaseClient))
        or isinstance(target, BaseClient)
    )
    if not valid:
        raise TypeError(
            "instrument_anthropic takes an anthropic client, a client class, or nothing;"
            f" got {target!r}"
        )
    return Instrumentation(target)
