"""Messages in (strings, OpenAI dicts, Message objects, images, tool turns) and the value types."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from llmclient.errors import InvalidRequestError
from llmclient.models import (
    Attempt,
    Completion,
    HttpRequest,
    HttpResponse,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    Usage,
    to_messages,
    to_tools,
)


def test_a_string_is_one_user_turn() -> None:
    assert to_messages("hello") == (Message("user", "hello"),)


def test_message_objects_pass_through() -> None:
    m = Message("system", "be brief")
    assert to_messages(m) == (m,)
    assert to_messages([m, Message("user", "hi")]) == (m, Message("user", "hi"))


def test_a_single_dict_and_a_list_of_dicts() -> None:
    assert to_messages({"role": "user", "content": "hi"}) == (Message("user", "hi"),)
    out = to_messages([{"role": "system", "content": "s"}, {"role": "user", "content": "u", "name": "bob"}])
    assert out == (Message("system", "s"), Message("user", "u", name="bob"))


def test_openai_content_parts_text_and_images() -> None:
    data = base64.b64encode(b"\x89PNG fake").decode()
    (m,) = to_messages([{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
        {"type": "image_url", "image_url": "https://example.com/dog.jpg"},
    ]}])
    assert m.content == (
        TextPart("What is this?"),
        ImagePart(url="https://example.com/cat.png", detail="low"),
        ImagePart(data=data, media_type="image/png"),
        ImagePart(url="https://example.com/dog.jpg"),
    )
    assert m.text == "What is this?"
    assert m.content[2].data_url == f"data:image/png;base64,{data}"


def test_image_part_needs_exactly_one_source_and_builds_from_bytes() -> None:
    with pytest.raises(InvalidRequestError):
        ImagePart()
    with pytest.raises(InvalidRequestError):
        ImagePart(url="https://x", data="abc")
    part = ImagePart.from_bytes(b"abc", "image/jpeg", detail="high")
    assert part.data == base64.b64encode(b"abc").decode() and part.media_type == "image/jpeg"
    assert part.data_url == "data:image/jpeg;base64,YWJj"
    assert ImagePart(data="YWJj").data_url == "data:image/png;base64,YWJj"


def test_assistant_tool_calls_and_tool_result_turns() -> None:
    out = to_messages([
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "call_2", "name": "get_time", "arguments": {"tz": "CET"}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
    ])
    assistant, tool = out[1], out[2]
    assert assistant.content == ""
    assert assistant.tool_calls == (
        ToolCall("call_1", "get_weather", {"city": "Paris"}, '{"city":"Paris"}'),
        ToolCall("call_2", "get_time", {"tz": "CET"}),
    )
    assert (tool.role, tool.tool_call_id, tool.content) == ("tool", "call_1", '{"temp": 21}')


def test_unknown_dict_keys_become_metadata() -> None:
    (m,) = to_messages([{"role": "user", "content": "x", "cache_control": {"type": "ephemeral"}}])
    assert m.metadata == {"cache_control": {"type": "ephemeral"}}


@pytest.mark.parametrize(
    "messages, phrase",
    [
        ([], "empty"),
        ([{"role": "user", "content": "ok"}, {"content": "no role"}], "messages[1]"),
        ([{"role": "user", "content": 5}], "messages[0].content"),
        ([{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "audio"}]}],
         "messages[1].content[0]"),
        ([{"role": "user", "content": "a"}, 42], "messages[1]"),
        ([{"role": "user", "content": [{"type": "text"}]}], "messages[0].content[0]"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}], "messages[0].content[0]"),
        ([{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}], "messages[0]"),
        (None, "messages"),
    ],
)
def test_bad_input_is_an_invalid_request_naming_the_index(messages: object, phrase: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        to_messages(messages)  # type: ignore[arg-type]
    assert phrase in str(info.value)


def test_tool_call_from_json_text_tolerates_broken_json() -> None:
    assert ToolCall.from_json_text("c", "f", '{"a": 1}').arguments == {"a": 1}
    broken = ToolCall.from_json_text("c", "f", '{"a": ')
    assert broken.arguments == {} and broken.raw_arguments == '{"a": '
    assert ToolCall.from_json_text("c", "f", "").arguments == {}
    assert ToolCall.from_json_text("c", "f", "[1, 2]").arguments == {"value": [1, 2]}


def test_to_tools_accepts_three_forms() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    openai_form = {"type": "function", "function": {"name": "w", "description": "d", "parameters": schema}}
    flat = {"name": "w", "description": "d", "parameters": schema}
    anthropic = {"name": "w", "description": "d", "input_schema": schema}
    expected = Tool("w", "d", schema)
    assert to_tools([openai_form, flat, anthropic, expected]) == (expected,) * 4
    assert to_tools([{"name": "bare"}]) == (Tool("bare", "", {"type": "object", "properties": {}}),)
    with pytest.raises(InvalidRequestError):
        to_tools([{"description": "no name"}])


def test_usage_adds_up() -> None:
    total = Usage(1, 2, 3, 4, 5, 6) + Usage(10, 20, 30, 40, 50, 60)
    assert total == Usage(11, 22, 33, 44, 55, 66)


def test_attempt_outcome_and_completion_with_attempts() -> None:
    from llmclient.errors import RateLimitError

    ok = Attempt("a", "openai", 0.1)
    failed = Attempt("a", "openai", 0.1, RateLimitError("x"), 429)
    assert ok.outcome == "ok" and failed.outcome == "RateLimitError"
    completion = Completion("hi", raw={"x": 1})
    copy = completion.with_attempts([failed, ok])
    assert copy.attempts == (failed, ok) and completion.attempts == ()
    assert "raw=" not in repr(completion)
    with pytest.raises(dataclasses.FrozenInstanceError):
        completion.text = "changed"  # type: ignore[misc]


def test_http_request_with_headers_replaces_case_insensitively_and_collects_secrets() -> None:
    request = HttpRequest("POST", "https://h", {"authorization": "old", "Accept": "x"}, b"{}", secrets=("s1-abcdef",))
    signed = request.with_headers({"Authorization": "Bearer new-secret"}, secrets=["new-secret", ""])
    assert signed.headers == {"Accept": "x", "Authorization": "Bearer new-secret"}
    assert signed.secrets == ("s1-abcdef", "new-secret")
    assert request.headers == {"authorization": "old", "Accept": "x"}
    assert signed.json() == {}


def test_http_response_json() -> None:
    assert HttpResponse(200, {}, b'{"a": 1}').json() == {"a": 1}
    with pytest.raises(ValueError):
        HttpResponse(200, {}, b"<html>").json()


def test_message_text_and_parts() -> None:
    m = Message("user", (TextPart("a"), ImagePart(url="u"), TextPart("b")))
    assert m.text == "ab"
    assert Message("user", "x").parts == (TextPart("x"),)
    assert Message("user", "").parts == ()
