"""Where requests are decoded: in a worker process by default, off the event loop either way.

Decoding (`app.ingest.decode`: gunzip, protobuf, the conventions, the search text, the chunks)
is Python work that holds the GIL for its whole length, as much of the writer's does. In a
thread of the collector's process the two took turns on one core; in a worker process the
decoding runs on another core while the writer commits (bench/README.md: 1.4× the spans/s on
two cores). The worker is forked from a small server process that has imported only
`app.ingest`, so it costs tens of megabytes, not a copy of the collector.

A worker that dies (killed, or out of memory) breaks its pool: the requests it held, and the
next ones, would all fail. `Decoder` replaces a broken pool and tells the sender to retry
(`DecoderRestarted`, answered 503 with Retry-After), so one crash costs a retry, not the
receiver.

A worker must not outlive the collector. If the collector is killed (SIGKILL, the OOM killer),
nothing tells its workers, which would wait for work for ever, and the forkserver with them
(each worker holds the descriptor whose closing tells the forkserver to stop). So each worker
watches the collector's process and exits with it (`_start_worker`).

Where worker processes cannot start (no shared memory for their locks, as in some
containers), the collector says so in its log and decodes in a thread.

The collector starts its worker as it starts (`Decoder.start`), in the background, so that the
first export does not wait for it.

`processes=0` decodes in one thread of the collector's process instead: what the in-process
tests use, since a monkeypatched function does not reach a worker process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import select
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from app import gc_tuning, ingest, otlp

log = logging.getLogger("spyglass.decoding")


class DecoderRestarted(Exception):
    """The decoding worker died with this request; it was replaced, so a retry will work."""


def _context() -> multiprocessing.context.BaseContext:
    # forkserver: workers fork from a process that imported app.ingest alone (not the
    # collector's __main__, which spawn would import again), and no thread of the collector
    # is ever forked.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["app.ingest", "app.decoding"])
    return context


def _start_worker(collector_pid: int) -> None:
    """A worker's initializer: the collector's garbage collection settings, and a thread that
    ends the worker when the collector ends."""
    gc_tuning.tune_for_serving()
    threading.Thread(
        target=_wait_for_exit, args=(collector_pid,), name="spyglass-parent-watch", daemon=True
    ).start()


def _wait_for_exit(pid: int) -> None:
    try:
        # Readable once the process has ended: exact, and no polling (Linux 5.3 and later).
        descriptor = os.pidfd_open(pid)
    except (AttributeError, OSError):
        while _alive(pid):
            time.sleep(1)
    else:
        select.select([descriptor], [], [])
    os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Decoder:
    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._lock = threading.Lock()
        self._executor = self._new_executor()
        self._starter: threading.Thread | None = None  # the thread `start` submits from

    def _new_executor(self) -> Executor:
        if self._processes > 0:
            try:
                return ProcessPoolExecutor(
                    self._processes,
                    mp_context=_context(),
                    initializer=_start_worker,
                    initargs=(os.getpid(),),
                )
            except OSError as exc:  # no shared memory for its locks (some containers)
                self._cannot_start_workers(exc)
        return ThreadPoolExecutor(1, thread_name_prefix="spyglass-decode")

    def _cannot_start_workers(self, exc: OSError) -> None:
        log.warning(
            "cannot start decoding worker processes (%s); decoding in a thread instead", exc
        )
        self._processes = 0

    def start(self) -> None:
        """Start the worker process now, in the background, rather than with the first export.

        Starting it (the fork server, then the worker's imports) takes about half a second,
        and the pool starts a missing worker inside `submit`: the first export, and the event
        loop it runs on, would wait that long. A worker that cannot start is found now too,
        and decoding moves to a thread before any export needs it.
        """
        executor = self._executor
        if isinstance(executor, ProcessPoolExecutor):
            self._starter = threading.Thread(
                target=self._start_pool, args=(executor,), name="spyglass-decoder-start"
            )
            self._starter.start()

    def _start_pool(self, executor: ProcessPoolExecutor) -> None:
        try:
            executor.submit(os.getpid)
        except OSError as exc:
            self._threads_instead(executor, exc)
        except (BrokenProcessPool, RuntimeError):
            pass  # closed meanwhile, or broken: the next export replaces it (`decode`)

    def _threads_instead(self, executor: Executor, exc: OSError) -> None:
        """The pool's worker could not start: decode in a thread from now on."""
        with self._lock:
            if self._executor is executor:
                self._cannot_start_workers(exc)
                self._executor = self._new_executor()
        executor.shutdown(wait=False, cancel_futures=True)

    async def decode(
        self, signal: str, body: bytes, fmt: otlp.Format, encoding: str | None, limit: int
    ) -> otlp.Batch:
        """`ingest.decode` in a worker; raises what it raises, or DecoderRestarted."""
        executor = self._executor
        try:
            # Submitting starts the pool's worker the first time, and fails at once when the
            # pool is broken already.
            future = asyncio.get_running_loop().run_in_executor(
                executor, ingest.decode, signal, body, fmt, encoding, limit
            )
        except BrokenProcessPool:
            raise self._restarted(executor) from None
        except OSError as exc:  # its first worker could not start
            if not isinstance(executor, ProcessPoolExecutor):
                raise
            self._threads_instead(executor, exc)
            return await self.decode(signal, body, fmt, encoding, limit)
        try:
            return await future
        except BrokenProcessPool:
            raise self._restarted(executor) from None

    def _restarted(self, broken: Executor) -> DecoderRestarted:
        self._replace(broken)
        return DecoderRestarted("the decoding worker stopped; retry the request")

    def _replace(self, broken: Executor) -> None:
        with self._lock:
            if self._executor is broken:  # not replaced already by another request
                log.error("the decoding worker stopped; starting a new one")
                self._executor = self._new_executor()
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
