"""The streaming timeline chart: output characters over time for one streamed LLM call.

`chart(streaming)` turns the `streaming` part of a conversation (see
`app.conventions.spyglass`) into a `Chart`, a view model whose numbers are already scaled to
SVG pixels and rounded, and whose labels are text this module wrote itself: the template
(`templates/_timeline.html`) only places them. The data comes from spans, so nothing in it is
trusted: malformed points are skipped, and the work done is bounded whatever the input.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from statistics import median_low
from typing import Any

__all__ = [
    "Band",
    "Box",
    "Chart",
    "Figure",
    "Marker",
    "Summary",
    "Tick",
    "Ttft",
    "chart",
    "format_ms",
    "nice_ticks",
]

# Beyond these a point is not a measurement of a stream but noise (or an attack on the page).
MAX_MS = 24 * 3600 * 1000.0
MAX_CHARS = 10**9
# The instrumentation keeps at most ~257 points; other senders may not, so the work is capped
# twice: entries read from the span, and markers drawn on the page.
MAX_INPUT_POINTS = 10_000
MAX_DRAWN_POINTS = 300

# A stall is a gap between two consecutive chunks longer than
#     max(STALL_FACTOR × median gap, median gap + STALL_MIN_EXCESS_MS).
# The factor makes the rule scale with the stream's own pace; the absolute excess keeps it
# from flagging jitter on fast streams, where a 40 ms hiccup is 4 × a 10 ms median but nobody
# would call it a stall. The median is the lower median, so two gaps of 10 ms and 5 s flag the
# 5 s one. The wait before the first chunk is time to first token, never a stall.
STALL_FACTOR = 4.0
STALL_MIN_EXCESS_MS = 250.0

# Layout, in SVG user units (the SVG scales to its container).
_MARGIN_TOP = 30.0
_MARGIN_RIGHT = 24.0
_MARGIN_BOTTOM = 30.0
_CHAR_WIDTH = 6.4  # rough width of one character of an 11px label, to keep labels apart

Scale = Callable[[float], float]  # milliseconds or characters → SVG units


@dataclass(frozen=True, slots=True)
class Box:
    """The plot area inside the SVG, and where the text around it goes."""

    left: float
    top: float
    right: float
    bottom: float
    width: float
    height: float
    middle: float  # y halfway down
    y_label_x: float  # right edge of the characters axis labels
    x_label_y: float  # baseline of the time axis labels
    tick_y: float  # lower end of the time axis tick marks
    caption_y: float  # baseline of the "chars" axis caption, above the labels
    header_y: float  # baseline of the labels in the top margin (first token, ended early)
    marker_top: float  # where vertical markers start, reaching up to the header labels
    band_label_y: float  # baseline of the stall labels, inside the top of the plot


@dataclass(frozen=True, slots=True)
class Tick:
    position: float  # x for the time axis, y for the characters axis
    label: str


@dataclass(frozen=True, slots=True)
class Marker:
    """One chunk (or one sampled point, when the timeline was bucketed)."""

    x: float
    y: float
    title: str


@dataclass(frozen=True, slots=True)
class Band:
    """A stall: a highlighted band over the gap between two chunks."""

    x: float
    x_end: float
    width: float
    title: str  # the hover tooltip
    label: str  # drawn at the top of the band; "" when there is no room for it
    label_x: float
    start_ms: float
    end_ms: float


@dataclass(frozen=True, slots=True)
class Ttft:
    """The first token: a vertical line, its label, and the waiting phase before it."""

    x: float
    label: str
    label_x: float
    label_anchor: str  # "start" or "end", so the label stays inside the SVG
    wait_width: float  # the shaded waiting phase runs from the plot's left edge to x
    wait_label: str  # "waiting", or "" when the phase is too narrow to say so
    wait_label_x: float


@dataclass(frozen=True, slots=True)
class Figure:
    key: str  # stable, for class names: ttft, duration, chunks, rate, chars, stalls, status
    label: str
    value: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Summary:
    """The figures as numbers, for tests and for anything that is not a page."""

    ttft_ms: float | None
    duration_ms: float | None
    chunk_count: int | None
    output_tokens_per_second: float | None
    final_chars: int
    stall_count: int
    longest_stall_ms: float | None
    complete: bool
    sampled: bool


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    plot: Box
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    shape: str  # "step" when every chunk is a point, "line" when the timeline was sampled
    line: str  # SVG path data: cumulative characters against time
    area: str  # the same, closed along the time axis
    tail: str  # from the last chunk to the end of the stream; "" when there is none
    markers: tuple[Marker, ...]
    marker_radius: float
    ttft: Ttft
    stalls: tuple[Band, ...]
    end_x: float  # the end of the stream, where the time axis ends
    end_label: str  # "ended early" beside a stream that did not complete, else ""
    complete: bool
    title: str
    description: str
    figures: tuple[Figure, ...]
    summary: Summary


def chart(streaming: Any, width: int = 720, height: int = 240) -> Chart | None:
    """The chart of a stream's timeline, or None when it has no usable point."""
    if not isinstance(streaming, dict):
        return None
    points = _clean(streaming.get("timeline"))
    if not points:
        return None
    width = int(_clamp(_number(width) or 720, 240, 4000))
    height = int(_clamp(_number(height) or 240, 120, 2000))

    duration = _ms(streaming.get("duration_ms"))
    ttft_ms = _ms(streaming.get("time_to_first_token_ms"))
    if ttft_ms is None:
        ttft_ms = points[0][0]
    chunk_count = _count(streaming.get("chunk_count"))
    rate = _number(streaming.get("output_tokens_per_second"))
    rate = rate if rate is not None and rate >= 0 else None
    complete = streaming.get("complete") is True

    last_ms, final_chars = points[-1]
    x_max = max(duration or 0.0, last_ms, ttft_ms)
    if x_max <= 0:
        x_max = 1.0  # everything at time 0: give the axis some length to draw on
    y_max = max(final_chars, 1)

    x_ticks_ms = nice_ticks(x_max, target=7)
    y_ticks_chars = nice_ticks(y_max, target=4, integers=True)
    y_labels = [f"{round(value):,}" for value in y_ticks_chars]
    # Room for the widest label, and never less than the "chars" caption above them.
    left = _r(14.0 + _CHAR_WIDTH * max(5, *(len(label) for label in y_labels)))
    plot = _box(left, width, height)

    def x_of(ms: float) -> float:
        return _r(plot.left + ms / x_max * plot.width)

    def y_of(chars: float) -> float:
        return _r(plot.bottom - chars / y_max * plot.height)

    # Sampled: the instrumentation kept fewer points than there were chunks, so we do not know
    # when the chunks between two points arrived, and a straight line is the honest shape.
    sampled = chunk_count is not None and chunk_count > len(points)
    stalls = _stalls(points)
    drawn = _drawn(points, {index for gap in stalls for index in gap})
    sampled = sampled or len(drawn) < len(points)
    shape = "line" if sampled else "step"

    first_x, first_y = x_of(points[0][0]), y_of(points[0][1])
    commands = [f"M{_n(plot.left)} {_n(plot.bottom)}", f"H{_n(first_x)}", f"V{_n(first_y)}"]
    for index in drawn[1:]:
        ms, chars = points[index]
        x, y = x_of(ms), y_of(chars)
        commands.append(f"L{_n(x)} {_n(y)}" if sampled else f"H{_n(x)}V{_n(y)}")
    line = "".join(commands)
    last_x = x_of(last_ms)
    area = f"{line}V{_n(plot.bottom)}Z"
    end_x = x_of(x_max)
    tail = f"M{_n(last_x)} {_n(y_of(final_chars))}H{_n(end_x)}" if end_x - last_x >= 0.5 else ""

    markers = tuple(
        _marker(points, index, previous, x_of, y_of, sampled)
        for previous, index in zip([None, *drawn], drawn, strict=False)
    )
    spacing = (last_x - first_x) / max(len(drawn) - 1, 1) if len(drawn) > 1 else 8.0
    marker_radius = _r(_clamp(spacing / 3, 1.4, 2.6))

    ttft = _ttft(ttft_ms, x_of, plot, width)
    bands = _bands(points, stalls, x_of, sampled)
    end_label = ""
    if not complete:
        # Right-aligned at the end, in the top margin, unless the first token label is there.
        text = "ended early"
        starts = end_x - len(text) * _CHAR_WIDTH
        ttft_span = _label_span(ttft.label, ttft.label_x, ttft.label_anchor)
        if starts > ttft_span[1] + 8 or end_x < ttft_span[0] - 8:
            end_label = text
    gaps = [points[after][0] - points[before][0] for before, after in stalls]
    longest = max(gaps) if gaps else None

    summary = Summary(
        ttft_ms=ttft_ms,
        duration_ms=duration,
        chunk_count=chunk_count,
        output_tokens_per_second=rate,
        final_chars=final_chars,
        stall_count=len(stalls),
        longest_stall_ms=longest,
        complete=complete,
        sampled=sampled,
    )
    return Chart(
        width=width,
        height=height,
        plot=plot,
        x_ticks=tuple(Tick(x_of(ms), _tick_label(ms, x_max)) for ms in x_ticks_ms),
        y_ticks=tuple(
            Tick(y_of(value), label) for value, label in zip(y_ticks_chars, y_labels, strict=True)
        ),
        shape=shape,
        line=line,
        area=area,
        tail=tail,
        markers=markers,
        marker_radius=marker_radius,
        ttft=ttft,
        stalls=bands,
        end_x=end_x,
        end_label=end_label,
        complete=complete,
        title="Streaming timeline" if complete else "Streaming timeline (stream ended early)",
        description=_description(summary, len(points)),
        figures=_figures(summary, len(points)),
        summary=summary,
    )


def _box(left: float, width: int, height: int) -> Box:
    top, right, bottom = _MARGIN_TOP, width - _MARGIN_RIGHT, height - _MARGIN_BOTTOM
    return Box(
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        width=_r(right - left),
        height=_r(bottom - top),
        middle=_r((top + bottom) / 2),
        y_label_x=_r(left - 8),
        x_label_y=bottom + 19,
        tick_y=bottom + 5,
        caption_y=top - 18,
        header_y=top - 10,
        marker_top=top - 8,
        band_label_y=top + 15,
    )


def nice_ticks(maximum: float, target: int = 5, integers: bool = False) -> list[float]:
    """Round tick values from 0 up to `maximum`: steps of 1, 2, 2.5 or 5 times a power of ten.

    Counts (`integers`) never step by 2.5 or by less than 1.
    """
    if not math.isfinite(maximum) or maximum <= 0:
        return [0.0]
    rough = maximum / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(rough))
    multiples = (1, 2, 5, 10) if integers else (1, 2, 2.5, 5, 10)
    # The round step nearest the rough one (on a log scale), so the count stays near target.
    step = min((m * magnitude for m in multiples), key=lambda s: abs(math.log(s / rough)))
    if integers:
        step = max(step, 1)
    count = math.floor(maximum / step + 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def format_ms(ms: float) -> str:
    """A duration for people: "8.5 ms", "412 ms", "1.2 s", "2.31 s", "14.6 s", "2 min 5 s"."""
    if ms < 10:
        return f"{_trim(f'{ms:.1f}')} ms"
    if ms < 999.5:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 9.995:
        return f"{_trim(f'{seconds:.2f}')} s"
    if seconds < 99.95:
        return f"{_trim(f'{seconds:.1f}')} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes == 0:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def _tick_label(ms: float, axis_max: float) -> str:
    # One unit per axis, picked by its length, so labels read 0, 0.5 s, 1 s, 1.5 s.
    if ms == 0:
        return "0"
    if axis_max >= 1000:
        return f"{_trim(f'{ms / 1000:.3f}')} s"
    return f"{_trim(f'{ms:.3f}')} ms"


def _clean(raw: Any) -> list[tuple[float, int]]:
    """The usable (ms, chars) points in time order, without the request start (0, 0).

    Entries that are not a pair of finite, non-negative, plausible numbers are skipped. The
    order of entries does not matter; where characters go down as time goes up, the fewest
    points that make the series non-decreasing are dropped.
    """
    if not isinstance(raw, list | tuple):
        return []
    if len(raw) > MAX_INPUT_POINTS:
        # An even sample that keeps both ends; the second entry too, as the first is often
        # the request start rather than the first chunk.
        last = len(raw) - 1
        step = (last - 1) / (MAX_INPUT_POINTS - 2)
        raw = [raw[0], *(raw[round(1 + i * step)] for i in range(MAX_INPUT_POINTS - 1))]
    found: list[tuple[float, int]] = []
    for entry in raw:
        if not isinstance(entry, list | tuple) or len(entry) < 2:
            continue
        ms, chars = _number(entry[0]), _number(entry[1])
        if ms is None or chars is None or not (0 <= ms <= MAX_MS and 0 <= chars <= MAX_CHARS):
            continue
        if ms == 0 and chars == 0:
            continue  # the request start, the chart's origin: not a chunk
        found.append((ms, round(chars)))
    found.sort(key=lambda point: point[0])  # stable: ties keep their order
    return _longest_non_decreasing(found)


def _longest_non_decreasing(points: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """The longest run of points (in time order) whose characters never go down."""
    tails: list[int] = []  # tails[k]: the smallest final chars of a chain of length k + 1
    tail_index: list[int] = []
    previous: list[int] = [-1] * len(points)
    for index, (_, chars) in enumerate(points):
        k = bisect_right(tails, chars)
        previous[index] = tail_index[k - 1] if k else -1
        if k == len(tails):
            tails.append(chars)
            tail_index.append(index)
        else:
            tails[k] = chars
            tail_index[k] = index
    chain: list[tuple[float, int]] = []
    index = tail_index[-1] if tail_index else -1
    while index >= 0:
        chain.append(points[index])
        index = previous[index]
    chain.reverse()
    return chain


def _stalls(points: list[tuple[float, int]]) -> list[tuple[int, int]]:
    """(index before, index after) of each gap between chunks that is a stall (rule above)."""
    gaps = [points[i + 1][0] - points[i][0] for i in range(len(points) - 1)]
    if len(gaps) < 2:
        return []
    typical = median_low(gaps)
    threshold = max(STALL_FACTOR * typical, typical + STALL_MIN_EXCESS_MS)
    return [(i, i + 1) for i, gap in enumerate(gaps) if gap > threshold]


def _drawn(points: list[tuple[float, int]], keep: set[int]) -> list[int]:
    """Indices of the points to draw: all of them, or an even sample plus the stall edges."""
    if len(points) <= MAX_DRAWN_POINTS:
        return list(range(len(points)))
    last = len(points) - 1
    budget = max(MAX_DRAWN_POINTS - len(keep), 2)
    chosen = {round(i * last / (budget - 1)) for i in range(budget)} | keep | {0, last}
    return sorted(chosen)


def _marker(
    points: list[tuple[float, int]],
    index: int,
    previous: int | None,
    x_of: Scale,
    y_of: Scale,
    sampled: bool,
) -> Marker:
    ms, chars = points[index]
    added = chars - points[previous][1] if previous is not None else chars  # since the last marker
    what = f"point {index + 1} of {len(points)}" if sampled else f"chunk {index + 1}"
    return Marker(
        x=x_of(ms),
        y=y_of(chars),
        title=f"{what} at {format_ms(ms)}, {_plural(chars, 'char')} (+{added:,})",
    )


def _ttft(ms: float, x_of: Scale, plot: Box, width: int) -> Ttft:
    x = x_of(ms)
    label = f"first token {format_ms(ms)}"
    # Right of the line when it fits, left of it otherwise.
    fits_right = x + 6 + len(label) * _CHAR_WIDTH <= width - 2
    wait = _r(x - plot.left)
    return Ttft(
        x=x,
        label=label,
        label_x=_r(x + 6 if fits_right else x - 6),
        label_anchor="start" if fits_right else "end",
        wait_width=wait,
        wait_label="waiting" if wait >= len("waiting") * _CHAR_WIDTH + 12 else "",
        wait_label_x=_r(plot.left + wait / 2),
    )


def _bands(
    points: list[tuple[float, int]], stalls: list[tuple[int, int]], x_of: Scale, sampled: bool
) -> tuple[Band, ...]:
    bands: list[Band] = []
    free_from = -math.inf  # where the last label drawn ends: labels never overlap
    for before, after in stalls:
        start, end = points[before][0], points[after][0]
        x0, x1 = x_of(start), x_of(end)
        # A sampled timeline only brackets the stall: its edges are the nearest kept points.
        text = f"stalled {'about ' if sampled else ''}{format_ms(end - start)}"
        middle = (x0 + x1) / 2
        low, high = _label_span(text, middle, "middle")
        # The label may overhang a narrow band a little, not a lot.
        shown = low >= free_from + 8 and (high - low) <= (x1 - x0) * 1.6
        if shown:
            free_from = high
        bands.append(
            Band(
                x=x0,
                x_end=_r(max(x1, x0 + 1.0)),
                width=_r(max(x1 - x0, 1.0)),
                title=f"{text}, from {format_ms(start)} to {format_ms(end)}",
                label=text if shown else "",
                label_x=_r(middle),
                start_ms=start,
                end_ms=end,
            )
        )
    return tuple(bands)


def _label_span(text: str, x: float, anchor: str) -> tuple[float, float]:
    """Roughly where a label drawn at x with this text-anchor starts and ends."""
    width = len(text) * _CHAR_WIDTH
    if anchor == "start":
        return x, x + width
    if anchor == "end":
        return x - width, x
    return x - width / 2, x + width / 2


def _figures(summary: Summary, points: int) -> tuple[Figure, ...]:
    dash = "—"
    figures = [
        Figure(
            "ttft",
            "First token",
            format_ms(summary.ttft_ms) if summary.ttft_ms is not None else dash,
        ),
        Figure(
            "duration",
            "Duration",
            format_ms(summary.duration_ms) if summary.duration_ms is not None else dash,
        ),
        Figure(
            "chunks",
            "Chunks",
            f"{summary.chunk_count:,}" if summary.chunk_count is not None else dash,
            note=f"{points:,} points drawn" if summary.sampled else "",
        ),
        Figure(
            "rate",
            "Output rate",
            f"{summary.output_tokens_per_second:,.1f} tokens/s"
            if summary.output_tokens_per_second is not None
            else dash,
        ),
        Figure("chars", "Characters", f"{summary.final_chars:,}"),
        Figure(
            "stalls",
            "Stalls",
            str(summary.stall_count) if summary.stall_count else "none",
            note=f"longest {format_ms(summary.longest_stall_ms)}"
            if summary.longest_stall_ms is not None
            else "",
        ),
    ]
    if not summary.complete:
        figures.append(Figure("status", "Status", "stream ended early"))
    return tuple(figures)


def _description(summary: Summary, points: int) -> str:
    parts = [f"Output characters over time: {_plural(summary.final_chars, 'character')}"]
    if summary.chunk_count is not None:
        parts.append(f" in {_plural(summary.chunk_count, 'chunk')}")
    if summary.duration_ms is not None:
        parts.append(f" over {format_ms(summary.duration_ms)}")
    if summary.ttft_ms is not None:
        parts.append(f"; first token after {format_ms(summary.ttft_ms)}")
    if summary.stall_count and summary.longest_stall_ms is not None:
        parts.append(
            f"; {_plural(summary.stall_count, 'stall')}, "
            f"the longest {format_ms(summary.longest_stall_ms)}"
        )
    else:
        parts.append("; no stalls")
    if not summary.complete:
        parts.append("; the stream ended early")
    return "".join(parts) + "."


def _number(value: Any) -> float | None:
    """A finite number, or None: bools, strings and NaN are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def _ms(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and 0 <= number <= MAX_MS else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and 0 <= number <= MAX_CHARS else None


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _r(value: float) -> float:
    return round(value, 1)


def _n(value: float) -> str:
    """A coordinate for path data: "12.3", or "12" when it is whole."""
    return _trim(f"{value:.1f}")


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def figures_only(streaming: Any) -> tuple[Figure, ...]:
    """The stream's figures when there is no timeline to draw: most sources record the time
    to first token and the duration, but not when each chunk arrived. Empty when nothing is
    known at all."""
    if not isinstance(streaming, dict):
        return ()

    def number(key: str) -> float | None:
        value = streaming.get(key)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok and math.isfinite(value) and value >= 0 else None

    ttft, duration = number("time_to_first_token_ms"), number("duration_ms")
    chunks, rate = number("chunk_count"), number("output_tokens_per_second")
    figures = [
        Figure("ttft", "First token", format_ms(ttft)) if ttft is not None else None,
        Figure("duration", "Duration", format_ms(duration)) if duration is not None else None,
        Figure("chunks", "Chunks", f"{int(chunks):,}") if chunks is not None else None,
        Figure("rate", "Output rate", f"{rate:,.1f} tokens/s") if rate is not None else None,
    ]
    return tuple(figure for figure in figures if figure is not None)
