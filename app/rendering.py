"""Span content as safe HTML: Markdown, highlighted code and pretty JSON.

Everything here takes untrusted text and returns `Markup` that is safe to put in a page as it
is: Markdown goes through markdown-it-py with raw HTML off, so `<script>` in a message is shown
as text; links keep only http, https and mailto targets; images become plain links, so viewing
a trace never fetches anything from elsewhere; code is highlighted by Pygments, which escapes
what it emits. Templates never mark span content `|safe` themselves.
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import JsonLexer, get_lexer_by_name
from pygments.util import ClassNotFound

# Past these sizes highlighting costs more than it gives: the text is shown plain. Code gets a
# lower bound than JSON because some Pygments lexers (HTML with an unclosed comment, say) take
# time that grows with the square of the text.
MAX_HIGHLIGHT_CHARS = 100_000
MAX_HIGHLIGHT_CODE_CHARS = 10_000
# Past this size a text is shown as written, not as Markdown: markdown-it-py takes up to ~15 µs
# a character on text made of brackets and other punctuation, which any span can carry.
MAX_MARKDOWN_CHARS = 50_000
# Rich rendering (Markdown and highlighting) of one page stops after this long; the rest of its
# text is shown as written, so no conversation, however much it holds, can make a page slow.
PAGE_RENDER_SECONDS = 1.5
_render_deadline: ContextVar[float | None] = ContextVar("render_deadline", default=None)
SAFE_LINK = re.compile(r"^(https?:|mailto:|#)", re.IGNORECASE)

_FORMATTER = HtmlFormatter(nowrap=True, classprefix="hl-")


@contextmanager
def render_budget(seconds: float = PAGE_RENDER_SECONDS) -> Iterator[None]:
    """Within the block, Markdown and highlighting stop once `seconds` have passed."""
    token = _render_deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _render_deadline.reset(token)


def _within_budget() -> bool:
    deadline = _render_deadline.get()
    return deadline is None or time.monotonic() < deadline


def _highlight_code(code: str, language: str, _attrs: Any) -> str:
    """Pygments HTML for a fenced block, or "" to let markdown-it escape it plainly."""
    if not language or len(code) > MAX_HIGHLIGHT_CODE_CHARS or not _within_budget():
        return ""
    try:
        lexer = get_lexer_by_name(language.split()[0])
    except ClassNotFound:
        return ""
    return highlight(code, lexer, _FORMATTER)


def _link_open(renderer: RendererHTML, tokens: list, index: int, options: Any, env: Any) -> str:
    token = tokens[index]
    href = token.attrGet("href") or ""
    if not SAFE_LINK.match(str(href)):
        # markdown-it already drops javascript: and friends; anything else that is not plainly
        # a web or mail link (relative paths that would hit this server, say) is not followed.
        token.attrs.pop("href", None)
    elif not str(href).startswith("#"):
        token.attrSet("rel", "noopener noreferrer nofollow")
        token.attrSet("target", "_blank")
    return renderer.renderToken(tokens, index, options, env)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # breaks: a single newline in a message is a line break, as people who wrote it meant.
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "highlight": _highlight_code})
    md.enable(["table", "strikethrough"])
    # An image in a message would be fetched by the viewer's browser: a tracking pixel at best.
    md.disable("image")
    md.add_render_rule("link_open", _link_open)
    return md


class _RenderedCache:
    """Rendered Markdown by text, bounded by the characters it holds rather than by entries.

    Each call of a conversation repeats the turns before it, so the same texts are rendered
    again and again as a user steps through the calls.
    """

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self.entries: OrderedDict[str, Markup] = OrderedDict()

    def get(self, text: str) -> Markup | None:
        html = self.entries.get(text)
        if html is not None:
            self.entries.move_to_end(text)
        return html

    def put(self, text: str, html: Markup) -> None:
        size = len(text) + len(html)
        if size > self.max_chars // 16 or text in self.entries:
            return
        self.entries[text] = html
        self.chars += size
        while self.chars > self.max_chars:
            old_text, old_html = self.entries.popitem(last=False)
            self.chars -= len(old_text) + len(old_html)


# About 16 MB of text at most, whatever the conversations hold.
_rendered = _RenderedCache(max_chars=8_000_000)


def markdown(text: str) -> Markup:
    """A message's text as HTML. Raw HTML in it is shown as text, never rendered.

    Text too long to render quickly, or met once the page's budget is spent, is shown as
    written: escaped, its line breaks kept.
    """
    html = _rendered.get(text)
    if html is not None:
        return html
    if len(text) > MAX_MARKDOWN_CHARS or not _within_budget():
        return Markup('<pre class="as-written">{}</pre>').format(text)
    html = Markup(_markdown().render(text))  # noqa: S704 - markdown-it escapes; html is off
    if _within_budget():  # a render cut short of its highlighting is not worth keeping
        _rendered.put(text, html)
    return html


def _as_json(value: Any) -> tuple[Any, bool]:
    """`value`, with text that holds a JSON array or object read as that JSON."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] not in ("{", "["):
            return value, False
        try:
            return json.loads(stripped), True
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's limit
            return value, False
    return value, True


def pretty_json(value: Any) -> str:
    """A JSON value indented for reading; text that holds JSON is read as that JSON first,
    and any other text is returned as it is."""
    value, is_json = _as_json(value)
    if not is_json:
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def json_view(value: Any) -> tuple[Markup, str]:
    """Pretty JSON as HTML, highlighted when small enough to be worth it, and as plain text
    (for measuring). Text that is not JSON stays plain text."""
    parsed, is_json = _as_json(value)
    if not is_json:
        return escape(parsed), parsed
    text = json.dumps(parsed, indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_HIGHLIGHT_CHARS or not _within_budget():
        return escape(text), text
    return Markup(highlight(text, JsonLexer(), _FORMATTER)), text  # noqa: S704 - Pygments escapes


def json_html(value: Any) -> Markup:
    return json_view(value)[0]


def _token_colours(style: str) -> str:
    # Only the token classes: backgrounds and line numbers come from the page's own theme.
    rules = HtmlFormatter(style=style, classprefix="hl-").get_style_defs("")
    return "\n".join(
        line.strip() for line in rules.splitlines() if line.lstrip().startswith(".hl-")
    )


@lru_cache(maxsize=1)
def highlight_css() -> str:
    """The Pygments token colours for light mode, and for dark mode under a media query."""
    light, dark = _token_colours("friendly"), _token_colours("github-dark")
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"


def safe_url(url: Any) -> str | None:
    """A URL from span content that may become a link: http(s) only."""
    if isinstance(url, str) and re.match(r"^https?://", url.strip(), re.IGNORECASE):
        return url.strip()
    return None
