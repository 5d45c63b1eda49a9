"""``Completion.response_id`` on every provider, streamed or not; unknown usage is not zero usage."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest

import llmclient
from llmclient.models import UNKNOWN_USAGE, Usage
from llmclient.providers.openai import OpenAIAdapter
from llmclient.retry import RetryPolicy
from llmclient.stream import StreamAccumulator
from llmclient.testing import FakeLLMServer

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


CLIENTS: dict[str, Callable[[FakeLLMServer], llmclient.Client]] = {
    "openai": lambda s: llmclient.OpenAIClient("gpt-x", api_key="fake-key", base_url=s.openai_base_url),
    "anthropic": lambda s: llmclient.AnthropicClient("claude-x", api_key="fake-key", base_url=s.url),
    "google-ai": lambda s: llmclient.GoogleAIClient("gemini-x", api_key="fake-key", base_url=s.url + "/v1beta"),
    "aws-bedrock": lambda s: llmclient.BedrockClient("anthropic.claude-x", region="us-east-1", endpoint_url=s.url,
                                                     access_key_id=AK, secret_access_key=SK),
}
#: The id each fake wire format puts on its answer (request number ``n``).
EXPECTED = {"openai": "chatcmpl-fake{n}", "anthropic": "msg_fake{n}", "google-ai": "fake{n}",
            "aws-bedrock": "fake-bedrock-{n:08d}"}


@pytest.mark.parametrize("provider", sorted(CLIENTS))
def test_response_id_on_complete_and_stream(provider: str, server: FakeLLMServer) -> None:
    client = CLIENTS[provider](server)
    completed = client.complete("hello")
    with client.stream("hello") as stream:
        for _ in stream:
            pass
    assert completed.response_id == EXPECTED[provider].format(n=1)
    assert stream.completion.response_id == EXPECTED[provider].format(n=2)


def test_parse_response_fills_response_id() -> None:
    client = llmclient.OpenAIGenericClient("m", base_url="http://127.0.0.1:9/v1")
    body = {"id": "chatcmpl-stored", "choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": "stop"}]}
    completion = client.parse_response(200, {"x-request-id": "req_1"}, json.dumps(body))
    assert (completion.response_id, completion.request_id) == ("chatcmpl-stored", "req_1")


def test_generic_stream_without_usage_reports_unknown_usage(server: FakeLLMServer) -> None:
    client = llmclient.OpenAIGenericClient("m", base_url=server.openai_base_url, api_key="fake-key")
    with client.stream("count") as stream:
        for _ in stream:
            pass
    usage = stream.completion.usage
    assert usage.known is False and usage.total_tokens == 0
    assert "stream_options" not in server.requests[0].json()


def test_generic_stream_with_usage_uses_it(server: FakeLLMServer) -> None:
    client = llmclient.OpenAIGenericClient("m", base_url=server.openai_base_url, api_key="fake-key",
                                           stream_options={"include_usage": True},
                                           retry_policy=RetryPolicy(max_retries=0))
    with client.stream("count to three") as stream:
        for _ in stream:
            pass
    usage = stream.completion.usage
    assert usage.known is True and usage.total_tokens > 0 and usage.output_tokens > 0


def decode_openai(events: list[dict[str, Any]]) -> Usage:
    decoder = OpenAIAdapter("openai-generic", {"base_url": "http://x/v1", "model": "m"}).stream_decoder(())
    acc = StreamAccumulator()
    raw = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    for chunk in decoder.feed(raw) + decoder.finish():
        acc.add(chunk)
    return acc.completion().usage


def test_a_gateway_cost_stays_reachable_in_usage_extra() -> None:
    usage = decode_openai([
        {"id": "gen-1", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]},
        {"id": "gen-1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
                                                 "cost": 0.00042, "is_byok": False}}])
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens, usage.known) == (5, 2, 7, True)
    assert usage.extra == {"cost": 0.00042, "is_byok": False}


def test_a_stream_without_any_usage_event_is_unknown_not_zero() -> None:
    usage = decode_openai([{"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}])
    assert usage.known is False and usage == UNKNOWN_USAGE


def test_sums_of_usage_add_extras_and_stay_unknown_if_any_part_was() -> None:
    a = Usage(1, 2, 3, extra={"cost": 0.5, "tier": "x"})
    b = Usage(4, 5, 9, extra={"cost": 0.25, "tier": "y"})
    total = a + b
    assert total == Usage(5, 7, 12) and total.known and total.extra == {"cost": 0.75, "tier": "y"}
    assert (a + UNKNOWN_USAGE).known is False
