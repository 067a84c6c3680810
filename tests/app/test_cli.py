"""The `spyglass` command: clear one-line failures, `db upgrade`, and `traces`."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from app import ingest, store
from app.cli import _settings, main, serve
from app.database import open_database
from app.settings import Settings
from tests import otlp_builders as otlp
from tests.collector_process import free_port, spyglass_command


def run_spyglass(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*spyglass_command(), *args], capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0]


def test_serve_on_a_port_in_use_fails_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_spyglass("serve", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    assert_one_line_failure(result, f"127.0.0.1:{port}", "in use")


def test_serve_with_an_unusable_data_dir_fails_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_spyglass("serve", "--port", str(free_port()), "--data-dir", str(blocker / "sub"))
    assert_one_line_failure(result, "data directory", str(blocker))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "not a database URL"),
        ("nosuchdb://x/y", "cannot use database URL"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/spyglass", "cannot open database"),
    ],
)
def test_serve_with_a_bad_database_url_fails_with_one_line(url: str, expected: str) -> None:
    result = run_spyglass("serve", "--port", str(free_port()), "--database-url", url)
    assert_one_line_failure(result, expected)


def test_serve_with_a_bad_port_value_fails_with_one_line() -> None:
    result = run_spyglass("serve", "--port", "70000")
    assert_one_line_failure(result, "port")


def test_db_upgrade_creates_the_database_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "nested"
    result = CliRunner().invoke(main, ["db", "upgrade", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert (data_dir / "spyglass.db").is_file()
    again = CliRunner().invoke(main, ["db", "upgrade", "--data-dir", str(data_dir)])
    assert again.exit_code == 0, again.output


def test_data_dir_comes_from_the_environment(isolated_environment: Path) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (isolated_environment / "spyglass.db").is_file()


def _store_traces(database_url: str, names: list[str]) -> None:
    engine = open_database(database_url)
    with engine.begin() as connection:
        for index, name in enumerate(names):
            body = otlp.request(otlp.span(name, start_ns=otlp.BASE_NS + index)).SerializeToString()
            store.write(connection, [ingest.decode("traces", body, "protobuf", None, 1 << 20)])
    engine.dispose()


def test_traces_lists_recent_traces(database_url: str) -> None:
    _store_traces(database_url, ["first", "second"])
    result = CliRunner().invoke(main, ["traces", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("TIME (UTC)")
    assert "second" in lines[1] and "first" in lines[2]


def test_traces_json_is_the_rest_shape(database_url: str) -> None:
    _store_traces(database_url, ["only"])
    result = CliRunner().invoke(main, ["traces", "--json", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    [trace] = json.loads(result.output)
    assert trace["name"] == "only"
    assert trace["service_name"] == "test-service"
    assert len(trace["trace_id"]) == 32


def test_traces_on_an_empty_database_says_so(database_url: str) -> None:
    result = CliRunner().invoke(main, ["traces", "--database-url", database_url])
    assert result.exit_code == 0
    assert result.output.strip() == "no traces yet"


# --- every setting is a flag of serve ---------------------------------------------------------


def _serve_settings(*args: str) -> Settings:
    """The settings `spyglass serve ARGS` would run with, parsed by the real command."""
    context = serve.make_context("serve", list(args))
    return _settings(**context.params)


def test_every_setting_has_a_serve_flag_of_the_same_name() -> None:
    flags = {option.name for option in serve.params}
    assert flags == set(Settings.model_fields)


def test_serve_flags_override_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPYGLASS_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("SPYGLASS_ACCESS_LOG", "true")
    monkeypatch.setenv("SPYGLASS_ALLOWED_HOSTS", '["from-env"]')
    assert _serve_settings().max_body_bytes == 2048
    settings = _serve_settings(
        "--max-body-bytes",
        "4096",
        "--no-access-log",
        "--token",
        "s3cret",
        "--allowed-hosts",
        "localhost",
        "--allowed-hosts",
        "spyglass.lan",
        "--decode-processes",
        "0",
    )
    assert settings.max_body_bytes == 4096
    assert settings.access_log is False
    assert settings.token is not None and settings.token.get_secret_value() == "s3cret"
    assert settings.allowed_hosts == ["localhost", "spyglass.lan"]
    assert settings.decode_processes == 0
    # A flag that may repeat and is not given leaves the variable in force.
    assert _serve_settings().allowed_hosts == ["from-env"]


def test_a_bad_flag_value_is_one_clear_error() -> None:
    with pytest.raises(click.ClickException, match="max_body_bytes"):
        _serve_settings("--max-body-bytes", "10")
