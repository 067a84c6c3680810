"""A fake Anthropic API on 127.0.0.1, for driving the real `anthropic` client over real HTTP.

`FakeAnthropic` runs a standard-library HTTP/1.1 server in a background thread. It answers
`/v1/messages` (JSON or SSE, as the request's `"stream"` asks), `count_tokens`, message batches and
models with the API's shapes, records every request, and plays scripted `Reply`s queued per path.
Ids are deterministic per server (`msg_fake0001`, `req_fake0001`, ...) so tests can compare them.
The content-block builders at the bottom return the plain API dicts that `Reply.message` takes.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import traceback
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

DEFAULT_MODEL = "claude-sonnet-4-6"
DEFAULT_TEXT = "Hello! How can I help?"
DEFAULT_USAGE: dict[str, Any] = {
    "input_tokens": 25,
    "cache_creation_input_tokens": 10,
    "cache_read_input_tokens": 100,
    "output_tokens": 12,
}
COUNT_TOKENS = 42
MAX_HANG_SECONDS = 30.0
MODELS = (
    ("claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("claude-opus-4-6", "Claude Opus 4.6"),
    ("claude-haiku-4-5", "Claude Haiku 4.5"),
)
# A fixed clock keeps batch and model timestamps stable across runs.
EPOCH = datetime(2026, 12, 4, 16, 0, 0, tzinfo=UTC)

# Usage fields the API reports on `message_delta` rather than on `message_start`.
_DELTA_USAGE = ("output_tokens", "server_tool_use", "output_tokens_details")
# Message fields that arrive on `message_delta.delta` in a stream.
_DELTA_FIELDS = ("stop_reason", "stop_sequence", "stop_details", "container")
_TOOL_INPUT_BLOCKS = ("tool_use", "server_tool_use", "mcp_tool_use")

SseEvent = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str  # with the query string, e.g. "/v1/messages?beta=true"
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    raw_body: bytes = b""

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))


@dataclass(frozen=True)
class Reply:
    """A scripted answer; build one with the class methods, queue it with `FakeAnthropic.enqueue`.

    A message reply goes out as JSON or as SSE depending on the request's `"stream"` flag, as the
    real API does; the stream options only matter when it is streamed.
    """

    kind: Literal["message", "error", "json", "events", "hang"]
    status: int = 200
    body: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    raw_events: Sequence[SseEvent] = ()
    chunk_delay: float = 0.0
    chunk_size: int = 8
    fail_after: int | None = None
    seconds: float = 0.0
    then: Reply | None = None

    @classmethod
    def message(
        cls,
        content: Sequence[Mapping[str, Any]] | None = None,
        *,
        stop_reason: str | None = "end_turn",
        usage: Mapping[str, Any] | None = None,
        model: str | None = None,
        stop_sequence: str | None = None,
        message_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Reply:
        """A Message; `usage` is merged over `DEFAULT_USAGE`, `model` defaults to the request's."""
        body: dict[str, Any] = {
            "content": [dict(b) for b in content] if content is not None else [text_block()],
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": {**DEFAULT_USAGE, **(usage or {})},
            **(extra or {}),
        }
        if model is not None:
            body["model"] = model
        if message_id is not None:
            body["id"] = message_id
        return cls(kind="message", body=body)

    @classmethod
    def stream(
        cls,
        content: Sequence[Mapping[str, Any]] | None = None,
        *,
        stop_reason: str | None = "end_turn",
        usage: Mapping[str, Any] | None = None,
        model: str | None = None,
        stop_sequence: str | None = None,
        message_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
        chunk_delay: float = 0.0,
        chunk_size: int = 8,
        fail_after: int | None = None,
    ) -> Reply:
        """Like `message`, when streamed: `chunk_delay` seconds before each delta event, and
        after `fail_after` deltas an `overloaded_error` event ends the stream."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        reply = cls.message(
            content,
            stop_reason=stop_reason,
            usage=usage,
            model=model,
            stop_sequence=stop_sequence,
            message_id=message_id,
            extra=extra,
        )
        return cls(
            kind="message",
            body=reply.body,
            chunk_delay=chunk_delay,
            chunk_size=chunk_size,
            fail_after=fail_after,
        )

    @classmethod
    def error(
        cls,
        status: int,
        error_type: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        *,
        should_retry: bool | None = None,
    ) -> Reply:
        """An API error body; retryable statuses ask the SDK to retry after 10 ms."""
        all_headers: dict[str, str] = {}
        if status in (408, 409, 429) or status >= 500:
            # Without it the SDK backs off for 0.5 s or more; `retry-after: 0` does not shorten it.
            all_headers["retry-after-ms"] = "10"
        if should_retry is not None:
            all_headers["x-should-retry"] = "true" if should_retry else "false"
        all_headers.update(headers or {})
        body = {"type": "error", "error": {"type": error_type, "message": message}}
        return cls(kind="error", status=status, body=body, headers=all_headers)

    @classmethod
    def json(
        cls, body: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """Any JSON body, for shapes the other builders do not cover."""
        return cls(kind="json", status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def events(cls, events: Sequence[SseEvent], *, chunk_delay: float = 0.0) -> Reply:
        """A hand-written SSE stream of `(event name, data)` pairs, sent as they are."""
        return cls(kind="events", raw_events=tuple(events), chunk_delay=chunk_delay)

    @classmethod
    def hang(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Wait `seconds` (at most `MAX_HANG_SECONDS`, cut short by `close()`), then answer `then`."""
        return cls(kind="hang", seconds=min(max(seconds, 0.0), MAX_HANG_SECONDS), then=then)


@dataclass
class _Response:
    """What the handler writes: a JSON or JSONL body, or SSE events."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    events: Sequence[SseEvent] | None = None
    chunk_delay: float = 0.0
    fail_after: int | None = None
    delay: float = 0.0


class FakeAnthropic:
    """The fake API server; use as `with FakeAnthropic() as fake:` and point a client at `base_url`."""

    def __init__(self) -> None:
        # Re-entrant: endpoints run under it whole, and take ids, which lock again.
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._queues: dict[str, deque[Reply]] = {}
        self._counters: dict[str, int] = {}
        self._batches: dict[str, _Batch] = {}
        self._failures: list[BaseException] = []
        self._closing = threading.Event()
        self._server = _Server(self)
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-anthropic",
            daemon=True,
        )
        self._thread.start()

    def __enter__(self) -> FakeAnthropic:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(raise_failures=exc is None)

    def close(self, *, raise_failures: bool = True) -> None:
        """Stop serving, drop open connections, join every thread; re-raise a fake-side bug."""
        if not self._closing.is_set():
            self._closing.set()
            self._server.shutdown()
            self._server.drop_connections()
            self._server.server_close()  # joins the handler threads
            self._thread.join()
        if raise_failures and self._failures:
            raise RuntimeError("the fake Anthropic server failed") from self._failures[0]

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def enqueue(self, *replies: Reply, path: str = "/v1/messages") -> None:
        """Answer the next requests to `path` (any method and query) with `replies`, in order."""
        with self._lock:
            self._queues.setdefault(path, deque()).extend(replies)

    def pending(self, path: str = "/v1/messages") -> int:
        """How many queued replies for `path` are still unused."""
        with self._lock:
            return len(self._queues.get(path, ()))

    # -- called from handler threads ------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counters[prefix] = count = self._counters.get(prefix, 0) + 1
        return f"{prefix}_fake{count:04d}"

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _fail(self, error: BaseException) -> None:
        with self._lock:
            self._failures.append(error)

    def _answer(self, request: RecordedRequest) -> _Response:
        with self._lock:
            queue = self._queues.get(request.route)
            reply = queue.popleft() if queue else None
        if reply is not None:
            return self._render(reply, request)
        return self._route(request)

    def _render(self, reply: Reply, request: RecordedRequest) -> _Response:
        if reply.kind == "hang":
            response = self._render(reply.then, request) if reply.then else self._route(request)
            response.delay = reply.seconds
            return response
        if reply.kind == "message":
            return self._message_response(reply, request)
        if reply.kind == "events":
            return self._response(200, events=reply.raw_events, chunk_delay=reply.chunk_delay)
        return self._json_reply(reply)

    def _json_reply(self, reply: Reply) -> _Response:
        request_id = self._next_id("req")
        body = dict(reply.body)
        if reply.kind == "error":
            body["request_id"] = request_id
        return self._response(reply.status, body, headers=reply.headers, request_id=request_id)

    def _response(
        self,
        status: int,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        events: Sequence[SseEvent] | None = None,
        chunk_delay: float = 0.0,
        fail_after: int | None = None,
        request_id: str | None = None,
    ) -> _Response:
        all_headers = {"request-id": request_id or self._next_id("req")}
        if events is not None:
            all_headers["content-type"] = "text/event-stream; charset=utf-8"
            all_headers["cache-control"] = "no-cache"
            raw = b""
        elif isinstance(body, bytes):
            all_headers["content-type"] = "application/binary"
            raw = body
        else:
            all_headers["content-type"] = "application/json"
            raw = json.dumps(body).encode()
        all_headers.update(headers or {})
        return _Response(status, all_headers, raw, events, chunk_delay, fail_after)

    def _error(self, status: int, error_type: str, message: str) -> _Response:
        return self._json_reply(Reply.error(status, error_type, message))

    # -- endpoints ------------------------------------------------------------------------

    def _route(self, request: RecordedRequest) -> _Response:
        for method, pattern, name in _ROUTES:
            match = pattern.fullmatch(request.route)
            if match and request.method == method:
                with self._lock:  # endpoints only build replies, so holding it is brief
                    return getattr(self, name)(request, **match.groupdict())
        return self._error(404, "not_found_error", f"{request.method} {request.route} not found")

    def _create_message(self, request: RecordedRequest) -> _Response:
        return self._message_response(Reply.message(), request)

    def _message_response(self, reply: Reply, request: RecordedRequest) -> _Response:
        if not isinstance(request.body, dict):
            return self._error(
                400, "invalid_request_error", "the request body is not a JSON object"
            )
        message = self._message(reply.body, request.body)
        if not request.body.get("stream"):
            return self._response(200, message)
        return self._response(
            200,
            events=message_events(message, chunk_size=reply.chunk_size),
            chunk_delay=reply.chunk_delay,
            fail_after=reply.fail_after,
        )

    def _message(self, template: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        message = {
            "id": template.get("id") or self._next_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": template.get("model") or params.get("model") or DEFAULT_MODEL,
            **{k: v for k, v in template.items() if k not in ("id", "model")},
        }
        return json.loads(json.dumps(message))  # a deep copy, so replies can be reused

    def _count_tokens(self, request: RecordedRequest) -> _Response:
        return self._response(200, {"input_tokens": COUNT_TOKENS})

    def _create_batch(self, request: RecordedRequest) -> _Response:
        requests = request.body.get("requests") if isinstance(request.body, dict) else None
        if not isinstance(requests, list) or not requests:
            return self._error(400, "invalid_request_error", "requests: field required")
        batch = _Batch(self._next_id("msgbatch"), requests, EPOCH)
        self._batches[batch.id] = batch
        return self._response(200, batch.to_api(self.base_url))

    def _list_batches(self, request: RecordedRequest) -> _Response:
        batches = list(reversed(self._batches.values()))  # newest first, like the API
        after = request.query.get("after_id")
        if after:
            ids = [b.id for b in batches]
            batches = batches[ids.index(after) + 1 :] if after in ids else []
        limit = int(request.query.get("limit") or 20)
        page = [b.advance().to_api(self.base_url) for b in batches[:limit]]
        return self._response(
            200,
            {
                "data": page,
                "has_more": len(batches) > limit,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
            },
        )

    def _no_batch(self, batch_id: str) -> _Response:
        return self._error(404, "not_found_error", f"message batch {batch_id} not found")

    def _retrieve_batch(self, request: RecordedRequest, batch_id: str) -> _Response:
        batch = self._batches.get(batch_id)
        if batch is None:
            return self._no_batch(batch_id)
        return self._response(200, batch.advance().to_api(self.base_url))

    def _cancel_batch(self, request: RecordedRequest, batch_id: str) -> _Response:
        batch = self._batches.get(batch_id)
        if batch is None:
            return self._no_batch(batch_id)
        return self._response(200, batch.cancel().to_api(self.base_url))

    def _delete_batch(self, request: RecordedRequest, batch_id: str) -> _Response:
        batch = self._batches.get(batch_id)
        if batch is None:
            return self._no_batch(batch_id)
        if batch.status != "ended":
            message = "a message batch can only be deleted once it has ended; cancel it first"
            return self._error(400, "invalid_request_error", message)
        del self._batches[batch_id]
        return self._response(200, {"id": batch_id, "type": "message_batch_deleted"})

    def _batch_results(self, request: RecordedRequest, batch_id: str) -> _Response:
        batch = self._batches.get(batch_id)
        if batch is None:
            return self._no_batch(batch_id)
        batch.advance()
        lines = []
        for item in batch.requests:
            if batch.canceled:
                result: dict[str, Any] = {"type": "canceled"}
            else:
                message = self._message(Reply.message().body, item.get("params") or {})
                result = {"type": "succeeded", "message": message}
            lines.append(json.dumps({"custom_id": item.get("custom_id"), "result": result}))
        # The SDK asks for `Accept: application/binary` and reads the body as JSON Lines.
        return self._response(200, "\n".join(lines).encode() + b"\n")

    def _list_models(self, request: RecordedRequest) -> _Response:
        data = [_model(model_id, name) for model_id, name in MODELS]
        return self._response(
            200,
            {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]},
        )

    def _retrieve_model(self, request: RecordedRequest, model_id: str) -> _Response:
        for known_id, name in MODELS:
            if known_id == model_id:
                return self._response(200, _model(known_id, name))
        return self._error(404, "not_found_error", f"model: {model_id}")


_ROUTES = [
    (method, re.compile(pattern), name)
    for method, pattern, name in (
        ("POST", r"/v1/messages", "_create_message"),
        ("POST", r"/v1/messages/count_tokens", "_count_tokens"),
        ("POST", r"/v1/messages/batches", "_create_batch"),
        ("GET", r"/v1/messages/batches", "_list_batches"),
        ("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)", "_retrieve_batch"),
        ("POST", r"/v1/messages/batches/(?P<batch_id>[^/]+)/cancel", "_cancel_batch"),
        ("DELETE", r"/v1/messages/batches/(?P<batch_id>[^/]+)", "_delete_batch"),
        ("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)/results", "_batch_results"),
        ("GET", r"/v1/models", "_list_models"),
        ("GET", r"/v1/models/(?P<model_id>[^/]+)", "_retrieve_model"),
    )
]


def _timestamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _model(model_id: str, display_name: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model_id,
        "display_name": display_name,
        "created_at": _timestamp(EPOCH - timedelta(days=90)),
        "lifecycle": "active",
        "max_input_tokens": 200_000,
        "max_tokens": 64_000,
    }


class _Batch:
    """A message batch. It ends the first time it is read after being created or canceled."""

    def __init__(self, batch_id: str, requests: list[dict[str, Any]], created_at: datetime) -> None:
        self.id = batch_id
        self.requests = requests
        self.created_at = created_at
        self.status: Literal["in_progress", "canceling", "ended"] = "in_progress"
        self.canceled = False

    def advance(self) -> _Batch:
        self.status = "ended"
        return self

    def cancel(self) -> _Batch:
        if self.status == "in_progress":
            self.status = "canceling"
            self.canceled = True
        return self

    def to_api(self, base_url: str) -> dict[str, Any]:
        total = len(self.requests)
        ended = self.status == "ended"
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if not ended:
            counts["processing"] = total
        else:
            counts["canceled" if self.canceled else "succeeded"] = total
        later = _timestamp(self.created_at + timedelta(minutes=1))
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status,
            "request_counts": counts,
            "created_at": _timestamp(self.created_at),
            "expires_at": _timestamp(self.created_at + timedelta(hours=24)),
            "ended_at": later if ended else None,
            "cancel_initiated_at": later if self.canceled else None,
            "archived_at": None,
            "results_url": f"{base_url}/v1/messages/batches/{self.id}/results" if ended else None,
        }


def message_events(message: Mapping[str, Any], *, chunk_size: int = 8) -> list[SseEvent]:
    """The SSE events the API sends for `message`, in the API's order."""
    usage = dict(message.get("usage") or {})
    start = {k: v for k, v in message.items() if k not in _DELTA_FIELDS}
    start |= {"content": [], "stop_reason": None, "stop_sequence": None}
    # The API's placeholder until `message_delta` gives the real count.
    start["usage"] = {k: v for k, v in usage.items() if k not in _DELTA_USAGE}
    start["usage"]["output_tokens"] = 1
    events: list[SseEvent] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message.get("content") or []):
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": _empty(block)},
            )
        )
        if index == 0:
            # The API pings once, right after the first block starts.
            events.append(("ping", {"type": "ping"}))
        for delta in _deltas(block, chunk_size):
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    if not message.get("content"):
        events.append(("ping", {"type": "ping"}))
    delta = {
        "stop_reason": message.get("stop_reason"),
        "stop_sequence": message.get("stop_sequence"),
    }
    delta |= {k: message[k] for k in ("stop_details", "container") if k in message}
    delta_usage = {k: usage[k] for k in _DELTA_USAGE if k in usage}
    events.append(
        ("message_delta", {"type": "message_delta", "delta": delta, "usage": delta_usage})
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _empty(block: Mapping[str, Any]) -> dict[str, Any]:
    """A block as `content_block_start` carries it: the streamed fields left empty."""
    empty = dict(block)
    kind = block.get("type")
    if kind == "text":
        empty["text"] = ""
        if block.get("citations"):
            empty["citations"] = []
    elif kind == "thinking":
        empty["thinking"] = ""
        empty["signature"] = ""
    elif kind in _TOOL_INPUT_BLOCKS:
        empty["input"] = {}
    return empty


def _chunks(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def _deltas(block: Mapping[str, Any], chunk_size: int) -> Iterator[dict[str, Any]]:
    kind = block.get("type")
    if kind == "text":
        # A cited passage starts with its citations, then its text.
        for citation in block.get("citations") or []:
            yield {"type": "citations_delta", "citation": citation}
        for piece in _chunks(block.get("text", ""), chunk_size):
            yield {"type": "text_delta", "text": piece}
    elif kind == "thinking":
        for piece in _chunks(block.get("thinking", ""), chunk_size):
            yield {"type": "thinking_delta", "thinking": piece}
        yield {"type": "signature_delta", "signature": block.get("signature", "")}
    elif kind in _TOOL_INPUT_BLOCKS:
        for piece in _chunks(json.dumps(block.get("input") or {}), chunk_size):
            yield {"type": "input_json_delta", "partial_json": piece}


OVERLOADED_EVENT: SseEvent = (
    "error",
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
)


class _Server(ThreadingHTTPServer):
    """Tracks its connections so `close()` can end idle keep-alive ones and join their threads."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, fake: FakeAnthropic) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client dropped the connection
        self.fake._fail(RuntimeError(traceback.format_exc()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Small SSE writes must leave at once, or Nagle's algorithm batches them.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    def _dispatch(self) -> None:
        fake = self.server.fake
        try:
            request = self._read_request()
        except OSError:
            self.close_connection = True
            return
        fake._record(request)
        try:
            response = fake._answer(request)
        except Exception as error:  # a bug in the fake: answer, and fail the test at close()
            fake._fail(error)
            response = fake._error(500, "api_error", f"fake server error: {error!r}")
            response.headers["x-should-retry"] = "false"
        try:
            self._send(response)
        except OSError:  # the client went away, e.g. a timeout or a stream closed early
            self.close_connection = True

    def _read_request(self) -> RecordedRequest:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            raw = b"".join(self._read_chunks())
        else:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        return RecordedRequest(self.command, self.path, headers, body, raw)

    def _read_chunks(self) -> Iterator[bytes]:
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            yield self.rfile.read(size)
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers

    def _send(self, response: _Response) -> None:
        closing = self.server.fake._closing
        if response.delay and closing.wait(response.delay):
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.events is None:
            self.send_header("content-length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
            return
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        deltas = 0
        for name, data in response.events:
            failing = response.fail_after is not None and deltas >= response.fail_after
            if failing and name in ("content_block_delta", "message_delta"):
                self._write_chunk(_sse(*OVERLOADED_EVENT))
                break
            if name == "content_block_delta":
                if response.chunk_delay and closing.wait(response.chunk_delay):
                    self.close_connection = True
                    return
                deltas += 1
            self._write_chunk(_sse(name, data))
        self._write_chunk(b"")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


def _sse(name: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


# -- content blocks, as the API returns them ----------------------------------------------


def text_block(
    text: str = DEFAULT_TEXT, citations: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if citations is not None:
        block["citations"] = [dict(c) for c in citations]
    return block


def thinking_block(thinking: str, signature: str = "sig_fake") -> dict[str, Any]:
    return {"type": "thinking", "thinking": thinking, "signature": signature}


def redacted_thinking_block(data: str = "cmVkYWN0ZWQ=") -> dict[str, Any]:
    return {"type": "redacted_thinking", "data": data}


def tool_use_block(
    name: str, input: Mapping[str, Any], tool_use_id: str = "toolu_fake0001"
) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_use_id, "name": name, "input": dict(input)}


def server_tool_use_block(
    input: Mapping[str, Any], name: str = "web_search", tool_use_id: str = "srvtoolu_fake0001"
) -> dict[str, Any]:
    return {"type": "server_tool_use", "id": tool_use_id, "name": name, "input": dict(input)}


def web_search_tool_result_block(
    results: Sequence[tuple[str, str]], tool_use_id: str = "srvtoolu_fake0001"
) -> dict[str, Any]:
    """A web search result block from `(url, title)` pairs."""
    content = [
        {"type": "web_search_result", "url": url, "title": title, "encrypted_content": "ZmFrZQ=="}
        for url, title in results
    ]
    return {"type": "web_search_tool_result", "tool_use_id": tool_use_id, "content": content}


def char_location_citation(
    cited_text: str, start: int = 0, document_index: int = 0, document_title: str | None = None
) -> dict[str, Any]:
    return {
        "type": "char_location",
        "cited_text": cited_text,
        "document_index": document_index,
        "document_title": document_title,
        "start_char_index": start,
        "end_char_index": start + len(cited_text),
    }


def web_search_citation(url: str, cited_text: str, title: str | None = None) -> dict[str, Any]:
    return {
        "type": "web_search_result_location",
        "url": url,
        "title": title,
        "cited_text": cited_text,
        "encrypted_index": "ZmFrZQ==",
    }
