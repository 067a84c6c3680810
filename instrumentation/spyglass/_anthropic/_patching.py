"""Where the instrumentation hooks into the SDK, and which clients it covers.

Every API call of every anthropic client, whatever the resource (messages, beta, batches,
models, …) and however it is called (`with_raw_response`, `with_streaming_response`, streams,
helpers such as `messages.stream()`), goes through one method: `request()` of the SDK's
`SyncAPIClient` and `AsyncAPIClient`. Spyglass wraps that method, once, on those two base
classes. Which clients it then records is decided per call by the `Registry`:

- nothing: every client, Bedrock, Vertex and Foundry ones included;
- a class: its instances and its subclasses' instances;
- an instance: that client and its copies. `with_options()` and `copy()` make a copy that shares
  the original's HTTP connection pool, which is how the copies are recognised.

While a client is covered, the SDK's own tracing (anthropic >= 1.14) is off for it, so that a
call gives one span, not two; where that tracing would have written its span's trace context
into the request's headers, the SDK's request builder writes Spyglass's instead, so the wire
is unchanged. One more hook: the SDK's retry-delay computation, which runs once before each
retry and so counts them.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from spyglass._anthropic._call import Call, current_call, resolve
from spyglass._anthropic._stream import instrumented_stream_class
from spyglass._internal import internal_error

try:  # the key OpenTelemetry instrumentations use to say "record nothing here"
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY as SUPPRESS_KEY
except ImportError:  # pragma: no cover - older API
    SUPPRESS_KEY = "suppress_instrumentation"


def _identity(client: Any) -> Any:
    """What a client and its copies share: the HTTP client they send through."""
    return getattr(client, "_client", client)


class Registry:
    def __init__(self) -> None:
        # Re-entrant: an instrumentation holds it across "patch if needed, then register" (and
        # "unregister, then unpatch if last") so that one leaving cannot unpatch under one arriving.
        self.lock = threading.RLock()
        self.everything = 0
        self.classes: dict[type, int] = {}
        self.instances: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    def _table(self, target: Any) -> tuple[Any, Any]:
        if target is None:
            return None, None
        if isinstance(target, type):
            return self.classes, target
        return self.instances, _identity(target)

    def add(self, target: Any) -> None:
        with self.lock:
            table, key = self._table(target)
            if table is None:
                self.everything += 1
            else:
                table[key] = table.get(key, 0) + 1

    def remove(self, target: Any) -> None:
        with self.lock:
            table, key = self._table(target)
            if table is None:
                self.everything = max(0, self.everything - 1)
            elif key in table:
                table[key] -= 1
                if table[key] <= 0:
                    del table[key]

    def empty(self) -> bool:
        return not (self.everything or self.classes or len(self.instances))

    def covers(self, client: Any) -> bool:
        if self.everything:
            return True
        if self.classes and isinstance(client, tuple(self.classes)):
            return True
        try:
            return _identity(client) in self.instances
        except TypeError:  # not weak-referenceable
            return False


registry = Registry()


def _start(client: Any, args: tuple, kwargs: dict) -> tuple[Call | None, dict]:
    """A Call for this request, and the kwargs to pass on; (None, kwargs) to stay out of it."""
    if not registry.covers(client) or otel_context.get_value(SUPPRESS_KEY):
        return None, kwargs
    try:
        from spyglass import __version__

        options = kwargs.get("options", args[1] if len(args) > 1 else None)
        stream = bool(kwargs.get("stream", False))
        call = Call(client, options, stream, __version__)
        stream_cls = kwargs.get("stream_cls")
        if stream and stream_cls is not None:
            kwargs = {**kwargs, "stream_cls": instrumented_stream_class(stream_cls)}
        return call, kwargs
    except Exception:
        internal_error("starting a span")
        return None, kwargs


def sync_request(original: Any) -> Any:
    @functools.wraps(original)
    def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        call, kwargs = _start(self, args, kwargs)
        if call is None:
            return original(self, *args, **kwargs)
        token = current_call.set(call)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            current_call.reset(token)
        parsed = None
        try:
            parsed = call.raw_parse(result)
        except Exception:
            internal_error("reading a raw response")
        call.succeed(result, parsed)
        return result

    request.__spyglass_original__ = original  # type: ignore[attr-defined]
    return request


def async_request(original: Any) -> Any:
    @functools.wraps(original)
    async def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        call, kwargs = _start(self, args, kwargs)
        if call is None:
            return await original(self, *args, **kwargs)
        token = current_call.set(call)
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            current_call.reset(token)
        parsed = None
        try:
            parsed = await resolve(call.raw_parse(result))
        except Exception:
            internal_error("reading a raw response")
        call.succeed(result, parsed)
        return result

    request.__spyglass_original__ = original  # type: ignore[attr-defined]
    return request


def counting_retries(original: Any) -> Any:
    @functools.wraps(original)
    def calculate_retry_timeout(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = current_call.get()
        if call is not None:
            call.retries += 1
        return original(self, *args, **kwargs)

    return calculate_retry_timeout


def without_sdk_tracer(original: property) -> property:
    def tracer(self: Any) -> Any:
        return None if registry.covers(self) else original.fget(self)  # type: ignore[misc]

    return property(tracer, doc=original.__doc__)


def propagating(original: Any, sdk_tracer: property) -> Any:
    """`_build_request`, writing the trace context of Spyglass's span into the request's headers
    wherever the SDK's own tracing would have written its span's: turning that tracing off
    must not change what goes on the wire (a traced gateway joins the trace by it)."""

    @functools.wraps(original)
    def build_request(self: Any, *args: Any, **kwargs: Any) -> Any:
        request = original(self, *args, **kwargs)
        call = current_call.get()
        try:
            if call is not None and _sdk_would_propagate(self, sdk_tracer):
                propagate.inject(request.headers, trace.set_span_in_context(call.span))
        except Exception:
            internal_error("propagating the trace context")
        return request

    return build_request


def _sdk_would_propagate(client: Any, sdk_tracer: property) -> bool:
    # The SDK propagates when the client has a tracer and its `propagation` option is on.
    options = getattr(client, "open_telemetry", None)
    if not isinstance(options, dict) or not options.get("propagation"):
        return False
    return sdk_tracer.fget(client) is not None  # type: ignore[misc]


class Patches:
    """The SDK attributes Spyglass replaces, put back exactly as they were when removed."""

    def __init__(self) -> None:
        self.saved: list[tuple[type, str, Any]] = []

    @property
    def applied(self) -> bool:
        return bool(self.saved)

    def apply(self) -> None:
        from anthropic._base_client import AsyncAPIClient, BaseClient, SyncAPIClient

        self._replace(SyncAPIClient, "request", sync_request)
        self._replace(AsyncAPIClient, "request", async_request)
        self._replace(BaseClient, "_calculate_retry_timeout", counting_retries)
        sdk_tracer = BaseClient.__dict__.get("_tracer")
        if isinstance(sdk_tracer, property):  # anthropic >= 1.14
            self._replace(BaseClient, "_tracer", without_sdk_tracer)
            self._replace(
                BaseClient, "_build_request", lambda build: propagating(build, sdk_tracer)
            )

    def _replace(self, owner: type, name: str, wrap: Any) -> None:
        original = owner.__dict__[name]
        setattr(owner, name, wrap(original))
        self.saved.append((owner, name, original))

    def remove(self) -> None:
        while self.saved:
            owner, name, original = self.saved.pop()
            setattr(owner, name, original)


patches = Patches()
