"""The openai-responses adapter over ``responses``: the request body, the answer, errors; .baml spellings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses
from responses_fixtures import CONTEXT_ERROR, REQUEST_BODY, RESPONSE, SCHEMA

import llmclient
from llmclient import (
    AuthError,
    ConfigError,
    ContextWindowExceededError,
    InvalidRequestError,
    Message,
    OpenAIResponsesClient,
    ProviderError,
    RateLimitError,
    Tool,
    ToolCall,
    Usage,
)
from llmclient.messages import ImagePart, TextPart, ThinkingPart

KEY = "sk-resp-DISTINCTIVE-5c1e7a90b2"
URL = "https://api.openai.com/v1/responses"


def client(**options: Any) -> OpenAIResponsesClient:
    options.setdefault("api_key", KEY)
    return OpenAIResponsesClient(model=options.pop("model", "gpt-5.2"), **options)


def body_of(**params: Any) -> dict[str, Any]:
    messages = params.pop("messages", "hi")
    options = params.pop("options", {})
    return client(**options).build_request(messages, **params).json()  # type: ignore[no-any-return]


# -- the request ----------------------------------------------------------------------------------


def test_the_reference_request_is_built_from_llmclient_values() -> None:
    messages = [
        Message("system", "You are terse."),
        Message("user", (TextPart("What is in these?"), ImagePart(data="iVBORw0KGgo=", media_type="image/png",
                                                                  detail="low"))),
        Message("assistant", "", tool_calls=(ToolCall("call_abc123", "get_weather", {"city": "Paris"},
                                                      '{"city":"Paris"}'),)),
        Message("tool", '{"temp_c":21}', tool_call_id="call_abc123"),
        Message("assistant", "Prior answer."),
    ]
    c = client(reasoning={"effort": "low", "summary": "auto"}, store=False)
    request = c.build_request(messages, max_tokens=256, previous_response_id="resp_prev",
                              tools=[{"type": "function", "function": {"name": "get_weather",
                                                                       "description": "Get the weather",
                                                                       "parameters": SCHEMA, "strict": True}}],
                              tool_choice="get_weather",
                              response_format={"type": "json_schema",
                                               "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True}})
    assert request.method == "POST" and request.url == URL
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.json() == REQUEST_BODY


def test_minimal_body_and_stream_flag() -> None:
    assert body_of() == {"model": "gpt-5.2", "input": [{"role": "user", "content": "hi"}]}
    streamed = client().build_request("hi", stream=True)
    assert streamed.json()["stream"] is True and streamed.headers["Accept"] == "text/event-stream"


def test_only_leading_system_and_developer_turns_become_instructions() -> None:
    body = body_of(messages=[{"role": "system", "content": "A."}, {"role": "developer", "content": "B."},
                             {"role": "user", "content": "hi"}, {"role": "system", "content": "Later."}],
                   instructions="First.")
    assert body["instructions"] == "First.\n\nA.\n\nB."
    assert body["input"] == [{"role": "user", "content": "hi"}, {"role": "system", "content": "Later."}]


def test_tools_are_flat_and_built_in_tools_pass_through() -> None:
    body = body_of(tools=[Tool("f", "does f", {"type": "object"}), {"name": "g", "parameters": {"type": "object"}},
                          {"type": "web_search"}], tool_choice="required")
    assert body["tools"] == [{"type": "function", "name": "f", "description": "does f",
                              "parameters": {"type": "object"}},
                             {"type": "function", "name": "g", "parameters": {"type": "object"}},
                             {"type": "web_search"}]
    assert all("function" not in tool for tool in body["tools"])
    assert body["tool_choice"] == "required"
    assert body_of(tools=[Tool("f")], tool_choice="any")["tool_choice"] == "required"
    assert body_of(tool_choice={"type": "function", "function": {"name": "f"}})["tool_choice"] == {
        "type": "function", "name": "f"}


@pytest.mark.parametrize(("given", "sent"), [
    ({"type": "json_object"}, {"type": "json_object"}),
    ({"type": "text"}, {"type": "text"}),
    ({"title": "city", **SCHEMA}, {"type": "json_schema", "name": "city", "schema": {"title": "city", **SCHEMA}}),
])
def test_response_format_becomes_text_format(given: dict[str, Any], sent: dict[str, Any]) -> None:
    body = body_of(response_format=given, options={"text": {"verbosity": "low"}})
    assert body["text"] == {"verbosity": "low", "format": sent}
    assert "response_format" not in body


def test_max_tokens_reasoning_effort_and_pass_through_fields() -> None:
    body = body_of(max_tokens=50, reasoning_effort="high", store=True, include=["reasoning.encrypted_content"],
                   options={"reasoning": {"summary": "concise"}, "max_tokens": 10})
    assert body["max_output_tokens"] == 50 and "max_tokens" not in body
    assert body["reasoning"] == {"summary": "concise", "effort": "high"}
    assert body["store"] is True and body["include"] == ["reasoning.encrypted_content"]
    assert "store" not in body_of(options={"store": False}, store=None)  # null removes an option's default


def test_a_tool_result_without_its_call_id_is_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="tool_call_id"):
        body_of(messages=[{"role": "tool", "content": "21"}])


def test_a_tool_result_with_an_image_is_a_list_of_input_parts() -> None:
    image = ImagePart(url="https://example.com/a.png")
    body = body_of(messages=[Message("tool", (TextPart("see"), image), tool_call_id="c1")])
    assert body["input"] == [{"type": "function_call_output", "call_id": "c1", "output": [
        {"type": "input_text", "text": "see"},
        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"}]}]


def test_base_url_query_params_and_azure_style_addresses() -> None:
    azure = client(base_url="https://res.openai.azure.com/openai/v1/")
    assert azure.build_request("hi").url == "https://res.openai.azure.com/openai/v1/responses"
    preview = client(base_url="https://res.openai.azure.com/openai",
                     query_params={"api-version": "2025-03-01-preview"})
    assert preview.build_request("hi").url == "https://res.openai.azure.com/openai/responses?api-version=2025-03-01-preview"


def test_the_key_is_required_for_openai_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIResponsesClient(model="m").build_request("hi")
    local = OpenAIResponsesClient(model="m", base_url="http://localhost:8000/v1")
    assert "Authorization" not in local.build_request("hi").headers
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-0123456789")
    assert OpenAIResponsesClient(model="m").build_request("hi").headers["Authorization"] == \
        "Bearer sk-from-env-0123456789"


def test_client_response_type_is_consumed_and_checked() -> None:
    assert "client_response_type" not in body_of(options={"client_response_type": "openai-responses"})
    with pytest.raises(ConfigError, match="client_response_type"):
        client(client_response_type="anthropic")


# -- the answer -----------------------------------------------------------------------------------


@responses.activate
def test_the_reference_answer_becomes_a_completion() -> None:
    responses.post(URL, json=RESPONSE, headers={"x-request-id": "req_9"})
    reply = client().complete("hi")
    assert reply.text == "Hello, world!"
    assert reply.tool_calls == (ToolCall("call_abc123", "get_weather", {"city": "Paris"}, '{"city":"Paris"}'),)
    assert reply.finish_reason == "tool_calls" and reply.raw_finish_reason == "completed"
    assert reply.thinking == "**Checking weather** I should call the tool."
    assert reply.response_id == "resp_abc123" and reply.request_id == "req_9"
    assert reply.model == "gpt-5.2-2025-12-11" and reply.provider == "openai-responses"
    assert reply.usage == Usage(input_tokens=120, output_tokens=42, total_tokens=162, cached_input_tokens=64,
                                reasoning_tokens=20)
    assert reply.raw["output"][0]["encrypted_content"] == "gAAAAABo...opaque..."  # kept for stateless replay


@responses.activate
@pytest.mark.parametrize(("reason", "finish"), [("max_output_tokens", "length"),
                                                ("content_filter", "content_filter"), ("steered", "other")])
def test_an_incomplete_answer_names_its_reason(reason: str, finish: str) -> None:
    responses.post(URL, json={**RESPONSE, "status": "incomplete", "incomplete_details": {"reason": reason},
                              "output": RESPONSE["output"][:2]})
    reply = client().complete("hi")
    assert (reply.finish_reason, reply.raw_finish_reason) == (finish, reason)
    assert reply.text == "Hello, world!"


@responses.activate
def test_a_refusal_part_and_a_missing_usage() -> None:
    message = {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}
    responses.post(URL, json={"id": "resp_2", "status": "completed", "output": [message]})
    reply = client().complete("hi")
    assert reply.refusal == "No." and reply.text == "" and reply.usage.known is False


@responses.activate
def test_an_answer_without_output_is_a_provider_error() -> None:
    responses.post(URL, json={"id": "resp_3", "object": "response"})
    with pytest.raises(ProviderError, match="no output"):
        client().complete("hi")


@responses.activate
def test_a_failed_response_in_a_200_raises_the_class_of_its_code() -> None:
    responses.post(URL, json={**RESPONSE, "status": "failed", "output": [],
                              "error": {"code": "rate_limit_exceeded", "message": "Slow down"}})
    with pytest.raises(RateLimitError) as info:
        client().complete("hi")
    assert info.value.status_code == 429 and info.value.code == "rate_limit_exceeded"


@responses.activate
@pytest.mark.parametrize(("status", "error", "cls", "retryable"), [
    (400, CONTEXT_ERROR, InvalidRequestError, False),
    (401, {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error",
           "code": "invalid_api_key"}, AuthError, False),
    (429, {"message": "Rate limit", "type": "requests", "code": "rate_limit_exceeded"}, RateLimitError, True),
    (429, {"message": "Quota", "type": "insufficient_quota", "code": "insufficient_quota"}, RateLimitError, False),
    (500, {"message": "oops", "type": "server_error", "code": None}, ProviderError, True),
])
def test_error_answers_are_typed_as_for_openai(status: int, error: dict[str, Any], cls: type[Exception],
                                               retryable: bool) -> None:
    responses.post(URL, json={"error": error}, status=status, headers={"x-request-id": "req_e"})
    with pytest.raises(cls) as info:
        client().complete("hi")
    err: Any = info.value
    assert err.status_code == status and err.retryable is retryable and err.request_id == "req_e"
    assert err.provider == "openai-responses"
    assert KEY not in str(err) and KEY not in (err.body or "") and KEY not in repr(err)


@responses.activate
def test_a_gateway_page_is_described() -> None:
    responses.post(URL, body="<html><title>502 Bad Gateway</title></html>", status=502,
                   content_type="text/html")
    with pytest.raises(ProviderError, match="502 Bad Gateway"):
        client().complete("hi")


# -- config and BAML spellings --------------------------------------------------------------------

BAML = '''
client<llm> MyResponsesClient {
  provider "openai-responses"
  options {
    api_key env.MY_OPENAI_KEY
    model "gpt-5"
    reasoning {
      effort "medium"
    }
  }
}

client<llm> Bare {
  provider openai-responses
  options {
    model "gpt-4.1"
    base_url "http://localhost:8000/v1"
    client_response_type "openai-responses"
    headers {
      "X-My-Header" "my-value"
    }
  }
}
'''  # the first client is BAML's docs example (docs.boundaryml.com/ref/llm-client-providers/open-ai-responses-api)


def test_baml_openai_responses_clients_load_and_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "clients.baml"
    path.write_text(BAML, encoding="utf-8")
    monkeypatch.setenv("MY_OPENAI_KEY", "sk-baml-0123456789abcdef")
    with llmclient.load_config(path) as registry:
        docs = registry.client("MyResponsesClient")
        request: Any = docs.build_request("hi")  # type: ignore[attr-defined]
        assert request.url == URL and request.headers["Authorization"] == "Bearer sk-baml-0123456789abcdef"
        assert json.loads(request.body) == {"model": "gpt-5", "reasoning": {"effort": "medium"},
                                            "input": [{"role": "user", "content": "hi"}]}
        bare: Any = registry.client("Bare").build_request("hi")  # type: ignore[attr-defined]
        assert bare.url == "http://localhost:8000/v1/responses" and bare.headers["X-My-Header"] == "my-value"
        assert "client_response_type" not in json.loads(bare.body)


def test_the_schema_checks_its_options() -> None:
    with pytest.raises(ConfigError) as info:
        llmclient.load_config({"clients": {"R": {"provider": "openai-responses",
                                                 "options": {"model": "m", "store": "yes",
                                                             "client_response_type": "openai"}}}})
    problems = "\n".join(info.value.problems)
    assert "$.clients.R.options.store" in problems and "$.clients.R.options.client_response_type" in problems


# -- reasoning state, replayed (wire-formats-2026 section 9, gotcha 2) -------------------------------


@responses.activate
def test_the_answers_reasoning_item_goes_back_first_on_the_next_turn() -> None:
    responses.post(URL, json=RESPONSE)
    c = client(store=False, include=["reasoning.encrypted_content"])
    reply = c.complete("weather in Paris?")
    [thinking, text] = reply.message.parts
    assert isinstance(thinking, ThinkingPart) and thinking.source == "openai-responses"
    assert isinstance(text, TextPart) and text.text == "Hello, world!"
    assert "gAAAA" not in repr(reply.message)  # the state is never shown
    follow = c.build_request([Message("user", "weather in Paris?"), reply.message,
                              Message("tool", '{"temp_c":21}', tool_call_id="call_abc123")]).json()
    assert follow["input"][1:] == [
        {"type": "reasoning", "id": "rs_abc",
         "summary": [{"type": "summary_text", "text": "**Checking weather** I should call the tool."}],
         "encrypted_content": "gAAAAABo...opaque..."},
        {"role": "assistant", "content": "Hello, world!"},
        {"type": "function_call", "call_id": "call_abc123", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_abc123", "output": '{"temp_c":21}'},
    ]


def test_another_providers_reasoning_is_dropped_or_sent_as_text() -> None:
    turn = Message("assistant", (ThinkingPart("Claude thought.", signature="sig-anthropic", source="anthropic"),
                                 TextPart("Answer.")))
    dropped = body_of(messages=[Message("user", "q"), turn])
    assert dropped["input"][1:] == [{"role": "assistant", "content": "Answer."}]
    as_text = body_of(messages=[Message("user", "q"), turn], foreign_reasoning="text")
    assert as_text["input"][1:] == [{"role": "assistant", "content": "Claude thought.Answer."}]
    assert "foreign_reasoning" not in as_text and "sig-anthropic" not in json.dumps(as_text)


def test_the_one_reasoning_control_maps_to_reasoning_effort() -> None:
    assert body_of(reasoning_budget_tokens=16000)["reasoning"] == {"effort": "high"}
    assert body_of(reasoning_effort="minimal", reasoning_budget_tokens=100)["reasoning"] == {"effort": "minimal"}
    body = body_of(reasoning_budget_tokens=1000)
    assert "reasoning_budget_tokens" not in body and body["reasoning"] == {"effort": "low"}
    with pytest.raises(InvalidRequestError, match="reasoning_effort"):
        body_of(reasoning_effort="extreme")


@responses.activate
def test_the_context_window_error_is_its_own_class() -> None:
    responses.post(URL, json={"error": CONTEXT_ERROR}, status=400)
    with pytest.raises(ContextWindowExceededError):
        client().complete("hi")
