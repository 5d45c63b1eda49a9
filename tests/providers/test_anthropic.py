"""The Anthropic provider: exact requests (``responses``), answers, errors, recorded streams, and
end-to-end calls over the fake server."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import responses

from llmclient.config.loader import load_config
from llmclient.errors import (
    AuthError,
    ConfigError,
    InvalidRequestError,
    LLMError,
    ProviderError,
    RateLimitError,
    StreamError,
)
from llmclient.models import ChatRequest, Chunk, ImagePart, Message, TextPart, Tool, ToolCall, Usage
from llmclient.providers.anthropic import AnthropicAdapter, AnthropicClient, AnthropicStreamDecoder
from llmclient.providers.google import GoogleAIClient
from llmclient.retry import RetryPolicy
from llmclient.stream import StreamAccumulator
from llmclient.testing import FakeLLMServer, Fault

KEY = "sk-ant-DISTINCTIVE-0123456789"
URL = "https://api.anthropic.com/v1/messages"
RECORDED = Path(__file__).parent.parent / "fixtures" / "recorded" / "anthropic"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = Tool("get_weather", "Get the weather for a city",
               {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def answer(content: list[dict[str, Any]] | None = None, stop: str = "end_turn", **extra: Any) -> dict[str, Any]:
    body = {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": content if content is not None else [{"type": "text", "text": "Hello!"}],
            "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 3, "cache_creation_input_tokens": 5,
                      "cache_read_input_tokens": 7, "service_tier": "standard"}}
    body.update(extra)
    return body


def error_body(kind: str, message: str = "boom", **error: Any) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message, **error}, "request_id": "req_x"}


def client(**kw: Any) -> AnthropicClient:
    kw.setdefault("api_key", KEY)
    return AnthropicClient(kw.pop("model", "claude-sonnet-4-5"), **kw)


def build(messages: Any, **params: Any) -> dict[str, Any]:
    """The body the adapter builds (no HTTP)."""
    from llmclient.models import to_messages

    options = params.pop("options", {})
    adapter = AnthropicAdapter({"model": "m", **options})
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
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers
    assert KEY not in request.url
    assert json.loads(request.body or b"") == {
        "model": "claude-sonnet-4-5",
        "system": "You are terse.",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}],
        "temperature": 0.2,
        "max_tokens": 64,
        "tools": [{"name": "get_weather", "description": "Get the weather for a city",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                    "required": ["city"]}}],
    }


def test_stream_request_has_stream_true_and_accepts_sse() -> None:
    adapter = AnthropicAdapter({"model": "m"})
    request = adapter.build_request(ChatRequest((Message("user", "hi"),)), stream=True)
    assert request.json() == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4096,
                              "stream": True}
    assert request.headers["Accept"] == "text/event-stream"


def test_user_headers_override_version_and_carry_beta(mock: responses.RequestsMock) -> None:
    mock.post("https://proxy.example/v1/messages", json=answer())
    client(base_url="https://proxy.example/", headers={"Anthropic-Version": "2024-01-01",
                                                       "anthropic-beta": "prompt-caching-2024-07-31"}).complete("hi")
    headers = mock.calls[0].request.headers
    assert headers["anthropic-version"] == "2024-01-01"
    assert headers["anthropic-beta"] == "prompt-caching-2024-07-31"


def test_api_key_from_default_environment_variable(mock: responses.RequestsMock,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    mock.post(URL, json=answer())
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key-123")
    AnthropicClient("m").complete("hi")
    assert mock.calls[0].request.headers["x-api-key"] == "env-key-123"


def test_missing_key_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        AnthropicClient("m").complete("hi")


# -- translation --------------------------------------------------------------------------------------
def test_default_max_tokens_and_none_restores_it() -> None:
    assert build("hi")["max_tokens"] == 4096
    assert build("hi", options={"max_tokens": 100})["max_tokens"] == 100
    assert build("hi", options={"max_tokens": 100}, max_tokens=None)["max_tokens"] == 4096


def test_stop_becomes_stop_sequences() -> None:
    assert build("hi", stop="END")["stop_sequences"] == ["END"]
    assert build("hi", stop=["a", "b"])["stop_sequences"] == ["a", "b"]
    assert "stop" not in build("hi", stop="END")


def test_several_system_turns_are_hoisted_and_joined_in_order() -> None:
    body = build([{"role": "system", "content": "One."}, {"role": "user", "content": "hi"},
                  {"role": "system", "content": "Two."}])
    assert body["system"] == "One.\n\nTwo."
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_consecutive_same_role_turns_are_merged() -> None:
    body = build([{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                  {"role": "assistant", "content": "c"}, {"role": "assistant", "content": "d"},
                  {"role": "user", "content": "e"}])
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]},
        {"role": "user", "content": "e"},
    ]


def test_image_url_source() -> None:
    body = build([Message("user", (ImagePart(url="https://example.com/cat.png"), TextPart("cat?")))])
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "text", "text": "cat?"}]


def test_image_data_url_becomes_base64_source() -> None:
    body = build([{"role": "user", "content": [{"type": "image_url",
                                                "image_url": {"url": f"data:image/jpeg;base64,{PNG}"}}]}])
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG}}]


def test_tool_calls_and_tool_results_round_trip() -> None:
    messages = [
        Message("user", "Weather in Paris?"),
        Message("assistant", "Let me check.", tool_calls=(ToolCall("toolu_1", "get_weather", {"city": "Paris"}),)),
        Message("tool", '{"temp": 21}', tool_call_id="toolu_1"),
        Message("user", "Thanks"),
    ]
    assert build(messages)["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"temp": 21}'},
            {"type": "text", "text": "Thanks"}]},
    ]


def test_openai_style_tool_turns_are_understood() -> None:
    messages = [{"role": "user", "content": "q"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]},
                {"role": "tool", "tool_call_id": "call_9", "content": "done"}]
    assert build(messages)["messages"][1:] == [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_9", "name": "f", "input": {"x": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_9", "content": "done"}]},
    ]


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"type": "auto"}), ("any", {"type": "any"}), ("required", {"type": "any"}), ("none", {"type": "none"}),
    ("get_weather", {"type": "tool", "name": "get_weather"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ({"type": "tool", "name": "x"}, {"type": "tool", "name": "x"}),
])
def test_tool_choice_mapping(choice: Any, expected: dict[str, Any]) -> None:
    assert build("hi", tools=[WEATHER], tool_choice=choice)["tool_choice"] == expected


def test_openai_form_tools_become_input_schema() -> None:
    body = build("hi", tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]


def test_cache_control_forwarded_only_when_allowed() -> None:
    messages = [{"role": "system", "content": "Long context", "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": "hi", "cache_control": {"type": "ephemeral"}}]
    plain = build(messages)
    assert plain["system"] == "Long context"
    assert plain["messages"] == [{"role": "user", "content": "hi"}]
    allowed = build(messages, options={"allowed_role_metadata": ["cache_control"]})
    assert allowed["system"] == [{"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}]
    assert allowed["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]


def test_options_become_body_fields_and_null_removes_them() -> None:
    body = build("hi", options={"top_k": 5, "metadata": {"user_id": "u1"}}, top_k=None)
    assert "top_k" not in body
    assert body["metadata"] == {"user_id": "u1"}


# -- answers ------------------------------------------------------------------------------------------
def test_text_and_tool_use_answer(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer([{"type": "text", "text": "Let me "}, {"type": "text", "text": "check."},
                                {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                                 "input": {"city": "Paris"}}], stop="tool_use"),
              headers={"request-id": "req_011"})
    completion = client().complete("hi")
    assert completion.text == "Let me check."
    assert completion.tool_calls == (ToolCall("toolu_01", "get_weather", {"city": "Paris"}, '{"city": "Paris"}'),)
    assert completion.finish_reason == "tool_calls"
    assert completion.raw_finish_reason == "tool_use"
    assert completion.request_id == "req_011"
    assert completion.model == "claude-sonnet-4-5-20250929"
    assert completion.provider == "anthropic"
    assert completion.usage == Usage(input_tokens=12, output_tokens=3, total_tokens=27, cached_input_tokens=7,
                                     cache_creation_input_tokens=5)


@pytest.mark.parametrize(("raw", "normal"), [("end_turn", "stop"), ("stop_sequence", "stop"),
                                             ("max_tokens", "length"), ("tool_use", "tool_calls"),
                                             ("refusal", "content_filter"), ("pause_turn", "other")])
def test_stop_reasons(mock: responses.RequestsMock, raw: str, normal: str) -> None:
    mock.post(URL, json=answer(stop=raw))
    completion = client().complete("hi")
    assert (completion.finish_reason, completion.raw_finish_reason) == (normal, raw)


def test_thinking_blocks_are_kept_apart(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=answer([{"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
                                {"type": "text", "text": "42"}]))
    completion = client().complete("hi")
    assert (completion.text, completion.thinking) == ("42", "Hmm.")


def test_html_success_body_is_a_provider_error(mock: responses.RequestsMock) -> None:
    mock.post(URL, body="<html><title>Welcome</title></html>", content_type="text/html")
    with pytest.raises(ProviderError, match="text/html"):
        client().complete("hi")


# -- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "kind", "cls", "retryable"), [
    (400, "invalid_request_error", InvalidRequestError, False),
    (401, "authentication_error", AuthError, False),
    (403, "permission_error", AuthError, False),
    (404, "not_found_error", InvalidRequestError, False),
    (413, "request_too_large", InvalidRequestError, False),
    (429, "rate_limit_error", RateLimitError, True),
    (500, "api_error", ProviderError, True),
    (529, "overloaded_error", ProviderError, True),
])
def test_error_statuses(mock: responses.RequestsMock, status: int, kind: str, cls: type[LLMError],
                        retryable: bool) -> None:
    mock.post(URL, json=error_body(kind, "went wrong"), status=status, headers={"request-id": "req_err"})
    with pytest.raises(cls) as caught:
        client().complete("hi")
    err = caught.value
    assert type(err) is cls
    assert (err.status_code, err.code, err.retryable) == (status, kind, retryable)
    assert err.request_id == "req_err"
    assert "went wrong" in err.message
    assert err.provider == "anthropic"


def test_rate_limit_retry_after_header(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=error_body("rate_limit_error"), status=429, headers={"retry-after": "7"})
    with pytest.raises(RateLimitError) as caught:
        client().complete("hi")
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize("body", [
    error_body("rate_limit_error", "limit", details={"error_code": "enforced_spend_limit_reached"}),
    error_body("rate_limit_error", "You have reached your spend limit for this workspace."),
])
def test_spend_limit_429_is_not_retryable(mock: responses.RequestsMock, body: dict[str, Any]) -> None:
    mock.post(URL, json=body, status=429)
    with pytest.raises(RateLimitError) as caught:
        client().complete("hi")
    assert caught.value.retryable is False


def test_html_error_page_is_described(mock: responses.RequestsMock) -> None:
    mock.post(URL, body="<html><head><title>502 Bad Gateway</title></head></html>", status=502,
              content_type="text/html", headers={"request-id": "req_gw"})
    with pytest.raises(ProviderError) as caught:
        client().complete("hi")
    assert "502 Bad Gateway" in caught.value.message
    assert caught.value.retryable is True
    assert caught.value.request_id == "req_gw"


def test_key_echoed_in_an_error_is_redacted(mock: responses.RequestsMock) -> None:
    mock.post(URL, json=error_body("authentication_error", f"invalid x-api-key {KEY}"), status=401)
    with pytest.raises(AuthError) as caught:
        client().complete("hi")
    assert KEY not in str(caught.value) and KEY not in (caught.value.body or "")


# -- streams: recorded fixtures ------------------------------------------------------------------------
EXPECTED: dict[str, dict[str, Any]] = {
    "basic_response.sse": dict(text="Hello there!", calls=[], raw="end_turn", finish="stop",
                               usage=(11, 6, 0), model="claude-3-opus-latest"),
    "compaction_response.sse": dict(text="Hello there!", calls=[], raw="end_turn", finish="stop",
                                    usage=(30, 8, 0), model="claude-opus-4-7"),
    "fallback_credit_response.sse": dict(text="Hello there!", calls=[], raw="end_turn", finish="stop",
                                         usage=(25, 8, 0), model="claude-sonnet-4-5"),
    "fallback_response.sse": dict(text="Hello there!", calls=[], raw="end_turn", finish="stop",
                                  usage=(25, 8, 0), model="claude-opus-4-7"),
    "incomplete_partial_json_response.sse": dict(
        text=("I'll create a comprehensive tax guide for someone with multiple W2s and save it in a file called "
              "taxes.txt. Let me do that for you now."),
        calls=[("toolu_01EKqbqmZrGRXy18eN7m9kvY", "make_file", {},
                '{"filename": "taxes.txt", "lines_of_text": [\n"# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH '
                'MULTIPLE W-2s",\n"",\n"## INTRODUCTION",\n"",\n"Filing taxes')],
        raw="max_tokens", finish="length", usage=(450, 124, 0), model="claude-3-7-sonnet-20250219"),
    "refusal_response.sse": dict(text="", calls=[], raw="refusal", finish="content_filter", usage=(20, 0, 0),
                                 model="claude-opus-4-7"),
    "tool_use_response.sse": dict(
        text="I'll check the current weather in Paris for you.",
        calls=[("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"}, '{"location": "Paris"}')],
        raw="tool_use", finish="tool_calls", usage=(377, 65, 0), model="claude-sonnet-4-20250514"),
}


def decode(pieces: list[bytes]) -> tuple[StreamAccumulator, AnthropicStreamDecoder]:
    decoder = AnthropicAdapter({"model": "m"}).stream_decoder(())
    acc = StreamAccumulator()
    for piece in pieces:
        for chunk in decoder.feed(piece):
            acc.add(chunk)
    for chunk in decoder.finish():
        acc.add(chunk)
    return acc, decoder


def splits(raw: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(raw)), min(len(raw) - 1, rng.randint(1, 40))))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]


def test_every_recorded_file_has_an_expectation() -> None:
    assert sorted(p.name for p in RECORDED.glob("*.sse")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_stream_whole_bytewise_and_random_splits(name: str) -> None:
    raw = (RECORDED / name).read_bytes()
    want = EXPECTED[name]
    rng = random.Random(name)
    ways = [[raw], [raw[i:i + 1] for i in range(len(raw))]] + [splits(raw, rng) for _ in range(20)]
    for pieces in ways:
        acc, decoder = decode(pieces)
        completion = acc.completion(model=decoder.model)
        assert completion.text == want["text"]
        assert [(c.id, c.name, dict(c.arguments), c.raw_arguments) for c in completion.tool_calls] == want["calls"]
        assert (completion.raw_finish_reason, completion.finish_reason) == (want["raw"], want["finish"])
        inp, out, cached = want["usage"]
        assert (completion.usage.input_tokens, completion.usage.output_tokens,
                completion.usage.cached_input_tokens) == (inp, out, cached)
        assert completion.usage.total_tokens == inp + out
        assert completion.model == want["model"]


# -- streams: synthetic events --------------------------------------------------------------------------
def sse(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


START = sse("message_start", {"type": "message_start", "message": {
    "model": "claude-x", "usage": {"input_tokens": 10, "cache_read_input_tokens": 4,
                                   "cache_creation_input_tokens": 2, "output_tokens": 1}}})
TEXT = sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": "Hi"}})
STOP = (sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                              "usage": {"output_tokens": 2}})
        + sse("message_delta", {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 9}})
        + sse("message_stop", {"type": "message_stop"}))


def test_thinking_deltas_cache_usage_and_last_message_delta_wins() -> None:
    thinking = (sse("content_block_start", {"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "thinking", "thinking": ""}})
                + sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "thinking_delta", "thinking": "Let me think"}})
                + sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "signature_delta", "signature": "abc"}}))
    acc, _ = decode([START + sse("ping", {"type": "ping"}) + thinking + TEXT + STOP])
    completion = acc.completion()
    assert (completion.text, completion.thinking) == ("Hi", "Let me think")
    assert completion.usage == Usage(input_tokens=10, output_tokens=9, total_tokens=25, cached_input_tokens=4,
                                     cache_creation_input_tokens=2)


@pytest.mark.parametrize(("kind", "cls", "status", "retryable"), [
    ("overloaded_error", ProviderError, 529, True), ("rate_limit_error", RateLimitError, 429, True),
    ("api_error", ProviderError, 500, True), ("invalid_request_error", InvalidRequestError, 400, False),
    ("authentication_error", AuthError, 401, False), ("permission_error", AuthError, 403, False),
    ("not_found_error", InvalidRequestError, 404, False), ("request_too_large", InvalidRequestError, 413, False),
])
def test_error_event_raises_the_class_its_type_names(kind: str, cls: type[LLMError], status: int,
                                                     retryable: bool) -> None:
    decoder = AnthropicAdapter({"model": "m"}).stream_decoder(())
    decoder.feed(START)
    with pytest.raises(cls) as caught:
        decoder.feed(sse("error", {"type": "error", "error": {"type": kind, "message": "Overloaded"}}))
    assert type(caught.value) is cls
    assert (caught.value.status_code, caught.value.code, caught.value.retryable) == (status, kind, retryable)


def test_error_after_content_in_the_same_read_is_deferred() -> None:
    decoder = AnthropicAdapter({"model": "m"}).stream_decoder(())
    error = sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    chunks = decoder.feed(START + TEXT + error)
    assert [c.text for c in chunks if c.text] == ["Hi"]
    with pytest.raises(ProviderError, match="Overloaded"):
        decoder.feed(b"")


def test_stream_cut_before_message_stop_is_an_error() -> None:
    decoder = AnthropicAdapter({"model": "m"}).stream_decoder(())
    decoder.feed(START + TEXT)
    with pytest.raises(ProviderError, match="message_stop"):
        decoder.finish()


def test_malformed_event_is_a_provider_error() -> None:
    decoder = AnthropicAdapter({"model": "m"}).stream_decoder(())
    with pytest.raises(ProviderError, match="malformed JSON"):
        decoder.feed(b"event: content_block_delta\ndata: {\"type\n\n")


def test_tool_call_deltas_are_keyed_by_block_index() -> None:
    decoder = AnthropicAdapter({"model": "m"}).stream_decoder(())
    chunks: list[Chunk] = decoder.feed(START + sse("content_block_start", {
        "type": "content_block_start", "index": 3, "content_block": {"type": "tool_use", "id": "t1", "name": "f",
                                                                     "input": {}}}) + sse("content_block_delta", {
        "type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "{}"}}))
    deltas = [d for c in chunks for d in c.tool_calls]
    assert [(d.index, d.id, d.name, d.arguments) for d in deltas] == [(3, "t1", "f", ""), (3, None, None, "{}")]


# -- end to end over the fake server ---------------------------------------------------------------------
def fake_client(server: FakeLLMServer, retries: int = 0) -> AnthropicClient:
    return AnthropicClient("claude-fake", api_key="fake-key", base_url=server.url,
                           retry_policy=RetryPolicy(max_retries=retries, delay_ms=0))


def test_e2e_complete(server: FakeLLMServer) -> None:
    completion = fake_client(server).complete([{"role": "system", "content": "Be brief."},
                                               {"role": "user", "content": "hello world"}])
    assert completion.text == "Echo: hello world"
    assert (completion.finish_reason, completion.raw_finish_reason) == ("stop", "end_turn")
    assert completion.request_id == "req_fake1"
    assert completion.usage.input_tokens == 4 and completion.usage.output_tokens == 3
    recorded = server.requests[0]
    assert recorded.path == "/v1/messages"
    assert recorded.headers["anthropic-version"] == "2023-06-01"
    assert recorded.json()["system"] == "Be brief."


def test_e2e_stream_text_and_tool_call(server: FakeLLMServer) -> None:
    with fake_client(server).stream("hello there world") as stream:
        pieces = [c.text for c in stream if c.text]
    assert "".join(pieces) == "Echo: hello there world" and len(pieces) == 4
    assert stream.completion.finish_reason == "stop"
    assert stream.completion.usage.output_tokens == 4
    tool_stream = fake_client(server).stream("where", tools=[WEATHER], tool_choice="get_weather")
    assert tool_stream.completion.tool_calls == (
        ToolCall("toolu_fake2", "get_weather", {"prompt": "where"}, '{"prompt": "where"}'),)
    assert tool_stream.completion.finish_reason == "tool_calls"


def test_e2e_overloaded_529_is_retried(server: FakeLLMServer) -> None:
    server.enqueue(Fault.server_error(529), Fault.server_error(529))
    completion = fake_client(server, retries=2).complete("again")
    assert completion.text == "Echo: again"
    assert [a.status_code for a in completion.attempts] == [529, 529, 200]
    assert isinstance(completion.attempts[0].error, ProviderError)


def test_e2e_spend_limit_is_not_retried(server: FakeLLMServer) -> None:
    server.enqueue(Fault.rate_limit(quota=True))
    with pytest.raises(RateLimitError) as caught:
        fake_client(server, retries=3).complete("hi")
    assert caught.value.retryable is False and caught.value.code == "enforced_spend_limit_reached"
    assert len(server.requests) == 1


def test_e2e_error_event_before_content_is_retried(server: FakeLLMServer) -> None:
    server.enqueue(Fault.error_event(after_chunks=1, error_type="overloaded_error", message="Overloaded"))
    stream = fake_client(server, retries=1).stream("hello")
    assert stream.completion.text == "Echo: hello"
    assert len(server.requests) == 2


def test_e2e_error_event_after_content_is_a_stream_error(server: FakeLLMServer) -> None:
    server.enqueue(Fault.error_event(after_chunks=4, error_type="overloaded_error", message="Overloaded"))
    stream = fake_client(server, retries=2).stream("one two three four")
    with pytest.raises(StreamError) as caught:
        for _ in stream:
            pass
    assert caught.value.partial_text.startswith("Echo:")
    assert caught.value.status_code == 529
    assert len(server.requests) == 1


def test_e2e_html_error_page(server: FakeLLMServer) -> None:
    server.enqueue(Fault.html(502))
    with pytest.raises(ProviderError, match="502 Bad Gateway"):
        fake_client(server).complete("hi")


def test_e2e_wrong_key_is_an_auth_error(server: FakeLLMServer) -> None:
    bad = AnthropicClient("m", api_key="wrong", base_url=server.url)
    with pytest.raises(AuthError) as caught:
        bad.complete("hi")
    assert caught.value.code == "authentication_error" and caught.value.request_id is not None


def test_openai_generic_anthropic_and_google_clients_from_one_config(server: FakeLLMServer,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = {
        "retry_policies": {"quick": {"max_retries": 1, "strategy": {"type": "constant_delay", "delay_ms": 1}}},
        "clients": {
            "local": {"provider": "openai-generic", "options": {"base_url": server.openai_base_url,
                                                                "api_key": "fake-key", "model": "llama"}},
            "claude": {"provider": "anthropic", "retry_policy": "quick",
                       "options": {"base_url": server.url, "api_key": "fake-key", "model": "claude-fake",
                                   "max_tokens": 20, "headers": {"anthropic-beta": "tools-2024"}}},
            "gemini": {"provider": "google-ai",
                       "options": {"base_url": server.url + "/v1beta", "api_key": {"env": "FAKE_GEMINI_KEY"},
                                   "model": "gemini-fake", "safetySettings": []}},
        },
    }
    monkeypatch.setenv("FAKE_GEMINI_KEY", "fake-key")
    with load_config(config) as registry:
        claude, gemini = registry.client("claude"), registry.client("gemini")
        assert isinstance(claude, AnthropicClient) and isinstance(gemini, GoogleAIClient)
        server.enqueue(Fault.server_error(529), match="claude")
        texts = [registry.client(n).complete(f"hi {n}").text for n in ("local", "claude", "gemini")]
        assert texts == ["Echo: hi local", "Echo: hi claude", "Echo: hi gemini"]
    paths = [r.path for r in server.requests]
    assert paths == ["/v1/chat/completions", "/v1/messages", "/v1/messages",
                     "/v1beta/models/gemini-fake:generateContent"]
    assert server.requests[2].json()["max_tokens"] == 20
    assert server.requests[2].headers["anthropic-beta"] == "tools-2024"
    assert server.requests[3].json()["safetySettings"] == []


def test_empty_turns_are_dropped_before_merging() -> None:
    body = build([{"role": "user", "content": "a"}, {"role": "assistant", "content": ""},
                  {"role": "user", "content": "b"}])
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                              {"type": "text", "text": "b"}]}]
