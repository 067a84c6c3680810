"""The streaming timeline: the chart's view model, and the SVG its macro renders from it."""

from __future__ import annotations

import math
import random
import re
from dataclasses import asdict
from typing import Any

import jinja2
import pytest
from bs4 import BeautifulSoup

from app import timeline
from app.resources import resource_dir
from app.timeline import Chart, chart, format_ms, nice_ticks


def _stream(points: list[list[Any]], **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "time_to_first_token_ms": points[1][0] if len(points) > 1 else None,
        "duration_ms": points[-1][0] + 20 if points else None,
        "chunk_count": len(points) - 1,
        "output_tokens_per_second": 88.1,
        "complete": True,
        "timeline": points,
    }
    return {**base, **fields}


def _steady(gaps: list[float], start: float = 412.0, chars: int = 10) -> list[list[Any]]:
    """The request start, then one chunk of `chars` characters after each gap."""
    points: list[list[Any]] = [[0.0, 0], [start, chars]]
    for gap in gaps:
        points.append([round(points[-1][0] + gap, 3), points[-1][1] + chars])
    return points


def _jittery(count: int, seed: int = 1) -> list[float]:
    """Gaps of a fast stream: around 20 ms, with hiccups up to 200 ms."""
    rng = random.Random(seed)
    gaps = [rng.uniform(8, 35) for _ in range(count)]
    for index in range(5, count, 9):
        gaps[index] = rng.uniform(60, 200)
    return gaps


def _built(streaming: Any, **size: int) -> Chart:
    built = chart(streaming, **size)
    assert built is not None
    return built


_PATH_TOKEN = re.compile(r"([MHVLZ])([^MHVLZ]*)")


def _path_points(d: str) -> list[tuple[float, float]]:
    """The vertices of path data made of M, H, V, L and Z (what the chart emits)."""
    x = y = math.nan
    vertices = []
    for command, args in _PATH_TOKEN.findall(d):
        numbers = [float(n) for n in args.split()]
        if command in "ML":
            x, y = numbers
        elif command == "H":
            (x,) = numbers
        elif command == "V":
            (y,) = numbers
        else:
            continue
        vertices.append((x, y))
    return vertices


# The model


def test_the_line_rises_step_by_step_and_never_goes_back_in_time() -> None:
    points = _steady(_jittery(40))
    built = _built(_stream(points))
    vertices = _path_points(built.line)
    xs = [x for x, _ in vertices]
    ys = [y for _, y in vertices]
    assert xs == sorted(xs)
    assert ys == sorted(ys, reverse=True)  # characters only grow, and SVG y grows downwards
    assert vertices[0] == (built.plot.left, built.plot.bottom)  # the request start
    assert built.shape == "step"
    assert "L" not in built.line  # a step line is horizontal and vertical moves only
    assert built.area.startswith(built.line) and built.area.endswith("Z")


def test_the_axes_run_from_the_request_start_to_the_end_and_to_the_final_characters() -> None:
    points = _steady([50.0] * 10, start=400.0)  # the last chunk at 900 ms, 110 chars
    built = _built(_stream(points, duration_ms=1000.0))
    plot = built.plot
    assert built.end_x == pytest.approx(plot.left + plot.width, abs=0.1)
    first, *_, last = built.markers
    assert first.x == pytest.approx(plot.left + 0.4 * plot.width, abs=0.1)
    assert last.x == pytest.approx(plot.left + 0.9 * plot.width, abs=0.1)
    assert last.y == pytest.approx(plot.top, abs=0.1)
    assert built.tail == f"M{last.x:g} {last.y:g}H{built.end_x:g}"
    assert built.summary.final_chars == 110
    # A last point after the recorded duration stretches the axis rather than leave the plot.
    late = _built(_stream(points, duration_ms=450.0))
    assert late.markers[-1].x == pytest.approx(late.end_x, abs=0.1)
    assert late.tail == ""


def test_the_first_token_marker_sits_at_its_time_and_the_wait_is_shaded() -> None:
    points = _steady([100.0] * 15, start=500.0)  # the last chunk at 2000 ms
    built = _built(_stream(points, time_to_first_token_ms=500.0, duration_ms=2000.0))
    plot = built.plot
    assert built.ttft.x == pytest.approx(plot.left + plot.width / 4, abs=0.1)
    assert built.ttft.wait_width == pytest.approx(plot.width / 4, abs=0.1)
    assert built.ttft.label == "first token 500 ms"
    assert built.ttft.label_anchor == "start"
    assert built.summary.ttft_ms == 500.0


def test_the_first_token_falls_back_to_the_first_chunk_and_its_label_stays_inside() -> None:
    points = [[0.0, 0], [1900.0, 40], [1950.0, 80]]
    built = _built(_stream(points, time_to_first_token_ms=None, duration_ms=2000.0))
    assert built.summary.ttft_ms == 1900.0
    assert built.ttft.x == built.markers[0].x
    assert built.ttft.label_anchor == "end"  # no room on the right of the line
    assert built.ttft.label_x < built.ttft.x


def test_one_long_gap_is_a_stall_and_jitter_elsewhere_is_not() -> None:
    gaps = _jittery(60)
    gaps[30] = 1200.0
    points = _steady(gaps, start=3000.0)  # a long wait for the first token: not a stall
    built = _built(_stream(points))
    assert len(built.stalls) == 1
    (stall,) = built.stalls
    assert stall.start_ms == points[31][0]
    assert stall.end_ms == points[32][0]
    assert stall.title.startswith("stalled 1.2 s, from ")
    assert stall.label == "stalled 1.2 s"
    assert stall.x == built.markers[30].x
    assert stall.width == pytest.approx(built.markers[31].x - built.markers[30].x, abs=0.11)
    assert built.summary.stall_count == 1
    assert built.summary.longest_stall_ms == pytest.approx(1200.0)
    assert _built(_stream(_steady(_jittery(60), start=3000.0))).stalls == ()


@pytest.mark.parametrize(
    ("gaps", "stalls"),
    [
        ([20.0] * 20 + [250.0], 0),  # 12 × the median, yet only 230 ms late: jitter
        ([20.0] * 20 + [300.0], 1),  # more than 250 ms over the median
        ([300.0] * 20 + [1100.0], 0),  # a slow stream: under 4 × its median
        ([300.0] * 20 + [1500.0], 1),
        ([10.0, 5000.0], 1),  # two gaps: the lower median judges the long one
        ([5000.0], 0),  # one gap has nothing to compare with
    ],
)
def test_the_stall_rule(gaps: list[float], stalls: int) -> None:
    assert len(_built(_stream(_steady(gaps))).stalls) == stalls


def test_stall_labels_that_would_collide_are_left_to_their_tooltips() -> None:
    gaps = [10.0] * 30
    gaps[10] = gaps[12] = 2000.0  # two stalls a chunk apart, each about 50 units wide
    built = _built(_stream(_steady(gaps), duration_ms=26_000.0))
    assert len(built.stalls) == 2
    assert [bool(band.label) for band in built.stalls] == [True, False]
    assert all(band.title.startswith("stalled 2 s") for band in built.stalls)


@pytest.mark.parametrize(
    ("maximum", "kwargs", "ticks"),
    [
        (2310.5, {}, [0, 500, 1000, 1500, 2000]),
        (412.0, {}, [0, 100, 200, 300, 400]),
        (1000.0, {"target": 4}, [0, 250, 500, 750, 1000]),
        (3.0, {"integers": True}, [0, 1, 2, 3]),
        (1319, {"target": 4, "integers": True}, [0, 500, 1000]),
        (0.7, {}, [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]),
        (0.9, {"target": 3}, [0, 0.25, 0.5, 0.75]),
        (0, {}, [0]),
        (math.nan, {}, [0]),
    ],
)
def test_nice_ticks(maximum: float, kwargs: dict[str, Any], ticks: list[float]) -> None:
    assert nice_ticks(maximum, **kwargs) == ticks


def test_tick_labels_use_one_unit_per_axis() -> None:
    long = _built(_stream(_steady([100.0] * 20), duration_ms=3500.0))
    assert [tick.label for tick in long.x_ticks] == [
        "0",
        "0.5 s",
        "1 s",
        "1.5 s",
        "2 s",
        "2.5 s",
        "3 s",
        "3.5 s",
    ]
    short = _built(_stream(_steady([10.0] * 5, start=300.0), duration_ms=412.0))
    assert [tick.label for tick in short.x_ticks][:3] == ["0", "50 ms", "100 ms"]
    assert [tick.label for tick in short.y_ticks] == ["0", "20", "40", "60"]
    xs = [tick.position for tick in short.x_ticks]
    ys = [tick.position for tick in short.y_ticks]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0.0, "0 ms"),
        (8.5, "8.5 ms"),
        (412.0, "412 ms"),
        (999.7, "1 s"),
        (1200.0, "1.2 s"),
        (2310.5, "2.31 s"),
        (14_620.0, "14.6 s"),
        (125_000.0, "2 min 5 s"),
        (120_000.0, "2 min"),
    ],
)
def test_format_ms(ms: float, text: str) -> None:
    assert format_ms(ms) == text


def test_the_figures_say_what_happened() -> None:
    gaps = [20.0] * 20
    gaps[5] = 1500.0
    built = _built(_stream(_steady(gaps, chars=100), duration_ms=2400.0))
    figures = {figure.key: figure for figure in built.figures}
    assert list(figures) == ["ttft", "duration", "chunks", "rate", "chars", "stalls"]
    assert figures["ttft"].value == "412 ms"
    assert figures["duration"].value == "2.4 s"
    assert figures["chunks"].value == "21"
    assert figures["rate"].value == "88.1 tokens/s"
    assert figures["chars"].value == "2,100"
    assert (figures["stalls"].value, figures["stalls"].note) == ("1", "longest 1.5 s")
    assert built.description == (
        "Output characters over time: 2,100 characters in 21 chunks over 2.4 s; "
        "first token after 412 ms; 1 stall, the longest 1.5 s."
    )


def test_a_stream_that_ended_early_says_so() -> None:
    built = _built(_stream(_steady([30.0] * 5), complete=False, duration_ms=5000.0))
    assert not built.complete
    assert built.figures[-1].key == "status"
    assert built.figures[-1].value == "stream ended early"
    assert built.end_label == "ended early"
    assert "ended early" in built.title and "ended early" in built.description
    # Missing or malformed, `complete` is not a yes.
    assert not _built(_stream(_steady([30.0] * 5), complete="true")).complete


def test_a_single_chunk() -> None:
    built = _built(
        {"time_to_first_token_ms": 300.0, "duration_ms": 320.0, "timeline": [[300.0, 120]]}
    )
    assert len(built.markers) == 1
    assert built.stalls == ()
    assert built.markers[0].title == "chunk 1 at 300 ms, 120 chars (+120)"
    assert _path_points(built.line)[-1] == (built.markers[0].x, built.plot.top)
    assert {f.key: f.value for f in built.figures}["chunks"] == "—"
    assert {f.key: f.value for f in built.figures}["rate"] == "—"


def test_every_point_at_time_zero() -> None:
    built = _built({"timeline": [[0, 0], [0, 5], [0, 10]], "duration_ms": 0})
    assert [marker.x for marker in built.markers] == [built.plot.left] * 2
    assert built.ttft.wait_width == 0
    assert [tick.label for tick in built.x_ticks][0] == "0"
    assert all(math.isfinite(tick.position) for tick in built.x_ticks)


@pytest.mark.parametrize(
    "streaming",
    [
        None,
        "timeline",
        [],
        {},
        {"timeline": None},
        {"timeline": "[[0, 1]]"},
        {"timeline": []},
        {"timeline": [[0.0, 0]]},  # the request start alone: no chunk
        {"timeline": [["a", "b"], [None, None], [math.nan, 3]]},
    ],
)
def test_nothing_to_draw_is_none(streaming: Any) -> None:
    assert chart(streaming) is None


def test_malformed_points_are_skipped() -> None:
    good = [[100.0, 10], [150.0, 20], [200.0, 35]]
    bad: list[Any] = [
        "x",
        None,
        7,
        {"ms": 1, "chars": 2},
        [],
        [120.0],
        ["130", 15],
        [130.0, "15"],
        [math.nan, 15],
        [130.0, math.inf],
        [-1.0, 15],
        [130.0, -15],
        [True, 15],
        [130.0, False],
        [1e300, 15],
        [130.0, 2**80],
        [10**400, 15],
    ]
    mixed = [[0.0, 0], good[0], *bad[:9], good[1], *bad[9:], good[2]]
    built = _built(_stream(mixed, chunk_count=3))
    assert [(m.x, m.y) for m in built.markers] == [
        (m.x, m.y) for m in _built(_stream([[0.0, 0], *good], chunk_count=3)).markers
    ]


def test_characters_going_down_lose_the_fewest_points() -> None:
    built = _built({"timeline": [[100, 10], [200, 15], [300, 3], [400, 20], [500, 30]]})
    assert [m.title.split(", ")[1] for m in built.markers] == [
        "10 chars (+10)",
        "15 chars (+5)",
        "20 chars (+5)",
        "30 chars (+10)",
    ]
    # Out of order in the list but consistent in time: sorted, nothing lost.
    shuffled = _built({"timeline": [[300, 20], [100, 10], [200, 15]]})
    assert len(shuffled.markers) == 3
    # One absurd early point does not take the rest of the stream with it.
    spiked = _built({"timeline": [[100, 10**8], [200, 20], [300, 30], [400, 40]]})
    assert spiked.summary.final_chars == 40


def test_malformed_fields_are_ignored() -> None:
    built = _built(
        {
            "time_to_first_token_ms": "412",
            "duration_ms": math.nan,
            "chunk_count": "many",
            "output_tokens_per_second": -3,
            "complete": 1,
            "timeline": [[412.0, 12], [455.3, 31]],
        },
        width="wide",  # type: ignore[arg-type]
        height=-5,
    )
    assert built.summary.ttft_ms == 412.0  # from the first chunk
    assert built.summary.duration_ms is None
    assert built.summary.chunk_count is None
    assert built.summary.output_tokens_per_second is None
    assert not built.complete
    assert built.width == 720 and built.height >= 120


def test_random_garbage_never_raises() -> None:
    rng = random.Random(42)
    atoms: list[Any] = [
        None,
        True,
        0,
        -1,
        3.5,
        math.nan,
        math.inf,
        -math.inf,
        1e308,
        10**30,
        "12",
        "",
        [],
        {},
        [1, 2],
        [[1, 2]],
    ]

    def entry() -> Any:
        if rng.random() < 0.6:
            return [rng.choice(atoms + [rng.uniform(0, 5000)]) for _ in range(rng.randint(0, 3))]
        return rng.choice(atoms)

    for _ in range(300):
        streaming = {
            key: rng.choice(atoms)
            for key in ("time_to_first_token_ms", "duration_ms", "chunk_count", "complete")
        }
        streaming["timeline"] = [entry() for _ in range(rng.randint(0, 30))]
        built = chart(streaming)
        if built is None:
            continue
        for marker in built.markers:
            assert built.plot.left <= marker.x <= built.plot.right
            assert built.plot.top <= marker.y <= built.plot.bottom
        assert "nan" not in built.line and "inf" not in built.line


def test_huge_timelines_stay_bounded() -> None:
    count = 200_000
    points: list[list[Any]] = [[0.0, 0]] + [[400.0 + i * 2.0, 1 + i * 3] for i in range(count)]
    built = _built(_stream(points, chunk_count=count))
    assert len(built.markers) <= timeline.MAX_DRAWN_POINTS
    assert len(built.line) < 40 * timeline.MAX_DRAWN_POINTS
    assert built.shape == "line"
    # The first and the last chunk are always drawn.
    assert built.markers[0].title.startswith("point 1 of ")
    assert built.markers[0].title.endswith(" at 400 ms, 1 char (+1)")
    assert built.summary.final_chars == points[-1][1] == 599_998
    assert ", 599,998 chars (+" in built.markers[-1].title
    assert built.markers[-1].y == built.plot.top


def test_a_sampled_timeline_is_a_line_through_its_points() -> None:
    points = _steady([10.0] * 99)  # 100 points standing for 800 chunks
    built = _built(_stream(points, chunk_count=800))
    assert built.shape == "line"
    assert built.summary.sampled
    assert built.markers[4].title == "point 5 of 100 at 452 ms, 50 chars (+10)"
    assert {f.key: f.note for f in built.figures}["chunks"] == "100 points drawn"


def test_everything_in_the_model_is_a_number_or_our_own_text() -> None:
    gaps = _jittery(20)
    gaps[10] = 900.0
    built = _built(_stream(_steady(gaps)))
    assert built.stalls
    allowed = re.compile(r"^[\w .,+():;/—\-]*$")

    def walk(value: Any, name: str = "") -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, key)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item, name)
        elif isinstance(value, float):
            assert math.isfinite(value)
            if not name.endswith("_ms"):  # a coordinate, rounded to 0.1
                assert round(value, 1) == value, (name, value)
        elif isinstance(value, str):
            assert allowed.match(value), value
        else:
            assert isinstance(value, int | bool) or value is None, (name, value)

    walk({k: v for k, v in asdict(built).items() if k != "summary"})


# The macro


@pytest.fixture(scope="module")
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _render(environment: jinja2.Environment, built: Chart | None) -> BeautifulSoup:
    page = environment.from_string(
        '{% import "_timeline.html" as tl %}<main>{{ tl.timeline(chart) }}</main>'
    ).render(chart=built)
    return BeautifulSoup(page, "html.parser")


def test_the_macro_draws_the_chart(environment: jinja2.Environment) -> None:
    gaps = _jittery(40)
    gaps[20] = 1500.0
    built = _built(_stream(_steady(gaps)))
    page = _render(environment, built)

    figure = page.select_one("figure.timeline")
    assert figure is not None
    svg = figure.select_one("svg")
    assert svg is not None
    assert svg["role"] == "img"
    assert [float(n) for n in svg["viewbox"].split()] == [0, 0, built.width, built.height]
    assert svg.find("title", recursive=False).get_text() == "Streaming timeline"
    assert svg.find("desc", recursive=False).get_text() == built.description

    for name in ("timeline-line", "timeline-area", "timeline-axis", "timeline-ttft"):
        assert svg.select(f".{name}"), name
    assert svg.select_one("path.timeline-line")["d"] == built.line
    assert svg.select_one("path.timeline-area")["d"] == built.area

    chunks = svg.select("circle.timeline-chunk")
    assert len(chunks) == len(built.markers) == 41  # one a chunk: the first, and one a gap
    assert chunks[0].title.get_text() == built.markers[0].title
    assert [float(c["cx"]) for c in chunks] == [m.x for m in built.markers]

    (stall,) = svg.select("rect.timeline-stall")
    assert stall.title.get_text().startswith("stalled 1.5 s")
    assert float(stall["x"]) == built.stalls[0].x
    assert svg.select_one(".timeline-stall-label").get_text() == "stalled 1.5 s"

    ttft = svg.select_one("line.timeline-ttft")
    assert float(ttft["x1"]) == float(ttft["x2"]) == built.ttft.x
    duration = built.summary.duration_ms
    assert duration is not None
    assert float(ttft["x1"]) == pytest.approx(
        built.plot.left + 412.0 / duration * built.plot.width, abs=0.1
    )
    assert svg.select_one(".timeline-ttft-label").get_text() == "first token 412 ms"
    assert svg.select_one("rect.timeline-wait")

    x_labels = [t.get_text() for t in svg.select(".timeline-axis--x text")]
    assert x_labels == [tick.label for tick in built.x_ticks]
    assert not svg.select(".timeline-end")


def test_the_macro_lists_the_figures(environment: jinja2.Environment) -> None:
    built = _built(_stream(_steady([20.0] * 5), complete=False, duration_ms=3000.0))
    page = _render(environment, built)
    terms = [dt.get_text() for dt in page.select("dl.timeline-figures dt")]
    assert terms == [
        "First token",
        "Duration",
        "Chunks",
        "Output rate",
        "Characters",
        "Stalls",
        "Status",
    ]
    status = page.select_one(".timeline-figure--status dd")
    assert status is not None and status.get_text() == "stream ended early"
    assert page.select_one("figure.timeline.timeline--early")
    assert page.select_one("line.timeline-end")
    assert page.select_one(".timeline-end-label").get_text() == "ended early"


def test_the_macro_keeps_every_shape_inside_the_view_box(
    environment: jinja2.Environment,
) -> None:
    gaps = _jittery(100)
    gaps[50] = 5000.0
    built = _built(_stream(_steady(gaps, chars=1000), duration_ms=60_000.0))
    svg = _render(environment, built).select_one("svg")
    assert svg is not None
    coordinate = re.compile(r"^-?\d+(\.\d)?$")  # precomputed and rounded to 0.1
    for element in svg.find_all(True):
        for name in ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height"):
            if element.has_attr(name):
                assert coordinate.match(element[name]), (element.name, name, element[name])
    for element in svg.select("circle, line, rect"):
        for attribute in ("cx", "x", "x1", "x2"):
            if element.has_attr(attribute):
                assert 0 <= float(element[attribute]) <= built.width
        for attribute in ("cy", "y", "y1", "y2"):
            if element.has_attr(attribute):
                assert 0 <= float(element[attribute]) <= built.height


def test_the_macro_renders_nothing_for_no_chart(environment: jinja2.Environment) -> None:
    page = _render(environment, None)
    assert page.select_one("main").get_text(strip=True) == ""
    assert not page.select("svg")


def test_a_single_chunk_renders(environment: jinja2.Environment) -> None:
    built = _built({"timeline": [[300.0, 120]], "complete": True})
    svg = _render(environment, built).select_one("svg")
    assert svg is not None
    assert len(svg.select("circle.timeline-chunk")) == 1
    assert not svg.select("rect.timeline-stall")


def test_hostile_input_never_reaches_the_page(environment: jinja2.Environment) -> None:
    hostile = '<script>alert("x")</script>'
    built = _built(
        {
            "time_to_first_token_ms": hostile,
            "duration_ms": hostile,
            "chunk_count": hostile,
            "output_tokens_per_second": hostile,
            "complete": hostile,
            "timeline": [hostile, [hostile, 3], [3, hostile], [100.0, 12], {hostile: hostile}],
        }
    )
    page = _render(environment, built)
    assert not page.select("script")
    assert "alert" not in str(page)
    assert len(page.select("circle.timeline-chunk")) == 1
