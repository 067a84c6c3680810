"""Properties of the conventions layer that must hold for any input, checked on random spans.

Attribute maps mix the real vocabulary of every convention (every key the captured
instrumentors sent, and the ones our readers look for) with random keys; values are random
JSON, JSON text of nested structures, NaN, integers past 64 bits and lone surrogates. Whatever
they hold, with any scope name, events and log records, no convention raises, and every answer
is plain JSON. The profile below is derandomized, so a run in CI is the same every time.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.conventions import CONVENTIONS, convention_for, shapes, summary_columns
from app.conventions import otel_genai as genai
from app.conventions.common import jsonable
from app.conventions.pairing import pair_tool_calls
from tests.app.conventions.test_hostile_input import KEYS as HOSTILE_KEYS
from tests.app.conventions.test_hostile_input import check_conversation, check_part
from tests.captures import NAMES, load

settings.register_profile(
    "conventions-properties",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("conventions-properties")


def _vocabulary() -> tuple[list[str], list[str], list[str], list[str]]:
    """Attribute keys, span event names, log event names and scope names, as sent for real."""
    keys, events, logs, scopes = set(HOSTILE_KEYS), set(), set(), set()
    for name in NAMES:
        capture = load(name)
        for spans in capture.scenarios.values():
            for span in spans:
                keys.update(span.attributes)
                scopes.add(span.scope_name)
                for event in span.events:
                    events.add(event["name"])
                    keys.update(event.get("attributes") or {})
        for record in capture.logs:
            logs.add(record.get("event_name") or "")
            keys.update(record.get("attributes") or {})
    keys.update(
        {
            genai.PROMPT_KEY,
            genai.COMPLETION_KEY,
            "gen_ai.tool.call.arguments",
            "gen_ai.tool.call.result",
            "anthropic.tool_result.content",
            "anthropic.message.stop_reason",
            "http.request.resend_count",
            "event.name",
        }
    )
    events.update({genai.PROMPT_EVENT, genai.COMPLETION_EVENT, "exception"})
    logs.update({*genai.MESSAGE_EVENTS, genai.CHOICE_EVENT, genai.DETAILS_EVENT})
    return sorted(keys), sorted(events), sorted(logs), sorted(scopes)


KEYS, EVENT_NAMES, LOG_NAMES, SCOPES = _vocabulary()
WORDS = [
    *("user", "assistant", "system", "tool", "function", "chat", "execute_tool", "invoke_agent"),
    *("text", "tool_call", "tool_call_response", "reasoning", "image_url", "input_audio", "file"),
    *("end_turn", "tool_use", "stop", "length", "llm.request", "llm.stream", "LLM", ""),
]
# Keys of the shapes the readers look inside: messages, parts, OpenAI calls and events.
SHAPE_KEYS = [
    *("role", "parts", "content", "type", "text", "id", "name", "arguments", "response"),
    *("tool_calls", "tool_call_id", "function", "function_call", "image_url", "url"),
    *("message", "index", "finish_reason", "tools", "input_audio", "file", "file_data"),
]
SURROGATES = ["\ud800", "a\udfffb", "\udc00[{}]"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, 2**64, -(2**100), 10**30, 2**2000]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(WORDS + SURROGATES),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(SHAPE_KEYS) | st.text(max_size=4), children, max_size=4),
        # Typed objects, so that the readers of each kind of part look inside.
        st.fixed_dictionaries(
            {"type": st.sampled_from(WORDS)},
            optional={key: children for key in SHAPE_KEYS if key != "type"},
        ),
    ),
    max_leaves=10,
)


def _text(value: Any) -> str:
    """JSON text as an emitter may write it: NaN written as NaN, surrogates escaped."""
    return json.dumps(value)


values = st.one_of(json_values, json_values.map(_text))
keys = st.sampled_from(KEYS) | st.text(max_size=12)
attribute_maps = st.dictionaries(keys, values, max_size=8)
# Events, log records and parts carry a few attributes each.
small_maps = st.dictionaries(keys, values, max_size=3)
events = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "name": st.sampled_from(EVENT_NAMES) | st.text(max_size=8),
                "time": st.none() | st.text(max_size=8),
                "attributes": small_maps,
            }
        ),
        json_values,
    ),
    max_size=3,
)
logs = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "event_name": st.sampled_from(LOG_NAMES) | st.none() | st.text(max_size=8),
                "body": values,
                "attributes": small_maps,
                "time": st.none(),
                "severity_number": st.none() | st.integers(0, 24),
                "severity_text": st.none() | st.text(max_size=5),
            }
        ),
        json_values,
    ),
    max_size=4,
)
scopes = st.sampled_from(SCOPES) | st.text(max_size=30)


@PROFILE
@given(attributes=attribute_maps, scope_name=scopes)
def test_the_summary_of_any_span(attributes: dict[str, Any], scope_name: str) -> None:
    convention = convention_for(attributes, scope_name)
    columns = summary_columns(attributes, scope_name)
    json.dumps(columns, allow_nan=False)
    assert columns["llm_convention"] == (convention.name if convention else None)
    if convention is not None:
        assert isinstance(columns["llm_is_call"], bool)
        assert all(isinstance(reason, str) for reason in columns["llm_finish_reasons"])


@PROFILE
@given(
    attributes=attribute_maps,
    parts=st.lists(small_maps, max_size=2),
    events=events,
    logs=logs,
)
def test_every_convention_reads_any_span(
    attributes: dict[str, Any], parts: list[Any], events: list[Any], logs: list[Any]
) -> None:
    for convention in CONVENTIONS:
        convention.summarize(attributes)
        conversation = convention.conversation(attributes, parts, events=events, logs=logs)
        json.dumps(conversation, allow_nan=False)
        check_conversation(conversation)
        pair_tool_calls(conversation)


@PROFILE
@given(value=json_values)
def test_what_is_no_part_is_kept_raw(value: Any) -> None:
    """Where a part was expected, anything but text or a typed object is kept, as it came."""
    if isinstance(value, str) or (isinstance(value, dict) and isinstance(value.get("type"), str)):
        return
    assert shapes.part(value) == {"type": "unknown", "raw": value}
    message = {"role": "user", "parts": [value]}
    conversation = genai.CONVENTION.conversation(
        {"gen_ai.operation.name": "chat", "gen_ai.input.messages": [message]}
    )
    assert conversation["input_messages"] == [
        {"role": "user", "parts": [jsonable({"type": "unknown", "raw": value})]}
    ]


@PROFILE
@given(value=json_values)
def test_what_is_no_message_is_kept_raw(value: Any) -> None:
    if isinstance(value, str | dict):
        return
    for read in (shapes.messages, shapes.openai_messages):
        assert read([value]) == [{"role": "unknown", "parts": [{"type": "unknown", "raw": value}]}]


@PROFILE
@given(items=st.lists(json_values, max_size=6))
def test_openai_content_and_tool_calls_drop_nothing(items: list[Any]) -> None:
    """One part for each content part and each tool call, whatever they are, each a part."""
    assert len(shapes.openai_content(items)) == len(items)
    assert len(shapes.openai_tool_calls(items)) == len(items)
    message = {"role": "assistant", "content": items, "tool_calls": items}
    parts = shapes.openai_message(message)["parts"]
    assert len(parts) == 2 * len(items)
    for part in parts:
        check_part(part)
