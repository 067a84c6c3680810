"""The conventions layer: which spans are LLM calls, and the summary stored with them."""

from __future__ import annotations

import pytest

from app import ingest, store
from app.conventions import summary_columns
from app.conventions.common import MAX_COUNT, as_int
from tests import otlp_builders as otlp

GENAI = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    "gen_ai.usage.input_tokens": 135,
    "gen_ai.usage.output_tokens": 40,
    "gen_ai.usage.cache_read.input_tokens": 100,
    "gen_ai.usage.cache_creation.input_tokens": 10,
    "gen_ai.response.finish_reasons": ["end_turn"],
    "gen_ai.response.time_to_first_chunk": 0.412,
}


def test_a_genai_span_is_summarised() -> None:
    columns = summary_columns(GENAI)
    assert columns["llm_convention"] == "otel-genai"
    assert columns["llm_provider"] == "anthropic"
    assert columns["llm_request_model"] == "claude-sonnet-4-5"
    assert columns["llm_response_model"] == "claude-sonnet-4-5-20250929"
    assert (columns["llm_input_tokens"], columns["llm_output_tokens"]) == (135, 40)
    assert (columns["llm_cache_read_tokens"], columns["llm_cache_creation_tokens"]) == (100, 10)
    assert columns["llm_finish_reasons"] == ["end_turn"]
    assert columns["llm_streaming"] is True
    assert columns["llm_ttft_ms"] == pytest.approx(412.0)


def test_both_names_of_the_cache_write_count_are_read() -> None:
    renamed = {**GENAI, "gen_ai.usage.cache_write.input_tokens": 7}
    del renamed["gen_ai.usage.cache_creation.input_tokens"]
    assert summary_columns(renamed)["llm_cache_creation_tokens"] == 7


def test_a_plain_span_is_not_an_llm_call() -> None:
    columns = summary_columns({"http.method": "GET"})
    assert set(columns.values()) == {None}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (5.0, 5),
        ("12", 12),
        (" 12 ", 12),
        (True, None),
        ("x", None),
        (None, None),
        (-1, None),
        (MAX_COUNT + 1, None),
        (1e30, None),
        ("99999999999999999999999", None),
        (float("nan"), None),
    ],
)
def test_token_counts_are_read_defensively(value: object, expected: int | None) -> None:
    assert as_int(value) == expected


def test_an_absurd_token_count_does_not_block_the_batch(engine) -> None:
    """Counts past int64 would overflow the trace sums; the span is stored, the count is not."""
    trace = otlp.trace_id()
    spans = [
        otlp.span(
            "chat", trace=trace, attributes={**GENAI, "gen_ai.usage.input_tokens": 2**63 - 1}
        ),
        otlp.span(
            "chat", trace=trace, attributes={**GENAI, "gen_ai.usage.input_tokens": 2**63 - 1}
        ),
    ]
    batch = ingest.decode(
        "traces", otlp.request(*spans).SerializeToString(), "protobuf", None, 1 << 20
    )
    with engine.begin() as connection:
        store.write(connection, [batch])
    assert [record["llm_input_tokens"] for record in batch.records] == [None, None]
    assert batch.records[0]["attributes"]["gen_ai.usage.input_tokens"] == 2**63 - 1


@pytest.mark.parametrize("text", ["null", "42", "true", '"quoted"', "[not json"])
def test_plain_text_instructions_stay_text(text: str) -> None:
    from app.conventions.otel_genai import CONVENTION

    conversation = CONVENTION.conversation({**GENAI, "gen_ai.system_instructions": text})
    assert conversation["system_instructions"] == [{"type": "text", "content": text}]
