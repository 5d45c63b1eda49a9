"""The Google AI (Gemini) provider: exact requests (``responses``), answers, errors, streams, and
end-to-end calls over the fake server."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import responses

from llmclient.errors import (
    AuthError,
    ConfigError,
    InvalidRequestError,
    LLMError,
    ProviderError,
    RateLimitError,
    StreamError,
)
from llmclient.models import ChatRequest, ImagePart, Message, TextPart, Tool, ToolCall, Usage, to_messages
from llmclient.providers.gemini import GeminiStreamDecoder
from llmclient.providers.google import GoogleAIAdapter, GoogleAIClient
from llmclient.retry import RetryPolicy
from llmclient.stream import StreamAccumulator
from llmclient.testing import FakeLLMServer, Fault

KEY = "AIza-DISTINCTIVE-0123456789"
BASE = "https://generativelanguage.googleapis.com/v1beta"
URL = BASE + "/models/gemini-2.0-flash:generateContent"
STREAM_URL = BASE + "/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = Tool("get_weather", "Get the weather for a city",
               {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def answer(parts: list[dict[str, Any]] | None = None, finish: str | None = "STOP", **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts if parts is not None else [{"text": "Hello, world!"}],
                                             "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body = {"candidates": [candidate],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 3, "totalTokenCount": 20,
                              "cachedContentTokenCount": 4, "thoughtsTokenCount": 5},
            "modelVersion": "gemini-2.0-flash-001", "responseId": "abc"}
    body.update(extra)
    return body


def error_body(code: int, status: str, message: str = "boom", details: list[Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def client(**kw: Any) -> GoogleAIClient:
    kw.setdefault("api_key", KEY)
    return GoogleAIClient(kw.pop("model", "gemini-2.0-flash"), **kw)


def build(messages: Any, **params: Any) -> dict[str, Any]:
    options = params.pop("options", {})
    adapter = GoogleAIAdapter({"model": "m", **options})
    body: dict[str, Any] = adapter.build_request(ChatRequest(to_messages(messages), params), stream=False).json()
    return body


# -- the same logical request every provider test sends --------------------------------------------
def test_logical_request_exact_body_url_and_headers(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer())
    messages = [Message("system", "You are terse."),
                Message("user", (TextPart("What is this?"), ImagePart(data=PNG, media_type="image/png")))]
    client().complete(messages, temperature=0.2, max_tokens=64, tools=[WEATHER])
    request = mock.calls[0].request
    assert request.url == URL
    assert request.headers["x-goog-api-key"] == KEY
    assert "key=" not in request.url and KEY not in request.url
    assert "Authorization" not in request.headers
    assert json.loads(request.body or b"") == {
        "contents": [{"role": "user", "parts": [{"text": "What is this?"},
                                                {"inlineData": {"mimeType": "image/png", "data": PNG}}]}],
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 64},
        "tools": [{"functionDeclarations": [{
            "name": "get_weather", "description": "Get the weather for a city",
            "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}},
                                     "required": ["city"]}}]}],
    }


def test_stream_url_and_models_prefix_is_not_doubled(mock: responses.RequestsMock) -> None:
    mock.post(STREAM_URL, body=b"data: " + json.dumps(answer()).encode() + b"\r\n\r\n",
              content_type="text/event-stream")
    stream = client(model="models/gemini-2.0-flash").stream("hi")
    assert stream.completion.text == "Hello, world!"
    assert mock.calls[0].request.url == STREAM_URL
    assert mock.calls[0].request.headers["Accept"] == "text/event-stream"


def test_model_is_required() -> None:
    with pytest.raises(ConfigError, match="model"):
        GoogleAIClient(api_key=KEY)


def test_key_from_default_variable_and_base_url(mock: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    mock.post("http://gw.local/v1/models/g:generateContent", json=answer())
    monkeypatch.setenv("GOOGLE_API_KEY", "env-key")
    GoogleAIClient("g", base_url="http://gw.local/v1/").complete("hi")
    assert mock.calls[0].request.headers["x-goog-api-key"] == "env-key"


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="GOOGLE_API_KEY"):
        GoogleAIClient("g").complete("hi")


# -- translation --------------------------------------------------------------------------------------
def test_roles_merging_and_generation_config() -> None:
    body = build([{"role": "system", "content": "A"}, {"role": "system", "content": "B"},
                  {"role": "user", "content": "u1"}, {"role": "user", "content": "u2"},
                  {"role": "assistant", "content": "a1"}],
                 top_p=0.9, top_k=3, stop="END", n=2, seed=7)
    assert body["systemInstruction"] == {"parts": [{"text": "A"}, {"text": "B"}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "u1"}, {"text": "u2"}]},
                                {"role": "model", "parts": [{"text": "a1"}]}]
    assert body["generationConfig"] == {"topP": 0.9, "topK": 3, "stopSequences": ["END"], "candidateCount": 2,
                                        "seed": 7}


def test_options_generation_config_safety_settings_and_null() -> None:
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    body = build("hi", options={"generationConfig": {"temperature": 1.0, "topK": 2}, "safetySettings": safety,
                                "max_tokens": 10}, temperature=0.5, top_k=None)
    assert body["generationConfig"] == {"temperature": 0.5, "maxOutputTokens": 10}
    assert body["safetySettings"] == safety


@pytest.mark.parametrize(("fmt", "expected"), [
    ({"type": "json_object"}, {"responseMimeType": "application/json"}),
    ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
     {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}}),
    ({"type": "object", "properties": {"a": {"type": "string"}}},  # plain JSON Schema: responseJsonSchema
     {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object",
                                                                     "properties": {"a": {"type": "string"}}}}),
])
def test_response_format(fmt: dict[str, Any], expected: dict[str, Any]) -> None:
    assert build("hi", response_format=fmt)["generationConfig"] == expected


def test_images_inline_and_file_data() -> None:
    body = build([Message("user", (ImagePart(url="gs://bucket/cat.jpeg"), ImagePart(url="https://x.org/a.png"),
                                   ImagePart(url=f"data:image/webp;base64,{PNG}"),
                                   ImagePart(url="https://x.org/img", media_type="image/gif")))])
    assert body["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/cat.jpeg"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://x.org/a.png"}},
        {"inlineData": {"mimeType": "image/webp", "data": PNG}},
        {"fileData": {"mimeType": "image/gif", "fileUri": "https://x.org/img"}},
    ]


def test_function_calls_and_responses_round_trip_with_names_found_by_id() -> None:
    messages = [
        Message("user", "Weather?"),
        Message("assistant", "", tool_calls=(ToolCall("c1", "get_weather", {"city": "Paris"}),
                                             ToolCall("c2", "get_time", {}))),
        Message("tool", '{"temp": 21}', tool_call_id="c1"),
        Message("tool", "noon", tool_call_id="c2"),
        Message("tool", "[1, 2]", tool_call_id="unknown", name="fallback_name"),
    ]
    assert build(messages)["contents"] == [
        {"role": "user", "parts": [{"text": "Weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                                    {"functionCall": {"name": "get_time", "args": {}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
            {"functionResponse": {"name": "get_time", "response": {"result": "noon"}}},
            {"functionResponse": {"name": "fallback_name", "response": {"result": [1, 2]}}}]},
    ]


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"mode": "AUTO"}), ("none", {"mode": "NONE"}), ("required", {"mode": "ANY"}), ("any", {"mode": "ANY"}),
    ("get_weather", {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
])
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    assert build("hi", tools=[WEATHER], tool_choice=choice)["toolConfig"] == {"functionCallingConfig": expected}


# -- answers ------------------------------------------------------------------------------------------
def test_text_parts_joined_usage_and_model(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer([{"text": "Plan", "thought": True}, {"text": "Hello, "}, {"text": "world!"}]))
    completion = client().complete("hi")
    assert completion.text == "Hello, world!"
    assert completion.thinking == "Plan"
    assert (completion.finish_reason, completion.raw_finish_reason) == ("stop", "STOP")
    assert completion.model == "gemini-2.0-flash-001"
    assert completion.usage == Usage(input_tokens=12, output_tokens=8, total_tokens=20, cached_input_tokens=4,
                                     reasoning_tokens=5)


def test_function_calls_get_ids_and_tool_calls_reason(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                                {"functionCall": {"name": "get_time", "args": {}, "id": "srv-id"}}]))
    completion = client().complete("hi")
    assert completion.tool_calls == (ToolCall("call_0", "get_weather", {"city": "Paris"}, '{"city": "Paris"}'),
                                     ToolCall("srv-id", "get_time", {}, "{}"))
    assert (completion.finish_reason, completion.raw_finish_reason) == ("tool_calls", "STOP")


@pytest.mark.parametrize(("raw", "normal"), [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
    ("BLOCKLIST", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"),
    ("MALFORMED_FUNCTION_CALL", "other"), ("OTHER", "other")])
def test_finish_reasons(mock: responses.RequestsMock, raw: str, normal: str) -> None:
    mock.post(URL, json=answer(finish=raw))
    completion = client().complete("hi")
    assert (completion.finish_reason, completion.raw_finish_reason) == (normal, raw)


def test_blocked_prompt_is_a_content_filter_completion(mock: responses.RequestsMock) -> None:
    mock.post(URL, json={"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
                         "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}})
    completion = client().complete("something bad")
    assert (completion.text, completion.finish_reason, completion.raw_finish_reason) == ("", "content_filter",
                                                                                        "SAFETY")
    assert completion.usage.input_tokens == 8


def test_answer_without_candidates_is_a_provider_error(mock: responses.RequestsMock) -> None:
    mock.post(URL, json={"usageMetadata": {}})
    with pytest.raises(ProviderError, match="no candidates"):
        client().complete("hi")


# -- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "name", "cls", "retryable"), [
    (400, "INVALID_ARGUMENT", InvalidRequestError, False), (403, "PERMISSION_DENIED", AuthError, False),
    (404, "NOT_FOUND", InvalidRequestError, False), (429, "RESOURCE_EXHAUSTED", RateLimitError, True),
    (500, "INTERNAL", ProviderError, True), (503, "UNAVAILABLE", ProviderError, True),
    (504, "DEADLINE_EXCEEDED", ProviderError, True)])
def test_error_statuses(mock: responses.RequestsMock, status: int, name: str, cls: type[LLMError],
                        retryable: bool) -> None:
    mock.post(URL, json=error_body(status, name, "went wrong"), status=status)
    with pytest.raises(cls) as caught:
        client().complete("hi")
    assert type(caught.value) is cls
    assert (caught.value.status_code, caught.value.code, caught.value.retryable) == (status, name, retryable)
    assert "went wrong" in caught.value.message


@pytest.mark.parametrize(("delay", "seconds"), [("17s", 17.0), ("1.5s", 1.5), ("0s", 0.0)])
def test_retry_delay_becomes_retry_after(mock: responses.RequestsMock, delay: str, seconds: float) -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
               {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
    mock.post(URL, json=error_body(429, "RESOURCE_EXHAUSTED", "quota", details), status=429)
    with pytest.raises(RateLimitError) as caught:
        client().complete("hi")
    assert caught.value.retry_after == seconds


def test_invalid_api_key_400_is_an_auth_error(mock: responses.RequestsMock) -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                "domain": "googleapis.com"}]
    mock.post(URL, json=error_body(400, "INVALID_ARGUMENT", f"API key not valid: {KEY}", details), status=400)
    with pytest.raises(AuthError) as caught:
        client().complete("hi")
    assert (caught.value.status_code, caught.value.code, caught.value.retryable) == (400, "API_KEY_INVALID", False)
    assert KEY not in str(caught.value) and KEY not in (caught.value.body or "")


def test_html_error_page(mock: responses.RequestsMock) -> None:
    mock.post(URL, body="<html><title>503 Service Unavailable</title></html>", status=503, content_type="text/html")
    with pytest.raises(ProviderError, match="503 Service Unavailable"):
        client().complete("hi")


# -- streams ------------------------------------------------------------------------------------------
def event(obj: Any, sep: bytes = b"\r\n\r\n") -> bytes:
    return b"data: " + json.dumps(obj).encode() + sep


def chunk(text: str, finish: str | None = None, out: int = 1) -> dict[str, Any]:
    body = answer([{"text": text}], finish=finish)
    body["usageMetadata"] = {"promptTokenCount": 5, "candidatesTokenCount": out, "totalTokenCount": 5 + out}
    return body


STREAM = (event(chunk("Hel", out=1)) + event(chunk("lo ", out=2))
          + event(answer([{"functionCall": {"name": "f", "args": {"a": 1}}}], finish=None))
          + event(chunk("world", "STOP", out=4)))


def decode(pieces: list[bytes]) -> StreamAccumulator:
    decoder = GeminiStreamDecoder("google-ai", ())
    acc = StreamAccumulator()
    for piece in pieces:
        for c in decoder.feed(piece):
            acc.add(c)
    for c in decoder.finish():
        acc.add(c)
    return acc


@pytest.mark.parametrize("sep", [b"\r\n\r\n", b"\n\n"])
def test_stream_whole_bytewise_and_random_splits(sep: bytes) -> None:
    raw = STREAM.replace(b"\r\n\r\n", sep)
    rng = random.Random(7)
    ways = [[raw], [raw[i:i + 1] for i in range(len(raw))]]
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(raw)), 15))
        ways.append([raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)])
    for pieces in ways:
        completion = decode(pieces).completion()
        assert completion.text == "Hello world"
        assert completion.tool_calls == (ToolCall("call_0", "f", {"a": 1}, '{"a": 1}'),)
        assert (completion.finish_reason, completion.raw_finish_reason) == ("tool_calls", "STOP")
        assert (completion.usage.input_tokens, completion.usage.output_tokens, completion.usage.total_tokens) == (
            5, 4, 9)


def test_stream_without_finish_reason_is_accepted_when_it_had_content() -> None:
    assert decode([event(chunk("partial"))]).completion().text == "partial"


def test_empty_stream_is_a_provider_error() -> None:
    with pytest.raises(ProviderError, match="without any content"):
        decode([b""])


@pytest.mark.parametrize(("code", "status", "cls"), [(503, "UNAVAILABLE", ProviderError),
                                                     (429, "RESOURCE_EXHAUSTED", RateLimitError),
                                                     (400, "INVALID_ARGUMENT", InvalidRequestError)])
def test_data_error_event_raises_by_code(code: int, status: str, cls: type[LLMError]) -> None:
    decoder = GeminiStreamDecoder("google-ai", ())
    with pytest.raises(cls) as caught:
        decoder.feed(event(error_body(code, status, "bad")))
    assert type(caught.value) is cls and caught.value.status_code == code and caught.value.code == status


def test_bare_multiline_json_error_raises_after_content_is_delivered() -> None:
    bare = json.dumps(error_body(503, "UNAVAILABLE", "The model is overloaded."), indent=2).encode() + b"\n"
    decoder = GeminiStreamDecoder("google-ai", ())
    first = decoder.feed(event(chunk("Hi")))
    assert [c.text for c in first] == ["Hi"]
    with pytest.raises(ProviderError, match="overloaded") as caught:
        for line in bare.splitlines(keepends=True):
            decoder.feed(line)
        decoder.finish()
    assert caught.value.status_code == 503


def test_stray_text_that_is_not_json_fails_at_the_end() -> None:
    decoder = GeminiStreamDecoder("google-ai", ())
    decoder.feed(event(chunk("Hi")) + b"<html>oops\n")
    with pytest.raises(ProviderError, match="unreadable"):
        decoder.finish()


def test_blocked_prompt_in_a_stream() -> None:
    completion = decode([event({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})]).completion()
    assert (completion.text, completion.finish_reason, completion.raw_finish_reason) == (
        "", "content_filter", "PROHIBITED_CONTENT")


# -- end to end over the fake server ---------------------------------------------------------------------
def fake_client(server: FakeLLMServer, retries: int = 0) -> GoogleAIClient:
    return GoogleAIClient("gemini-fake", api_key="fake-key", base_url=server.url + "/v1beta",
                          retry_policy=RetryPolicy(max_retries=retries, delay_ms=0))


def test_e2e_complete(server: FakeLLMServer) -> None:
    completion = fake_client(server).complete([{"role": "system", "content": "Be brief."},
                                               {"role": "user", "content": "hello world"}], max_tokens=50)
    assert completion.text == "Echo: hello world"
    assert (completion.finish_reason, completion.raw_finish_reason) == ("stop", "STOP")
    assert completion.usage == Usage(input_tokens=4, output_tokens=3, total_tokens=7)
    recorded = server.requests[0]
    assert recorded.path == "/v1beta/models/gemini-fake:generateContent"
    assert recorded.query == {} and recorded.headers["x-goog-api-key"] == "fake-key"


def test_e2e_stream_and_tool_call(server: FakeLLMServer) -> None:
    with fake_client(server).stream("hello there world") as stream:
        pieces = [c.text for c in stream if c.text]
    assert pieces == ["Echo:", " hello", " there", " world"]
    assert stream.completion.usage.output_tokens == 4
    assert server.requests[0].query == {"alt": "sse"}
    tool = fake_client(server).stream("where", tools=[WEATHER], tool_choice="get_weather").completion
    assert tool.tool_calls == (ToolCall("call_0", "get_weather", {"prompt": "where"}, '{"prompt": "where"}'),)
    assert tool.finish_reason == "tool_calls"


def test_e2e_503_is_retried(server: FakeLLMServer) -> None:
    server.enqueue(Fault.server_error(503))
    completion = fake_client(server, retries=1).complete("again")
    assert completion.text == "Echo: again"
    assert [a.status_code for a in completion.attempts] == [503, 200]


def test_e2e_retry_delay_in_the_body_is_honoured(server: FakeLLMServer) -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.05s"}]
    server.enqueue(Fault.status(429, body=error_body(429, "RESOURCE_EXHAUSTED", "slow down", details)))
    completion = fake_client(server, retries=1).complete("again")
    assert completion.attempts[0].error is not None and completion.attempts[0].error.retry_after == 0.05
    assert server.requests[1].received_at - server.requests[0].received_at >= 0.04


def test_e2e_mid_stream_error_after_content(server: FakeLLMServer) -> None:
    server.enqueue(Fault.error_event(after_chunks=2, error_type="UNAVAILABLE", message="overloaded"))
    stream = fake_client(server, retries=2).stream("one two three four")
    with pytest.raises(StreamError) as caught:
        stream.completion  # noqa: B018
    assert caught.value.partial_text == "Echo: one"
    assert caught.value.status_code == 503 and len(server.requests) == 1


def test_e2e_error_event_before_content_is_retried(server: FakeLLMServer) -> None:
    server.enqueue(Fault.error_event(after_chunks=0))
    assert fake_client(server, retries=1).stream("x").completion.text == "Echo: x"
    assert len(server.requests) == 2


def test_e2e_html_error_page(server: FakeLLMServer) -> None:
    server.enqueue(Fault.html(504))
    with pytest.raises(ProviderError, match="504 Gateway Time-out|504 Gateway Timeout"):
        fake_client(server).complete("hi")


def test_e2e_wrong_key(server: FakeLLMServer) -> None:
    with pytest.raises(AuthError):
        GoogleAIClient("g", api_key="nope", base_url=server.url + "/v1beta").complete("hi")


def test_empty_turns_are_dropped_before_merging() -> None:
    body = build([{"role": "user", "content": "a"}, {"role": "assistant", "content": ""},
                  {"role": "user", "content": "b"}])
    assert body["contents"] == [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}]
