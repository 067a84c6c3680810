"""Which clients an instrumentation records: an instance and its copies, a class, or every client.

A client the instrumentation does not cover keeps the SDK's own tracing, so its calls show up
under the SDK's scope instead of Spyglass's; that is how these tests tell the two apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

import spyglass
from tests.fake_anthropic import FakeAnthropic, Reply
from tests.instrumentation.conftest import MODEL, Captured, ask

SDK_SCOPE = "com.anthropic.sdk.python"


def recorded_by(spans: Captured) -> list[str]:
    """Per finished call, in order: "spyglass", or the SDK's scope when we did not record it."""
    return [span.instrumentation_scope.name for span in spans.spans]


@pytest.fixture
def other(fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0) as client:
        yield client


def test_an_instance_covers_itself_and_its_copies_only(
    client: anthropic.Anthropic, other: anthropic.Anthropic, spans: Captured
) -> None:
    with spyglass.instrument_anthropic(client):
        ask(client)
        ask(client.with_options(timeout=30))
        ask(client.copy(max_retries=1))
        ask(client.with_options(default_headers={"x-team": "a"}).copy())
        ask(other)

    assert recorded_by(spans) == ["spyglass"] * 4 + [SDK_SCOPE]
    spans.exporter.clear()
    ask(client)
    assert recorded_by(spans) == [SDK_SCOPE]


def test_a_class_covers_its_instances_only(
    fake: FakeAnthropic, client: anthropic.Anthropic, spans: Captured
) -> None:
    async def ask_async() -> None:
        async with anthropic.AsyncAnthropic(
            base_url=fake.base_url, api_key="test", max_retries=0
        ) as async_client:
            await async_client.messages.create(
                model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
            )
            await async_client.with_options(timeout=5).messages.count_tokens(
                model=MODEL, messages=[{"role": "user", "content": "Hi"}]
            )

    with spyglass.instrument_anthropic(anthropic.AsyncAnthropic):
        asyncio.run(ask_async())
        ask(client)

    assert recorded_by(spans) == ["spyglass", "spyglass", SDK_SCOPE]
    assert [span.name for span in spans.spans][:2] == [
        f"chat {MODEL}",
        "anthropic.messages.count_tokens",
    ]


def test_a_class_covers_its_subclasses(fake: FakeAnthropic, spans: Captured) -> None:
    fake.enqueue(Reply.message(), path="/anthropic/v1/messages")
    foundry = anthropic.AnthropicFoundry(
        api_key="dummy", base_url=fake.base_url + "/anthropic", max_retries=0
    )

    with spyglass.instrument_anthropic(anthropic.Anthropic), foundry:
        ask(foundry)

    assert recorded_by(spans) == ["spyglass"]


def _platform_clients(fake: FakeAnthropic) -> list[tuple[Any, str]]:
    """Bedrock and Vertex clients pointed at the fake, with dummy credentials (no cloud SDK)."""
    bedrock = anthropic.AnthropicBedrock(
        api_key="dummy", aws_region="us-east-1", base_url=fake.base_url, max_retries=0
    )
    vertex = anthropic.AnthropicVertex(
        region="us-east5",
        project_id="project",
        access_token="dummy",
        base_url=fake.base_url + "/v1",
        max_retries=0,
    )
    fake.enqueue(Reply.message(), path=f"/model/{MODEL}/invoke")
    vertex_path = (
        f"/v1/projects/project/locations/us-east5/publishers/anthropic/models/{MODEL}:rawPredict"
    )
    fake.enqueue(Reply.message(), path=vertex_path)
    return [(bedrock, "aws.bedrock"), (vertex, "gcp.vertex_ai")]


def test_nothing_covers_every_client_bedrock_and_vertex_included(
    fake: FakeAnthropic, client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    platforms = _platform_clients(fake)

    ask(client)
    for platform, _ in platforms:
        with platform:
            message = ask(platform)
            assert message.content[0].text == "Hello! How can I help?"

    assert recorded_by(spans) == ["spyglass"] * 3
    assert fake.pending(f"/model/{MODEL}/invoke") == 0
    for span, provider in zip(
        spans.spans, ["anthropic", "aws.bedrock", "gcp.vertex_ai"], strict=True
    ):
        assert span.name == f"chat {MODEL}"
        assert span.attributes["gen_ai.provider.name"] == provider
        assert span.attributes["gen_ai.usage.input_tokens"] == 135
        assert Captured.json(span, "gen_ai.input.messages") == [
            {"role": "user", "parts": [{"type": "text", "content": "Hi"}]}
        ]
