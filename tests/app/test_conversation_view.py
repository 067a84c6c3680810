"""A normalised conversation turned into blocks: every kind, and hostile or broken input."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from bs4 import BeautifulSoup
from markupsafe import Markup

from app.conversation_view import LONG_CHARS, LONG_LINES, Block, ConversationView, build

PIXEL_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def _user(*parts: Any) -> dict[str, Any]:
    return {"input_messages": [{"role": "user", "parts": list(parts)}]}


def _blocks(*parts: Any) -> list[Block]:
    return build(_user(*parts)).messages[0].blocks


def _one(part: Any) -> Block:
    blocks = _blocks(part)
    assert len(blocks) == 1
    return blocks[0]


def _html(markup: Markup | None) -> BeautifulSoup:
    assert markup is not None
    return BeautifulSoup(str(markup), "html.parser")


def _all_text(block: Block) -> str:
    """Everything a block shows: label, body text, facts, note, link and its children's."""
    pieces = [block.label, block.note or "", block.url or ""]
    if block.body is not None:
        pieces.append(_html(block.body).get_text())
    pieces += [f"{key} {value}" for key, value in block.facts]
    pieces += [_all_text(child) for child in block.children]
    if block.link:
        pieces.append(block.link[1])
    return "\n".join(pieces)


def _walk(view: ConversationView) -> list[Block]:
    found: list[Block] = []

    def visit(block: Block) -> None:
        found.append(block)
        for child in block.children:
            visit(child)

    for block in [*view.system, *view.tools, *(b for m in view.messages for b in m.blocks)]:
        visit(block)
    return found


def _assert_inert(view: ConversationView) -> None:
    """Every body is Markup with no element or attribute that could run or fetch anything."""
    for block in _walk(view):
        assert isinstance(block.label, str)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in block.facts)
        if block.body is None:
            continue
        assert isinstance(block.body, Markup)
        soup = _html(block.body)
        assert soup.find_all(["script", "iframe", "img", "object", "embed", "svg", "style"]) == []
        for element in soup.find_all(True):
            for name, value in element.attrs.items():
                assert not name.startswith("on"), element
                if name in ("href", "src"):
                    assert str(value).startswith(("https://", "http://", "mailto:", "#")), element
        if block.image_src is not None:
            assert re.fullmatch(
                r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]*={0,2}", block.image_src
            )
        if block.url is not None:
            assert block.url.startswith(("http://", "https://"))
        if block.anchor is not None:
            assert re.fullmatch(r"(call|result)-[A-Za-z0-9_-]{0,120}", block.anchor)
    json.loads(_html(view.raw_json).get_text())


# --- text and thinking ---------------------------------------------------------------------------


def test_text_is_markdown() -> None:
    block = _one({"type": "text", "content": "It is **18°C** in Paris."})
    assert block.kind == "text"
    assert _html(block.body).select_one("strong").get_text() == "18°C"
    assert block.chars == len("It is **18°C** in Paris.")
    assert not block.long
    assert block.facts == []


def test_text_with_citations() -> None:
    block = _one(
        {
            "type": "text",
            "content": "Louvre first.",
            "citations": [
                {
                    "type": "char_location",
                    "cited_text": "Day 1: Louvre.",
                    "document_title": "Itinerary",
                    "start_char_index": 0,
                },
                {
                    "type": "web_search_result_location",
                    "cited_text": "Open 9-18",
                    "title": "Louvre hours",
                    "url": "https://www.louvre.fr/en",
                },
                {"cited_text": "bad link", "url": "javascript:alert(1)"},
                "not a citation",
            ],
        }
    )
    first, web, bad, odd = block.children
    assert first.kind == "citation"
    assert first.label == "Itinerary"
    assert _html(first.body).select_one("q").get_text() == "Day 1: Louvre."
    assert first.facts == [("type", "char_location"), ("start_char_index", "0")]
    assert first.url is None
    assert web.label == "Louvre hours"
    assert web.url == "https://www.louvre.fr/en"
    assert bad.url is None
    assert odd.kind == "raw"
    assert "not a citation" in _html(odd.body).get_text()


@pytest.mark.parametrize(
    ("text", "long"),
    [
        ("x" * LONG_CHARS, False),
        ("x" * (LONG_CHARS + 1), True),
        ("line\n" * LONG_LINES, False),
        ("line\n" * (LONG_LINES + 1), True),
    ],
)
def test_long_text_is_flagged(text: str, long: bool) -> None:
    block = _one({"type": "text", "content": text})
    assert block.long is long
    assert block.chars == len(text)


@pytest.mark.parametrize(
    "signed",
    [{"has_signature": True}, {"signature": "EqQBCkgSIGNED"}],
    ids=["recorded-before-signatures-were-kept", "signature"],
)
def test_reasoning(signed: dict[str, Any]) -> None:
    block = _one({"type": "reasoning", "content": "I should *call* both tools.", **signed})
    assert block.kind == "reasoning"
    assert block.label == "Thinking"
    assert _html(block.body).select_one("em").get_text() == "call"
    # The signature is opaque: the reader is told it is there, not shown it.
    assert block.facts == [("signed", "yes")]
    unsigned = _one({"type": "reasoning", "content": "hmm"})
    assert unsigned.facts == []


@pytest.mark.parametrize(
    ("part", "note"),
    [
        ({"type": "reasoning", "redacted": True, "data_length": 2048}, "(2,048 bytes)."),
        ({"type": "reasoning", "redacted": True, "data": "ZW5jcnlw"}, "(8 bytes)."),
        ({"type": "reasoning", "redacted": True}, "by the provider."),
        ({"type": "reasoning", "redacted": True, "data_length": "lots"}, "by the provider."),
    ],
)
def test_redacted_reasoning_is_noted(part: dict[str, Any], note: str) -> None:
    block = _one(part)
    assert block.kind == "redacted"
    assert block.label == "Redacted thinking"
    assert block.body is None
    assert block.note is not None and block.note.endswith(note)
    assert block.facts == []  # the ciphertext is not shown as a fact


# --- tools ---------------------------------------------------------------------------------------


def _tool_conversation(is_error: bool = False) -> dict[str, Any]:
    return {
        "input_messages": [
            {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
            {
                "role": "assistant",
                "parts": [
                    {
                        "type": "tool_call",
                        "id": "toolu_01",
                        "name": "get_weather",
                        "arguments": {"city": "Paris"},
                    },
                    {"type": "tool_call", "id": "toolu_02", "name": "get_time", "arguments": {}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "type": "tool_call_response",
                        "id": "toolu_01",
                        "response": "18°C",
                        "is_error": is_error,
                    },
                    {"type": "tool_call_response", "id": "toolu_99", "response": "stray"},
                ],
            },
        ]
    }


def test_a_tool_call_and_its_result_link_to_each_other() -> None:
    view = build(_tool_conversation())
    call, unanswered = view.messages[1].blocks
    result, stray = view.messages[2].blocks
    assert call.kind == "tool_call"
    assert call.label == "get_weather"
    assert json.loads(_html(call.body).get_text()) == {"city": "Paris"}
    assert "\n" in _html(call.body).get_text()  # indented over lines
    assert call.anchor == "call-toolu_01"
    assert call.link == ("#result-toolu_01", "result")
    assert call.facts == [("id", "toolu_01")]
    assert not call.error
    assert call.note is None

    assert result.kind == "tool_result"
    assert result.label == "get_weather"  # named after its call
    assert result.anchor == "result-toolu_01"
    assert result.link == ("#call-toolu_01", "call")
    assert _html(result.body).select_one("pre").get_text() == "18°C"
    assert not result.error

    assert unanswered.link is None
    assert unanswered.note == "Its result is not part of this call."
    # A result whose call is not in this conversation: no name, no link, still its anchor.
    assert stray.label == ""
    assert stray.link is None
    assert stray.anchor == "result-toolu_99"


def test_a_failed_tool_call_is_marked_on_both_sides() -> None:
    view = build(_tool_conversation(is_error=True))
    call, result = view.messages[1].blocks[0], view.messages[2].blocks[0]
    assert call.error
    assert call.link == ("#result-toolu_01", "error result")
    assert result.error


def test_server_tools() -> None:
    blocks = (
        build(
            {
                "output_messages": [
                    {
                        "role": "assistant",
                        "parts": [
                            {
                                "type": "server_tool_call",
                                "id": "srvtoolu_1",
                                "name": "web_search",
                                "arguments": {"query": "louvre"},
                                "anthropic_type": "server_tool_use",
                            },
                            {
                                "type": "server_tool_call_response",
                                "id": "srvtoolu_1",
                                "response": [
                                    {
                                        "type": "search_result",
                                        "title": "Louvre",
                                        "source": "https://louvre.fr",
                                        "content": [{"type": "text", "content": "Open daily."}],
                                    }
                                ],
                            },
                        ],
                    }
                ]
            }
        )
        .messages[0]
        .blocks
    )
    call, result = blocks
    assert call.kind == "server_tool_call"
    assert call.link == ("#result-srvtoolu_1", "result")
    assert ("anthropic_type", "server_tool_use") in call.facts
    assert result.kind == "server_tool_result"
    assert result.label == "web_search"
    assert result.link == ("#call-srvtoolu_1", "call")
    (search,) = result.children
    assert search.kind == "document"
    assert search.label == "Louvre"
    assert search.url == "https://louvre.fr"
    assert _html(search.children[0].body).get_text().strip() == "Open daily."


@pytest.mark.parametrize(
    ("response", "shown"),
    [
        ('{"temp": 18}', {"temp": 18}),
        ("[1, 2]", [1, 2]),
        ({"temp": 18}, {"temp": 18}),
        (18, 18),
        (None, None),
        ([1, "two"], [1, "two"]),
    ],
)
def test_tool_results_that_are_json_are_shown_as_json(response: Any, shown: Any) -> None:
    block = _one({"type": "tool_call_response", "id": "t", "response": response})
    assert block.children == []
    assert json.loads(_html(block.body).get_text()) == shown


def test_a_tool_result_of_parts_is_shown_as_those_parts() -> None:
    block = _one(
        {
            "type": "tool_call_response",
            "id": "t",
            "response": [
                {"type": "text", "content": "See the image."},
                {
                    "type": "blob",
                    "modality": "image",
                    "mime_type": "image/png",
                    "content": PIXEL_PNG,
                },
            ],
        }
    )
    assert block.body is None
    assert [child.kind for child in block.children] == ["text", "media"]
    assert block.children[1].image_src == f"data:image/png;base64,{PIXEL_PNG}"


def test_a_long_tool_result_is_flagged() -> None:
    block = _one({"type": "tool_call_response", "id": "t", "response": "x" * (LONG_CHARS + 1)})
    assert block.long
    assert block.chars == LONG_CHARS + 1


@pytest.mark.parametrize(
    ("ident", "anchor"),
    [
        ("toolu_01ABC-x", "call-toolu_01ABC-x"),
        ('a b"c<d>', "call-a_b_c_d_"),
        (SCRIPT, "call-_script_alert_1___script_"),
        ("é" * 200, "call-" + "_" * 120),
        ("", "call-"),
    ],
)
def test_anchors_are_safe_in_a_fragment(ident: str, anchor: str) -> None:
    block = _one({"type": "tool_call", "id": ident, "name": "t", "arguments": {}})
    assert block.anchor == anchor


def test_tool_call_arguments_of_any_shape() -> None:
    assert (
        json.loads(_html(_one({"type": "tool_call", "id": "t", "name": "n"}).body).get_text()) == {}
    )
    text = _one({"type": "tool_call", "name": "n", "arguments": "not json"})
    assert _html(text.body).get_text() == "not json"
    assert text.anchor is None  # no id: nothing to pair with
    assert _one({"type": "tool_call", "arguments": []}).label == "(unnamed tool)"


def test_tool_definitions() -> None:
    view = build(
        {
            "tools": [
                {
                    "name": "get_weather",
                    "description": "Current **weather**.",
                    "parameters": {"type": "object"},
                },
                {"type": "web_search_20250305", "raw": {"max_uses": 3}},
                {"name": "bare"},
                "not a tool",
            ]
        }
    )
    weather, server, bare, odd = view.tools
    assert weather.kind == "tool"
    assert weather.label == "get_weather"
    assert json.loads(_html(weather.body).get_text()) == {"type": "object"}
    assert _html(weather.children[0].body).select_one("strong").get_text() == "weather"
    assert server.label == "web_search_20250305"
    assert json.loads(_html(server.body).get_text()) == {"max_uses": 3}
    assert bare.body is None
    assert bare.children == []
    assert odd.kind == "raw"


# --- media, documents and the rest ---------------------------------------------------------------


def test_a_kept_png_is_inlined() -> None:
    block = _one(
        {
            "type": "blob",
            "modality": "image",
            "mime_type": "image/png",
            "size": 70,
            "sha256": "ab" * 32,
            "content": PIXEL_PNG,
        }
    )
    assert block.kind == "media"
    assert block.label == "Image"
    assert block.image_src == f"data:image/png;base64,{PIXEL_PNG}"
    assert block.facts == [("type", "image/png"), ("size", "70 B"), ("sha256", "ab" * 32)]
    assert block.note is None


@pytest.mark.parametrize("mime", ["image/jpeg", "image/gif", "image/webp"])
def test_other_raster_images_are_inlined(mime: str) -> None:
    block = _one({"type": "blob", "modality": "image", "mime_type": mime, "content": "AAAA"})
    assert block.image_src == f"data:{mime};base64,AAAA"


def test_base64_with_line_breaks_is_inlined_without_them() -> None:
    wrapped = "\n".join(PIXEL_PNG[i : i + 20] for i in range(0, len(PIXEL_PNG), 20))
    block = _one(
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": wrapped}
    )
    assert block.image_src == f"data:image/png;base64,{PIXEL_PNG}"


@pytest.mark.parametrize(
    "part",
    [
        {"type": "blob", "modality": "image", "mime_type": "image/svg+xml", "content": "PHN2Zz4="},
        {"type": "blob", "modality": "image", "mime_type": "text/html", "content": "PHNjcmlwdD4="},
        {
            "type": "blob",
            "modality": "image",
            "mime_type": 'image/png" onerror="alert(1)',
            "content": "AAAA",
        },
        {"type": "blob", "modality": "image", "mime_type": "IMAGE/PNG", "content": "AAAA"},
        {"type": "blob", "modality": "image", "content": "AAAA"},
        {"type": "blob", "modality": "document", "mime_type": "image/png", "content": "AAAA"},
        {
            "type": "blob",
            "modality": "image",
            "mime_type": "image/png",
            "content": 'AAAA"><script>alert(1)</script>',
        },
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "not base64!"},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "AAA"},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "AA==AA=="},
    ],
    ids=[
        "svg",
        "html",
        "quoted-mime",
        "upper-mime",
        "no-mime",
        "not-image",
        "injected",
        "bad-chars",
        "bad-padding",
        "inner-padding",
    ],
)
def test_media_is_only_described_unless_safe_to_inline(part: dict[str, Any]) -> None:
    block = _one(part)
    assert block.image_src is None
    assert ("data", f"{len(part['content']):,} base64 characters kept") in block.facts


def test_media_whose_data_was_not_kept_is_described() -> None:
    block = _one(
        {
            "type": "blob",
            "modality": "image",
            "mime_type": "image/png",
            "size": 3 * 1024 * 1024 + 1,
            "sha256": "ff" * 32,
        }
    )
    assert block.image_src is None
    assert block.facts == [("type", "image/png"), ("size", "3.0 MB"), ("sha256", "ff" * 32)]
    assert block.note == "The data was not kept: only its type, size and hash."
    assert ("size", "1.5 KB") in _one({"type": "blob", "size": 1536}).facts
    assert _one({"type": "blob"}).label == "File"


@pytest.mark.parametrize("size", [-1, True, "12", 1.5, None])
def test_odd_sizes_are_not_sizes(size: Any) -> None:
    """An odd size is not read as bytes, but it is still shown as it was recorded."""
    block = _one({"type": "blob", "modality": "image", "size": size})
    sizes = [value for key, value in block.facts if key == "size"]
    assert sizes == (
        [] if size is None else [json.dumps(size) if not isinstance(size, str) else size]
    )
    assert not any(value.endswith(("B", "KB", "MB")) for value in sizes)


def test_uri_and_file_media() -> None:
    web = _one(
        {
            "type": "uri",
            "modality": "image",
            "mime_type": "image/png",
            "uri": "https://example.com/cat.png",
        }
    )
    assert web.url == "https://example.com/cat.png"
    assert web.image_src is None  # never fetched by the page
    hostile = _one({"type": "uri", "modality": "image", "uri": "javascript:alert(1)"})
    assert hostile.url is None
    assert ("uri", "javascript:alert(1)") in hostile.facts
    upload = _one({"type": "file", "modality": "document", "file_id": "file_011"})
    assert upload.label == "Document"
    assert ("file id", "file_011") in upload.facts


def test_documents() -> None:
    text = _one(
        {
            "type": "document",
            "title": "Itinerary",
            "mime_type": "text/plain",
            "content": "Day 1:  Louvre.\n  Day 2: <b>rest</b>",
        }
    )
    assert text.kind == "document"
    assert text.label == "Itinerary"
    # Kept exactly, whitespace and all, and escaped.
    assert _html(text.body).select_one("pre").get_text() == "Day 1:  Louvre.\n  Day 2: <b>rest</b>"
    assert text.facts == [("mime_type", "text/plain")]
    parts = _one(
        {
            "type": "document",
            "content": [{"type": "text", "content": "inside"}],
            "citations": {"enabled": True},
        }
    )
    assert parts.label == "Document"
    assert parts.body is None
    assert [child.kind for child in parts.children] == ["text"]
    assert parts.facts == [("citations", '{\n  "enabled": true\n}')]
    assert _one({"type": "document"}).children == []


def test_search_results() -> None:
    block = _one(
        {
            "type": "search_result",
            "title": "Hours",
            "source": "internal://kb/12",
            "content": [{"type": "text", "content": "9-18"}],
        }
    )
    assert block.kind == "document"
    assert block.label == "Hours"
    assert block.url is None
    assert ("source", "internal://kb/12") in block.facts
    assert len(block.children) == 1
    assert _one({"type": "search_result"}).label == "Search result"


@pytest.mark.parametrize(
    ("part", "label", "shown"),
    [
        (
            {"type": "container_upload", "raw": {"file_id": "f1"}},
            "container_upload",
            {"file_id": "f1"},
        ),
        ({"type": "mystery", "x": 1}, "mystery", {"type": "mystery", "x": 1}),
        ({"type": "unknown", "raw": "just text"}, "unknown", None),
        ({"no": "type"}, "unknown", {"no": "type"}),
        ({"type": 5, "x": 1}, "unknown", {"type": 5, "x": 1}),
        ("a bare string", "value", None),
        (42, "value", 42),
        (None, "value", None),
        (["a", "list"], "value", ["a", "list"]),
        ({"type": "text", "content": 5}, "text", {"type": "text", "content": 5}),
        (
            {"type": "reasoning", "content": None},
            "reasoning",
            {"type": "reasoning", "content": None},
        ),
    ],
)
def test_unknown_parts_are_shown_raw(part: Any, label: str, shown: Any) -> None:
    block = build({"input_messages": [{"role": "user", "parts": [part]}]}).messages[0].blocks[0]
    assert block.kind == "raw"
    assert block.label == label
    text = _html(block.body).get_text().strip()
    if shown is None:
        assert text in ("null", "just text", "a bare string")
    else:
        assert json.loads(text) == shown


def test_fields_a_known_part_does_not_use_are_facts() -> None:
    block = _one(
        {"type": "text", "content": "hi", "cache_control": {"type": "ephemeral"}, "lang": "en"}
    )
    assert block.facts == [("cache_control", '{\n  "type": "ephemeral"\n}'), ("lang", "en")]


def test_truncated_parts_say_so() -> None:
    block = _one({"type": "text", "content": "cut", "truncated": True, "original_length": 123_456})
    assert block.note == "cut by the instrumentation (it had 123,456 characters)"
    assert block.facts == []
    assert (
        _one({"type": "text", "content": "cut", "truncated": True}).note
        == "cut by the instrumentation"
    )


@pytest.mark.parametrize(
    ("part", "marker"),
    [
        ({"type": "text", "content": "x", "citations": {"marker": "CITED-1"}}, "CITED-1"),
        ({"type": "document", "title": {"marker": "TITLE-1"}, "content": "x"}, "TITLE-1"),
        ({"type": "search_result", "title": ["TITLE-2"], "content": []}, "TITLE-2"),
        ({"type": "tool_call", "id": 12345, "name": "n", "arguments": {}}, "12345"),
        ({"type": "tool_call", "id": "t", "name": ["NAME-1"], "arguments": {}}, "NAME-1"),
        ({"type": "tool_call_response", "id": 67890, "response": "r"}, "67890"),
        ({"type": "blob", "modality": "image", "sha256": ["SHA-1"]}, "SHA-1"),
        ({"type": "blob", "modality": "image", "size": "SIZE-1"}, "SIZE-1"),
        ({"type": "blob", "modality": "image", "uri": "https://example.com/URI-1"}, "URI-1"),
        ({"type": "reasoning", "redacted": True, "content": "THOUGHT-1"}, "THOUGHT-1"),
        (
            {
                "type": "text",
                "content": "x",
                "citations": [{"cited_text": "c", "url": "ftp://URL-2"}],
            },
            "URL-2",
        ),
    ],
)
def test_no_field_is_dropped(part: dict[str, Any], marker: str) -> None:
    """A field a handler reads but cannot use (of an unexpected type) is still shown."""
    assert marker in _all_text(_one(part))


# --- the whole call ------------------------------------------------------------------------------


def test_a_whole_call() -> None:
    view = build(
        {
            "system_instructions": [{"type": "text", "content": "You are **brief**."}],
            "input_messages": [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}],
            "output_messages": [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "Hello"}],
                    "finish_reason": "end_turn",
                }
            ],
            "tools": [{"name": "t"}],
            "request_params": {
                "max_tokens": 1024,
                "temperature": 0.5,
                "stop_sequences": ["\n\n"],
                "thinking": {"type": "enabled"},
            },
        }
    )
    assert [b.kind for b in view.system] == ["text"]
    assert [(m.role, m.role_class, m.output, m.finish_reason) for m in view.messages] == [
        ("user", "user", False, None),
        ("assistant", "assistant", True, "end_turn"),
    ]
    assert [b.label for b in view.tools] == ["t"]
    assert view.request_params == [
        ("max_tokens", "1024"),
        ("temperature", "0.5"),
        ("stop_sequences", '[\n  "\\n\\n"\n]'),
        ("thinking", '{\n  "type": "enabled"\n}'),
    ]
    raw = json.loads(_html(view.raw_json).get_text())
    assert raw["system_instructions"][0]["content"] == "You are **brief**."
    # Each block of a message has its own id, for its "show all" toggle.
    uids = [b.uid for b in [*view.system, *(b for m in view.messages for b in m.blocks)]]
    assert len(uids) == len(set(uids)) and all(uids)


def test_an_empty_call() -> None:
    view = build({})
    assert (view.system, view.messages, view.tools, view.request_params) == ([], [], [], [])
    assert _html(view.raw_json).get_text() == "{}"
    view = build(
        {"input_messages": None, "output_messages": [], "tools": None, "request_params": None}
    )
    assert view.messages == []
    assert json.loads(_html(view.raw_json).get_text())["tools"] is None


def test_roles() -> None:
    view = build(
        {
            "input_messages": [
                {"role": "system", "parts": []},
                {"role": "tool", "parts": []},
                {"role": SCRIPT, "parts": []},
                {"parts": []},
                # What conventions.shapes makes of a role that is not text.
                {"role": "unknown", "raw_role": 7, "parts": []},
            ]
        }
    )
    assert [(m.role, m.role_class) for m in view.messages] == [
        ("system", "system"),
        ("tool", "tool"),
        (SCRIPT, "other"),
        ("unknown", "other"),
        ("unknown", "other"),
    ]
    assert all(m.blocks == [] for m in view.messages[:4])
    # The role that could not be used is still shown.
    assert json.loads(_html(view.messages[4].blocks[0].body).get_text()) == {"raw_role": 7}


def test_message_fields_beyond_role_and_parts_are_shown() -> None:
    view = build(
        {
            "output_messages": [
                {"role": "assistant", "parts": [], "name": "agent-7", "finish_reason": {"odd": 1}}
            ]
        }
    )
    (message,) = view.messages
    assert message.finish_reason == '{\n  "odd": 1\n}'
    (extra,) = message.blocks
    assert extra.kind == "raw"
    assert extra.label == "message fields"
    assert json.loads(_html(extra.body).get_text()) == {"name": "agent-7"}


@pytest.mark.parametrize(
    "value",
    [
        None,
        0,
        -1,
        1.5,
        float("nan"),
        True,
        "text",
        "",
        SCRIPT,
        [],
        [None],
        [[[]]],
        {},
        {"type": None},
        {"type": ""},
        {"type": "text"},
        {"type": "text", "content": None},
        {"type": "tool_call", "id": None, "name": None, "arguments": None},
        {"type": "tool_call_response", "response": [{"no": "type"}]},
        {"type": "tool_call_response", "response": [{"type": "text"}, "x"]},
        {"type": "blob", "content": None, "mime_type": 5, "modality": ["image"]},
        {"type": "blob", "content": "", "modality": "image", "mime_type": "image/png"},
        {"type": "uri", "uri": None},
        {"type": "uri", "uri": {"href": "https://x"}},
        {"type": "file"},
        {"type": "document", "content": 5},
        {"type": "document", "content": {"type": "text", "content": "x"}},
        {"type": "search_result", "content": "plain", "source": 5},
        {"type": "reasoning", "redacted": "yes", "data_length": True},
        {"type": "text", "content": "x", "citations": [None, 5, {"cited_text": None, "url": 5}]},
        {"type": "text", "content": "x", "truncated": True, "original_length": "many"},
        {"type": "text", "content": "\x00\ud7ff\u202e"},
    ],
)
def test_malformed_values_anywhere_never_raise(value: Any) -> None:
    conversations = [
        {"system_instructions": value},
        {"input_messages": value},
        {"output_messages": [value]},
        {"input_messages": [{"role": "user", "parts": value}]},
        {"input_messages": [{"role": "user", "parts": [value]}]},
        {"tools": value},
        {"tools": [value]},
        {"request_params": value},
        {"input_messages": [{"role": value, "parts": [], "finish_reason": value}]},
    ]
    for conversation in conversations:
        _assert_inert(build(conversation))


HOSTILE_TEXTS = [
    SCRIPT,
    IMG,
    "[click](javascript:alert(1))",
    "<b onclick=alert(1)>x</b>",
    "<iframe src=javascript:alert(1)></iframe>",
    "![x](https://tracker.example/p.gif)",
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_content_in_every_field_is_inert(text: str) -> None:
    part_kinds = [
        {
            "type": "text",
            "content": text,
            "citations": [{"cited_text": text, "title": text, "url": text}],
        },
        {"type": "reasoning", "content": text},
        {"type": "tool_call", "id": text, "name": text, "arguments": {text: text}},
        {"type": "tool_call", "id": "j", "name": "j", "arguments": text},
        {"type": "tool_call_response", "id": text, "response": text, "is_error": True},
        {"type": "blob", "modality": text, "mime_type": text, "sha256": text, "content": text},
        {"type": "uri", "modality": "image", "uri": text},
        {"type": "document", "title": text, "content": text},
        {
            "type": "search_result",
            "title": text,
            "source": text,
            "content": [{"type": "text", "content": text}],
        },
        {"type": text, "raw": text},
        {"type": "text", "content": "x", text: text},
    ]
    view = build(
        {
            "system_instructions": [{"type": "text", "content": text}],
            "input_messages": [{"role": text, "parts": part_kinds, text: text}],
            "output_messages": [{"role": "assistant", "parts": part_kinds, "finish_reason": text}],
            "tools": [{"name": text, "description": text, "parameters": {text: text}}],
            "request_params": {text: text},
        }
    )
    _assert_inert(view)
    # Shown, as text, somewhere in each block that holds it (Markdown that is safe renders).
    if not text.startswith("!"):
        for block in view.messages[0].blocks[:-1]:
            assert text in _all_text(block) or block.kind == "media", block


def test_nesting_as_deep_as_a_stored_conversation_can_be() -> None:
    """Stored conversations nest at most ~96 levels (`conventions.common.MAX_DEPTH`)."""
    part: Any = {"type": "text", "content": "the bottom"}
    for _ in range(48):
        part = {"type": "document", "content": [part]}
    (block,) = _blocks(part)
    depth = 0
    while block.children:
        (block,) = block.children
        depth += 1
    assert depth == 48
    assert "the bottom" in _html(block.body).get_text()


def test_deeply_nested_json_text_in_tool_arguments_never_raises() -> None:
    text = "[" * 5_000 + "]" * 5_000
    block = _one({"type": "tool_call", "id": "t", "name": "n", "arguments": text})
    assert _html(block.body).get_text() == text
    result = _one({"type": "tool_call_response", "id": "t", "response": text})
    assert _html(result.body).get_text() == text


def test_the_module_renders_no_markup_from_labels() -> None:
    """Labels, facts and notes are plain strings: the template escapes them."""
    block = _one({"type": "tool_call", "id": "x", "name": SCRIPT, "arguments": {}})
    assert block.label == SCRIPT
    assert not isinstance(block.label, Markup)


# --- tool pairing by the part itself ---------------------------------------------------------------


def test_repeated_tool_ids_get_unique_anchors_and_pair_in_order() -> None:
    view = build(
        {
            "input_messages": [
                {
                    "role": "assistant",
                    "parts": [
                        {"type": "tool_call", "id": "dup", "name": "first", "arguments": {}},
                        {"type": "tool_call", "id": "dup", "name": "second", "arguments": {}},
                        {"type": "tool_call", "id": "d?p", "name": "third", "arguments": {}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [{"type": "tool_call_response", "id": "dup", "response": "one"}],
                },
            ]
        }
    )
    first, second, third = view.messages[0].blocks
    (result,) = view.messages[1].blocks
    anchors = [first.anchor, second.anchor, third.anchor, result.anchor]
    assert len(set(anchors)) == 4, anchors
    # The first call with an id is the one its answer pairs with, both ways.
    assert first.link == ("#" + result.anchor, "result")
    assert result.link == ("#" + first.anchor, "call") and result.label == "first"
    assert second.link is None and second.note
    assert third.anchor == "call-d_p" and first.anchor == "call-dup"


def test_a_server_tool_call_is_not_answered_by_a_client_tool_result() -> None:
    view = build(
        {
            "output_messages": [
                {
                    "role": "assistant",
                    "parts": [
                        {"type": "server_tool_call", "id": "s1", "name": "web_search"},
                        {"type": "tool_call_response", "id": "s1", "response": "odd"},
                    ],
                }
            ]
        }
    )
    call, result = view.messages[0].blocks
    assert call.link is None
    assert result.link is None and result.label == ""


def test_long_tool_arguments_and_results_fold_like_long_text() -> None:
    arguments = {f"key{n}": n for n in range(LONG_LINES + 5)}  # short text, many lines pretty
    view = build(
        {
            "input_messages": [
                {
                    "role": "assistant",
                    "parts": [
                        {"type": "tool_call", "id": "t", "name": "n", "arguments": arguments}
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {
                            "type": "tool_call_response",
                            "id": "t",
                            "response": json.dumps(arguments),
                        },
                        {"type": "tool_call_response", "id": "u", "response": {"k": 1}},
                    ],
                },
            ]
        }
    )
    call = view.messages[0].blocks[0]
    long_result, short_result = view.messages[1].blocks
    assert call.long and call.chars > len(json.dumps(arguments))
    assert long_result.long
    assert not short_result.long


def test_a_sources_notes_are_shown_in_words() -> None:
    view = build(
        {
            "notes": [
                {"kind": "content_elsewhere", "message": "The messages went elsewhere."},
                "a bare note",
            ]
        }
    )
    assert view.notes == ["The messages went elsewhere.", "a bare note"]
    assert build({}).notes == []
