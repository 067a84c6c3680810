"""The server-rendered pages: the trace list and a trace, escaped and working without JS."""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from tests import otlp_builders as otlp

PROTOBUF = {"content-type": "application/x-protobuf"}
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _export(client: TestClient, *spans, service: str = "web") -> None:
    reply = client.post(
        "/v1/traces",
        content=otlp.request(*spans, service=service).SerializeToString(),
        headers=PROTOBUF,
    )
    assert reply.status_code == 200, reply.text


def test_the_trace_list_shows_summaries_newest_first(client: TestClient) -> None:
    trace = otlp.trace_id()
    root = otlp.span("older trace", trace=trace)
    llm = otlp.span(
        "chat",
        trace=trace,
        parent=root.span_id,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 135,
            "gen_ai.usage.output_tokens": 40,
        },
    )
    _export(client, root, llm)
    _export(client, otlp.span("newer trace", start_ns=otlp.BASE_NS + 10**9))
    page = BeautifulSoup(client.get("/").text, "html.parser")
    rows = page.select("#traces tbody tr")
    assert [row.select("td")[1].get_text(strip=True) for row in rows] == [
        "newer trace",
        "older trace",
    ]
    older = [cell.get_text(strip=True) for cell in rows[1].select("td")]
    assert "claude-sonnet-4-5" in older[3]
    assert older[5:8] == ["1", "135", "40"]
    assert rows[1].select_one("a")["href"] == f"/traces/{trace.hex()}"


def test_the_trace_page_shows_the_span_tree(client: TestClient) -> None:
    trace = otlp.trace_id()
    root = otlp.span("root", trace=trace)
    child = otlp.span(
        "child", trace=trace, parent=root.span_id, start_ns=otlp.BASE_NS + 1000, status=2
    )
    _export(client, child, root)
    page = BeautifulSoup(client.get(f"/traces/{trace.hex()}").text, "html.parser")
    names = [
        row.select_one("td span").get_text(strip=True) for row in page.select("#spans tbody tr")
    ]
    assert names == ["root", "child"]
    assert "error" in page.select("#spans tbody tr")[1].select_one("td span")["class"]


def test_span_content_is_escaped(client: TestClient) -> None:
    trace = otlp.trace_id()
    _export(client, otlp.span(HOSTILE, trace=trace), service=HOSTILE)
    for path in ("/", f"/traces/{trace.hex()}"):
        html = client.get(path).text
        assert "<script>alert" not in html
        assert "&lt;script&gt;" in html
        assert BeautifulSoup(html, "html.parser").select("img[onerror]") == []


def test_unknown_and_malformed_trace_ids(client: TestClient) -> None:
    assert client.get(f"/traces/{'ab' * 16}").status_code == 404
    assert client.get("/traces/not-hex").status_code == 422
