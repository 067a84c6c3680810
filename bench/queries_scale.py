"""Flat queries: the list and trace pages with 10,000 spans stored against 1,000,000.

Builds two SQLite databases in a temporary directory at the current schema
(`app.database.open_database` runs the migrations), then fills them with synthetic rows
through plain `sqlite3` `executemany`, which takes a minute or two where `app.store.write`
would take ten: traces of about 10 spans (a server root, LLM calls, tool runs, vector searches,
database and HTTP calls) from a few services, spread over the last 30 days. LLM spans carry
small OpenTelemetry GenAI attributes, and their `llm_*` and call-key columns are what the app's
own `summary_columns` and `call_links.columns` make of them; each `traces` row is the summary
of its spans, computed while generating, as `app.store` would have. Every span has a
`span_search` row (its name, and for a call the two short messages), added to the FTS5 index
a statement per 50,000 spans, as the writer adds each batch's (from 2026-12-05 until the fix
that brought this sentence, the index stayed empty here and the search figures were void). Two words are planted in the messages: a common one in about 10% of the traces and a
rare one in about 0.5%. Attributes stay small: this is about the cost of a query, not of
storage. Loading runs with `synchronous=OFF`, no journal and one transaction; the database is
put back in WAL mode afterwards. No `ANALYZE`, since the collector never runs one.

Then a real `spyglass serve` runs on each database, and each URL is fetched with httpx from
both in turn, `--runs` times after a few warm-up fetches, so that other load on the machine
falls on both sizes alike. It prints the p50 and p95 of each and the ratio of the p50s, against
the target: at most 1.5× the p50 with the small database.

    .venv/bin/python bench/queries_scale.py --small 10000 --large 1000000 --runs 30
    .venv/bin/python bench/queries_scale.py --tiny
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import call_links  # noqa: E402
from app.conventions import summary_columns  # noqa: E402
from app.database import open_database  # noqa: E402
from app.schema import spans as spans_table  # noqa: E402
from bench import llm_spans  # noqa: E402
from tests.collector_process import Collector  # noqa: E402

TARGET = 1.5
SEED = 20261204
DAYS = 30
MS = 1_000_000
SECOND = 1_000 * MS
WARMUP = 3

# Span kinds and status codes as stored (app.queries.SPAN_KINDS, STATUS_CODES).
INTERNAL, SERVER, CLIENT = 1, 2, 3
UNSET, ERROR = 0, 2

# The services whose requests start a trace, with their share of traces and root span name.
ROOTS = [
    ("agent-api", 0.6, "POST /v1/agent/run"),
    ("support-bot", 0.3, "POST /v1/support/reply"),
    ("nightly-eval", 0.1, "eval.run"),
]
TOOLS_SERVICE = "tools-worker"
RETRIEVER = "retriever"
# The service the filtered span list asks for: about 7% of spans.
FILTER_SERVICE = RETRIEVER
MODELS = [
    ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 0.6),
    ("claude-haiku-4-5", "claude-haiku-4-5-20251001", 0.3),
    ("claude-opus-4-1", "claude-opus-4-1-20250805", 0.1),
]
TOOL_NAMES = ["read_file", "search_code", "run_tests", "edit_file", "list_dir"]
OTHER_NAMES = ["SELECT app.sessions", "INSERT app.messages", "GET /internal/profile"]
# Planted in user messages. Neither can occur in llm_spans' text: no word of its vocabulary
# starts with q or x, and every search term matches as a prefix.
COMMON_WORD, COMMON_SHARE = "quota", 0.10
RARE_WORD, RARE_SHARE = "xenon", 0.005

SCOPE_HTTP = ("opentelemetry.instrumentation.fastapi", "0.48b0")
SCOPE_LLM = (llm_spans.GENAI_SCOPE, "0.1.0")
SCOPE_TOOLS = ("agent.tools", "1.0.0")
SCOPE_DB = ("opentelemetry.instrumentation.sqlalchemy", "0.48b0")

SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "trace_state",
    "flags",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "duration_ns",
    "status_code",
    "status_message",
    "service_name",
    "scope_name",
    "resource_hash",
    "scope_hash",
    "attributes",
    "long_attributes",
    "dropped_attributes_count",
    "events",
    "dropped_events_count",
    "links",
    "dropped_links_count",
)
LLM_COLUMNS = (
    "llm_convention",
    "llm_is_call",
    "llm_provider",
    "llm_request_model",
    "llm_response_model",
    "llm_input_tokens",
    "llm_output_tokens",
    "llm_cache_read_tokens",
    "llm_cache_creation_tokens",
    "llm_finish_reasons",
    "llm_streaming",
    "llm_ttft_ms",
    "llm_call_key",
    "llm_call_rank",
)
NO_LLM = (None,) * len(LLM_COLUMNS)
TRACE_COLUMNS = (
    "trace_id",
    "root_span_id",
    "name",
    "service_name",
    "start_ns",
    "end_ns",
    "span_count",
    "error_count",
    "llm_call_count",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "models",
)
CHUNK_SPANS = 50_000

# Short sentences of llm_spans' prose, so that a message stays a short attribute value.
SENTENCES = [s for s in llm_spans.SENTENCES if len(s) <= 100]


def _insert(table: str, columns: tuple[str, ...]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608


# --- generating ----------------------------------------------------------------------------------


def _hash(value: Any) -> bytes:
    return hashlib.md5(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).digest()  # noqa: S324


def _resource(service: str) -> tuple[bytes, str, int, str]:
    attributes = {
        "service.name": service,
        "service.version": "1.4.2",
        "deployment.environment": "production",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.38.0",
    }
    return (_hash(attributes), orjson.dumps(attributes).decode(), 0, "")


def _scope(name: str, version: str) -> tuple[bytes, str, str, str, int, str]:
    return (_hash([name, version]), name, version, "{}", 0, "")


@dataclass
class Generated:
    spans: int
    traces: int
    llm_spans: int
    common_traces: int
    rare_traces: int
    # A trace near the middle of the history that has LLM calls, and a time there.
    middle_trace: str
    middle_ns: int
    seconds: float
    bytes: int


class Generator:
    """Rows of synthetic traces, newest last, into one database."""

    def __init__(self, seed: int, traces: int, now_ns: int):
        self.rng = random.Random(seed)
        self.traces = traces
        self.begin_ns = now_ns - DAYS * 86_400 * SECOND
        self.step_ns = DAYS * 86_400 * SECOND // max(traces, 1)
        services = [name for name, _, _ in ROOTS] + [TOOLS_SERVICE, RETRIEVER]
        self.resources = {service: _resource(service) for service in services}
        self.scopes = {
            scope: _scope(*scope) for scope in (SCOPE_HTTP, SCOPE_LLM, SCOPE_TOOLS, SCOPE_DB)
        }
        self.root_weights = list(itertools.accumulate(weight for _, weight, _ in ROOTS))
        self.model_weights = list(itertools.accumulate(weight for _, _, weight in MODELS))
        self.tool_attributes = {
            tool: orjson.dumps({"tool.name": tool, "agent.step": "act"}).decode()
            for tool in TOOL_NAMES
        }
        self.counts = {"llm": 0, "common": 0, "rare": 0}

    def _span(
        self,
        trace_id: bytes,
        parent: bytes | None,
        name: str,
        kind: int,
        start_ns: int,
        duration_ns: int,
        service: str,
        scope: tuple[str, str],
        attributes: str,
        error: bool,
        llm: tuple[Any, ...] = NO_LLM,
    ) -> tuple[Any, ...]:
        return (
            trace_id,
            self.rng.randbytes(8),
            parent,
            "",
            1,
            name,
            kind,
            start_ns,
            start_ns + duration_ns,
            duration_ns,
            ERROR if error else UNSET,
            "upstream timed out" if error else "",
            service,
            scope[0],
            self.resources[service][0],
            self.scopes[scope][0],
            attributes,
            None,
            0,
            "[]",
            0,
            "[]",
            0,
            *llm,
        )

    def _llm(self, plant: str | None) -> tuple[str, str, tuple[Any, ...], str]:
        """The attributes JSON, name, `llm_*` columns and search text of one call."""
        rng = self.rng
        roll = rng.random()
        request_model, response_model, _ = next(
            (m for m, w in zip(MODELS, self.model_weights, strict=True) if roll <= w), MODELS[-1]
        )
        question = rng.choice(SENTENCES)
        if plant:
            words = question.split()
            words.insert(rng.randrange(len(words) + 1), plant)
            question = " ".join(words)
        answer = rng.choice(SENTENCES)
        input_tokens = rng.randint(800, 30_000)
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": request_model,
            "gen_ai.response.model": response_model,
            "gen_ai.response.id": f"msg_{rng.getrandbits(96):024x}",
            "gen_ai.response.finish_reasons": ["end_turn"],
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": rng.randint(50, 1500),
            "gen_ai.usage.cache_read.input_tokens": rng.randint(0, input_tokens // 2),
            "gen_ai.input.messages": orjson.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": question}]}]
            ).decode(),
            "gen_ai.output.messages": orjson.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": answer}],
                        "finish_reason": "end_turn",
                    }
                ]
            ).decode(),
        }
        # The columns as ingest computes them (app.ingest.decode).
        scope_name = SCOPE_LLM[0]
        columns = summary_columns(attributes, scope_name)
        columns.update(
            call_links.columns(
                columns["llm_convention"], attributes, columns["llm_is_call"], scope_name
            )
        )
        if columns["llm_finish_reasons"] is not None:
            columns["llm_finish_reasons"] = orjson.dumps(columns["llm_finish_reasons"]).decode()
        name = f"chat {request_model}"
        text = f"{name}\n{question}\n{answer}"
        return orjson.dumps(attributes).decode(), name, tuple(columns[c] for c in LLM_COLUMNS), text

    def trace(self, index: int) -> tuple[list[tuple], tuple, list[tuple[bytes, bytes, str]]]:
        """The span rows, the summary row and the search rows of trace `index`."""
        rng = self.rng
        trace_id = rng.randbytes(16)
        start_ns = self.begin_ns + index * self.step_ns + rng.randrange(self.step_ns or 1)
        roll = rng.random()
        service, _, root_name = next(
            (root for root, w in zip(ROOTS, self.root_weights, strict=True) if roll <= w),
            ROOTS[-1],
        )
        children = rng.randint(4, 14)
        plant = None
        roll = rng.random()
        if roll < RARE_SHARE:
            plant = RARE_WORD
        elif roll < RARE_SHARE + COMMON_SHARE:
            plant = COMMON_WORD
        rows: list[tuple] = []
        searches: list[tuple[bytes, bytes, str]] = []
        root_attributes = orjson.dumps(
            {"http.request.method": "POST", "http.route": root_name, "user.id": f"u{index % 997}"}
        ).decode()
        # The root's end is known once its children are: it is filled in last.
        root = self._span(
            trace_id,
            None,
            root_name,
            SERVER,
            start_ns,
            0,
            service,
            SCOPE_HTTP,
            root_attributes,
            rng.random() < 0.01,
        )
        root_id = root[1]
        at = start_ns + MS
        models: set[str] = set()
        totals = [0, 0, 0, 0]  # input, output, cache read, cache creation
        llm_calls = 0
        for child in range(children):
            roll = rng.random()
            error = rng.random() < 0.02
            # A trace that plants a word has an LLM call first, to hold it.
            if roll < 0.35 or (plant and child == 0):
                attributes, name, llm, text = self._llm(plant if child == 0 else None)
                duration = rng.randint(300 * MS, 8 * SECOND)
                row = self._span(
                    trace_id,
                    root_id,
                    name,
                    CLIENT,
                    at,
                    duration,
                    service,
                    SCOPE_LLM,
                    attributes,
                    error,
                    llm,
                )
                llm_calls += 1
                models.add(llm[4] or llm[3])
                for i, column in enumerate((5, 6, 7, 8)):
                    totals[i] += llm[column] or 0
            elif roll < 0.70:
                tool = rng.choice(TOOL_NAMES)
                name = f"tool {tool}"
                duration = rng.randint(5 * MS, 500 * MS)
                row = self._span(
                    trace_id,
                    root_id,
                    name,
                    INTERNAL,
                    at,
                    duration,
                    TOOLS_SERVICE,
                    SCOPE_TOOLS,
                    self.tool_attributes[tool],
                    error,
                )
                text = f"{name}\n{tool}"
            elif roll < 0.80:
                name = "vector.search"
                duration = rng.randint(20 * MS, 200 * MS)
                attributes = orjson.dumps({"db.system": "qdrant", "k": 8}).decode()
                row = self._span(
                    trace_id,
                    root_id,
                    name,
                    CLIENT,
                    at,
                    duration,
                    RETRIEVER,
                    SCOPE_DB,
                    attributes,
                    error,
                )
                text = name
            else:
                name = rng.choice(OTHER_NAMES)
                duration = rng.randint(1 * MS, 50 * MS)
                attributes = orjson.dumps({"peer.service": "postgres"}).decode()
                row = self._span(
                    trace_id,
                    root_id,
                    name,
                    CLIENT,
                    at,
                    duration,
                    service,
                    SCOPE_DB,
                    attributes,
                    error,
                )
                text = name
            rows.append(row)
            searches.append((trace_id, row[1], text))
            at += duration + rng.randint(0, 20 * MS)
        end_ns = at + MS
        root = (*root[:8], end_ns, end_ns - start_ns, *root[10:])
        rows.insert(0, root)
        searches.insert(0, (trace_id, root_id, root_name))
        self.counts["llm"] += llm_calls
        if plant == COMMON_WORD:
            self.counts["common"] += 1
        elif plant == RARE_WORD:
            self.counts["rare"] += 1
        summary = (
            trace_id,
            root_id,
            root_name,
            service,
            start_ns,
            end_ns,
            len(rows),
            sum(1 for r in rows if r[10] == ERROR),
            llm_calls,
            *totals,
            orjson.dumps(sorted(models)).decode(),
        )
        return rows, summary, searches


def _check_columns() -> None:
    """The rows above must fill every column of `spans`, in the order the inserts name them."""
    schema = [column.name for column in spans_table.columns]
    if sorted(schema) != sorted(SPAN_COLUMNS + LLM_COLUMNS):
        raise SystemExit(f"spans columns changed: the schema has {schema}; update this bench")


def generate(path: Path, spans: int, seed: int, now_ns: int) -> Generated:
    """A database at `path` with about `spans` spans, at the current schema."""
    started = time.perf_counter()
    url = f"sqlite:///{path}"
    open_database(url).dispose()  # the migrations
    traces = max(1, round(spans / 10))
    generator = Generator(seed, traces, now_ns)
    middle = traces // 2
    middle_trace: tuple[bytes, int] | None = None

    db = sqlite3.connect(path, isolation_level=None)
    # A bench fixture: no journal, no syncs, one transaction, a big cache for the indexes.
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-2000000")
    db.execute("PRAGMA temp_store=MEMORY")
    db.execute("BEGIN")
    db.executemany(
        _insert(
            "resources", ("resource_hash", "attributes", "dropped_attributes_count", "schema_url")
        ),
        list(generator.resources.values()),
    )
    db.executemany(
        _insert(
            "scopes",
            (
                "scope_hash",
                "name",
                "version",
                "attributes",
                "dropped_attributes_count",
                "schema_url",
            ),
        ),
        list(generator.scopes.values()),
    )
    span_sql = _insert("spans", SPAN_COLUMNS + LLM_COLUMNS)
    trace_sql = _insert("traces", TRACE_COLUMNS)
    search_sql = _insert("span_search", ("trace_id", "span_id", "body"))
    span_rows: list[tuple] = []
    trace_rows: list[tuple] = []
    search_rows: list[tuple] = []
    stored = 0

    def flush() -> None:
        db.executemany(span_sql, span_rows)
        db.executemany(trace_sql, trace_rows)
        indexed = db.execute("SELECT coalesce(max(id), 0) FROM span_search").fetchone()[0]
        db.executemany(search_sql, search_rows)
        # The writer keeps the index itself (app.search_rows): its words for these rows.
        db.execute(
            "INSERT INTO span_search_fts(rowid, body) SELECT id, body FROM span_search"
            " WHERE id > ?",
            (indexed,),
        )
        span_rows.clear()
        trace_rows.clear()
        search_rows.clear()

    for index in range(traces):
        rows, summary, searches = generator.trace(index)
        if middle_trace is None and index >= middle and summary[8] > 0:
            middle_trace = (summary[0], summary[4])
        span_rows.extend(rows)
        trace_rows.append(summary)
        search_rows.extend(searches)
        stored += len(rows)
        if len(span_rows) >= CHUNK_SPANS:
            flush()
            if sys.stdout.isatty():
                print(f"\r  {stored:,} spans", end="", flush=True)
    flush()
    db.execute("COMMIT")
    if sys.stdout.isatty():
        print("\r", end="")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    assert middle_trace is not None, "no trace with an LLM call past the middle"
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return Generated(
        spans=stored,
        traces=traces,
        llm_spans=generator.counts["llm"],
        common_traces=generator.counts["common"],
        rare_traces=generator.counts["rare"],
        middle_trace=middle_trace[0].hex(),
        middle_ns=middle_trace[1],
        seconds=time.perf_counter() - started,
        bytes=size,
    )


# --- timing --------------------------------------------------------------------------------------


def _cursor(client: httpx.Client, path: str, before_ns: int) -> str:
    """The next_cursor of a one-row page that ends just before `before_ns`: with it, a page
    from the middle of the history (a cursor is a position, not bound to the filters)."""
    reply = client.get(path, params={"until": str(before_ns), "limit": "1"})
    reply.raise_for_status()
    cursor = reply.json()["next_cursor"]
    assert cursor, f"no page after the middle of {path}"
    return cursor


def urls(client: httpx.Client, generated: Generated) -> dict[str, str]:
    """Each query's label and the URL that asks it of this database."""
    trace_cursor = _cursor(client, "/api/v1/traces", generated.middle_ns)
    span_cursor = _cursor(client, "/api/v1/spans", generated.middle_ns)
    trace = generated.middle_trace
    return {
        "GET / (trace list page)": "/",
        "traces?limit=50": "/api/v1/traces?limit=50",
        "traces?limit=50&cursor=(middle)": f"/api/v1/traces?limit=50&cursor={trace_cursor}",
        "spans?limit=50": "/api/v1/spans?limit=50",
        "spans?limit=50&cursor=(middle)": f"/api/v1/spans?limit=50&cursor={span_cursor}",
        f"spans?service={FILTER_SERVICE}&limit=50": (
            f"/api/v1/spans?service={FILTER_SERVICE}&limit=50"
        ),
        "traces/{id} (middle)": f"/api/v1/traces/{trace}",
        "GET /traces/{id} (trace page)": f"/traces/{trace}",
        f"traces?q={COMMON_WORD} (~{COMMON_SHARE:.0%} of traces)": (
            f"/api/v1/traces?q={COMMON_WORD}&limit=50"
        ),
        f"traces?q={RARE_WORD} (~{RARE_SHARE:.1%} of traces)": (
            f"/api/v1/traces?q={RARE_WORD}&limit=50"
        ),
    }


def check_search(client: httpx.Client, generated: Generated) -> None:
    """Each planted word finds traces: a search that finds nothing is fast for nothing."""
    for word, planted in (
        (COMMON_WORD, generated.common_traces),
        (RARE_WORD, generated.rare_traces),
    ):
        reply = client.get("/api/v1/traces", params={"q": word, "limit": "50"})
        reply.raise_for_status()
        found = len(reply.json()["traces"])
        if found != min(50, planted):
            raise SystemExit(f"q={word} found {found} traces of {planted} planted")


def _fetch(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    reply = client.get(url)
    elapsed = time.perf_counter() - started
    if reply.status_code != 200:
        raise SystemExit(f"GET {url}: {reply.status_code} {reply.text[:300]}")
    return elapsed * 1000


def time_queries(
    clients: list[httpx.Client], generated: list[Generated], runs: int
) -> dict[str, list[list[float]]]:
    """Milliseconds per fetch, by label, for each database; the two are interleaved."""
    for client, found in zip(clients, generated, strict=True):
        check_search(client, found)
    plans = [urls(client, found) for client, found in zip(clients, generated, strict=True)]
    times: dict[str, list[list[float]]] = {label: [[] for _ in clients] for label in plans[0]}
    for label in plans[0]:
        for client, plan in zip(clients, plans, strict=True):
            for _ in range(WARMUP):
                _fetch(client, plan[label])
    for _ in range(runs):
        for label in plans[0]:
            for which, (client, plan) in enumerate(zip(clients, plans, strict=True)):
                times[label][which].append(_fetch(client, plan[label]))
    return times


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _size(spans: int) -> str:
    if spans >= 1_000_000 and spans % 1_000_000 == 0:
        return f"{spans // 1_000_000}M"
    if spans >= 1000 and spans % 1000 == 0:
        return f"{spans // 1000}k"
    return f"{spans:,}"


def report(times: dict[str, list[list[float]]], sizes: tuple[int, int]) -> list[str]:
    small, large = (_size(n) for n in sizes)
    width = max(map(len, times)) + 2
    print(
        f"\n{'query':<{width}}{'p50 ' + small:>10}{'p50 ' + large:>10}{'ratio':>8}"
        f"{'p95 ' + small:>10}{'p95 ' + large:>10}"
    )
    over = []
    for label, (few, many) in times.items():
        p50_small, p50_large = statistics.median(few), statistics.median(many)
        ratio = p50_large / p50_small
        flag = f"  OVER {TARGET}×" if ratio > TARGET else ""
        if flag:
            over.append(label)
        print(
            f"{label:<{width}}{p50_small:>7.1f} ms{p50_large:>7.1f} ms{ratio:>7.2f}×"
            f"{_p95(few):>7.1f} ms{_p95(many):>7.1f} ms{flag}"
        )
    print(f"target: p50 at {large} ≤ {TARGET}× p50 at {small}; ", end="")
    print(f"over: {', '.join(over)}" if over else "all within")
    return over


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=10_000, help="spans in the small database")
    parser.add_argument("--large", type=int, default=1_000_000, help="spans in the large one")
    parser.add_argument("--runs", type=int, default=30, help="timed fetches of each URL")
    parser.add_argument("--tiny", action="store_true", help="2,000 and 20,000 spans, 10 runs")
    parser.add_argument("--keep", type=Path, help="build the databases here and keep them")
    args = parser.parse_args()
    if args.tiny:
        args.small, args.large, args.runs = 2_000, 20_000, 10
    _check_columns()

    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}")
    now_ns = time.time_ns()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        generated = []
        for spans in (args.small, args.large):
            path = base / f"spans-{spans}.db"
            if path.exists():
                raise SystemExit(f"{path} exists: give --keep an empty directory")
            found = generate(path, spans, SEED, now_ns)
            generated.append(found)
            print(
                f"generated {found.spans:,} spans in {found.traces:,} traces"
                f" ({found.llm_spans:,} LLM calls; {COMMON_WORD!r} in {found.common_traces:,}"
                f" traces, {RARE_WORD!r} in {found.rare_traces:,}) in {found.seconds:.1f}s:"
                f" {found.bytes / 1e6:,.1f} MB, {found.bytes / found.spans:,.0f} bytes per span"
            )
        collectors = [
            Collector(base / f"data-{found.spans}", database_url=f"sqlite:///{base}/spans-{n}.db")
            for found, n in zip(generated, (args.small, args.large), strict=True)
        ]
        try:
            for collector in collectors:
                collector.start()
            clients = [httpx.Client(base_url=c.url, timeout=60) for c in collectors]
            times = time_queries(clients, generated, args.runs)
            for client in clients:
                client.close()
        finally:
            for collector in collectors:
                collector.stop()
        print(f"\n{args.runs} fetches of each URL from each database, after {WARMUP} warm-ups")
        report(times, (args.small, args.large))
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
