""""The prompt is too long" on every provider: ContextWindowExceededError from error answers
(``responses``, with the bodies recorded in wire-formats-2026 section 8) and from the fake
server's ``Fault.context_window()``, complete and streamed, never retried.

The bodies below are copied from /work/shared/reference/wire-formats-2026.md, section 8 (each
row names its source there: provider issue threads that recorded the provider's answer).
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
import responses

from llmclient import (
    AnthropicClient,
    AzureOpenAIClient,
    BedrockClient,
    Client,
    ContextWindowExceededError,
    GoogleAIClient,
    InvalidRequestError,
    LLMError,
    OpenAIClient,
    OpenAIResponsesClient,
    ProviderError,
    RetryPolicy,
    StreamError,
    VertexAIClient,
)
from llmclient.providers.status import context_window_exceeded
from llmclient.testing import FakeLLMServer, Fault

RETRY = RetryPolicy(max_retries=2, delay_ms=0)
BEDROCK_MODEL = "anthropic.claude-sonnet-4-6"

# -- the recorded bodies ----------------------------------------------------------------------------
OPENAI_CHAT = {"error": {"message": "This model's maximum context length is 4097 tokens. However, your messages "
                                    "resulted in 4294 tokens. Please reduce the length of the messages.",
                         "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}
OPENAI_WITH_COMPLETION = {"error": {
    "message": "This model's maximum context length is 4097 tokens. However, you requested 4203 tokens (3703 in "
               "the messages, 500 in the completion). Please reduce the length of the messages or completion.",
    "type": "invalid_request_error", "param": None, "code": None}}
OPENAI_GPT5 = {"error": {"message": "Input tokens exceed the configured limit of 272000 tokens. Your messages "
                                    "resulted in 289650 tokens. Please reduce the length of the messages.",
                         "type": "invalid_request_error", "param": None, "code": None}}
ANTHROPIC = {"type": "error", "error": {"type": "invalid_request_error",
                                        "message": "prompt is too long: 200251 tokens > 200000 maximum"},
             "request_id": "req_011CWdepJvA2D819tdYYq4h7"}
ANTHROPIC_WITH_MAX_TOKENS = {"type": "error", "error": {
    "type": "invalid_request_error",
    "message": "input length and `max_tokens` exceed context limit: 199759 + 8192 > 200000, decrease input length "
               "or `max_tokens` and try again"}}
GEMINI = {"error": {"code": 400, "message": "The input token count (1200293) exceeds the maximum number of tokens "
                                            "allowed (1048576).", "status": "INVALID_ARGUMENT"}}
GEMINI_WITHOUT_COUNT = {"error": {"code": 400, "message": "The input token count exceeds the maximum number of "
                                                          "tokens allowed (1048576).", "status": "INVALID_ARGUMENT",
                                  "errors": [{"message": "x", "domain": "global", "reason": "badRequest"}]}}
BEDROCK_MESSAGES = [
    "The model returned the following errors: prompt is too long: 227255 tokens > 200000 maximum",
    "The model returned the following errors: Input is too long for requested model.",
    "Input is too long for requested model.",
    "input length and `max_tokens` exceed context limit: 199759 + 8192 > 200000",
    "too many total text bytes: 10000001 > 10000000",
]


def _openai() -> OpenAIClient:
    return OpenAIClient("gpt-4o", api_key="sk-test", retry_policy=RETRY)


@pytest.mark.parametrize("body", [OPENAI_CHAT, OPENAI_WITH_COMPLETION, OPENAI_GPT5])
def test_openai_prompt_too_long_answers(mock: responses.RequestsMock, body: dict[str, Any]) -> None:
    mock.post("https://api.openai.com/v1/chat/completions", json=body, status=400)
    with pytest.raises(ContextWindowExceededError) as info:
        _openai().complete("x" * 100)
    err = info.value
    assert isinstance(err, InvalidRequestError) and err.retryable is False and err.status_code == 400
    assert len(mock.calls) == 1  # not retried, although the policy allows two retries
    assert err.provider == "openai" and "tokens" in err.message


def test_azure_prompt_too_long_answer(mock: responses.RequestsMock) -> None:
    mock.post("https://res.openai.azure.com/openai/deployments/gpt4o/chat/completions", json=OPENAI_CHAT, status=400)
    client = AzureOpenAIClient(resource_name="res", deployment_id="gpt4o", api_key="azure-key")
    with pytest.raises(ContextWindowExceededError) as info:
        client.complete("x")
    assert info.value.code == "context_length_exceeded"


@pytest.mark.parametrize("body", [ANTHROPIC, ANTHROPIC_WITH_MAX_TOKENS])
def test_anthropic_prompt_too_long_answers(mock: responses.RequestsMock, body: dict[str, Any]) -> None:
    mock.post("https://api.anthropic.com/v1/messages", json=body, status=400, headers={"request-id": "req_1"})
    with pytest.raises(ContextWindowExceededError) as info:
        AnthropicClient("claude-sonnet-4-6", api_key="sk-ant-test", retry_policy=RETRY).complete("x")
    assert info.value.code == "invalid_request_error" and info.value.request_id == "req_1"
    assert len(mock.calls) == 1


@pytest.mark.parametrize("body", [GEMINI, GEMINI_WITHOUT_COUNT])
def test_gemini_and_vertex_input_token_count_answers(mock: responses.RequestsMock, body: dict[str, Any]) -> None:
    mock.post("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
              json=body, status=400)
    mock.post("https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google/"
              "models/gemini-2.5-flash:generateContent", json=body, status=400)
    clients: list[Client] = [
        GoogleAIClient("gemini-2.5-flash", api_key="AIza-test", retry_policy=RETRY),
        VertexAIClient("gemini-2.5-flash", location="us-central1", project_id="p", authorization="ya29.t",
                       retry_policy=RETRY)]
    for client in clients:
        with pytest.raises(ContextWindowExceededError) as info:
            client.complete("x")
        assert info.value.code == "INVALID_ARGUMENT"
    assert len(mock.calls) == 2


@pytest.mark.parametrize("message", BEDROCK_MESSAGES)
def test_bedrock_validation_exceptions_about_length(mock: responses.RequestsMock, message: str) -> None:
    mock.post("https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-sonnet-4-6/converse",
              json={"message": message}, status=400,
              headers={"x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"})
    client = BedrockClient(BEDROCK_MODEL, region="us-east-1", access_key_id="AKIDEXAMPLE", secret_access_key="s",
                           retry_policy=RETRY)
    with pytest.raises(ContextWindowExceededError) as info:
        client.complete("x")
    assert info.value.code == "ValidationException" and len(mock.calls) == 1


@pytest.mark.parametrize("status, body, cls", [
    (400, {"error": {"message": "Invalid value for 'temperature'.", "type": "invalid_request_error",
                     "param": "temperature", "code": None}}, InvalidRequestError),
    (500, {"error": {"message": "prompt is too long for this server to log", "type": "server_error",
                     "param": None, "code": None}}, ProviderError),
])
def test_other_errors_keep_their_class(mock: responses.RequestsMock, status: int, body: dict[str, Any],
                                       cls: type[LLMError]) -> None:
    mock.post("https://api.openai.com/v1/chat/completions", json=body, status=status)
    with pytest.raises(LLMError) as info:
        OpenAIClient("gpt-4o", api_key="sk-test").complete("x")
    assert type(info.value) is cls


def test_anthropic_request_too_large_is_not_a_context_window(mock: responses.RequestsMock) -> None:
    mock.post("https://api.anthropic.com/v1/messages", status=413, json={"type": "error", "error": {
        "type": "request_too_large", "message": "Request exceeds the maximum allowed number of bytes."}})
    with pytest.raises(InvalidRequestError) as info:
        AnthropicClient("claude-sonnet-4-6", api_key="sk-ant-test").complete("x")
    assert type(info.value) is InvalidRequestError


def test_the_markers_of_section_8() -> None:
    for text in ("Your input exceeds the context window of this model. Please adjust your input and try again.",
                 "Input is too long for requested model.", "too many input tokens"):
        assert context_window_exceeded(text)
    assert context_window_exceeded(None, "context_length_exceeded")
    assert not context_window_exceeded("The input token count must be positive.")
    assert not context_window_exceeded("Invalid value for 'max_tokens'.", "invalid_request_error")


# -- in-stream error events ---------------------------------------------------------------------------
def test_in_stream_context_window_events_of_each_decoder() -> None:
    from llmclient.providers.anthropic import AnthropicAdapter
    from llmclient.providers.bedrock_stream import bedrock_error
    from llmclient.providers.gemini import gemini_error
    from llmclient.providers.openai import OpenAIAdapter

    responses_event = {"type": "invalid_request_error", "code": "context_length_exceeded", "param": "input",
                       "message": "Your input exceeds the context window of this model. Please adjust your input "
                                  "and try again."}
    errors = [
        OpenAIAdapter("openai", {"model": "m"}).error_from(responses_event, response=None, secrets=()),
        AnthropicAdapter({"model": "m"}).error_from(ANTHROPIC["error"], response=None, secrets=()),
        gemini_error(GEMINI["error"], provider="google-ai", response=None),
        bedrock_error("validationException", "Input is too long for requested model.", response=None, secrets=()),
    ]
    for err in errors:
        assert isinstance(err, ContextWindowExceededError), err
        assert err.status_code == 400 and err.retryable is False


# -- end to end over the fake server: Fault.context_window() ------------------------------------------
def _fake_clients(server: FakeLLMServer) -> dict[str, Callable[[], Client]]:
    url = server.url
    vertex = {"location": "us-central1", "project_id": "p", "authorization": "ya29.t", "base_url": url,
              "retry_policy": RETRY}
    return {
        "openai": lambda: OpenAIClient("gpt-4o", api_key="k", base_url=server.openai_base_url, retry_policy=RETRY),
        "openai-responses": lambda: OpenAIResponsesClient("gpt-5.2", api_key="k", base_url=server.openai_base_url,
                                                          retry_policy=RETRY),
        "azure": lambda: AzureOpenAIClient(endpoint=url, model="dep", api_key="k", retry_policy=RETRY),
        "anthropic": lambda: AnthropicClient("claude-x", api_key="k", base_url=url, retry_policy=RETRY),
        "google-ai": lambda: GoogleAIClient("gemini-x", api_key="k", base_url=url + "/v1beta", retry_policy=RETRY),
        "vertex-gemini": lambda: VertexAIClient("gemini-x", **vertex),
        "vertex-claude": lambda: VertexAIClient("claude-x", **vertex),
        "bedrock": lambda: BedrockClient(BEDROCK_MODEL, region="us-east-1", endpoint_url=url, access_key_id="AKID",
                                         secret_access_key="secret", retry_policy=RETRY),
    }


PROVIDERS = ["openai", "openai-responses", "azure", "anthropic", "google-ai", "vertex-gemini", "vertex-claude",
             "bedrock"]


@pytest.mark.parametrize("which", PROVIDERS)
def test_fake_server_context_window_fault_complete(fake_llm_server: FakeLLMServer, which: str) -> None:
    fake_llm_server.enqueue(Fault.context_window())
    with _fake_clients(fake_llm_server)[which]() as client:
        with pytest.raises(ContextWindowExceededError) as info:
            client.complete("a prompt far too long")
        assert info.value.status_code == 400 and info.value.retryable is False
        assert len(fake_llm_server.requests) == 1  # never retried
        assert client.complete("short").text == "Echo: short"


@pytest.mark.parametrize("which", PROVIDERS)
def test_fake_server_context_window_fault_stream(fake_llm_server: FakeLLMServer, which: str) -> None:
    fake_llm_server.enqueue(Fault.context_window(), Fault.context_window(in_stream=True, after_chunks=0))
    with _fake_clients(fake_llm_server)[which]() as client:
        for _ in range(2):  # as the 400 answer, then as the first event of a 200 stream
            with pytest.raises(ContextWindowExceededError):
                client.stream("a prompt far too long")
        assert len(fake_llm_server.requests) == 2


def test_fake_server_in_stream_error_after_content_is_a_stream_error_caused_by_it(
        fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.context_window(in_stream=True, after_chunks=3))
    with _fake_clients(fake_llm_server)["openai"]() as client, client.stream("one two three four") as stream:
        with pytest.raises(StreamError) as info:
            for _ in stream:
                pass
    assert isinstance(info.value.__cause__, ContextWindowExceededError)


@pytest.mark.parametrize("which, path_part, check", [
    ("openai", "/chat/completions", lambda b: b["error"]["code"] == "context_length_exceeded"),
    ("anthropic", "/v1/messages", lambda b: b["error"]["message"].startswith("prompt is too long")),
    ("google-ai", ":generateContent", lambda b: b["error"]["status"] == "INVALID_ARGUMENT"),
    ("bedrock", "/converse", lambda b: "prompt is too long" in b["message"]),
])
def test_fake_server_writes_the_recorded_bodies(fake_llm_server: FakeLLMServer, which: str, path_part: str,
                                                check: Callable[[Any], bool]) -> None:
    seen: list[bytes] = []
    fake_llm_server.enqueue(Fault.context_window())
    with _fake_clients(fake_llm_server)[which]() as client:
        with pytest.raises(ContextWindowExceededError) as info:
            client.complete("x")
        assert info.value.body is not None
        seen.append(info.value.body.encode())
    assert path_part in fake_llm_server.requests[0].path
    assert check(json.loads(seen[0]))
