"""The waterfall layout: tree order, depth, and bars on the trace's time scale."""

from __future__ import annotations

import random
from typing import Any

import pytest

from app.waterfall import MIN_BAR_PCT, Row, format_ms, layout

BASE_NS = 1_796_400_000_000_000_000
MS = 1_000_000


def _span(
    ident: str,
    parent: str | None = None,
    start_ms: float = 0.0,
    duration_ms: float = 1.0,
    *,
    status: str = "unset",
    llm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The fields of a `queries.span_view` that the layout reads."""
    return {
        "span_id": ident,
        "parent_span_id": parent,
        "name": f"span {ident}",
        "start_time_unix_nano": BASE_NS + round(start_ms * MS),
        "duration_ms": duration_ms,
        "status_code": status,
        "llm": llm,
    }


def _shape(rows: list[Row]) -> list[tuple[str, int, int]]:
    return [(row.span_id, row.depth, row.child_count) for row in rows]


def _assert_bars_fit(rows: list[Row]) -> None:
    for row in rows:
        assert 0 <= row.offset_pct <= 100 - MIN_BAR_PCT, row
        assert row.width_pct >= MIN_BAR_PCT - 1e-9, row
        assert row.offset_pct + row.width_pct <= 100 + 1e-9, row


def test_no_spans_no_rows() -> None:
    assert layout([]) == ([], [])


def test_rows_come_in_tree_order_with_depth() -> None:
    # Start-time order, as queries.get_trace returns them: a later sibling's child must still
    # come right under its parent.
    spans = [
        _span("root", None, 0, 100),
        _span("a", "root", 1, 40),
        _span("b", "root", 2, 50),
        _span("a1", "a", 3, 10),
        _span("b1", "b", 4, 10),
        _span("a2", "a", 5, 10),
        _span("a1x", "a1", 6, 1),
    ]
    rows, _ = layout(spans)
    assert _shape(rows) == [
        ("root", 0, 2),
        ("a", 1, 2),
        ("a1", 2, 1),
        ("a1x", 3, 0),
        ("a2", 2, 0),
        ("b", 1, 1),
        ("b1", 2, 0),
    ]


def test_children_keep_the_order_they_were_given_in() -> None:
    spans = [_span("root"), *(_span(f"c{n}", "root", n) for n in range(5))]
    rows, _ = layout(spans)
    assert [row.span_id for row in rows] == ["root", "c0", "c1", "c2", "c3", "c4"]


def test_spans_whose_parent_was_not_stored_are_roots() -> None:
    spans = [
        _span("root", None, 0, 10),
        _span("orphan", "missing", 1, 5),
        _span("orphan-child", "orphan", 2, 1),
        _span("child", "root", 3, 1),
    ]
    rows, _ = layout(spans)
    assert _shape(rows) == [
        ("root", 0, 1),
        ("child", 1, 0),
        ("orphan", 0, 1),
        ("orphan-child", 1, 0),
    ]


def test_a_trace_of_only_orphans_lists_them_all() -> None:
    rows, _ = layout([_span("a", "x"), _span("b", "y", 1)])
    assert _shape(rows) == [("a", 0, 0), ("b", 0, 0)]


@pytest.mark.parametrize(
    "spans",
    [
        [_span("a", "b"), _span("b", "a", 1)],
        [_span("self", "self")],
        [_span("a", "c"), _span("b", "a", 1), _span("c", "b", 2)],
    ],
    ids=["pair", "self", "triangle"],
)
def test_a_parent_cycle_cannot_loop(spans: list[dict[str, Any]]) -> None:
    rows, _ = layout(spans)
    assert sorted(row.span_id for row in rows) == sorted(span["span_id"] for span in spans)
    assert {row.depth for row in rows} == {0}


def test_a_cycle_beside_a_real_tree_keeps_the_tree() -> None:
    spans = [
        _span("root", None, 0, 10),
        _span("child", "root", 1),
        _span("a", "b", 2),
        _span("b", "a", 3),
        _span("hanger", "a", 4),
    ]
    rows, _ = layout(spans)
    assert _shape(rows)[:2] == [("root", 0, 1), ("child", 1, 0)]
    assert sorted(row.span_id for row in rows[2:]) == ["a", "b", "hanger"]
    assert len(rows) == len(spans)


def test_every_span_appears_exactly_once_whatever_the_parents() -> None:
    generator = random.Random(20261204)
    for _ in range(200):
        count = generator.randint(1, 30)
        ids = [f"s{n}" for n in range(count)]
        spans = [
            _span(
                ident,
                generator.choice([None, "ghost", *ids]),
                generator.uniform(0, 1000),
                generator.choice([0, 0.001, generator.uniform(0, 500)]),
            )
            for ident in ids
        ]
        spans.sort(key=lambda s: s["start_time_unix_nano"])
        rows, ticks = layout(spans)
        assert sorted(row.span_id for row in rows) == sorted(ids)
        _assert_bars_fit(rows)
        assert len(ticks) == 3
        # A row's depth is one more than its parent's, when its parent is right above it in tree.
        position = {row.span_id: index for index, row in enumerate(rows)}
        for row in rows:
            parent = row.span["parent_span_id"]
            if row.depth > 0:
                assert position[parent] < position[row.span_id]
                assert rows[position[parent]].depth == row.depth - 1


def test_a_very_deep_chain_does_not_recurse() -> None:
    spans = [_span("s0")] + [_span(f"s{n}", f"s{n - 1}", n * 0.001) for n in range(1, 20_000)]
    rows, _ = layout(spans)
    assert [row.depth for row in rows] == list(range(20_000))


def test_bars_are_placed_on_the_trace_time_scale() -> None:
    spans = [
        _span("root", None, 0, 200),
        _span("first", "root", 0, 50),
        _span("second", "root", 100, 100),
        _span("late", "root", 150, 25),
    ]
    rows, ticks = layout(spans)
    bars = {row.span_id: (row.offset_pct, row.width_pct) for row in rows}
    assert bars == {
        "root": (0.0, 100.0),
        "first": (0.0, 25.0),
        "second": (50.0, 50.0),
        "late": (75.0, 12.5),
    }
    assert [(tick.pct, tick.label) for tick in ticks] == [
        (0, "0 µs"),
        (50, "100 ms"),
        (100, "200 ms"),
    ]


def test_the_scale_runs_to_the_span_that_ends_last() -> None:
    # A child that outlives its root (an async task) stretches the axis.
    rows, ticks = layout([_span("root", None, 0, 100), _span("child", "root", 50, 150)])
    bars = {row.span_id: (row.offset_pct, row.width_pct) for row in rows}
    assert bars == {"root": (0.0, 50.0), "child": (25.0, 75.0)}
    assert ticks[-1].label == "200 ms"


def test_a_tiny_span_still_has_a_visible_bar() -> None:
    rows, _ = layout([_span("root", None, 0, 10_000), _span("blip", "root", 5_000, 0.001)])
    blip = rows[1]
    assert blip.width_pct == MIN_BAR_PCT
    assert blip.offset_pct == 50.0


def test_a_tiny_span_at_the_very_end_stays_inside_the_track() -> None:
    rows, _ = layout([_span("root", None, 0, 1_000), _span("end", "root", 1_000, 0)])
    end = rows[1]
    assert end.width_pct == MIN_BAR_PCT
    assert end.offset_pct == 100 - MIN_BAR_PCT
    _assert_bars_fit(rows)


def test_a_trace_of_zero_duration_spans() -> None:
    rows, ticks = layout([_span("a", None, 0, 0), _span("b", "a", 0, 0)])
    assert [(row.offset_pct, row.width_pct) for row in rows] == [(0.0, MIN_BAR_PCT)] * 2
    assert [tick.label for tick in ticks] == ["0 µs", "0 µs", "0 µs"]


def test_sub_microsecond_offsets_are_kept_apart() -> None:
    spans = [_span("a", None, 0, 0.0001), _span("b", "a", 0.00005, 0.00005)]
    rows, _ = layout(spans)
    _assert_bars_fit(rows)
    assert rows[1].offset_pct > rows[0].offset_pct


def test_row_properties() -> None:
    call = {"is_call": True, "request_model": "claude"}
    stream = {"is_call": False}
    legacy = {"request_model": "claude"}  # a summary without the flag counts as a call
    rows, _ = layout(
        [
            _span("plain"),
            _span("call", "plain", llm=call),
            _span("stream", "call", llm=stream),
            _span("legacy", "plain", llm=legacy),
            _span("empty", "plain", llm={}),
            _span("failed", "plain", status="error"),
            _span("fine", "plain", status="ok"),
        ]
    )
    by_id = {row.span_id: row for row in rows}
    assert by_id["plain"].llm is None
    assert not by_id["plain"].is_call
    assert by_id["call"].is_call
    assert by_id["call"].llm == call
    assert not by_id["stream"].is_call
    assert by_id["stream"].llm == stream
    assert by_id["legacy"].is_call
    assert not by_id["empty"].is_call
    assert [row.span_id for row in rows if row.is_error] == ["failed"]


# --- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0 µs"),
        (0.0004, "0 µs"),
        (0.25, "250 µs"),
        (1, "1.0 ms"),
        (2.345, "2.3 ms"),
        (12.4, "12 ms"),
        (812.4, "812 ms"),
        (1000, "1.00 s"),
        (2310.5, "2.31 s"),
        (59_000, "59.00 s"),
        (60_000, "1 min 0 s"),
        (125_000, "2 min 5 s"),
        (3_600_000, "60 min 0 s"),
    ],
)
def test_format_ms(ms: float, text: str) -> None:
    assert format_ms(ms) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0.9996, "1.0 ms"),
        (999.7, "1.00 s"),
        (59_999.9, "1 min 0 s"),
        (119_700, "2 min 0 s"),
    ],
)
def test_format_ms_rounds_before_choosing_the_unit(ms: float, text: str) -> None:
    """A value that rounds up to the next unit is written in that unit: never "1 min 60 s"."""
    assert format_ms(ms) == text


def test_a_call_whose_stream_failed_is_marked_failed() -> None:
    stream = _span("stream", "call", 1, 5, status="error", llm={"role": "part"})
    stream["status_message"] = "Overloaded"
    spans = [
        _span("call", None, 0, 1, llm={"role": "call"}),
        stream,
        _span("other", None, 0, 1, llm={"role": "call"}),
        _span("tool", "other", 0, 1, status="error"),  # a failed child that is no part of it
    ]
    rows = {row.span_id: row for row in layout(spans)[0]}
    assert rows["call"].is_error and rows["call"].error_message == "Overloaded"
    assert rows["stream"].is_error and rows["stream"].error_message == "Overloaded"
    assert not rows["other"].is_error and rows["other"].error_message is None
