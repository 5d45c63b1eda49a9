"""The OpenAI adapter over ``responses``: exact URLs, headers and bodies, parsing and every error."""

from __future__ import annotations

import email.utils
import json
import logging
import time
from typing import Any

import pytest
import responses

import llmclient
from llmclient import (
    AuthError,
    ConfigError,
    InvalidRequestError,
    LLMError,
    Message,
    OpenAIClient,
    OpenAIGenericClient,
    ProviderError,
    RateLimitError,
    Tool,
    ToolCall,
    Usage,
)
from llmclient.providers.openai import OpenAIAdapter

KEY = "test-key-DISTINCTIVE-7f3a9c2e1b"
SK_KEY = "sk-proj-DISTINCTIVE0123456789abcdef"
BASE = "https://api.openai.com/v1"
URL = BASE + "/chat/completions"


def answer(text: str = "Hi there", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 8},
                  "completion_tokens_details": {"reasoning_tokens": 2}},
    }
    body.update(extra)
    return body


def sent(mock: responses.RequestsMock, index: int = -1) -> Any:
    return mock.calls[index].request


def body_of(mock: responses.RequestsMock, index: int = -1) -> Any:
    return json.loads(sent(mock, index).body)


def client(**kw: Any) -> OpenAIClient:
    kw.setdefault("api_key", KEY)
    return OpenAIClient(kw.pop("model", "gpt-4o"), **kw)


# -- URL and headers --------------------------------------------------------------------------
def test_default_url_and_headers(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    client().complete("hello")
    request = sent(mock)
    assert request.url == URL
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert f"llmclient/{llmclient.__version__}" in request.headers["User-Agent"]


def test_base_url_trailing_slash_and_query_params(mock: responses.RequestsMock) -> None:
    mock.post("https://gw.example/openai/v1/chat/completions?tenant=acme&x=1", json=answer())
    client(base_url="https://gw.example/openai/v1/", query_params={"tenant": "acme", "x": "1"}).complete("hi")
    assert sent(mock).url == "https://gw.example/openai/v1/chat/completions?tenant=acme&x=1"


def test_api_key_from_env_reference_and_default_variable(monkeypatch: pytest.MonkeyPatch,
                                                         mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    monkeypatch.setenv("MY_OPENAI_KEY", "from-env-ref-123456")
    monkeypatch.setenv("OPENAI_API_KEY", "from-default-var-654321")
    client(api_key={"env": "MY_OPENAI_KEY"}).complete("hi")
    assert sent(mock).headers["Authorization"] == "Bearer from-env-ref-123456"
    client(api_key=llmclient.env("MY_OPENAI_KEY")).complete("hi")
    assert sent(mock).headers["Authorization"] == "Bearer from-env-ref-123456"
    OpenAIClient("gpt-4o").complete("hi")
    assert sent(mock).headers["Authorization"] == "Bearer from-default-var-654321"


def test_env_reference_is_read_at_request_time(monkeypatch: pytest.MonkeyPatch,
                                                mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    c = client(api_key=llmclient.env("ROTATING_KEY"))
    monkeypatch.setenv("ROTATING_KEY", "first-key-111111")
    c.complete("hi")
    monkeypatch.setenv("ROTATING_KEY", "second-key-222222")
    c.complete("hi")
    assert [call.request.headers["Authorization"] for call in mock.calls] == [
        "Bearer first-key-111111", "Bearer second-key-222222"]


def test_missing_key_variable_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch,
                                                          mock: responses.RequestsMock) -> None:
    monkeypatch.setenv("SOME_OTHER_VAR", KEY)
    with pytest.raises(ConfigError) as info:
        client(api_key={"env": "MISSING_OPENAI_KEY"}).complete("hi")
    assert "MISSING_OPENAI_KEY" in str(info.value) and KEY not in str(info.value)
    with pytest.raises(ConfigError) as info:
        OpenAIClient("gpt-4o").complete("hi")
    assert "OPENAI_API_KEY" in str(info.value)
    assert len(mock.calls) == 0


def test_user_headers_win_over_defaults(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    client(headers={"Authorization": "Bearer gateway-token-99999", "X-Team": "ml",
                    "User-Agent": "my-app/1.0"}).complete("hi")
    request = sent(mock)
    assert request.headers["Authorization"] == "Bearer gateway-token-99999"
    assert request.headers["X-Team"] == "ml"
    assert request.headers["User-Agent"] == "my-app/1.0"


def test_generic_client_needs_base_url_and_sends_no_key_by_default(mock: responses.RequestsMock) -> None:
    mock.post("http://vllm.local:8000/v1/chat/completions", json=answer())
    OpenAIGenericClient("llama", base_url="http://vllm.local:8000/v1").complete("hi")
    assert "Authorization" not in sent(mock).headers
    with pytest.raises(ConfigError):
        OpenAIGenericClient("llama")


# -- bodies -----------------------------------------------------------------------------------
def test_simple_body(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    client().complete("hello", temperature=0.2)
    assert body_of(mock) == {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}],
                             "temperature": 0.2}


def test_stream_body_includes_usage_for_openai_only(mock: responses.RequestsMock) -> None:
    sse = b'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    mock.post(URL, body=sse, content_type="text/event-stream")
    mock.post("http://local/v1/chat/completions", body=sse, content_type="text/event-stream")
    _ = client().stream("hello").completion
    assert body_of(mock) == {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}],
                             "stream": True, "stream_options": {"include_usage": True}}
    assert sent(mock).headers["Accept"] == "text/event-stream"
    _ = OpenAIGenericClient("m", base_url="http://local/v1").stream("hello").completion
    assert body_of(mock) == {"model": "m", "messages": [{"role": "user", "content": "hello"}], "stream": True}


def test_tools_in_openai_form_flat_form_and_tool_objects(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    expected = [{"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                                                  "parameters": schema}}]
    for tools in (expected, [{"name": "get_weather", "description": "Weather now", "parameters": schema}],
                  [Tool("get_weather", "Weather now", schema)]):
        client().complete("hi", tools=tools)
        assert body_of(mock)["tools"] == expected


@pytest.mark.parametrize(
    "given, wire",
    [("auto", "auto"), ("none", "none"), ("required", "required"), ("any", "required"),
     ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
     ({"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}})],
)
def test_tool_choice_mapping(mock: responses.RequestsMock, given: Any, wire: Any) -> None:
    mock.post(URL, json=answer())
    client().complete("hi", tool_choice=given)
    assert body_of(mock)["tool_choice"] == wire


def test_response_format_pass_through_and_bare_schema_wrapped(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer("{}"))  # a structured answer is decoded: it must be JSON
    full = {"type": "json_schema", "json_schema": {"name": "city", "strict": True,
                                                   "schema": {"type": "object"}}}
    client().complete("hi", response_format=full)
    assert body_of(mock)["response_format"] == full
    client().complete("hi", response_format={"type": "json_object"})
    assert body_of(mock)["response_format"] == {"type": "json_object"}
    bare = {"title": "Weather", "type": "object", "properties": {"t": {"type": "number"}}}
    client().complete("hi", response_format=bare)
    assert body_of(mock)["response_format"] == {"type": "json_schema",
                                                "json_schema": {"name": "Weather", "schema": bare}}
    client().complete("hi", response_format={"type": "object"})
    assert body_of(mock)["response_format"]["json_schema"]["name"] == "response"


def test_seed_stop_top_p_and_unknown_params_pass_through(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    client().complete("hi", seed=7, stop=["\n"], top_p=0.9, logit_bias={"50256": -100}, user="u-1")
    body = body_of(mock)
    assert body["seed"] == 7 and body["stop"] == ["\n"] and body["top_p"] == 0.9
    assert body["logit_bias"] == {"50256": -100} and body["user"] == "u-1"


def test_options_become_body_defaults_and_none_removes_them(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    c = client(temperature=0.5, service_tier="flex")
    c.complete("hi")
    assert body_of(mock)["temperature"] == 0.5 and body_of(mock)["service_tier"] == "flex"
    c.complete("hi", temperature=None, service_tier="auto")
    assert "temperature" not in body_of(mock) and body_of(mock)["service_tier"] == "auto"


def test_option_null_removes_a_built_in_default(mock: responses.RequestsMock) -> None:
    mock.post(URL, body=b'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\n'
                        b"data: [DONE]\n\n", content_type="text/event-stream")
    _ = client(stream_options=None).stream("hi").completion
    assert "stream_options" not in body_of(mock)
    _ = client().stream("hi", stream_options=None).completion
    assert "stream_options" not in body_of(mock)


def test_max_tokens_is_renamed_for_openai_only(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    mock.post("http://local/v1/chat/completions", json=answer())
    client().complete("hi", max_tokens=50)
    assert body_of(mock)["max_completion_tokens"] == 50 and "max_tokens" not in body_of(mock)
    client(max_tokens=1000).complete("hi")
    assert body_of(mock)["max_completion_tokens"] == 1000 and "max_tokens" not in body_of(mock)
    OpenAIGenericClient("m", base_url="http://local/v1").complete("hi", max_tokens=50)
    assert body_of(mock)["max_tokens"] == 50 and "max_completion_tokens" not in body_of(mock)


def test_images_in_messages(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    client().complete([
        {"role": "user", "content": [
            {"type": "text", "text": "Compare"},
            {"type": "image_url", "image_url": {"url": "https://ex.com/a.png", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
        ]},
    ])
    assert body_of(mock)["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "https://ex.com/a.png", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
    ]}]


def test_tool_result_turns(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    client().complete([
        Message("user", "weather?"),
        Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", {"city": "Oslo"}),)),
        Message("tool", '{"temp": -3}', tool_call_id="call_1"),
    ])
    assert body_of(mock)["messages"] == [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                              "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "content": '{"temp": -3}', "tool_call_id": "call_1"},
    ]


def test_roles_allowed_default_and_remapped(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
            {"role": "assistant", "content": "a"}]
    client(allowed_roles=["user", "assistant"], default_role="user").complete(msgs)
    assert [m["role"] for m in body_of(mock)["messages"]] == ["user", "user", "assistant"]
    client(remap_roles={"system": "developer"}).complete(msgs)
    assert [m["role"] for m in body_of(mock)["messages"]] == ["developer", "user", "assistant"]
    client(allowed_roles=["user", "assistant"], default_role="assistant").complete(msgs)
    assert [m["role"] for m in body_of(mock)["messages"]] == ["assistant", "user", "assistant"]


def test_adapter_options_never_reach_the_body() -> None:
    adapter = OpenAIAdapter("openai", {"model": "m", "api_key": KEY, "headers": {"a": "b"}, "base_url": BASE,
                                       "http": {"request_timeout_ms": 5}, "query_params": {"q": "1"},
                                       "allowed_roles": ["user"], "supports_streaming": True})
    request = adapter.build_request(llmclient.ChatRequest((Message("user", "x"),)), stream=False)
    assert set(request.json()) == {"model", "messages"}
    assert KEY not in request.body.decode()


# -- completions ----------------------------------------------------------------------------
def test_completion_fields(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer("Hello!"), headers={"x-request-id": "req_abc"})
    result = client(name="GPT4").complete("hi")
    assert result.text == "Hello!"
    assert (result.finish_reason, result.raw_finish_reason) == ("stop", "stop")
    assert result.usage == Usage(input_tokens=12, output_tokens=3, total_tokens=15, cached_input_tokens=8,
                                 reasoning_tokens=2)
    assert result.model == "gpt-4o-2024-08-06"
    assert result.request_id == "req_abc"
    assert (result.client_name, result.provider) == ("GPT4", "openai")
    assert len(result.attempts) == 1 and result.attempts[0].error is None
    assert result.attempts[0].client_name == "GPT4"
    assert result.raw["id"] == "chatcmpl-1"
    assert result.tool_calls == () and result.refusal is None


@pytest.mark.parametrize("raw, normal", [("stop", "stop"), ("length", "length"), ("tool_calls", "tool_calls"),
                                         ("function_call", "tool_calls"), ("content_filter", "content_filter"),
                                         ("end_turn_of_some_kind", "other")])
def test_finish_reason_normalised_and_raw_kept(mock: responses.RequestsMock, raw: str, normal: str) -> None:
    body = answer()
    body["choices"][0]["finish_reason"] = raw
    mock.post(URL, json=body)
    result = client().complete("hi")
    assert (result.finish_reason, result.raw_finish_reason) == (normal, raw)


def test_tool_calls_parsed_with_arguments_dict(mock: responses.RequestsMock) -> None:
    body = answer()
    body["choices"][0] = {"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
            {"id": "call_b", "type": "function", "function": {"name": "noop", "arguments": ""}}]}}
    mock.post(URL, json=body)
    result = client().complete("hi")
    assert result.text == "" and result.finish_reason == "tool_calls"
    assert result.tool_calls == (ToolCall("call_a", "get_weather", {"city": "Rome"}, '{"city":"Rome"}'),
                                 ToolCall("call_b", "noop", {}, ""))


def test_refusal_is_kept(mock: responses.RequestsMock) -> None:
    body = answer()
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    mock.post(URL, json=body)
    assert client().complete("hi").refusal == "I can't help with that."


# -- errors -----------------------------------------------------------------------------------
def error_body(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@pytest.mark.parametrize("status, cls", [(401, AuthError), (403, AuthError), (429, RateLimitError),
                                         (400, InvalidRequestError), (404, InvalidRequestError),
                                         (413, InvalidRequestError), (422, InvalidRequestError),
                                         (500, ProviderError), (503, ProviderError)])
def test_status_to_error_class(mock: responses.RequestsMock, status: int, cls: type[LLMError]) -> None:
    mock.post(URL, status=status, json=error_body("something failed", "some_type", "some_code"),
              headers={"x-request-id": "req_err"})
    with pytest.raises(LLMError) as info:
        client(name="GPT4").complete("hi")
    err = info.value
    assert type(err) is cls
    assert err.status_code == status and err.request_id == "req_err"
    assert err.provider == "openai" and err.client_name == "GPT4"
    assert err.code == "some_code" and err.body is not None and "something failed" in err.body
    assert "something failed" in str(err)
    assert err.retryable is (status in (429, 500, 503))


@pytest.mark.parametrize(
    "headers, expected",
    [({"retry-after-ms": "250"}, 0.25), ({"retry-after": "7"}, 7.0), ({"retry-after": "1.5"}, 1.5),
     ({"retry-after-ms": "100", "retry-after": "9"}, 0.1), ({"retry-after": "soon"}, None), ({}, None)],
)
def test_rate_limit_retry_after(mock: responses.RequestsMock, headers: dict[str, str],
                                expected: float | None) -> None:
    mock.post(URL, status=429, json=error_body("Rate limit reached", "requests", "rate_limit_exceeded"),
              headers=headers)
    with pytest.raises(RateLimitError) as info:
        client().complete("hi")
    assert info.value.retry_after == expected
    assert info.value.retryable is True


def test_rate_limit_retry_after_http_date(mock: responses.RequestsMock) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    mock.post(URL, status=429, json=error_body("slow", "requests"), headers={"retry-after": when})
    with pytest.raises(RateLimitError) as info:
        client().complete("hi")
    assert info.value.retry_after is not None and 25 <= info.value.retry_after <= 31


def test_insufficient_quota_is_not_retryable(mock: responses.RequestsMock) -> None:
    mock.post(URL, status=429, json=error_body("You exceeded your current quota", "insufficient_quota",
                                               "insufficient_quota"))
    with pytest.raises(RateLimitError) as info:
        client().complete("hi")
    assert info.value.retryable is False and info.value.code == "insufficient_quota"


def test_x_should_retry_header_is_kept(mock: responses.RequestsMock) -> None:
    mock.post(URL, status=500, json=error_body("x", "server_error"), headers={"x-should-retry": "false"})
    with pytest.raises(ProviderError) as info:
        client().complete("hi")
    assert info.value.should_retry is False


def test_html_gateway_page_is_a_provider_error_naming_it(mock: responses.RequestsMock) -> None:
    page = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1>"
            "</center><hr><center>nginx</center></body></html>")
    mock.post(URL, status=502, body=page, content_type="text/html")
    with pytest.raises(ProviderError) as info:
        client().complete("hi")
    message = str(info.value)
    assert "text/html" in message and "502 Bad Gateway" in message
    assert info.value.status_code == 502 and info.value.retryable is True


def test_malformed_json_in_a_200_is_a_provider_error(mock: responses.RequestsMock) -> None:
    mock.post(URL, status=200, body='{"id": "chatcmpl-1", "choices": [', content_type="application/json")
    with pytest.raises(ProviderError) as info:
        client(name="GPT4").complete("hi")
    assert info.value.status_code == 200 and info.value.client_name == "GPT4"
    assert "application/json" in str(info.value)


def test_a_200_without_choices_or_with_an_error_object(mock: responses.RequestsMock) -> None:
    mock.post(URL, json={"id": "x", "choices": []})
    with pytest.raises(ProviderError, match="no choices"):
        client().complete("hi")
    mock.replace(responses.POST, URL, json=error_body("overloaded", "server_error"), headers={"x-request-id": "r"})
    with pytest.raises(ProviderError, match="overloaded") as info:
        client().complete("hi")
    assert info.value.status_code == 500 and info.value.request_id == "r"
    mock.replace(responses.POST, URL, json=error_body("slow down", "requests", "rate_limit_exceeded"))
    with pytest.raises(RateLimitError) as limited:
        client().complete("hi")
    assert limited.value.status_code == 429


@pytest.mark.parametrize("key", [KEY, SK_KEY])
@pytest.mark.parametrize("status", [400, 401, 429, 500, 502])
def test_no_error_ever_shows_the_key(mock: responses.RequestsMock, key: str, status: int) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {key}. Header was 'Bearer {key}'",
                      "type": "invalid_request_error", "code": key}}
    if status == 502:
        mock.post(URL, status=status, body=f"<html><title>Bad key {key}</title>{key}</html>",
                  content_type="text/html")
    else:
        mock.post(URL, status=status, json=echo, headers={"x-request-id": "req_k"})
    with pytest.raises(LLMError) as info:
        client(api_key=key).complete("hi")
    err = info.value
    for text in (str(err), repr(err), err.body or "", err.message, str(err.code), str(err.__dict__)):
        assert key not in text
    assert "[REDACTED]" in (err.body or "")


def test_no_error_shows_the_key_on_a_malformed_200(mock: responses.RequestsMock) -> None:
    mock.post(URL, status=200, body=f'{{"echo": "{KEY}", "choices": [', content_type="application/json")
    with pytest.raises(ProviderError) as info:
        client().complete("hi")
    assert KEY not in str(info.value) and KEY not in (info.value.body or "")


def test_retries_log_without_the_key_and_record_every_attempt(mock: responses.RequestsMock,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="llmclient")
    echo = error_body(f"upstream said: key {KEY} invalid?", "server_error")
    mock.post(URL, status=500, json=echo)
    mock.post(URL, status=503, json=echo)
    mock.post(URL, json=answer("finally"))
    sleeps: list[float] = []
    runtime = llmclient.Runtime(sleep=sleeps.append)
    c = client(retry_policy=llmclient.RetryPolicy(max_retries=3, delay_ms=10), runtime=runtime)
    result = c.complete("hi")
    runtime.close()
    assert result.text == "finally"
    assert [a.status_code for a in result.attempts] == [500, 503, 200]
    assert [type(a.error).__name__ for a in result.attempts] == ["ProviderError", "ProviderError", "NoneType"]
    assert sleeps == [0.01, 0.01]
    assert caplog.records and all(KEY not in r.getMessage() for r in caplog.records)
    assert all(KEY not in str(a.error) for a in result.attempts)


# -- leaf-client options ------------------------------------------------------------------------
def test_supports_streaming_false_answers_a_stream_with_one_non_streamed_call(
        mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer("whole answer"))
    with client(supports_streaming=False).stream("hi") as stream:
        chunks = list(stream)
    assert [c.text for c in chunks] == ["whole answer"]
    assert stream.completion.text == "whole answer" and stream.completion.usage.total_tokens == 15
    assert "stream" not in body_of(mock) and "supports_streaming" not in body_of(mock)


def test_finish_reason_allow_and_deny_lists(mock: responses.RequestsMock) -> None:
    body = answer("cut")
    body["choices"][0]["finish_reason"] = "length"
    mock.post(URL, json=body)
    with pytest.raises(llmclient.FinishReasonError) as info:
        client(finish_reason_allow_list=["stop"]).complete("hi")
    assert info.value.finish_reason == "length" and info.value.completion.text == "cut"
    assert info.value.retryable is False
    with pytest.raises(llmclient.FinishReasonError):
        client(finish_reason_deny_list=["length"]).complete("hi")
    assert client(finish_reason_deny_list=["content_filter"]).complete("hi").text == "cut"
    with pytest.raises(ConfigError):
        client(finish_reason_allow_list=["stop"], finish_reason_deny_list=["length"])
    assert "finish_reason_allow_list" not in body_of(mock)


def test_header_values_may_be_env_references_read_per_request(monkeypatch: pytest.MonkeyPatch,
                                                              mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    c = client(headers={"X-Gateway-Key": {"env": "GW_KEY"}})
    monkeypatch.setenv("GW_KEY", "gw-one-123456")
    c.complete("hi")
    monkeypatch.setenv("GW_KEY", "gw-two-654321")
    c.complete("hi")
    assert [call.request.headers["X-Gateway-Key"] for call in mock.calls] == ["gw-one-123456", "gw-two-654321"]
    monkeypatch.delenv("GW_KEY")
    with pytest.raises(ConfigError, match="GW_KEY"):
        c.complete("hi")


def test_a_secret_in_a_custom_auth_header_is_redacted_from_errors(mock: responses.RequestsMock) -> None:
    other = "gateway-secret-DISTINCTIVE-0c4e"
    mock.post(URL, status=400, json=error_body(f"bad x-goog-api-key {other}", "invalid_request_error"))
    with pytest.raises(InvalidRequestError) as info:
        client(headers={"x-goog-api-key": other}).complete("hi")
    assert other not in str(info.value) and other not in (info.value.body or "")


@pytest.mark.parametrize("exc, cls, kind", [
    (__import__("requests").exceptions.ConnectTimeout("connect timed out"), llmclient.LLMTimeoutError, "connect"),
    (__import__("requests").exceptions.ReadTimeout("read timed out"), llmclient.LLMTimeoutError, "request"),
    (__import__("requests").exceptions.SSLError("certificate verify failed"), llmclient.TransportError, None),
    (__import__("requests").exceptions.ConnectionError("connection aborted"), llmclient.TransportError, None),
])
def test_transport_failures_are_typed(mock: responses.RequestsMock, exc: Exception, cls: type[LLMError],
                                      kind: str | None) -> None:
    mock.post(URL, body=exc)
    with pytest.raises(cls) as info:
        client(name="GPT4").complete("hi")
    assert info.value.client_name == "GPT4" and info.value.provider == "openai"
    if kind is not None:
        assert info.value.kind == kind  # type: ignore[attr-defined]
    if "certificate" in str(exc):
        assert info.value.retryable is False and "TLS" in str(info.value)


def test_a_bare_token_from_a_user_authorization_header_is_redacted(mock: responses.RequestsMock) -> None:
    token = "gwtoken-DISTINCTIVE-77e1"
    mock.post(URL, status=401, json=error_body(f"token {token} expired", "invalid_request_error"))
    with pytest.raises(AuthError) as info:
        client(headers={"Authorization": f"Token {token}"}).complete("hi")
    assert token not in str(info.value) and token not in (info.value.body or "")


def test_reprs_never_show_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    c = client()
    assert KEY not in repr(c) and KEY not in repr(c.auth)
    monkeypatch.setenv("REPR_KEY", KEY)
    ref_client = client(api_key=llmclient.env("REPR_KEY"))
    assert repr(ref_client.auth) == "<ApiKeyAuth header='Authorization' key=env.REPR_KEY>"
    assert c.auth is not None
    signed = c.auth.apply(c.adapter.build_request(llmclient.ChatRequest((Message("user", "x"),)), stream=False))
    assert signed.headers["Authorization"] == f"Bearer {KEY}" and KEY in signed.secrets
    assert KEY not in repr(signed)


def test_choice_index_picks_which_choice_becomes_the_completion() -> None:
    from llmclient.models import HttpResponse
    from llmclient.providers.openai import OpenAIAdapter

    body = {"id": "x", "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "first"}, "finish_reason": "stop"},
        {"index": 1, "message": {"role": "assistant", "content": "second"}, "finish_reason": "length"}]}
    response = HttpResponse(200, {}, json.dumps(body).encode())
    assert OpenAIAdapter("openai-generic", {"base_url": "http://h"}).parse_response(response, ()).text == "first"
    picked = OpenAIAdapter("openai-generic", {"base_url": "http://h", "choice_index": 1})
    completion = picked.parse_response(response, ())
    assert (completion.text, completion.finish_reason) == ("second", "length")
    assert "choice_index" not in picked.build_request(
        llmclient.ChatRequest(llmclient.models.to_messages("hi")), stream=False).json()
    events = b"".join(b"data: " + json.dumps({"choices": [{"index": i, "delta": {"content": t}}]}).encode() + b"\n\n"
                      for i, t in ((0, "a"), (1, "b"), (0, "c"), (1, "d")))
    decoder = picked.stream_decoder(())
    assert [c.text for c in decoder.feed(events)] == ["b", "d"]
    with pytest.raises(llmclient.ProviderError, match="no choice with index 3"):
        OpenAIAdapter("openai-generic", {"base_url": "http://h", "choice_index": 3}).parse_response(response, ())
