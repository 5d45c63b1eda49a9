"""finish_reason_allow_list / finish_reason_deny_list on every HTTP provider.

The lists match the provider's own word or the normalised one, case-insensitively; an answer
without a finish reason is allowed; a refused answer raises a non-retryable FinishReasonError
carrying the completion, for complete() and at the end of a stream.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

import pytest
import responses

from llmclient.client import Client
from llmclient.errors import ConfigError, FinishReasonError
from llmclient.providers.anthropic import AnthropicClient
from llmclient.providers.azure import AzureOpenAIClient
from llmclient.providers.google import GoogleAIClient
from llmclient.providers.openai import OpenAIClient
from llmclient.retry import RetryPolicy


@dataclass(frozen=True)
class Provider:
    name: str
    make: Callable[..., Client]
    url: Any
    stop: str  # the provider's word for a natural stop
    length: str  # ... and for hitting the token limit
    answer: Callable[[str | None], dict[str, Any]]
    stream: Callable[[str], bytes]


def _openai_answer(reason: str | None) -> dict[str, Any]:
    return {"id": "c", "model": "gpt", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                                   "finish_reason": reason}], "usage": {}}


def _openai_stream(reason: str) -> bytes:
    def event(delta: dict[str, Any], finish: str | None) -> bytes:
        return b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).encode() \
            + b"\n\n"
    return event({"content": "hi"}, None) + event({}, reason) + b"data: [DONE]\n\n"


def _anthropic_answer(reason: str | None) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "model": "claude", "content": [{"type": "text", "text": "hi"}],
            "stop_reason": reason, "usage": {"input_tokens": 1, "output_tokens": 1}}


def _anthropic_stream(reason: str) -> bytes:
    events = [("message_start", {"type": "message_start", "message": {"model": "claude", "usage": {}}}),
              ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": "hi"}}),
              ("message_delta", {"type": "message_delta", "delta": {"stop_reason": reason},
                                 "usage": {"output_tokens": 1}}),
              ("message_stop", {"type": "message_stop"})]
    return b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events)


def _google_answer(reason: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": "hi"}], "role": "model"}, "index": 0}
    if reason:
        candidate["finishReason"] = reason
    return {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1}}


def _google_stream(reason: str) -> bytes:
    return b"data: " + json.dumps(_google_answer(reason)).encode() + b"\r\n\r\n"


PROVIDERS = [
    Provider("openai", lambda **kw: OpenAIClient("gpt-4o", api_key="k", **kw),
             "https://api.openai.com/v1/chat/completions", "stop", "length", _openai_answer, _openai_stream),
    Provider("azure-openai", lambda **kw: AzureOpenAIClient(resource_name="res", deployment_id="dep", api_key="k",
                                                            **kw),
             re.compile(r"https://res\.openai\.azure\.com/openai/deployments/dep/chat/completions.*"), "stop",
             "length", _openai_answer, _openai_stream),
    Provider("anthropic", lambda **kw: AnthropicClient("claude", api_key="k", **kw),
             "https://api.anthropic.com/v1/messages", "end_turn", "max_tokens", _anthropic_answer, _anthropic_stream),
    Provider("google-ai", lambda **kw: GoogleAIClient("gemini", api_key="k", **kw),
             re.compile(r"https://generativelanguage\.googleapis\.com/v1beta/models/gemini:.*"), "STOP", "MAX_TOKENS",
             _google_answer, _google_stream),
]


@pytest.fixture(params=PROVIDERS, ids=[p.name for p in PROVIDERS])
def provider(request: pytest.FixtureRequest) -> Provider:
    value: Provider = request.param
    return value


def answering(mock: responses.RequestsMock, provider: Provider, reason: str | None) -> None:
    mock.post(provider.url, json=provider.answer(reason))


def test_allow_list_accepts_listed_reason_in_any_case(mock: responses.RequestsMock, provider: Provider) -> None:
    answering(mock, provider, provider.stop)
    assert provider.make(finish_reason_allow_list=[provider.stop.swapcase()]).complete("x").text == "hi"
    assert provider.make(finish_reason_allow_list=["STOP"]).complete("x").finish_reason == "stop"


def test_allow_list_refuses_other_reasons_without_retrying(mock: responses.RequestsMock, provider: Provider) -> None:
    answering(mock, provider, provider.length)
    client = provider.make(finish_reason_allow_list=["stop"], retry_policy=RetryPolicy(max_retries=3, delay_ms=0))
    with pytest.raises(FinishReasonError) as caught:
        client.complete("x")
    err = caught.value
    assert err.retryable is False
    assert err.finish_reason == provider.length
    assert err.completion is not None and err.completion.text == "hi"
    assert err.provider == provider.name
    assert len(mock.calls) == 1


def test_deny_list_refuses_by_raw_or_normalised_name(mock: responses.RequestsMock, provider: Provider) -> None:
    answering(mock, provider, provider.length)
    for denied in (provider.length.upper(), "Length"):
        with pytest.raises(FinishReasonError):
            provider.make(finish_reason_deny_list=[denied]).complete("x")
    assert provider.make(finish_reason_deny_list=["content_filter"]).complete("x").finish_reason == "length"


def test_missing_reason_is_allowed(mock: responses.RequestsMock, provider: Provider) -> None:
    answering(mock, provider, None)
    completion = provider.make(finish_reason_allow_list=["stop"]).complete("x")
    assert completion.raw_finish_reason is None and completion.text == "hi"


def test_stream_is_refused_at_its_end(mock: responses.RequestsMock, provider: Provider) -> None:
    mock.post(provider.url, body=provider.stream(provider.length), content_type="text/event-stream")
    stream = provider.make(finish_reason_deny_list=["length"]).stream("x")
    with pytest.raises(FinishReasonError) as caught:
        for _ in stream:
            pass
    assert stream.text == "hi" and caught.value.retryable is False


def test_both_lists_is_a_config_error(provider: Provider) -> None:
    with pytest.raises(ConfigError, match="not both"):
        provider.make(finish_reason_allow_list=["stop"], finish_reason_deny_list=["length"])
