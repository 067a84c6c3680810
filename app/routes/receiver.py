"""The OTLP/HTTP receiver: POST /v1/traces, /v1/logs and /v1/metrics.

It follows the OTLP/HTTP specification: protobuf or JSON in, the same content type out; gzip
and deflate; 400, 413 and 415 with a google.rpc.Status that says what is wrong;
`partial_success` when some spans were rejected; 503 with Retry-After when the writer is
behind. A 200 is sent only once the batch is committed.
"""

from __future__ import annotations

import asyncio
import random

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app import otlp
from app.decoding import DecoderRestarted
from app.writer import Overloaded, WriteFailed

router = APIRouter(tags=["OTLP receiver"])

# OTLP exporters retry a 503 after exactly Retry-After seconds. Spread over a few seconds, the
# exporters refused together do not all come back together, each wave to meet a full queue
# again until their retries run out (seen with 48 exporters on a slowed store).
RETRY_AFTER_SECONDS = (1, 3)


def _retry() -> dict[str, str]:
    return {"Retry-After": str(random.randint(*RETRY_AFTER_SECONDS))}


NOUNS = {"traces": "span", "logs": "log record"}


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing past `limit` bytes without reading the rest into memory."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _reply(fmt: otlp.Format, status: int, body: bytes, **headers: str) -> Response:
    return Response(body, status_code=status, media_type=otlp.MEDIA_TYPE_OF[fmt], headers=headers)


async def _export(request: Request, signal: str) -> Response:
    state = request.app.state
    limit = state.settings.max_body_bytes
    try:
        fmt = otlp.format_of(request.headers.get("content-type"))
    except otlp.OtlpError as exc:
        # We cannot mirror a content type we do not speak; JSON is readable by a person.
        return _reply("json", exc.status, otlp.error_reply("json", exc.status, exc.message))
    try:
        body = await _read_body(request, limit)
    except _TooLarge:
        message = f"body is larger than the limit of {limit} bytes"
        return _reply(fmt, 413, otlp.error_reply(fmt, 413, message))
    try:
        batch = await state.decoder.decode(
            signal, body, fmt, request.headers.get("content-encoding"), limit
        )
    except otlp.OtlpError as exc:
        return _reply(fmt, exc.status, otlp.error_reply(fmt, exc.status, exc.message))
    except DecoderRestarted as exc:
        return _reply(fmt, 503, otlp.error_reply(fmt, 503, str(exc)), **_retry())

    noun = NOUNS.get(signal, "")
    message = batch.error_message(noun)
    if batch.rejected and not batch.records:
        # Nothing in the request could be kept: that is a bad request, not a partial success.
        return _reply(fmt, 400, otlp.error_reply(fmt, 400, message))
    if batch.records:
        try:
            # Shielded: if this request is cancelled (a client gone, a server shutting down),
            # the batch is still written, and the writer must not find its future cancelled.
            await asyncio.shield(asyncio.wrap_future(state.writer.submit(signal, batch)))
        except Overloaded as exc:
            text = f"collector is busy ({exc}); retry later"
            return _reply(fmt, 503, otlp.error_reply(fmt, 503, text), **_retry())
        except WriteFailed as exc:
            # Worth a retry only when the database may take the same batch later.
            if exc.retryable:
                return _reply(fmt, 503, otlp.error_reply(fmt, 503, str(exc)), **_retry())
            return _reply(fmt, 400, otlp.error_reply(fmt, 400, str(exc)))
    return _reply(fmt, 200, otlp.success_reply(signal, fmt, batch.rejected, message))


@router.post("/v1/traces", summary="OTLP/HTTP trace export")
async def export_traces(request: Request) -> Response:
    return await _export(request, "traces")


@router.post("/v1/logs", summary="OTLP/HTTP log export (records with a span are kept)")
async def export_logs(request: Request) -> Response:
    return await _export(request, "logs")


@router.post("/v1/metrics", summary="OTLP/HTTP metric export (validated, not kept)")
async def export_metrics(request: Request) -> Response:
    return await _export(request, "metrics")
