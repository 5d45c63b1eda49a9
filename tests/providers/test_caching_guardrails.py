"""Prompt caching and Bedrock guardrails: where each control is sent, and what the answer reports.

Shapes from ``wire-formats-2026.md`` section 4 (Bedrock ``cachePoint`` blocks in system and messages,
top-level ``guardrailConfig``, ``trace.guardrail``, ``stopReason: guardrail_intervened``) and the
usage objects of ``wire-formats.md`` / ``wire-formats-2026.md`` (Anthropic ``cache_read_input_tokens``
/ ``cache_creation_input_tokens``, OpenAI ``prompt_tokens_details.cached_tokens``, Responses
``input_tokens_details.cached_tokens`` / ``cache_write_tokens``, Gemini ``cachedContentTokenCount``,
Bedrock ``cacheReadInputTokens`` / ``cacheWriteInputTokens``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmclient
from llmclient import Message
from llmclient.models import Completion
from llmclient.testing import FakeLLMServer

GUARDRAIL = {"guardrailIdentifier": "gr-abc123", "guardrailVersion": "1", "trace": "enabled"}


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


def _bedrock(server: FakeLLMServer, **options: Any) -> llmclient.BedrockClient:
    return llmclient.BedrockClient("us.anthropic.claude-sonnet-4-6", region="us-east-1", access_key_id="AKIDEXAMPLE",
                                   secret_access_key="s", endpoint_url=server.url, **options)


def _run(client: Any, prompt: Any, stream: bool, **params: Any) -> Completion:
    if not stream:
        return client.complete(prompt, **params)
    with client.stream(prompt, **params) as streamed:
        for _ in streamed:
            pass
    return streamed.completion


def _body(server: FakeLLMServer) -> dict[str, Any]:
    return json.loads(server.requests[-1].body)


# -- Bedrock guardrails ---------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("spelling", ["guardrail_config", "guardrailConfig"])
def test_guardrail_config_is_top_level_and_an_intervention_is_content_filter(server: FakeLLMServer, stream: bool,
                                                                              spelling: str) -> None:
    client = _bedrock(server)
    blocked = _run(client, "Tell me BLOCKED things", stream, **{spelling: GUARDRAIL})
    body = _body(server)
    assert body["guardrailConfig"] == GUARDRAIL and "additionalModelRequestFields" not in body
    assert blocked.finish_reason == "content_filter" and blocked.raw_finish_reason == "guardrail_intervened"
    assert blocked.text == "Sorry, I can't help with that."
    assessment = blocked.trace["guardrail"]["inputAssessment"]["gr-abc123"]
    assert assessment["contentPolicy"]["filters"][0]["action"] == "BLOCKED"
    passed = _run(client, "Weather in Paris?", stream, guardrail_config=GUARDRAIL)
    assert passed.finish_reason == "stop" and passed.trace["guardrail"]["inputAssessment"]["gr-abc123"]
    assert _run(client, "hi", stream).trace is None


def test_other_converse_fields_are_top_level_too(server: FakeLLMServer) -> None:
    _bedrock(server).complete("hi", performance_config={"latency": "optimized"}, serviceTier={"type": "flex"},
                              request_metadata={"team": "a"}, top_k=5)
    body = _body(server)
    assert body["performanceConfig"] == {"latency": "optimized"} and body["serviceTier"] == {"type": "flex"}
    assert body["requestMetadata"] == {"team": "a"}
    assert body["additionalModelRequestFields"] == {"top_k": 5}  # a model field stays where it belongs


# -- Bedrock cache points ---------------------------------------------------------------------------
def test_cache_control_metadata_becomes_cache_point_blocks(server: FakeLLMServer) -> None:
    client = _bedrock(server, allowed_role_metadata=["cache_control"])
    client.complete([Message("system", "You are terse.", metadata={"cache_control": {"type": "ephemeral"}}),
                     Message("user", "Weather in Paris?", metadata={"cache_control": {"type": "ephemeral",
                                                                                      "ttl": "1h"}}),
                     Message("assistant", "Sunny."), Message("user", "And tomorrow?")])
    body = _body(server)
    assert body["system"] == [{"text": "You are terse."}, {"cachePoint": {"type": "default"}}]
    assert body["messages"][0]["content"] == [{"text": "Weather in Paris?"},
                                              {"cachePoint": {"type": "default", "ttl": "1h"}}]
    assert body["messages"][2]["content"] == [{"text": "And tomorrow?"}]


def test_cache_control_is_dropped_unless_allowed_and_a_bad_ttl_is_refused(server: FakeLLMServer) -> None:
    marked = [Message("user", "hi", metadata={"cache_control": {"type": "ephemeral"}})]
    _bedrock(server).complete(marked)
    assert _body(server)["messages"][0]["content"] == [{"text": "hi"}]  # allowed_role_metadata decides, as for Claude
    with pytest.raises(llmclient.InvalidRequestError, match="ttl"):
        _bedrock(server, allowed_role_metadata="all").complete(
            [Message("user", "hi", metadata={"cache_control": {"type": "ephemeral", "ttl": "2d"}})])
    assert len(server.requests) == 1


# -- OpenAI prompt_cache_key ----------------------------------------------------------------------
def test_prompt_cache_key_passes_through(server: FakeLLMServer) -> None:
    llmclient.OpenAIClient("gpt-5.2", api_key="k", base_url=server.openai_base_url).complete(
        "hi", prompt_cache_key="user-42")
    assert _body(server)["prompt_cache_key"] == "user-42"
    llmclient.OpenAIResponsesClient("gpt-5.2", api_key="k", base_url=server.openai_base_url).complete(
        "hi", prompt_cache_key="user-42")
    assert _body(server)["prompt_cache_key"] == "user-42"


# -- cache tokens in Usage -------------------------------------------------------------------------
ANSWERS: dict[str, tuple[Any, dict[str, Any], tuple[int, int]]] = {
    "anthropic": (lambda: llmclient.AnthropicClient("claude-x", api_key="k"), {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 12, "output_tokens": 3, "cache_creation_input_tokens": 100,
                  "cache_read_input_tokens": 900}}, (900, 100)),
    "openai": (lambda: llmclient.OpenAIClient("gpt-x", api_key="k"), {
        "id": "c", "object": "chat.completion", "model": "gpt-x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 3, "total_tokens": 1203,
                  "prompt_tokens_details": {"cached_tokens": 1024}}}, (1024, 0)),
    "openai-responses": (lambda: llmclient.OpenAIResponsesClient("gpt-x", api_key="k"), {
        "id": "resp_1", "object": "response", "status": "completed", "model": "gpt-x",
        "output": [{"id": "m", "type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": "hi", "annotations": []}]}],
        "usage": {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 64, "cache_write_tokens": 32},
                  "output_tokens": 4, "total_tokens": 124}}, (64, 32)),
    "google-ai": (lambda: llmclient.GoogleAIClient("gemini-x", api_key="k"), {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 2000, "candidatesTokenCount": 2, "totalTokenCount": 2002,
                          "cachedContentTokenCount": 1500}}, (1500, 0)),
    "aws-bedrock": (lambda: llmclient.BedrockClient("anthropic.claude-x", region="us-east-1",
                                                    access_key_id="AKIDEXAMPLE", secret_access_key="s"), {
        "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}}, "stopReason": "end_turn",
        "usage": {"inputTokens": 10, "outputTokens": 2, "totalTokens": 1012, "cacheReadInputTokens": 800,
                  "cacheWriteInputTokens": 200}}, (800, 200)),
}


@pytest.mark.parametrize("provider", sorted(ANSWERS))
def test_cache_read_and_write_tokens_are_in_usage(provider: str) -> None:
    make, answer, (read, written) = ANSWERS[provider]
    completion = make().parse_response(200, {"content-type": "application/json"}, json.dumps(answer))
    assert (completion.usage.cached_input_tokens, completion.usage.cache_creation_input_tokens) == (read, written)
