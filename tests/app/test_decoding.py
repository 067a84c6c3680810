"""Decoding in a worker process: the same batches as in a thread, errors that keep their
status, and a worker that dies costs its requests a retry, not the receiver."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app import decoding, ingest, otlp
from app.decoding import Decoder, DecoderRestarted
from app.main import create_app
from app.settings import Settings
from tests.otlp_builders import request, span

PROTOBUF = {"content-type": "application/x-protobuf"}
LIMIT = 1 << 20
LONG = "a long message that is stored in chunks " * 20


def _body(name: str = "decoded") -> bytes:
    return request(span(name, attributes={"prompt": LONG, "n": 1})).SerializeToString()


def _worker_pids(decoder: Decoder) -> list[int]:
    return list(decoder._executor._processes)  # type: ignore[attr-defined]


@pytest.fixture
def decoder() -> Iterator[Decoder]:
    decoder = Decoder(1)
    yield decoder
    decoder.close()


def test_a_worker_process_decodes_what_a_thread_does(decoder: Decoder) -> None:
    body = _body()
    in_process = ingest.decode("traces", body, "protobuf", None, LIMIT)
    in_worker = asyncio.run(decoder.decode("traces", body, "protobuf", None, LIMIT))
    assert in_worker.records == in_process.records
    assert _worker_pids(decoder) and os.getpid() not in _worker_pids(decoder)


def test_a_bad_request_keeps_its_status_across_the_process(decoder: Decoder) -> None:
    with pytest.raises(otlp.OtlpError) as caught:
        asyncio.run(decoder.decode("traces", b"\xff\xffnot protobuf", "protobuf", None, LIMIT))
    assert caught.value.status == 400 and "protobuf" in caught.value.message


def test_a_dead_worker_is_replaced_and_its_request_retried(decoder: Decoder) -> None:
    asyncio.run(decoder.decode("traces", _body(), "protobuf", None, LIMIT))
    [pid] = _worker_pids(decoder)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(DecoderRestarted):
        asyncio.run(decoder.decode("traces", _body(), "protobuf", None, LIMIT))
    batch = asyncio.run(decoder.decode("traces", _body("again"), "protobuf", None, LIMIT))
    assert [record["name"] for record in batch.records] == ["again"]


def test_the_receiver_answers_a_dead_worker_with_503_then_stores_the_retry(
    database_url: str, engine: Engine
) -> None:
    settings = Settings(database_url=database_url, decode_processes=1)
    with TestClient(create_app(settings, engine=engine)) as client:
        assert client.post("/v1/traces", content=_body("first"), headers=PROTOBUF).is_success
        [pid] = _worker_pids(client.app.state.decoder)
        os.kill(pid, signal.SIGKILL)

        refused = client.post("/v1/traces", content=_body("second"), headers=PROTOBUF)
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
        retried = client.post("/v1/traces", content=_body("second"), headers=PROTOBUF)
        assert retried.status_code == 200
        names = {s["name"] for s in client.get("/api/v1/spans").json()["spans"]}
        assert names == {"first", "second"}


class _NoSharedMemory(ProcessPoolExecutor):
    """A pool on a system without shared memory for its locks: it cannot be made."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise OSError(38, "Function not implemented")


class _WorkersWillNotStart(ProcessPoolExecutor):
    """A pool whose first worker cannot start: the error comes with the first submission."""

    def submit(self, *args: object, **kwargs: object) -> Any:
        raise OSError(12, "Cannot allocate memory")


@pytest.mark.parametrize("pool", [_NoSharedMemory, _WorkersWillNotStart])
def test_without_worker_processes_it_decodes_in_a_thread_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, pool: type
) -> None:
    monkeypatch.setattr(decoding, "ProcessPoolExecutor", pool)
    decoder = Decoder(1)
    try:
        batch = asyncio.run(decoder.decode("traces", _body("in a thread"), "protobuf", None, LIMIT))
        again = asyncio.run(decoder.decode("traces", _body("and again"), "protobuf", None, LIMIT))
    finally:
        decoder.close()
    assert [r["name"] for r in batch.records + again.records] == ["in a thread", "and again"]
    assert isinstance(decoder._executor, ThreadPoolExecutor)
    assert "decoding in a thread instead" in caplog.text


def test_start_runs_the_worker_before_any_request(decoder: Decoder) -> None:
    assert _worker_pids(decoder) == []  # a pool starts its worker with its first submission
    decoder.start()
    assert decoder._starter is not None
    decoder._starter.join(timeout=30)
    assert _worker_pids(decoder) and os.getpid() not in _worker_pids(decoder)
    batch = asyncio.run(decoder.decode("traces", _body("after start"), "protobuf", None, LIMIT))
    assert [r["name"] for r in batch.records] == ["after start"]


def test_a_worker_that_cannot_start_is_found_at_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(decoding, "ProcessPoolExecutor", _WorkersWillNotStart)
    decoder = Decoder(1)
    try:
        decoder.start()
        assert decoder._starter is not None
        decoder._starter.join(timeout=30)
        # Before any request: the next one is decoded in a thread without trying the pool.
        assert isinstance(decoder._executor, ThreadPoolExecutor)
        assert "decoding in a thread instead" in caplog.text
        batch = asyncio.run(decoder.decode("traces", _body("in a thread"), "protobuf", None, LIMIT))
    finally:
        decoder.close()
    assert [r["name"] for r in batch.records] == ["in a thread"]
