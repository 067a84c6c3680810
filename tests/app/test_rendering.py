"""Span content as safe HTML: Markdown, highlighted code, pretty JSON and link targets."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup
from markupsafe import Markup

from app.rendering import (
    MAX_HIGHLIGHT_CHARS,
    highlight_css,
    json_html,
    markdown,
    pretty_json,
    safe_url,
)

DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:", "file:")


def _parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _assert_inert(html: str) -> BeautifulSoup:
    """No element can run script or fetch anything: no script, frame, image or handler."""
    soup = _parse(html)
    assert (
        soup.find_all(
            ["script", "iframe", "object", "embed", "img", "style", "svg", "form", "base"]
        )
        == []
    )
    for element in soup.find_all(True):
        for name, value in element.attrs.items():
            assert not name.lower().startswith("on"), (element.name, name)
            assert name != "style", element
            if name in ("href", "src", "action", "formaction"):
                compact = re.sub(r"\s", "", str(value)).lower()
                assert not compact.startswith(DANGEROUS_SCHEMES), (element.name, value)
    return soup


# --- Markdown ------------------------------------------------------------------------------------


def test_markdown_renders_common_formatting() -> None:
    html = markdown("It is **18°C** with _rain_, ~~sun~~ and `code`.\n\n- one\n- two")
    assert isinstance(html, Markup)
    soup = _parse(html)
    assert soup.select_one("strong").get_text() == "18°C"
    assert soup.select_one("em").get_text() == "rain"
    assert soup.select_one("s").get_text() == "sun"
    assert soup.select_one("code").get_text() == "code"
    assert [li.get_text() for li in soup.select("ul li")] == ["one", "two"]


def test_markdown_renders_tables() -> None:
    soup = _parse(markdown("| city | weather |\n|---|---|\n| Paris | rain |\n"))
    assert [th.get_text() for th in soup.select("table thead th")] == ["city", "weather"]
    assert [td.get_text() for td in soup.select("table tbody td")] == ["Paris", "rain"]


def test_fenced_code_is_highlighted_and_escaped() -> None:
    soup = _assert_inert(
        markdown("```python\nraise TimeoutError('<script>alert(1)</script>')\n```")
    )
    code = soup.select_one("pre code")
    assert code.get_text() == "raise TimeoutError('<script>alert(1)</script>')\n"
    assert code.select("span[class^=hl-]"), "Pygments token classes carry the page's prefix"


@pytest.mark.parametrize(
    "info", ["", "no-such-language", "<script>alert(1)</script>", '"onmouseover=alert(1)']
)
def test_fenced_code_in_an_unknown_language_is_plain(info: str) -> None:
    soup = _assert_inert(markdown(f"```{info}\n<b onclick=alert(1)>x</b>\n```"))
    code = soup.select_one("pre code")
    assert code.get_text() == "<b onclick=alert(1)>x</b>\n"
    assert code.find(True) is None


def test_very_long_code_is_not_highlighted() -> None:
    body = "x = 1\n" * (MAX_HIGHLIGHT_CHARS // 6 + 1)
    soup = _parse(markdown(f"```python\n{body}```"))
    assert body in soup.select_one("pre").get_text()
    assert soup.find("span") is None


XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<b onclick=alert(1)>x</b>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<svg onload=alert(1)>",
    "<a href=javascript:alert(1)>x</a>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<!-- comment --><style>body{}</style>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
]
XSS_LINKS = [
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](  javascript:alert(1)  )",
    "[click](jav&#x61;script:alert(1))",
    "[click](java\\script:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](data:image/png;base64,iVBORw0KGgo=)",
    "[click](file:///etc/passwd)",
    "<javascript:alert(1)>",
    '[click][r]\n\n[r]: javascript:alert(1) "title"',
    "[click](<javascript:alert(1)>)",
    '[click](https://example.com" onmouseover="alert(1))',
    "![pixel](javascript:alert(1))",
]


@pytest.mark.parametrize("text", XSS)
def test_raw_html_is_shown_as_text(text: str) -> None:
    soup = _assert_inert(markdown(text))
    assert text in soup.get_text()


@pytest.mark.parametrize("text", XSS_LINKS)
def test_dangerous_links_never_become_links(text: str) -> None:
    soup = _assert_inert(markdown(text))
    for link in soup.find_all("a"):
        assert not link.get("href", "").startswith(("javascript", "vbscript", "data", "file")), link
        assert link.get("href") is None or link["href"].startswith("https://"), link


def test_the_whole_corpus_at_once_is_inert() -> None:
    _assert_inert(markdown("\n\n".join([*XSS, *XSS_LINKS])))
    _assert_inert(markdown(" ".join([*XSS, *XSS_LINKS])))


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("[docs](https://example.com/a?b=1&c=2)", "https://example.com/a?b=1&c=2"),
        ("[docs](HTTP://example.com)", "HTTP://example.com"),
        ("<https://example.com/x>", "https://example.com/x"),
        ("[mail](mailto:someone@example.com)", "mailto:someone@example.com"),
    ],
)
def test_web_and_mail_links_open_safely_elsewhere(text: str, href: str) -> None:
    link = _parse(markdown(text)).select_one("a")
    assert link["href"] == href
    assert set(link["rel"]) == {"noopener", "noreferrer", "nofollow"}
    assert link["target"] == "_blank"


@pytest.mark.parametrize(
    "target", ["/api/v1/traces", "relative/path", "//evil.example/x", "ftp://x"]
)
def test_other_link_targets_are_not_followed(target: str) -> None:
    link = _parse(markdown(f"[here]({target})")).select_one("a")
    assert link.get_text() == "here"
    assert not link.has_attr("href")


def test_a_link_to_a_place_in_the_page_stays_in_the_page() -> None:
    link = _parse(markdown("[the call](#call-toolu_01)")).select_one("a")
    assert link["href"] == "#call-toolu_01"
    # A fragment is this page: opening it in a new tab would reload the whole trace there.
    assert not link.has_attr("target")


def test_images_become_plain_links() -> None:
    soup = _assert_inert(markdown("![a chart](https://tracker.example/pixel.gif)"))
    assert soup.find("img") is None
    link = soup.select_one("a")
    assert link["href"] == "https://tracker.example/pixel.gif"
    assert link.get_text() == "a chart"


@pytest.mark.parametrize(
    "text", ["", " ", "\x00", "\u202e", "*" * 10_000, "[" * 5_000, "> " * 2_000 + "x", "`" * 1_000]
)
def test_odd_markdown_never_raises(text: str) -> None:
    _assert_inert(markdown(text))


# --- pretty JSON ---------------------------------------------------------------------------------


def test_pretty_json_indents_values() -> None:
    assert (
        pretty_json({"city": "Paris", "days": [1, 2]})
        == '{\n  "city": "Paris",\n  "days": [\n    1,\n    2\n  ]\n}'
    )
    assert pretty_json([]) == "[]"
    assert pretty_json(None) == "null"
    assert pretty_json(True) == "true"
    assert pretty_json(1.5) == "1.5"


def test_pretty_json_reads_text_that_holds_json() -> None:
    assert pretty_json('{"city":"Paris"}') == '{\n  "city": "Paris"\n}'
    assert pretty_json('  [1, {"a": null}]  ') == '[\n  1,\n  {\n    "a": null\n  }\n]'


@pytest.mark.parametrize(
    "text", ["plain words", "42", "null", '"quoted"', "{not json", "[1, 2", "", "  "]
)
def test_pretty_json_leaves_other_text_as_it_is(text: str) -> None:
    assert pretty_json(text) == text


def test_pretty_json_keeps_non_ascii_and_copes_with_odd_values() -> None:
    assert pretty_json({"t": "18°C 東京"}) == '{\n  "t": "18°C 東京"\n}'
    moment = datetime(2026, 12, 4, tzinfo=UTC)
    assert json.loads(pretty_json({"when": moment})) == {"when": str(moment)}
    assert pretty_json(float("nan")) == "NaN"


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_deeply_nested_json_text_never_raises(depth: int) -> None:
    """An emitter's attribute may be any text: nesting past the parser's limit is shown as is."""
    text = "[" * depth + "]" * depth
    assert pretty_json(text) == text
    html = json_html(text)
    assert _parse(html).get_text() == text
    text = '{"a":' * depth + "1" + "}" * depth
    assert pretty_json(text) == text


def test_json_html_highlights_and_escapes() -> None:
    html = json_html({"<script>alert(1)</script>": "<img src=x onerror=alert(1)>"})
    assert isinstance(html, Markup)
    soup = _assert_inert(html)
    assert json.loads(soup.get_text()) == {
        "<script>alert(1)</script>": "<img src=x onerror=alert(1)>"
    }
    assert soup.select("span[class^=hl-]")


def test_json_html_reads_json_text_and_leaves_plain_text_plain() -> None:
    soup = _parse(json_html('{"a": [1, 2]}'))
    assert json.loads(soup.get_text()) == {"a": [1, 2]}
    assert soup.find("span") is not None
    plain = json_html("<b>not json</b>")
    assert str(plain) == "&lt;b&gt;not json&lt;/b&gt;"


def test_json_html_does_not_highlight_huge_values() -> None:
    value = {"text": "<x>" * (MAX_HIGHLIGHT_CHARS // 3)}
    html = json_html(value)
    assert "<span" not in html
    assert json.loads(_parse(html).get_text()) == value


# --- link targets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a", "https://example.com/a"),
        ("http://example.com", "http://example.com"),
        ("HTTPS://EXAMPLE.COM", "HTTPS://EXAMPLE.COM"),
        ("  https://example.com/padded  ", "https://example.com/padded"),
        ("javascript:alert(1)", None),
        (" javascript:alert(1)", None),
        ("JavaScript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("vbscript:msgbox(1)", None),
        ("ftp://example.com", None),
        ("mailto:a@example.com", None),
        ("//example.com", None),
        ("/relative", None),
        ("https:example.com", None),
        ("", None),
        (None, None),
        (42, None),
        (["https://example.com"], None),
        ({"url": "https://example.com"}, None),
    ],
)
def test_safe_url_keeps_only_web_links(url: object, expected: str | None) -> None:
    assert safe_url(url) == expected


# --- the stylesheet ------------------------------------------------------------------------------


def test_highlight_css_has_token_colours_for_both_themes() -> None:
    css = highlight_css()
    light, dark = css.split("@media (prefers-color-scheme: dark) {")
    assert ".hl-" in light
    assert ".hl-" in dark
    rules = [line for line in css.splitlines() if line and not line.startswith(("@media", "}"))]
    assert all(line.startswith(".hl-") for line in rules)


# --- bounds on the cost of a page ---------------------------------------------------------------


def test_a_single_newline_is_a_line_break() -> None:
    page = _parse(markdown("line one\nline two"))
    assert page.select("p br") != []


def test_long_code_is_not_highlighted() -> None:
    from app.rendering import MAX_HIGHLIGHT_CODE_CHARS

    small = _parse(markdown("```python\nx = 1\n```"))
    assert small.select("code span.hl-n")
    code = "x = 1\n" * (MAX_HIGHLIGHT_CODE_CHARS // 6 + 1)
    big = _parse(markdown(f"```python\n{code}```"))
    assert big.select("code span") == []
    assert big.select_one("code").get_text() == code


def test_rich_rendering_stops_when_the_page_budget_is_spent() -> None:
    from app.rendering import render_budget

    text = "```python\ny = 2  # not yet rendered anywhere\n```"
    prose = "*not yet rendered anywhere* <b>x</b>"
    with render_budget(0.0):
        plain = _parse(markdown(text))
        plain_prose = _parse(markdown(prose))
        json_plain = _parse(json_html({"budget": "spent"}))
    assert plain.select("code span") == [] and "y = 2" in plain.get_text()
    assert plain_prose.select("em, b") == []
    assert plain_prose.select_one("pre.as-written").get_text() == prose
    assert json_plain.select("span") == [] and json.loads(json_plain.get_text())
    # A render cut short is not cached: with time to spare the same text is rendered.
    assert _parse(markdown(text)).select("code span.hl-n")
    assert _parse(markdown(prose)).select_one("em").get_text() == "not yet rendered anywhere"


@pytest.mark.parametrize("unit", ["![", "[", "*a_", "<script>alert(1)</script>\n"])
def test_text_too_long_for_markdown_is_shown_as_written(unit: str) -> None:
    from app.rendering import MAX_MARKDOWN_CHARS

    # Text made of brackets costs markdown-it ~15 µs a character: 4 MB of it took 48 s.
    text = unit * (MAX_MARKDOWN_CHARS // len(unit) + 1)
    page = _parse(markdown(text))
    assert page.select_one("pre.as-written").get_text() == text
    assert page.select("script, a, em, p") == []


def test_the_rendered_markdown_cache_is_bounded_by_size() -> None:
    from app.rendering import _RenderedCache

    cache = _RenderedCache(max_chars=1_600)
    for n in range(100):
        cache.put(f"text {n:03}" + "x" * 40, Markup("<p>" + "y" * 40 + "</p>"))
    assert cache.chars <= 1_600
    assert cache.get("text 099" + "x" * 40) is not None  # the newest stay
    assert cache.get("text 000" + "x" * 40) is None  # the oldest went
    cache.put("huge", Markup("z" * 1_000))  # larger than a sixteenth: never kept
    assert cache.get("huge") is None
