"""The spyglass client sends the token: a collector started with SPYGLASS_TOKEN gets the spans.

Apps using the spyglass package, the real anthropic client and a fake Anthropic API send to a
real collector that needs the token. Given by `configure(token=...)` or by `SPYGLASS_TOKEN`, the
token gets the call's span stored; a wrong one gets it refused, and the app's call still
succeeds, since instrumentation must never break the app.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.collector_process import Collector
from tests.fake_anthropic import DEFAULT_TEXT, FakeAnthropic, Reply

TOKEN = "client-s3cret"
# Three apps, forked from one interpreter once anthropic and spyglass are imported: importing
# them is most of an app's start, and configure() holds for the life of a process.
APP = textwrap.dedent(
    """
    import json, os, sys, anthropic, spyglass

    def app(service, token_argument, token_variable):
        if token_variable:
            os.environ["SPYGLASS_TOKEN"] = token_variable
        spyglass.configure(endpoint=os.environ["COLLECTOR"], service_name=service,
                           token=token_argument)
        spyglass.instrument_anthropic()
        client = anthropic.Anthropic(base_url=os.environ["FAKE"], api_key="test", max_retries=0)
        reply = client.messages.create(
            model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
        )
        # One write of the whole line: the apps share the pipe, and print() writes in pieces.
        os.write(1, f"{service} {reply.content[0].text}\\n".encode())

    children = {}
    for service, token_argument, token_variable in json.loads(os.environ["APPS"]):
        pid = os.fork()
        if pid == 0:
            app(service, token_argument, token_variable)
            sys.exit(0)  # a normal exit, which flushes the spans as in any app
        children[pid] = service
    sys.exit(max(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children))
    """
)
# (service name, configure(token=...), SPYGLASS_TOKEN)
APPS = [
    ("token-argument", TOKEN, None),
    ("token-variable", None, TOKEN),
    ("wrong-token", "not-" + TOKEN, None),
]


@pytest.fixture
def guarded(tmp_path: Path, database_url: str) -> Iterator[Collector]:
    running = Collector(
        tmp_path / "collector-data", env={"SPYGLASS_TOKEN": TOKEN}, database_url=database_url
    ).start()
    yield running
    running.stop()


def _services(collector: Collector) -> set[str]:
    reply = httpx.get(
        f"{collector.url}/api/v1/traces", headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert reply.status_code == 200, reply.text
    return {trace["service_name"] for trace in reply.json()["traces"]}


def test_only_the_right_token_gets_spans_in_and_the_app_never_notices(guarded: Collector) -> None:
    with FakeAnthropic() as fake:
        fake.enqueue(*[Reply.message() for _ in APPS])
        env = {**os.environ, "COLLECTOR": guarded.url, "FAKE": fake.base_url}
        result = subprocess.run(
            [sys.executable, "-c", APP],
            env={**env, "APPS": json.dumps(APPS)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    # Every app's call succeeded, the one whose spans were refused included.
    assert sorted(result.stdout.splitlines()) == sorted(f"{s} {DEFAULT_TEXT}" for s, *_ in APPS)
    # Each app flushed its spans at exit: stored on a 200, refused on a 401.
    assert _services(guarded) == {"token-argument", "token-variable"}
    # The refusal was the collector's, said where the app's operator can see it.
    assert "401" in result.stderr
