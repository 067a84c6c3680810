"""Shared fixtures. Every test gets its own data directory and database, so none touches a
user's data.

The suite runs against SQLite by default. `pytest --database postgresql` (or
`SPYGLASS_TEST_DATABASE=postgresql`) runs it against PostgreSQL instead: then only the tests
that use a database run (those asking for `database_url`, `empty_database_url` or
`make_database`, and those marked `postgresql`), each in a database of its own that is created
for it and dropped after it. The server is `SPYGLASS_TEST_POSTGRES_URL`, by default
`postgresql+psycopg://postgres@127.0.0.1:5432/postgres`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.database import open_database
from app.main import create_app
from app.settings import Settings


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every default location at a temporary folder and drop stray settings."""
    import os

    for name in list(os.environ):
        if name.startswith(("SPYGLASS_", "OTEL_")):
            monkeypatch.delenv(name)
    # Errors inside the spyglass client are swallowed in apps; under our tests they must show.
    monkeypatch.setenv("SPYGLASS_RAISE_INTERNAL_ERRORS", "1")
    # In-process tests reach the app as "testserver"; the Host check has its own tests.
    monkeypatch.setenv("SPYGLASS_ALLOWED_HOSTS", '["localhost", "127.0.0.1", "::1", "testserver"]')
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SPYGLASS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return data_dir


BACKENDS = ("sqlite", "postgresql")
DATABASE_FIXTURES = {"database_url", "empty_database_url", "make_database"}
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=BACKENDS,
        default=os.environ.get("SPYGLASS_TEST_DATABASE", "sqlite"),
        help="the database the tests run against (default: sqlite, or $SPYGLASS_TEST_DATABASE)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--database") not in BACKENDS:
        raise pytest.UsageError(f"SPYGLASS_TEST_DATABASE must be one of {', '.join(BACKENDS)}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out what the chosen database does not run: on PostgreSQL, the tests that use no
    database (they ran on SQLite already) and the SQLite-only ones; on SQLite, the tests that
    need PostgreSQL."""
    backend = config.getoption("--database")

    def runs(item: pytest.Item) -> bool:
        if item.get_closest_marker("postgresql"):
            return backend == "postgresql"
        if backend == "sqlite":
            return True
        uses_database = bool(DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())))
        return uses_database and not item.get_closest_marker("sqlite_only")

    kept = [item for item in items if runs(item)]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if not runs(item)])
        items[:] = kept


class PostgresServer:
    """Creates and drops the tests' databases on one PostgreSQL server.

    Each test gets a database of its own. Migrated ones are cloned from a template migrated
    once per session, which takes a tenth of a second where migrating each would take more.
    """

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.url = sa.engine.make_url(url)
        self.admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.template = f"spyglass_test_template_{os.getpid()}"
        self._template_ready = False

    def _execute(self, statement: str) -> None:
        import sqlalchemy as sa

        with self.admin.connect() as connection:
            connection.execute(sa.text(statement))

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def create(self, *, migrated: bool) -> str:
        name = f"spyglass_test_{uuid.uuid4().hex[:16]}"
        if migrated and not self._template_ready:
            self._execute(f"DROP DATABASE IF EXISTS {self.template} WITH (FORCE)")
            self._execute(f"CREATE DATABASE {self.template}")
            open_database(self.url_of(self.template)).dispose()
            self._template_ready = True
        template = self.template if migrated else "template0"
        self._execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        return name

    def drop(self, name: str) -> None:
        self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        if self._template_ready:
            self.drop(self.template)
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    import sqlalchemy as sa

    server = PostgresServer(os.environ.get("SPYGLASS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    try:
        with server.admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {server.url!r}: {exc.orig}. Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or "
            "set SPYGLASS_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    yield server
    server.close()


MakeDatabase = Callable[..., str]


@pytest.fixture
def make_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeDatabase]:
    """`make_database(backend=None, migrated=True)`: the URL of a new database of its own.

    `backend` is "sqlite" or "postgresql", by default the one the suite runs against. A
    SQLite database is a file that does not exist yet (opening it creates and migrates it);
    a PostgreSQL one exists, empty or already migrated. All are dropped after the test.
    """
    created: list[str] = []
    server: PostgresServer | None = None

    def make(backend: str | None = None, *, migrated: bool = True) -> str:
        nonlocal server
        backend = backend or request.config.getoption("--database")
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'spyglass-{uuid.uuid4().hex[:8]}.db'}"
        server = server or request.getfixturevalue("postgres_server")
        created.append(server.create(migrated=migrated))
        return server.url_of(created[-1])

    yield make
    for name in created:
        assert server is not None
        server.drop(name)


@pytest.fixture
def database_url(make_database: MakeDatabase) -> str:
    """A database for the app, of the backend the suite runs against."""
    return make_database()


@pytest.fixture
def empty_database_url(make_database: MakeDatabase) -> str:
    """A database with no tables at all, for the migrations' tests."""
    return make_database(migrated=False)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Decoding in a thread: a worker process per in-process app would cost each test a fork,
    # and monkeypatched functions would not reach it. The collector processes of tests/e2e
    # decode in worker processes, as users' do, and tests/app/test_decoding.py tests them.
    return Settings(database_url=database_url, decode_processes=0)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The whole app in-process, with its writer thread running."""
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client
