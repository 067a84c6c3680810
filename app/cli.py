"""The `spyglass` command: serve the collector, migrate the database, list recent traces.

Every expected failure (a port in use, an unwritable data directory, a bad database URL) ends
in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import socket
import sys
import typing
from pathlib import Path
from typing import Any

import click
import orjson
from pydantic import SecretStr, ValidationError

from app import __version__, gc_tuning
from app.database import DatabaseError, open_database
from app.settings import Settings


def _settings(**flags: Any) -> Settings:
    """Settings from the environment, with the flags that were given taking precedence."""
    try:
        # A flag not given is None, or () for one that may repeat: the variable then counts.
        given = {name: value for name, value in flags.items() if value not in (None, ())}
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise click.ClickException(f"bad setting: {problems}") from None


def _open(settings: Settings) -> Any:
    try:
        return open_database(settings.resolved_database_url)
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None


def _listen(host: str, port: int) -> socket.socket:
    """Bind the port ourselves, so that a port in use is one clear line, not a traceback."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    except OSError as exc:
        hint = (
            " (is another collector running? pick another with --port)" if exc.errno == 98 else ""
        )
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror}{hint}"
        ) from None
    sock.set_inheritable(True)
    return sock


def _setting_option(name: str) -> Any:
    """The flag of one setting: `--<name>`, typed and documented by the Settings field, so that
    every setting has one and a new setting cannot be left without it."""
    field = Settings.model_fields[name]
    flag = "--" + name.replace("_", "-")
    kind = next((t for t in typing.get_args(field.annotation) if t is not type(None)), None)
    kind = kind or field.annotation
    help_text = f"{field.description} [env: SPYGLASS_{name.upper()}"
    if field.default is not None and field.default_factory is None:
        help_text += f"; default {field.default}"
    help_text += "]"
    if kind is bool:
        return click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
    if typing.get_origin(kind) is list:
        return click.option(flag, name, multiple=True, help=f"{help_text}; may repeat")
    if kind is Path:
        return click.option(
            flag, name, type=click.Path(path_type=Path, file_okay=False), help=help_text
        )
    if kind is SecretStr:
        # A flag's value is in the process list for every local user to read.
        help_text += "; other local users can read it in the process list: prefer the variable"
        kind = str
    return click.option(flag, name, type=kind, help=help_text)


def with_setting_options(*names: str) -> Any:
    """Give a command the flags of these settings, in this order."""

    def decorate(command: Any) -> Any:
        for name in reversed(names):
            command = _setting_option(name)(command)
        return command

    return decorate


DATABASE_SETTINGS = ("database_url", "data_dir")


@click.group()
@click.version_option(__version__, prog_name="spyglass")
def main() -> None:
    """Spyglass: a local OpenTelemetry collector and viewer for LLM calls."""


@main.command()
@with_setting_options(*Settings.model_fields)
def serve(**flags: Any) -> None:
    """Run the collector: OTLP/HTTP receiver, REST API and pages on one port."""
    import uvicorn

    from app.main import create_app

    settings = _settings(**flags)
    engine = _open(settings)
    sock = _listen(settings.host, settings.port)
    app = create_app(settings, engine=engine)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        access_log=settings.access_log,
        log_level="info",
        # Bodies can be large and exporters keep connections open between batches.
        timeout_keep_alive=30,
    )
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    click.echo(
        f"Spyglass {__version__} listening on http://{shown_host}:{settings.port}"
        f" (database {engine.url.render_as_string(hide_password=True)})",
        err=True,
    )
    gc_tuning.tune_for_serving()
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        engine.dispose()


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@with_setting_options(*DATABASE_SETTINGS)
def upgrade(**flags: Any) -> None:
    """Apply every pending migration."""
    settings = _settings(**flags)
    engine = _open(settings)
    engine.dispose()
    click.echo(f"database is up to date: {engine.url.render_as_string(hide_password=True)}")


@db.command("copy")
@click.option("--from", "source_url", required=True, metavar="URL", help="the database to copy")
@click.option("--to", "destination_url", required=True, metavar="URL", help="where to copy it")
@click.option("--restart", is_flag=True, help="copy everything again, even after a finished copy")
def copy_database(source_url: str, destination_url: str, restart: bool) -> None:
    """Copy every trace, span and log from one database to another.

    Both databases are first migrated to this version's schema, the source too if it is
    older. The destination may be new or already hold traces. Stop the collector writing to
    the source first: what arrives during the copy may be left behind. An interrupted copy
    goes on where it stopped when the same command is run again.
    """
    from app import db_copy

    try:
        job = db_copy.open_copy(source_url, destination_url)
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        if restart:
            job.restart()
        progress = job.progress()
        if progress is not None and progress.done:
            click.echo(f"already copied from {job.source_key} (--restart copies it again)")
            return
        with click.progressbar(length=job.total_spans(), label="Copying spans") as bar:
            bar.update(progress.copied_spans if progress else 0)
            summary = job.run(on_chunk=bar.update)
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        job.close()
    click.echo(
        f"copied {summary.traces} traces, {summary.spans} spans and {summary.logs} logs"
        f" in {summary.seconds:.1f}s"
    )


@main.command()
@with_setting_options(*DATABASE_SETTINGS)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the traces as JSON")
def traces(limit: int, as_json: bool, **flags: Any) -> None:
    """List the most recent traces."""
    from app import queries

    settings = _settings(**flags)
    engine = _open(settings)
    try:
        with engine.connect() as connection:
            page, _ = queries.list_traces(connection, queries.TraceFilter(), limit)
    finally:
        engine.dispose()
    if as_json:
        sys.stdout.write(orjson.dumps(page, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if not page:
        click.echo("no traces yet")
        return
    rows = [
        (
            t["start_time"][:19].replace("T", " "),
            t["name"],
            t["service_name"] or "",
            str(t["span_count"]),
            str(t["llm_call_count"]),
            f"{t['input_tokens']}/{t['output_tokens']}",
            f"{t['duration_ms']:.1f}ms",
            str(t["error_count"]),
            t["trace_id"],
        )
        for t in page
    ]
    header = (
        "TIME (UTC)",
        "NAME",
        "SERVICE",
        "SPANS",
        "LLM",
        "TOKENS IN/OUT",
        "DURATION",
        "ERRORS",
        "TRACE ID",
    )
    widths = [min(max(len(row[i]) for row in [header, *rows]), 40) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(
                cell[:40].ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )


if __name__ == "__main__":
    main()
