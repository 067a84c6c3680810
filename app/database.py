"""Opening the database: engine, connection settings and migrations.

`open_database()` is the one way in. It checks the URL, connects, and migrates to the newest
schema, turning every failure into a `DatabaseError` with one line that says what is wrong.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from app.resources import resource_dir

# A PostgreSQL advisory lock key ("Spyglass" in ASCII, plus one); app.store has the writers'.
MIGRATION_LOCK = 0x5370_7967_6C61_7374


class DatabaseError(Exception):
    """The database cannot be used; the message is fit to show a user as is."""


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# PostgreSQL cannot store the NUL character, in text or in JSONB, and refuses the whole write
# that holds one. Spyglass stores it there as U+FFFD, the replacement character, the same
# way in what it writes and in what it looks for, so a span with a NUL is kept, not lost.
REPLACEMENT = "\ufffd"
# A JSON escape for NUL, not preceded by an escaped backslash (`\\u0000` is text).
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _postgres_json_dumps(value: Any) -> str:
    text = _json_dumps(value)
    return _JSON_NUL.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


@cache
def _nul_free(dumper: type) -> type:
    """A psycopg dumper of `str` that writes NUL as U+FFFD, and otherwise as `dumper` does
    (psycopg's own dumpers are C types that cannot be subclassed, so it wraps one)."""
    from psycopg.adapt import Dumper

    class NulFreeDumper(Dumper):
        format = dumper.format

        def __init__(self, cls: type, context: Any = None) -> None:
            super().__init__(cls, context)
            self._dumper = dumper(cls, context)
            self.oid = self._dumper.oid

        def dump(self, obj: str) -> Any:
            return self._dumper.dump(obj.replace("\x00", REPLACEMENT))

    return NulFreeDumper


def _postgres_connection(dbapi_connection: Any, _record: Any) -> None:
    from psycopg.adapt import PyFormat

    adapters = dbapi_connection.adapters
    for format in (PyFormat.TEXT, PyFormat.BINARY):
        adapters.register_dumper(str, _nul_free(adapters.get_dumper(str, format)))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the pages and the REST API read while the writer commits, without blocking.
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL syncs the WAL at every commit, so a batch we answered 200 survives a power cut,
    # not only a crash of the process. Group commit pays the fsync once per group.
    cursor.execute("PRAGMA synchronous=FULL")
    # Wait for another process's lock (a CLI query, a migration) instead of failing at once.
    cursor.execute("PRAGMA busy_timeout=10000")
    # Keep temporary sort b-trees off the disk; list queries sort within small groups.
    cursor.execute("PRAGMA temp_store=MEMORY")
    # A 16 MiB page cache per connection keeps the hot pages of the indexes in memory; the
    # rest is in the OS's file cache, a copy away. 64 MiB cost the writer's connection 80 MB
    # of RSS under sustained ingest (it fills with the chunks' randomly keyed pages) and bought
    # no spans/s (bench/README.md).
    cursor.execute("PRAGMA cache_size=-16384")
    # Truncate the WAL file back to 64 MiB after checkpoints instead of letting it stay large.
    cursor.execute("PRAGMA journal_size_limit=67108864")
    cursor.close()


def create_engine(url: str) -> Engine:
    """An engine for `url`, with SQLite tuned for reading while writing."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"not a database URL: {url!r}") from None
    options: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": 10}
    elif parsed.get_backend_name() == "postgresql":
        options["json_serializer"] = _postgres_json_dumps
    try:
        engine = sa.create_engine(parsed, **options)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        hint = ""
        if parsed.get_backend_name() == "postgresql":
            hint = " (install the driver: pip install 'spyglass-collector[postgres]')"
        raise DatabaseError(f"cannot use database URL {parsed!r}: {exc}{hint}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.driver == "psycopg":
        sa.event.listen(engine, "connect", _postgres_connection)
    return engine


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; already there costs one query.

    Collectors that start together on one PostgreSQL take turns, so that only the first
    migrates and the others find the schema current (its DDL is transactional).
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        command.upgrade(alembic_config(connection), revision)


def open_database(url: str) -> Engine:
    """A migrated, ready engine for `url`, or a DatabaseError saying why not."""
    path = sqlite_path(url)
    if path is not None:
        _check_sqlite_location(path)
    engine = create_engine(url)
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseError(f"cannot open database {engine.url!r}: {reason}") from None
    return engine


def _check_sqlite_location(path: Path) -> None:
    directory = path.expanduser().parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create data directory {directory}: {exc.strerror}") from None
    probe = directory / ".spyglass-write-test"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise DatabaseError(f"data directory {directory} is not writable: {exc.strerror}") from None
