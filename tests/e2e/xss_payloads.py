"""Hostile text for every place span content reaches a page: the XSS corpus, as data.

Each payload is text an emitter could put in a span (a message, a name, an attribute, a
service or model name) or a user could put in a URL (a search, a filter). The pages must show
it as the text it is, run none of it, and fetch nothing because of it. `tests/e2e/
test_xss_corpus.py` sends every payload through the real OTLP path into every field; other
tests may reuse the corpus.

A payload also says how a reader sees it where it is rendered as Markdown, when that differs
from the text itself (Markdown decodes entities, and a Markdown image becomes a link). NUL is
left out of every comparison: a browser drops it from text, markdown-it and PostgreSQL write
U+FFFD for it, and JSON writes it as an escape.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Payload:
    name: str
    text: str
    # What a reader sees where the text is rendered as Markdown, when that is not the text.
    rendered: str | None = None

    @property
    def markdown(self) -> str:
        return self.text if self.rendered is None else self.rendered

    @property
    def as_json(self) -> str:
        """How the text reads inside pretty-printed JSON (arguments, raw views, JSON values)."""
        return json.dumps(self.text, ensure_ascii=False)


SVG_WITH_SCRIPT = base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
).decode()

PAYLOADS: tuple[Payload, ...] = (
    Payload("script", '<script>alert("script")</script>'),
    Payload("img-onerror", "<img src=x onerror=alert(1)>"),
    Payload("attribute-breakout", '" onmouseover="alert(1)" x="'),
    Payload("single-quote-breakout", "' autofocus onfocus='alert(1)' x='"),
    Payload("javascript-url", "javascript:alert(1)"),
    Payload("markdown-link", "[click](javascript:alert(1))"),
    Payload("markdown-link-mixed-case", "[click](JaVaScRiPt:alert(1))"),
    Payload(
        "markdown-link-entity",
        "[click](&#106;avascript:alert(1))",
        rendered="[click](javascript:alert(1))",
    ),
    Payload("markdown-autolink", "<javascript:alert(1)>"),
    Payload("markdown-reference", "[click][evil]\n\n[evil]: javascript:alert(1)"),
    Payload(
        "markdown-data-url", "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"
    ),
    Payload("markdown-svg-data-url", f"[pic](data:image/svg+xml;base64,{SVG_WITH_SCRIPT})"),
    Payload("markdown-image", "![pixel](https://tracker.example/p.png)", rendered="!pixel"),
    Payload("svg-onload", "<svg onload=alert(1)>"),
    Payload("svg-script", "<svg><script>alert(1)</script></svg>"),
    Payload("textarea-breakout", "</textarea><script>alert(1)</script>"),
    Payload("title-breakout", "</title><script>alert(1)</script>"),
    Payload("open-comment", "<!-- the rest of the page"),
    Payload("cdata", "<![CDATA[ ]]><script>alert(1)</script>"),
    Payload("unclosed-tag", '<a href="javascript:alert(1)" x="'),
    Payload("script-in-json", '{"a": "</script><!--<script>alert(1)//"}'),
    Payload(
        "frames", '<iframe src="javascript:alert(1)"></iframe><object data=x></object><embed src=x>'
    ),
    Payload(
        "base-and-refresh",
        '<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    ),
    Payload("form", "<form action=javascript:alert(1)><input autofocus onfocus=alert(1)></form>"),
    Payload(
        "escaped-entities",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        rendered="<script>alert(1)</script>",
    ),
    Payload("template-jinja", "{{7*7}}{{ config }}"),
    Payload("template-raw", "{% raw %}{{ self }}{% endraw %}${{ 1 }}"),
    Payload(
        "css", 'red; background: url("javascript:alert(1)"); } </style><style>body{display:none}'
    ),
    Payload("rtl-override", "invoice\u202egpj.exe"),
    Payload("zero-width", "java\u200bscript:\u200dalert(1)\ufeff"),
    Payload("nul", "<scr\x00ipt>alert(1)</scr\x00ipt>nul\x00end"),
)

BY_NAME = {payload.name: payload for payload in PAYLOADS}

# Long enough to fold behind "Show all", with its hostile part past the fold.
LONG = "A long answer. " * 250 + "<img src=x onerror=alert('long')> <script>alert('long')</script>"

# URLs that must never become a link or an image source when span content carries them.
HOSTILE_URLS: tuple[str, ...] = (
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    f"data:image/svg+xml;base64,{SVG_WITH_SCRIPT}",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "/api/v1/traces",
)
# An http(s) URL that tries to break out of the attribute it lands in.
BREAKOUT_URL = 'https://example.com/?q="><script>alert(1)</script>'


def normalized(text: str) -> str:
    """Text as compared with the page: no whitespace, and no NUL in any of its forms."""
    for nul in ("\x00", "\ufffd", "\\u0000"):
        text = text.replace(nul, "")
    return "".join(text.split())
