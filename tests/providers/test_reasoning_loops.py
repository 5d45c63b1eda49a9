"""Agent loops on reasoning models: thinking state survives three tool turns, streams, and a fallback.

Against FakeLLMServer, which (like the real APIs, ``wire-formats-2026.md`` sections 2-4) answers
with signed thinking when the request turns thinking on and refuses a replayed tool turn whose
signature is missing or not its own with a 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

import llmclient
from llmclient import Message
from llmclient.models import ChatRequest, Completion, RedactedThinkingPart, ThinkingPart
from llmclient.testing import FakeLLMServer, Fault

CITY = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": CITY}}]

Factory = Callable[[FakeLLMServer], Any]

CLIENTS: dict[str, Factory] = {
    "anthropic": lambda s: llmclient.AnthropicClient("claude-sonnet-4-6", api_key="k", base_url=s.url),
    "google-ai": lambda s: llmclient.GoogleAIClient("gemini-3-pro", api_key="k", base_url=s.url + "/v1beta"),
    "vertex-gemini": lambda s: llmclient.VertexAIClient("gemini-3-pro", location="us-central1", project_id="p",
                                                        authorization="t", base_url=s.url),
    "vertex-claude": lambda s: llmclient.VertexAIClient("claude-sonnet-4-6@20250101", location="us-east5",
                                                        project_id="p", authorization="t", base_url=s.url),
    "aws-bedrock": lambda s: llmclient.BedrockClient("us.anthropic.claude-sonnet-4-6", region="us-east-1",
                                                     access_key_id="AKIDEXAMPLE", secret_access_key="s",
                                                     endpoint_url=s.url),
}


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


def _turn(client: Any, conversation: list[Any], stream: bool, **params: Any) -> Completion:
    if not stream:
        return client.complete(conversation, **params)
    with client.stream(conversation, **params) as streamed:
        for _ in streamed:
            pass
    return streamed.completion


def _loop(client: Any, conversation: list[Any], *, stream: bool, turns: int = 3, finish: bool = True,
          **params: Any) -> list[Completion]:
    """Run a tool loop: each answer appended as ``completion.message``, each call answered by a tool turn.

    With ``finish``, the last turn says ``tool_choice="none"`` (the fake then answers in text where
    the provider has a "none").
    """
    out = []
    for turn in range(turns):
        extra = {"tool_choice": "none"} if finish and turn == turns - 1 else {}
        completion = _turn(client, conversation, stream, tools=TOOLS, **params, **extra)
        out.append(completion)
        conversation.append(completion.message)
        for call in completion.tool_calls:
            conversation.append(Message("tool", json.dumps({"temp_c": 21}), tool_call_id=call.id, name=call.name))
    return out


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_a_three_turn_tool_loop_with_thinking_on(server: FakeLLMServer, kind: str, stream: bool) -> None:
    client = CLIENTS[kind](server)
    answers = _loop(client, [{"role": "user", "content": "Weather in Paris?"}], stream=stream,
                    reasoning_effort="low", max_tokens=500)
    assert len(answers) == 3
    first = answers[0]
    assert first.tool_calls and first.finish_reason == "tool_calls"
    assert first.thinking and "Weather in Paris?" in first.thinking   # thinking text keeps working
    assert first.message.role == "assistant" and first.message.tool_calls == first.tool_calls
    if kind.endswith("gemini") or kind == "google-ai":
        assert first.tool_calls[0].signature                       # Gemini: on the function call itself
        assert answers[2].text.startswith("Echo: ") and answers[2].parts[-1].signature
    else:
        kinds = [type(p) for p in first.parts]
        assert kinds[:2] == [ThinkingPart, RedactedThinkingPart]
        assert isinstance(first.parts[0], ThinkingPart) and first.parts[0].signature
    if kind != "aws-bedrock":  # Converse has no tool_choice "none": the fake calls the tool again
        assert answers[2].text.startswith("Echo: ")
    assert all(r.fault is None for r in server.requests)
    assert len(server.requests) == 3


def _strip_signatures(body: dict[str, Any]) -> dict[str, Any]:
    """A replay body as a client that dropped the provider's state would send it."""
    for message in body.get("messages") or body.get("contents") or ():
        content = message.get("content") if "content" in message else message.get("parts")
        if isinstance(content, list):
            content[:] = [{k: v for k, v in b.items() if k != "thoughtSignature"} for b in content
                          if b.get("type") not in ("thinking", "redacted_thinking") and "reasoningContent" not in b
                          and not b.get("thought")]
    return body


@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_the_fake_refuses_a_replay_without_the_signature_as_the_api_does(server: FakeLLMServer, kind: str) -> None:
    """What happened before: the state dropped on the way back (a 400 from the real APIs)."""
    client = CLIENTS[kind](server)
    first = client.complete("Weather in Paris?", tools=TOOLS, reasoning_effort="low", max_tokens=500)
    call = first.tool_calls[0]
    conversation = [Message("user", "Weather in Paris?"), first.message,
                    Message("tool", '{"temp_c": 21}', tool_call_id=call.id, name=call.name)]
    request = client.adapter.build_request(ChatRequest(tuple(conversation), {"tools": TOOLS, "reasoning_effort": "low",
                                                                            "max_tokens": 500}), stream=False)
    good = requests.post(request.url, data=request.body, headers=dict(request.headers), timeout=10)
    assert good.status_code == 200, good.text
    bad = requests.post(request.url, json=_strip_signatures(request.json()), headers=dict(request.headers),
                        timeout=10)
    assert bad.status_code == 400
    text = bad.text
    assert ("missing a `thought_signature`" in text if "contents" in request.json()
            else "Expected `thinking` or `redacted_thinking`, but found `tool_use`" in text)


@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_a_signature_the_provider_did_not_make_is_a_400(server: FakeLLMServer, kind: str) -> None:
    """State given without a source is the caller's and is sent as given: a forged one is refused."""
    client = CLIENTS[kind](server)
    first = client.complete("Weather in Paris?", tools=TOOLS, reasoning_effort="low", max_tokens=500)
    forged = Message("assistant", (ThinkingPart("I made this up", signature="bm90IGEgc2lnbmF0dXJl"),),
                     tool_calls=first.tool_calls)
    conversation = [Message("user", "Weather in Paris?"), forged,
                    Message("tool", '{"temp_c": 21}', tool_call_id=first.tool_calls[0].id, name="get_weather")]
    with pytest.raises(llmclient.InvalidRequestError) as caught:
        client.complete(conversation, tools=TOOLS, reasoning_effort="low", max_tokens=500)
    assert caught.value.status_code == 400 and "signature" in caught.value.message


def test_the_same_loop_survives_a_fallback_from_anthropic_to_gemini_mid_conversation(
        server: FakeLLMServer) -> None:
    anthropic, gemini = CLIENTS["anthropic"](server), CLIENTS["google-ai"](server)
    fallback = llmclient.FallbackClient([anthropic, gemini])
    conversation: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = _loop(fallback, conversation, stream=False, turns=1, finish=False, reasoning_effort="low",
                  max_tokens=500)[0]
    assert first.provider == "anthropic" and isinstance(first.parts[0], ThinkingPart)
    # Anthropic is overloaded from now on: turns two and three go to Gemini, carrying Claude's turn.
    server.enqueue(Fault.status(529), Fault.status(529), match="/v1/messages")
    rest = _loop(fallback, conversation, stream=False, turns=2, reasoning_effort="low", max_tokens=500)
    assert [a.provider for a in rest] == ["google-ai", "google-ai"]
    assert rest[0].tool_calls and rest[1].text.startswith("Echo: ")
    sent = server.requests[-1].json()["contents"]
    claude_turn, gemini_turn = sent[1]["parts"], sent[3]["parts"]
    assert "The user said" not in json.dumps(claude_turn)                  # Claude's thinking dropped...
    assert claude_turn[0]["thoughtSignature"] == "skip_thought_signature_validator"   # ...its call vouched for
    assert gemini_turn[-1]["thoughtSignature"] == rest[0].tool_calls[0].signature      # Gemini's own kept


def test_back_to_anthropic_its_request_goes_without_thinking_when_the_open_turn_is_geminis(
        server: FakeLLMServer) -> None:
    anthropic, gemini = CLIENTS["anthropic"](server), CLIENTS["google-ai"](server)
    conversation: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    _loop(gemini, conversation, stream=False, turns=1, finish=False, reasoning_effort="low")
    answer = anthropic.complete(conversation, tools=TOOLS, reasoning_effort="low", max_tokens=500, tool_choice="none")
    sent = server.requests[-1].json()
    assert "thinking" not in sent and answer.text.startswith("Echo: ")
    assert sent["messages"][1]["content"][0]["type"] == "tool_use"           # Gemini's signature not sent


def test_foreign_reasoning_text_keeps_the_thinking_as_plain_text(server: FakeLLMServer) -> None:
    anthropic = CLIENTS["anthropic"](server)
    gemini = CLIENTS["google-ai"](server)
    first = anthropic.complete("Weather in Paris?", tools=TOOLS, reasoning_effort="low", max_tokens=500)
    conversation = ["Weather in Paris?", first.message,
                    Message("tool", '{"temp_c": 21}', tool_call_id=first.tool_calls[0].id, name="get_weather")]
    messages = [{"role": "user", "content": conversation[0]}, *conversation[1:]]
    gemini.complete(messages, tools=TOOLS, foreign_reasoning="text")
    parts = server.requests[-1].json()["contents"][1]["parts"]
    assert parts[0] == {"text": first.thinking}
    assert "signature" not in json.dumps(parts[0])
    with pytest.raises(llmclient.InvalidRequestError, match="foreign_reasoning"):
        gemini.complete(messages, foreign_reasoning="keep")


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_round_robin_that_alternates_claude_bedrock_and_gemini_every_turn_never_causes_a_400(
        server: FakeLLMServer, stream: bool) -> None:
    """Every turn another provider, each with thinking on: each gets only its own state back."""
    members = [CLIENTS["anthropic"](server), CLIENTS["google-ai"](server), CLIENTS["aws-bedrock"](server)]
    rotation = llmclient.RoundRobinClient(members)
    conversation: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    answers = _loop(rotation, conversation, stream=stream, turns=4, finish=False, reasoning_effort="low",
                    max_tokens=500)
    assert [a.provider for a in answers] == ["anthropic", "google-ai", "aws-bedrock", "anthropic"]
    assert all(a.tool_calls for a in answers)
    claude_again = server.requests[-1].json()
    assert "thinking" not in claude_again                    # the open tool turn is Bedrock's
    own = [b for m in claude_again["messages"] for b in (m["content"] if isinstance(m["content"], list) else [])
           if b.get("type") == "thinking"]
    assert len(own) == 1                                     # its own first turn's thinking, kept
