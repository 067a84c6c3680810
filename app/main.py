"""The application factory: `create_app(settings)` builds the collector, nothing at import.

uvicorn can run it directly with `uvicorn --factory app.main:create_app`; `spyglass serve`
does the same after checking the port and the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.requests import Request

from app import __version__, retention
from app.auth import TokenAuth
from app.database import open_database
from app.decoding import Decoder
from app.hosts import HostCheck, default_allowed_hosts
from app.routes import api, login, pages, receiver
from app.security_headers import SecurityHeaders
from app.settings import Settings
from app.writer import Writer

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The collector. Without an engine it opens (and migrates) the configured database."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        app.state.engine = engine or open_database(settings.resolved_database_url)
        policy = retention.from_settings(
            app.state.engine, settings.retention_days, settings.max_db_mb
        )
        app.state.writer = Writer(
            app.state.engine,
            settings.max_pending_spans,
            maintenance=policy.step if policy else None,
            maintenance_interval_s=retention.INTERVAL_S,
        )
        app.state.retention = policy
        app.state.writer.start()
        # The first pass ends before the collector answers, so the disk is given back before
        # new spans come; a failure was logged by the writer and must not stop the collector.
        with contextlib.suppress(Exception):
            await asyncio.wrap_future(app.state.writer.maintain())
        # Off the event loop, in a worker process unless told otherwise (app.decoding).
        app.state.decoder = Decoder(settings.decode_processes)
        app.state.decoder.start()
        try:
            yield
        finally:
            app.state.decoder.close()
            app.state.writer.close()
            if owned:
                app.state.engine.dispose()

    app = FastAPI(
        title="Spyglass",
        version=__version__,
        summary="Local OpenTelemetry collector and viewer for LLM calls",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(receiver.router)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(login.router)
    # After the pages' routes, so the generated /static/highlight.css wins over the folder.
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", tags=["health"], summary="Liveness; needs no token")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # One readable line per problem, e.g. "query.limit: Input should be less than or equal to 1000".
        problems = [
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        ]
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    if settings.token is not None and settings.token.get_secret_value():
        app.add_middleware(TokenAuth, token=settings.token.get_secret_value())
    app.add_middleware(SecurityHeaders)
    # Added last, so it runs first: a foreign Host is refused before anything else.
    allowed = settings.allowed_hosts or default_allowed_hosts(settings.host)
    app.add_middleware(HostCheck, allowed=allowed)
    return app
