"""What one span can make a page cost: text that is slow to render as Markdown is shown as written.

A message made of 2,000,000 "![" (4 MB, well under the body limit) took markdown-it-py 48 s to
render, on a request thread that kept going after the browser gave up. The page shows such
text as written instead; what a person wrote in ordinary sizes is still Markdown.
"""

from __future__ import annotations

import orjson
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from tests import otlp_builders as otlp

PROTOBUF = {"content-type": "application/x-protobuf"}


def _page_of_a_call(client: TestClient, text: str) -> BeautifulSoup:
    messages = [{"role": "user", "parts": [{"type": "text", "content": text}]}]
    call = otlp.span(
        "chat",
        attributes={
            "gen_ai.provider.name": "anthropic",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-x",
            "gen_ai.input.messages": orjson.dumps(messages).decode(),
        },
    )
    reply = client.post(
        "/v1/traces", content=otlp.request(call).SerializeToString(), headers=PROTOBUF
    )
    assert reply.status_code == 200, reply.text
    page = client.get(f"/traces/{call.trace_id.hex()}?span={call.span_id.hex()}")
    assert page.status_code == 200
    return BeautifulSoup(page.text, "html.parser")


def test_a_message_too_long_for_markdown_is_shown_as_written(client: TestClient) -> None:
    text = "![" * 2_000_000
    page = _page_of_a_call(client, text)
    shown = [pre.get_text() for pre in page.select("pre.as-written")]
    assert text in shown


def test_an_ordinary_message_is_still_markdown(client: TestClient) -> None:
    page = _page_of_a_call(client, "It will *rain* in [Paris](https://example.com).")
    assert [em.get_text() for em in page.select("em")] == ["rain"]
    assert page.select("pre.as-written") == []
