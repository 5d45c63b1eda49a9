"""llmclient.structured: every ``response_format`` form read once; the answer decoded, validated, or refused."""

from __future__ import annotations

import pickle
import sys
from typing import Any

import pytest

import llmclient
from llmclient.models import ChatRequest, Completion, Message, ToolCall
from llmclient.structured import OutputFormat, decoded, output_format, prepare

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


class Model:
    """A Pydantic-style class: ``model_json_schema()`` is all that is read."""

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        return {"title": "Model", "description": "A model", **SCHEMA}


@pytest.mark.parametrize(("given", "name", "strict"), [
    ({"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA, "strict": True}}, "x", True),
    ({"type": "json_schema", "name": "flat", "schema": SCHEMA}, "flat", None),  # the Responses API's form
    ({"title": "Titled thing", **SCHEMA}, "Titled_thing", None),
    (SCHEMA, "response", None),
    (Model, "Model", None),
])
def test_every_form_gives_the_schema(given: Any, name: str, strict: bool | None) -> None:
    fmt = output_format(given)
    assert fmt is not None and fmt.name == name and fmt.strict == strict
    assert fmt.schema is not None and fmt.schema["properties"] == SCHEMA["properties"]


def test_text_none_and_json_object() -> None:
    assert output_format({"type": "text"}) is None and output_format(None) is None
    fmt = output_format({"type": "json_object"})
    assert fmt is not None and fmt.schema is None
    assert fmt.openai_chat() == {"type": "json_object"} and fmt.responses_text_format() == {"type": "json_object"}


def test_a_value_of_no_known_form_is_refused_by_name() -> None:
    with pytest.raises(llmclient.InvalidRequestError, match="response_format must be"):
        output_format("json")
    with pytest.raises(llmclient.InvalidRequestError, match=r"json_schema\.schema"):
        output_format({"type": "json_schema", "json_schema": {"name": "x"}})


def test_pydantic_is_never_imported() -> None:
    before = "pydantic" in sys.modules
    output_format(Model)
    assert ("pydantic" in sys.modules) == before


def test_decoded_sets_parsed_and_unwraps_a_fence() -> None:
    fmt = OutputFormat("x", SCHEMA)
    assert decoded(Completion(text='{"a": 1}'), fmt).parsed == {"a": 1}
    assert decoded(Completion(text='```json\n{"a": 2}\n```'), fmt).parsed == {"a": 2}
    assert decoded(Completion(text='{"a": 1}'), None).parsed is None


def test_a_tool_call_or_a_refusal_has_no_json_answer() -> None:
    fmt = OutputFormat("x", SCHEMA)
    called = Completion(text="", tool_calls=(ToolCall("c", "f", {}, "{}"),))
    assert decoded(called, fmt).parsed is None
    assert decoded(Completion(text="", refusal="no"), fmt).parsed is None


def test_errors_keep_the_text_and_pickle() -> None:
    with pytest.raises(llmclient.StructuredOutputError) as caught:
        decoded(Completion(text='{"a": "one"}', provider="openai", client_name="c"), OutputFormat("x", SCHEMA))
    err = caught.value
    assert err.text == '{"a": "one"}' and "$.a" in err.problem and not err.retryable
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is llmclient.StructuredOutputError and copy.text == err.text and str(copy) == str(err)


def test_prepare_strips_validate_output_and_checks_the_schema() -> None:
    request = ChatRequest((Message("user", "hi"),), {"response_format": SCHEMA, "validate_output": False})
    stripped, fmt = prepare(request)
    assert "validate_output" not in stripped.params and fmt is not None and not fmt.validate
    with pytest.raises(llmclient.InvalidRequestError, match="not a valid JSON Schema at properties"):
        prepare(ChatRequest((Message("user", "hi"),), {"response_format": {"type": "object", "properties": 1}}))
    assert prepare(ChatRequest((Message("user", "hi"),), {"temperature": 0}))[1] is None


def test_a_model_schema_is_closed_for_anthropic_and_bedrock_a_hand_written_one_is_not() -> None:
    class Nested:
        @classmethod
        def model_json_schema(cls) -> dict[str, Any]:
            return {"type": "object", "properties": {"inner": {"$ref": "#/$defs/Inner"}}, "required": ["inner"],
                    "$defs": {"Inner": {"type": "object", "properties": {"x": {"type": "string"}}}}}

    fmt = output_format(Nested)
    assert fmt is not None and fmt.from_model
    closed = fmt.closed_schema()
    assert closed is not None and closed["additionalProperties"] is False
    assert closed["$defs"]["Inner"]["additionalProperties"] is False
    assert fmt.schema is not None and "additionalProperties" not in fmt.schema  # validation uses the original
    given = output_format(SCHEMA)
    assert given is not None and given.closed_schema() == SCHEMA
    from llmclient.providers.anthropic import AnthropicAdapter

    body = AnthropicAdapter({"model": "claude-x"}).body(ChatRequest((Message("user", "hi"),),
                                                                    {"response_format": Nested}), stream=False)
    assert body["output_config"]["format"]["schema"]["additionalProperties"] is False
