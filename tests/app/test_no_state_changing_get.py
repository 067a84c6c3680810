"""No GET changes anything: a link, a prefetch or a crawler can follow every one of them.

Every GET route of the app is requested, with the ids of a real stored trace so that pages
render in full (and with unknown ids, and searches), while the database is watched: each
table's rows (with PostgreSQL's row versions, so a rewrite to the same values shows too) and,
on SQLite, `PRAGMA data_version`, which moves when any other connection commits. The routes
that do change state must not answer GET.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import defaultdict
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.database import sqlite_path
from app.main import create_app
from app.settings import Settings
from tests.app.routes.test_pages import _record_agent
from tests.app.test_auth import TOKEN, every_route

STATE_CHANGING = {"/login", "/logout"}  # besides the OTLP receiver's /v1/*


@pytest.fixture
def app_client(database_url: str, engine: Engine) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, token=TOKEN), engine=engine)
    with TestClient(app, follow_redirects=False) as client:
        client.headers["authorization"] = f"Bearer {TOKEN}"
        yield client


def _fingerprint(engine: Engine) -> dict[str, tuple[int, str]]:
    """Each table's row count and a digest of its rows, in an order of their own."""
    postgres = engine.dialect.name == "postgresql"
    found = {}
    with engine.connect() as connection:
        for table in sa.inspect(connection).get_table_names():
            quoted = engine.dialect.identifier_preparer.quote(table)
            # Names from the database's own catalogue, quoted. xmin is a row's version: it
            # moves even when an update writes the same values again.
            select = "xmin::text, t::text" if postgres else "*"
            sql = f"SELECT {select} FROM {quoted} t"  # noqa: S608
            rows = sorted(repr(tuple(row)) for row in connection.exec_driver_sql(sql))
            found[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return found


def _data_version(connection: sqlite3.Connection | None) -> int | None:
    return connection.execute("PRAGMA data_version").fetchone()[0] if connection else None


def _gets(app_client: TestClient, ids: dict[str, str]) -> list[str]:
    paths = [path for method, path in every_route(app_client.app, ids) if method == "GET"]
    trace, span = ids["trace_id"], ids["span_id"]
    return [
        *paths,
        "/?q=weather&status=error&range=1h",
        f"/traces/{trace}?span={span}&q=Paris",
        "/partials/traces?q=weather",
        "/api/v1/traces?q=weather&model=claude-sonnet-4-6",
        f"/api/v1/spans?trace_id={trace}&attr=tool.name=get_time",
        "/login?next=/traces/x",
        "/static/spyglass.js",
    ]


def test_no_get_writes_to_the_database(app_client: TestClient, engine: Engine) -> None:
    agent = _record_agent(app_client)
    real = {"trace_id": agent.trace, "span_id": agent.second_call}
    unknown = {"trace_id": "ab" * 16, "span_id": "cd" * 8}
    paths = _gets(app_client, real) + _gets(app_client, unknown)
    assert f"/traces/{agent.trace}" in paths and "/api/v1/traces" in paths

    path = sqlite_path(str(engine.url))
    watcher = sqlite3.connect(path, isolation_level=None) if path else None
    try:
        before, version = _fingerprint(engine), _data_version(watcher)
        assert before["spans"][0] == 5
        rendered = 0
        for path in paths:
            reply = app_client.get(path)
            assert reply.status_code < 500, (path, reply.status_code)
            assert "set-cookie" not in reply.headers, path
            rendered += reply.status_code == 200
        assert _data_version(watcher) == version
        assert _fingerprint(engine) == before
    finally:
        if watcher:
            watcher.close()
    assert rendered > len(paths) // 2  # the real ids' pages rendered, not just 404s


def test_the_fingerprint_sees_a_write(app_client: TestClient, engine: Engine) -> None:
    """The watch above can fail: a POST that stores spans moves it."""
    _record_agent(app_client)
    path = sqlite_path(str(engine.url))
    watcher = sqlite3.connect(path, isolation_level=None) if path else None
    try:
        before, version = _fingerprint(engine), _data_version(watcher)
        _record_agent(app_client)
        assert _fingerprint(engine) != before
        if watcher:
            assert _data_version(watcher) != version
    finally:
        if watcher:
            watcher.close()


def test_routes_that_change_state_answer_no_get(app_client: TestClient) -> None:
    methods: dict[str, set[str]] = defaultdict(set)
    for method, path in every_route(app_client.app):
        methods[path].add(method)
    receiver = {path for path in methods if path.startswith("/v1/")}
    assert "/v1/traces" in receiver
    for path in receiver | {"/logout"}:
        assert methods[path] == {"POST"}, path
        assert app_client.get(path).status_code == 405, path
    # GET /login only shows the form (it sets no cookie: see the sweep above).
    assert methods["/login"] == {"GET", "POST"}
    # Every other route only reads; a new one that writes must be named here on purpose.
    writers = {path for path, used in methods.items() if used - {"GET"}}
    assert writers == receiver | STATE_CHANGING
