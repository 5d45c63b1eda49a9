"""``client.count_tokens``: the exact count requests (``responses``, shapes from wire-formats-2026
sections 2, 3 and 4), the same leaf send path (auth, retries, timeouts, cancel) over the fake
server, tiktoken for OpenAI models (a fake encoding injected: no tokenizer file is ever
downloaded), the "cannot count" error, and composites."""

from __future__ import annotations

import sys
import threading
import time
import types
from typing import Any

import pytest
import requests
import responses

from llmclient import (
    AnthropicClient,
    AuthError,
    AzureOpenAIClient,
    BedrockClient,
    CancelledError,
    FallbackClient,
    GoogleAIClient,
    LLMTimeoutError,
    OpenAIClient,
    ProviderError,
    RetryPolicy,
    RoundRobinClient,
    TokenCountUnavailableError,
    VertexAIClient,
    load_config,
)
from llmclient.cancel import CancelToken
from llmclient.testing import FakeLLMServer, Fault
from llmclient.token_count import TokenCount

RETRY = RetryPolicy(max_retries=1, delay_ms=0)
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello there"}]
ANTHROPIC_COUNT = "https://api.anthropic.com/v1/messages/count_tokens"
GEMINI_COUNT = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:countTokens"
VERTEX_COUNT = ("https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google/"
                "models/gemini-2.5-flash:countTokens")
BEDROCK_MODEL = "anthropic.claude-sonnet-4-6-v1:0"
BEDROCK_COUNT = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-sonnet-4-6-v1%3A0/count-tokens"
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                            "parameters": {"type": "object", "properties": {}}}}


def _body(mock: responses.RequestsMock, index: int = -1) -> Any:
    import json

    return json.loads(mock.calls[index].request.body)


# -- the request each provider is sent --------------------------------------------------------------
def test_anthropic_count_request_is_the_messages_body_without_max_tokens(mock: responses.RequestsMock) -> None:
    mock.post(ANTHROPIC_COUNT, json={"input_tokens": 2095})
    client = AnthropicClient("claude-sonnet-4-6", api_key="sk-ant-KEY", max_tokens=1024)
    count = client.count_tokens(MESSAGES, temperature=0.2, stop="x", tools=[WEATHER], max_tokens=64)
    assert count == TokenCount(2095, "anthropic", "claude-sonnet-4-6", exact=True, source="provider",
                               client_name="anthropic")
    assert int(count) == 2095
    request = mock.calls[0].request
    assert request.headers["x-api-key"] == "sk-ant-KEY" and request.headers["anthropic-version"] == "2023-06-01"
    body = _body(mock)
    assert body == {"model": "claude-sonnet-4-6", "system": "You are terse.",
                    "messages": [{"role": "user", "content": "Hello there"}],
                    "tools": [{"name": "get_weather", "description": "Weather",
                               "input_schema": {"type": "object", "properties": {}}}]}


def test_gemini_count_request_contents_alone_or_the_whole_request(mock: responses.RequestsMock) -> None:
    mock.post(GEMINI_COUNT, json={"totalTokens": 31, "promptTokensDetails": [{"modality": "TEXT",
                                                                              "tokenCount": 31}]})
    client = GoogleAIClient("gemini-2.5-flash", api_key="AIza-KEY")
    assert client.count_tokens("How many tokens is this?").input_tokens == 31
    assert _body(mock, 0) == {"contents": [{"role": "user", "parts": [{"text": "How many tokens is this?"}]}]}
    assert mock.calls[0].request.headers["x-goog-api-key"] == "AIza-KEY"
    assert "key=" not in (mock.calls[0].request.url or "")
    client.count_tokens(MESSAGES)  # a system instruction: only generateContentRequest counts it
    assert _body(mock, 1) == {"generateContentRequest": {
        "model": "models/gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
        "systemInstruction": {"parts": [{"text": "You are terse."}]}}}


def test_vertex_count_request_takes_the_fields_top_level(mock: responses.RequestsMock) -> None:
    mock.post(VERTEX_COUNT, json={"totalTokens": 7, "totalBillableCharacters": 30})
    client = VertexAIClient("gemini-2.5-flash", location="us-central1", project_id="p", authorization="ya29.TOKEN")
    count = client.count_tokens(MESSAGES, safety_settings=[{"category": "x"}])
    assert (count.input_tokens, count.provider, count.model) == (7, "vertex-ai", "gemini-2.5-flash")
    assert mock.calls[0].request.headers["Authorization"] == "Bearer ya29.TOKEN"
    assert _body(mock) == {"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
                           "systemInstruction": {"parts": [{"text": "You are terse."}]}}


def test_bedrock_count_tokens_request_is_signed_converse_input(mock: responses.RequestsMock) -> None:
    mock.post(BEDROCK_COUNT, json={"inputTokens": 42})
    client = BedrockClient(BEDROCK_MODEL, region="us-east-1", access_key_id="AKIDEXAMPLE",
                           secret_access_key="SECRETEXAMPLE", inference_configuration={"max_tokens": 64})
    count = client.count_tokens(MESSAGES, temperature=0.5)
    assert (count.input_tokens, count.model, count.exact) == (42, BEDROCK_MODEL, True)
    request = mock.calls[0].request
    assert request.url == BEDROCK_COUNT
    auth = request.headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") and "/us-east-1/bedrock/aws4_request" in auth
    assert "SECRETEXAMPLE" not in auth
    assert _body(mock) == {"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "Hello there"}]}],
                                                  "system": [{"text": "You are terse."}]}}}


def test_count_errors_are_classified_and_retried_like_calls(mock: responses.RequestsMock) -> None:
    mock.post(ANTHROPIC_COUNT, status=529, json={"type": "error", "error": {"type": "overloaded_error",
                                                                             "message": "Overloaded"}})
    mock.post(ANTHROPIC_COUNT, json={"input_tokens": 5})
    assert AnthropicClient("claude-x", api_key="sk-ant-KEY", retry_policy=RETRY).count_tokens("hi").input_tokens == 5
    assert len(mock.calls) == 2
    mock.replace(responses.POST, ANTHROPIC_COUNT, status=401, json={
        "type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key sk-ant-KEY"}})
    with pytest.raises(AuthError) as info:
        AnthropicClient("claude-x", api_key="sk-ant-KEY").count_tokens("hi")
    assert "sk-ant-KEY" not in str(info.value) and "sk-ant-KEY" not in (info.value.body or "")
    mock.replace(responses.POST, ANTHROPIC_COUNT, json={"tokens": 5})
    with pytest.raises(ProviderError) as missing:
        AnthropicClient("claude-x", api_key="sk-ant-KEY").count_tokens("hi")
    assert "no input_tokens count" in str(missing.value)


def test_claude_on_vertex_cannot_count_and_says_so_before_sending(mock: responses.RequestsMock) -> None:
    client = VertexAIClient("claude-sonnet-4-6", location="us-east5", project_id="p", authorization="ya29.t")
    with pytest.raises(TokenCountUnavailableError) as info:
        client.count_tokens("hi")
    assert "vertex-ai" in str(info.value) and not mock.calls


# -- OpenAI models: tiktoken, injected -------------------------------------------------------------
class FakeEncoding:
    """One token per whitespace-separated word: enough to check the framing arithmetic."""

    def encode(self, text: str, disallowed_special: Any = "all") -> list[str]:
        assert disallowed_special == ()  # special-token text counts as text, never raises
        return text.split()


@pytest.fixture
def fake_tiktoken(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    loaded: list[str] = []

    def encoding_name_for_model(model: str) -> str:
        if not model.startswith(("gpt-", "o1", "o3", "o4")):
            raise KeyError(model)
        return "o200k_base"

    def get_encoding(name: str) -> FakeEncoding:
        loaded.append(name)
        return FakeEncoding()

    module = types.SimpleNamespace(encoding_name_for_model=encoding_name_for_model, get_encoding=get_encoding,
                                   loaded=loaded)
    monkeypatch.setitem(sys.modules, "tiktoken", module)
    return module


def test_openai_counts_locally_with_the_published_framing(mock: responses.RequestsMock,
                                                         fake_tiktoken: types.SimpleNamespace) -> None:
    count = OpenAIClient("gpt-4o", api_key="sk-KEY").count_tokens(MESSAGES)
    # 3 to prime the reply; per message 3 + role (1 word) + content (2 words)
    assert count == TokenCount(3 + (3 + 1 + 3) + (3 + 1 + 2), "openai", "gpt-4o", exact=False, source="tiktoken",
                               client_name="openai")
    named = OpenAIClient("gpt-4o", api_key="sk-KEY").count_tokens([{"role": "user", "content": "hi", "name": "bob"}])
    assert named.input_tokens == 3 + 3 + 1 + 1 + (1 + 1)
    parts = [{"role": "user", "content": [{"type": "text", "text": "two words"}]}]
    assert OpenAIClient("gpt-4o", api_key="sk-KEY").count_tokens(parts).input_tokens == 3 + 3 + 1 + 2
    assert fake_tiktoken.loaded == ["o200k_base"] * 3 and not mock.calls  # nothing was sent


def test_azure_counts_with_the_model_it_is_told(fake_tiktoken: types.SimpleNamespace) -> None:
    client = AzureOpenAIClient(resource_name="res", deployment_id="my-deployment", api_key="azure-key")
    with pytest.raises(TokenCountUnavailableError, match="model"):
        client.count_tokens("hi")
    assert client.count_tokens("hi", model="gpt-4o").model == "gpt-4o"


@pytest.mark.parametrize("messages, params, says", [
    ("hi", {"tools": [WEATHER]}, "tool definitions"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}], {}, "image"),
    ([{"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
                                                           "function": {"name": "f", "arguments": "{}"}}]}],
     {}, "tool calls"),
    ("hi", {"model": "llama-3-70b"}, "does not know model 'llama-3-70b'"),
])
def test_what_the_rule_does_not_cover_is_refused_not_guessed(fake_tiktoken: types.SimpleNamespace, messages: Any,
                                                            params: dict[str, Any], says: str) -> None:
    with pytest.raises(TokenCountUnavailableError) as info:
        OpenAIClient("gpt-4o", api_key="sk-KEY").count_tokens(messages, **params)
    assert says in str(info.value) and "client 'openai'" in str(info.value)


def test_tiktoken_not_installed(monkeypatch: pytest.MonkeyPatch, mock: responses.RequestsMock) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import tiktoken raises ImportError
    with pytest.raises(TokenCountUnavailableError) as info:
        OpenAIClient("gpt-4o", api_key="sk-KEY").count_tokens("hi")
    assert "pip install 'llmclient[tokens]'" in str(info.value) and not mock.calls
    assert isinstance(info.value, TokenCountUnavailableError) and info.value.retryable is False


def test_tiktoken_that_cannot_load_its_files_says_where_they_go(monkeypatch: pytest.MonkeyPatch,
                                                               fake_tiktoken: types.SimpleNamespace) -> None:
    def offline(name: str) -> Any:
        raise requests.ConnectionError("no internet")

    monkeypatch.setattr(fake_tiktoken, "get_encoding", offline)
    with pytest.raises(TokenCountUnavailableError) as info:
        OpenAIClient("gpt-4o", api_key="sk-KEY").count_tokens("hi")
    assert "o200k_base" in str(info.value) and "TIKTOKEN_CACHE_DIR" in str(info.value)


def test_counts_send_no_events() -> None:
    with pytest.raises(TypeError, match="on_event"):
        OpenAIClient("gpt-4o", api_key="sk-KEY").count_tokens("hi", on_event=print)


# -- end to end over the fake server ------------------------------------------------------------------
def _counting_clients(server: FakeLLMServer, **kw: Any) -> dict[str, Any]:
    url = server.url
    return {
        "anthropic": AnthropicClient("claude-x", api_key="k", base_url=url, **kw),
        "google-ai": GoogleAIClient("gemini-x", api_key="k", base_url=url + "/v1beta", **kw),
        "vertex-ai": VertexAIClient("gemini-x", location="us-central1", project_id="p", authorization="ya29.t",
                                    base_url=url, **kw),
        "aws-bedrock": BedrockClient(BEDROCK_MODEL, region="us-east-1", endpoint_url=url, access_key_id="AKID",
                                     secret_access_key="secret", **kw),
    }


COUNT_PATHS = {"anthropic": "/v1/messages/count_tokens", "google-ai": "/v1beta/models/gemini-x:countTokens",
               "vertex-ai": "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-x:countTokens",
               "aws-bedrock": "/model/anthropic.claude-sonnet-4-6-v1%3A0/count-tokens"}


@pytest.mark.parametrize("provider", sorted(COUNT_PATHS))
def test_the_count_matches_the_usage_of_the_call(fake_llm_server: FakeLLMServer, provider: str) -> None:
    with _counting_clients(fake_llm_server)[provider] as client:
        count = client.count_tokens(MESSAGES, max_tokens=32, temperature=0.1)
        used = client.complete(MESSAGES, max_tokens=32).usage.input_tokens
    assert count.input_tokens == used == 5 and count.provider == provider and count.exact
    assert fake_llm_server.requests[0].path == COUNT_PATHS[provider]


@pytest.mark.parametrize("provider", sorted(COUNT_PATHS))
def test_a_count_is_retried_and_bounded_like_a_call(fake_llm_server: FakeLLMServer, provider: str) -> None:
    fake_llm_server.enqueue(Fault.server_error(503), Fault.stall(5))
    client = _counting_clients(fake_llm_server, retry_policy=RETRY,
                               http={"request_timeout_ms": 300})[provider]
    with client:
        started = time.monotonic()
        with pytest.raises(LLMTimeoutError):  # a 503, retried once, then a stall past the request limit
            client.count_tokens("hello")
        assert time.monotonic() - started < 5  # well before the stall ends
        assert client.count_tokens("hello").input_tokens == 1
    assert [r.fault for r in fake_llm_server.requests] == ["status", "stall", None]


def test_a_count_is_cancelled_at_once(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.stall(10))
    token = CancelToken()
    timer = threading.Timer(0.2, token.cancel)
    timer.start()
    started = time.monotonic()
    with _counting_clients(fake_llm_server)["anthropic"] as client, pytest.raises(CancelledError):
        client.count_tokens("hello", cancel=token)
    timer.cancel()
    assert time.monotonic() - started < 5


def test_the_fake_server_refuses_what_count_endpoints_refuse(fake_llm_server: FakeLLMServer) -> None:
    url = fake_llm_server.url
    with_max = requests.post(url + "/v1/messages/count_tokens", timeout=10,
                             json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    assert with_max.status_code == 400 and "max_tokens: Extra inputs" in with_max.text
    top_system = requests.post(url + "/v1beta/models/g:countTokens", timeout=10, json={
        "contents": [{"role": "user", "parts": [{"text": "x"}]}], "systemInstruction": {"parts": [{"text": "s"}]}})
    assert top_system.status_code == 400 and "systemInstruction" in top_system.text
    inference = requests.post(url + "/model/m/count-tokens", timeout=10, json={"input": {"converse": {
        "messages": [{"role": "user", "content": [{"text": "x"}]}], "inferenceConfig": {"maxTokens": 5}}}})
    assert inference.status_code == 400


def test_the_fake_server_counts_system_and_messages(fake_llm_server: FakeLLMServer) -> None:
    answer = requests.post(fake_llm_server.url + "/v1beta/models/g:countTokens", timeout=10, json={
        "generateContentRequest": {"model": "models/g", "contents": [{"role": "user", "parts": [{"text": "a b"}]}],
                                   "systemInstruction": {"parts": [{"text": "c"}]}}})
    assert answer.json()["totalTokens"] == 3


# -- composites and configured clients ------------------------------------------------------------------
def test_a_fallback_counts_with_its_first_member_that_can(fake_llm_server: FakeLLMServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    config = {"clients": {
        "GPT": {"provider": "openai", "options": {"model": "gpt-4o", "api_key": "k",
                                                  "base_url": fake_llm_server.openai_base_url}},
        "Claude": {"provider": "anthropic", "options": {"model": "claude-x", "api_key": "k",
                                                        "base_url": fake_llm_server.url}},
        "Chain": {"provider": "fallback", "options": {"strategy": ["GPT", "Claude"]}},
        "Turns": {"provider": "round-robin", "options": {"strategy": ["Claude", "GPT"]}},
        "OnlyGPT": {"provider": "fallback", "options": {"strategy": ["GPT", "GPT"]}},
    }}
    with load_config(config) as registry:
        count = registry.client("Chain").count_tokens("one two three")
        assert (count.provider, count.client_name, count.input_tokens) == ("anthropic", "Claude", 3)
        for _ in range(3):  # member order, not the rotation
            assert registry.client("Turns").count_tokens("x").client_name == "Claude"
        with pytest.raises(TokenCountUnavailableError) as info:
            registry.client("OnlyGPT").count_tokens("x")
        assert "OnlyGPT" in str(info.value) and str(info.value).count("tiktoken") == 2
        assert registry.client("Chain").with_options(model="claude-y").count_tokens("x").model == "claude-y"
    assert fake_llm_server.requests[-1].json()["model"] == "claude-y"


def test_a_counting_member_that_fails_is_not_fallen_back_on(fake_llm_server: FakeLLMServer) -> None:
    clients = _counting_clients(fake_llm_server)
    fake_llm_server.enqueue(Fault.server_error(500), match="count_tokens")
    with FallbackClient([clients["anthropic"], clients["google-ai"]]) as chain, pytest.raises(ProviderError):
        chain.count_tokens("x")
    with RoundRobinClient([_counting_clients(fake_llm_server)["google-ai"]]) as turns:
        assert turns.count_tokens("a b").provider == "google-ai"
    assert [r.path.rsplit("/", 1)[-1] for r in fake_llm_server.requests] == ["count_tokens", "gemini-x:countTokens"]
