"""The collector's one Settings object: environment variables, overridden by CLI flags."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/spyglass`, which is `~/.local/share/spyglass` unless XDG says otherwise."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "spyglass"


class Settings(BaseSettings):
    """Every knob of the collector. Each field is read from `SPYGLASS_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="SPYGLASS_", extra="ignore")

    host: str = Field("127.0.0.1", description="bind address")
    port: int = Field(4318, ge=1, le=65535, description="the one port: OTLP, REST and pages")
    data_dir: Path = Field(default_factory=default_data_dir, description="home of the SQLite file")
    database_url: str | None = Field(None, description="any SQLAlchemy URL; default SQLite")
    token: SecretStr | None = Field(
        None, description="when set, required on every path but /healthz and the sign-in form"
    )
    max_body_bytes: int = Field(
        16 * MIB, ge=1024, description="largest OTLP body, before and after decompression"
    )
    max_pending_spans: int = Field(
        200_000,
        ge=1,
        description="spans waiting to be written before new exports get 503 and Retry-After",
    )
    decode_processes: int = Field(
        1,
        ge=0,
        le=64,
        description="worker processes that decode OTLP requests; 0 decodes in a thread of the"
        " collector's process",
    )
    access_log: bool = Field(False, description="log every HTTP request")
    retention_days: float | None = Field(
        None,
        gt=0,
        description="drop the traces whose newest span ended more than this many days ago",
    )
    max_db_mb: float | None = Field(
        None,
        gt=0,
        description="past this many MiB of database, drop the oldest traces down to 90% of it"
        " and give the disk back (SQLite; PostgreSQL keeps the space for new rows)",
    )
    allowed_hosts: list[str] | None = Field(
        None,
        description="Host header names answered; default: loopback names when bound to"
        " loopback, any otherwise; '*' for any",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.expanduser() / 'spyglass.db'}"
