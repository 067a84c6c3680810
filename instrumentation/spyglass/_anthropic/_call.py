"""One API call's span: opened before the SDK's `request()`, closed when it returns or raises.

For a Messages call (`POST /v1/messages`, beta and the old `?beta=tools` alike) the span is a
GenAI `chat` span with the conversation; any other call (count_tokens, batches, models, …) gets
a span named for its operation. A streamed call's span ends when the response headers arrive;
`_stream.StreamRecorder` then records the streamed response in a child span.
"""

from __future__ import annotations

import functools
import inspect
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from spyglass import _settings
from spyglass._anthropic import _attributes as attrs
from spyglass._anthropic._content import Converter, encode, plain
from spyglass._internal import internal_error

TRACER_NAME = "spyglass"
RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"
# A path segment that is an id (msgbatch_01…, file_…) would make every span name unique.
_ID_SEGMENT = re.compile(r"^[A-Za-z]+_[A-Za-z0-9]{6,}$")


@functools.cache
def _tracer(version: str) -> trace.Tracer:
    # Made once: the API's proxy tracer follows a provider that is set later (configure()
    # after instrument_anthropic()), and the global provider cannot change after that.
    return trace.get_tracer(TRACER_NAME, version)


current_call: ContextVar[Call | None] = ContextVar("spyglass_anthropic_call", default=None)


def _operation_name(options: Any, method: str, path: str) -> str:
    # anthropic >= 1.14 names each call itself (anthropic.messages.count_tokens, …).
    named = getattr(options, "span_name", None)
    if isinstance(named, str) and named:
        return named
    segments = ["{id}" if _ID_SEGMENT.match(s) else s for s in path.strip("/").split("/") if s]
    return f"anthropic {method.upper()} /{'/'.join(segments)}"


def _headers(options: Any) -> dict[str, str]:
    headers = getattr(options, "headers", None)
    if not isinstance(headers, dict):
        return {}
    return {str(k).lower(): v for k, v in headers.items() if isinstance(v, str)}


class Call:
    def __init__(self, client: Any, options: Any, stream: bool, version: str) -> None:
        self.settings = _settings.current()
        self.tracer = _tracer(version)
        self.stream = stream
        self.retries = 0
        method = str(getattr(options, "method", "post"))
        # Usually a path; an absolute URL for some calls (batch results use `results_url`).
        path = urlsplit(str(getattr(options, "url", ""))).path
        self.headers = _headers(options)
        self.is_chat = method.lower() == "post" and path.rstrip("/") == "/v1/messages"
        body = getattr(options, "json_data", None)
        extra = getattr(options, "extra_json", None)
        self.params: dict[str, Any] = {
            **(plain(body) if isinstance(body, dict) else {}),
            **(plain(extra) if isinstance(extra, dict) else {}),
        }
        # Bedrock and Vertex clients name their own provider (aws.bedrock, gcp.vertex_ai).
        provider = getattr(type(client), "_gen_ai_provider_name", None)
        self.provider = provider if isinstance(provider, str) else attrs.PROVIDER
        model = self.params.get("model")
        self.model = model if isinstance(model, str) else None

        attributes: dict[str, Any] = {"http.request.method": method.upper(), "url.path": path}
        base_url = getattr(client, "base_url", None)
        if getattr(base_url, "host", None):
            attributes["server.address"] = base_url.host
            if base_url.port:
                attributes["server.port"] = base_url.port
        beta = self.headers.get("anthropic-beta")
        if beta:
            attributes["anthropic.beta"] = [item.strip() for item in beta.split(",")]
        if self.is_chat:
            self.span_name = f"chat {self.model}" if self.model else "chat"
            attributes.update(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": self.provider,
                    "spyglass.span.type": "llm.request",
                    **attrs.request_attributes(self.params, self.settings),
                }
            )
            if self.settings.capture_content:
                attributes.update(self._request_content())
        else:
            self.span_name = _operation_name(options, method, path)
            attributes["spyglass.operation"] = self.span_name
            if self.model:
                attributes["anthropic.request.model"] = self.model
        # The zero of time to first token and of the chunk timeline: the span's own start.
        self.started_monotonic_ns = time.monotonic_ns()
        self.span = self.tracer.start_span(
            self.span_name, kind=SpanKind.CLIENT, attributes=attributes
        )

    # --- content ---------------------------------------------------------------------------------

    def content_attribute(self, key: str, build: Callable[[Converter], Any]) -> dict[str, Any]:
        text, truncated = encode(self.settings, build)
        result: dict[str, Any] = {key: text}
        if truncated:
            result["spyglass.content.truncated"] = True
        return result

    def _request_content(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if self.params.get("system") is not None:
            result.update(
                self.content_attribute(
                    "gen_ai.system_instructions", lambda c: c.system(self.params["system"])
                )
            )
        result.update(
            self.content_attribute(
                "gen_ai.input.messages", lambda c: c.messages(self.params.get("messages"))
            )
        )
        if self.params.get("tools"):
            result.update(
                self.content_attribute(
                    "gen_ai.tool.definitions", lambda c: c.tools(self.params["tools"])
                )
            )
        return result

    def stream_span_attributes(self) -> dict[str, Any]:
        # No gen_ai.operation.name: the call is the request span; this is its response.
        result: dict[str, Any] = {
            "spyglass.span.type": "llm.stream",
            "gen_ai.provider.name": self.provider,
        }
        if self.model:
            result["gen_ai.request.model"] = self.model
        return result

    # --- outcome -----------------------------------------------------------------------------------

    def raw_parse(self, result: Any) -> Any:
        """The parsed body of a `with_raw_response` reply, read already (may be a coroutine).

        A `with_streaming_response` reply has not read its body: parsing it here would take
        the stream from the caller, so it is left alone.
        """
        if not hasattr(result, "http_response") or self.stream:
            return None
        if self.headers.get(RAW_RESPONSE_HEADER.lower()) == "stream":
            return None
        return result.parse()

    def succeed(self, result: Any, parsed: Any = None) -> None:
        try:
            from spyglass._anthropic._stream import calls_by_response

            span = self.span
            http_response = getattr(result, "http_response", None) or getattr(
                result, "response", None
            )
            status = getattr(http_response, "status_code", None)
            if isinstance(status, int):
                span.set_attribute("http.response.status_code", status)
            headers = getattr(http_response, "headers", None)
            request_id = (
                headers.get("request-id")
                if headers is not None
                else getattr(result, "_request_id", None)  # parsed models keep it
            )
            if isinstance(request_id, str):
                span.set_attribute("anthropic.request.id", request_id)
            retries = getattr(result, "retries_taken", None)
            if isinstance(retries, int):
                self.retries = max(self.retries, retries)
            if hasattr(result, "http_response") and self.stream:
                calls_by_response[result.http_response] = self  # its Stream is built on parse()
            if not self.stream:
                self._record_response(parsed if parsed is not None else result)
            self._end()
        except Exception:
            internal_error("recording a response")
            self._end()

    def _record_response(self, response: Any) -> None:
        if hasattr(response, "http_response"):
            return  # an unread with_streaming_response body: nothing to record
        if not self.is_chat:
            # Read two fields, rather than dump what may be a whole page of results.
            response_id = _field(response, "id")
            if isinstance(response_id, str):
                self.span.set_attribute("anthropic.response.id", response_id)
            input_tokens = _field(response, "input_tokens")  # count_tokens
            if isinstance(input_tokens, int):
                self.span.set_attribute("anthropic.usage.input_tokens", input_tokens)
            return
        fields, usage, content = attrs.message_parts(response)
        capture = self.settings.capture_content
        self.span.set_attributes(attrs.response_attributes(fields, usage, capture))
        if self.settings.capture_content:
            self.span.set_attributes(
                self.content_attribute(
                    "gen_ai.output.messages",
                    lambda c: c.output(content, fields.get("stop_reason")),
                )
            )

    def fail(self, error: BaseException) -> None:
        try:
            self.span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            self.span.set_attributes(attrs.error_attributes(error))
            self.span.record_exception(error)
        except Exception:
            internal_error("recording an error")
        self._end()

    def _end(self) -> None:
        if not self.span.is_recording():
            return
        if self.retries:
            self.span.set_attribute("http.request.resend_count", self.retries)
        self.span.end()


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


async def resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
