"""Reasoning state on the wire, per provider: read from answers and streams, written back, and the one control.

Shapes are the ones the official SDKs sent and parsed in ``wire-formats-2026.md`` (sections 2-5),
copied here (the reference folder is never read by tests).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import llmclient
from llmclient.errors import InvalidRequestError
from llmclient.models import (
    ChatRequest,
    Completion,
    HttpResponse,
    Message,
    RedactedThinkingPart,
    TextPart,
    ThinkingPart,
    ToolCall,
    to_messages,
)
from llmclient.stream import StreamAccumulator
from llmclient.testing.formats.bedrock import event_frame

SIG = "EqQBCkYIBxgCKkDsig=="
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4a"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Get weather",
                                           "parameters": {"type": "object", "properties": {}}}}]

# wire-formats-2026.md section 2, "Response blocks" [observed with anthropic 2.14.0].
ANTHROPIC_ANSWER = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
                    "content": [{"type": "thinking", "thinking": "The user wants weather; call the tool.",
                                 "signature": SIG},
                                {"type": "redacted_thinking", "data": REDACTED},
                                {"type": "text", "text": "Let me check."},
                                {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                                 "input": {"city": "Paris"}}],
                    "stop_reason": "tool_use", "usage": {"input_tokens": 10, "output_tokens": 20}}
# Section 3, "Response: thought parts and signatures" [observed with google-genai 3.6.1].
GEMINI_SIG = "EjRvcGFxdWUtdGhvdWdodC1zaWduYXR1cmU="
GEMINI_ANSWER = {"candidates": [{"content": {"role": "model", "parts": [
    {"text": "**Planning** I should call get_weather.", "thought": True},
    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": GEMINI_SIG}]},
    "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 12,
                                                            "thoughtsTokenCount": 48, "totalTokenCount": 90},
    "modelVersion": "gemini-2.5-flash", "responseId": "resp-abc"}
# Section 4, "Reasoning request and response" [observed with boto3 1.44.8].
BEDROCK_ANSWER = {"output": {"message": {"role": "assistant", "content": [
    {"reasoningContent": {"reasoningText": {"text": "User wants weather; call tool.", "signature": SIG}}},
    {"reasoningContent": {"redactedContent": "AAFyZWRhY3RlZC1ieXRlcw=="}},
    {"text": "Let me check."},
    {"toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather", "input": {"city": "Paris"}}}]}},
    "stopReason": "tool_use", "usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12}}


def _client(kind: str) -> Any:
    return {
        "anthropic": lambda: llmclient.AnthropicClient("claude-sonnet-4-6", api_key="k"),
        "google-ai": lambda: llmclient.GoogleAIClient("gemini-2.5-flash", api_key="k"),
        "gemini-3": lambda: llmclient.GoogleAIClient("gemini-3-pro", api_key="k"),
        "vertex-claude": lambda: llmclient.VertexAIClient("claude-sonnet-4-6@20250101", location="l",
                                                          project_id="p", authorization="t"),
        "aws-bedrock": lambda: llmclient.BedrockClient("us.anthropic.claude-sonnet-4-6", region="us-east-1",
                                                       access_key_id="AKIDEXAMPLE", secret_access_key="s"),
        "bedrock-nova": lambda: llmclient.BedrockClient("amazon.nova-pro-v1:0", region="us-east-1",
                                                        access_key_id="AKIDEXAMPLE", secret_access_key="s"),
        "openai": lambda: llmclient.OpenAIClient("gpt-5.2", api_key="k"),
        "vllm": lambda: llmclient.OpenAIGenericClient("deepseek", base_url="http://127.0.0.1:9/v1"),
    }[kind]()


def _body(kind: str, messages: Any, **params: Any) -> dict[str, Any]:
    adapter = _client(kind).adapter
    result: dict[str, Any] = adapter.build_request(ChatRequest(to_messages(messages), params), stream=False).json()
    return result


def _answer(kind: str, data: dict[str, Any]) -> Completion:
    result: Completion = _client(kind).adapter.parse_response(HttpResponse(200, {}, json.dumps(data).encode()), ())
    return result


def _streamed(kind: str, pieces: list[bytes]) -> Completion:
    """Feed a stream's bytes to the adapter's decoder one byte at a time; the accumulated completion."""
    decoder = _client(kind).adapter.stream_decoder(())
    acc = StreamAccumulator()
    data = b"".join(pieces)
    for i in range(len(data)):
        for chunk in decoder.feed(data[i:i + 1]):
            acc.add(chunk)
    for chunk in decoder.finish():
        acc.add(chunk)
    return acc.completion()


def _turn(completion: Completion, call_id: str) -> list[Any]:
    return [{"role": "user", "content": "Weather in Paris?"}, completion.message,
            Message("tool", '{"temp_c": 21}', tool_call_id=call_id, name="get_weather")]


# -- Anthropic ---------------------------------------------------------------------------
def test_anthropic_answer_keeps_thinking_signature_and_redacted_blocks_and_replays_them_unchanged() -> None:
    completion = _answer("anthropic", ANTHROPIC_ANSWER)
    assert completion.thinking == "The user wants weather; call the tool."
    assert completion.parts == (ThinkingPart("The user wants weather; call the tool.", SIG, "anthropic"),
                                RedactedThinkingPart(REDACTED, "anthropic"), TextPart("Let me check."))
    sent = _body("anthropic", _turn(completion, "toolu_01"), tools=TOOLS)["messages"]
    # Section 2, "Replay" [observed, exact]: the blocks go back as they came, in order, before the tool_use.
    assert sent[1] == {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "The user wants weather; call the tool.", "signature": SIG},
        {"type": "redacted_thinking", "data": REDACTED}, {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]}
    assert sent[2]["content"][0]["type"] == "tool_result"


def _sse(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


def test_anthropic_stream_joins_thinking_deltas_and_keeps_the_signature_delta() -> None:
    """Section 2, "Streaming thinking": the signature_delta was dropped before."""
    events = [
        _sse("message_start", {"type": "message_start", "message": {"id": "msg_1", "model": "claude", "usage": {}}}),
        _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        _sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "thinking_delta", "thinking": "Need the "}}),
        _sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "thinking_delta", "thinking": "weather tool."}}),
        _sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "signature_delta", "signature": SIG}}),
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse("content_block_start", {"type": "content_block_start", "index": 1,
                                     "content_block": {"type": "redacted_thinking", "data": REDACTED}}),
        _sse("content_block_stop", {"type": "content_block_stop", "index": 1}),
        _sse("content_block_start", {"type": "content_block_start", "index": 2,
                                     "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather"}}),
        _sse("content_block_delta", {"type": "content_block_delta", "index": 2,
                                     "delta": {"type": "input_json_delta", "partial_json": '{"city": "Paris"}'}}),
        _sse("content_block_stop", {"type": "content_block_stop", "index": 2}),
        _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                               "usage": {"output_tokens": 9}}),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    completion = _streamed("anthropic", events)
    assert completion.thinking == "Need the weather tool."
    assert completion.parts == (ThinkingPart("Need the weather tool.", SIG, "anthropic"),
                                RedactedThinkingPart(REDACTED, "anthropic"))
    blocks = _body("anthropic", _turn(completion, "toolu_01"))["messages"][1]["content"]
    assert [b["type"] for b in blocks] == ["thinking", "redacted_thinking", "tool_use"]
    assert blocks[0]["signature"] == SIG


def test_a_thinking_part_given_as_an_anthropic_block_dict_is_accepted_on_input() -> None:
    """Seen before: "unknown part type 'thinking'" when the SDK's content was passed back."""
    messages = to_messages([{"role": "assistant", "content": [
        {"type": "thinking", "thinking": "t", "signature": SIG}, {"type": "redacted_thinking", "data": REDACTED},
        {"type": "text", "text": "ok"}]}])
    assert messages[0].content == (ThinkingPart("t", SIG), RedactedThinkingPart(REDACTED), TextPart("ok"))
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.content\[0\].*thinking"):
        to_messages([{"role": "assistant", "content": [{"type": "thinking", "signature": SIG}]}])


def test_signatures_and_redacted_data_never_appear_in_a_repr() -> None:
    text = repr(Message("assistant", (ThinkingPart("t", SIG, "anthropic"), RedactedThinkingPart(REDACTED)),
                        tool_calls=(ToolCall("c", "f", {}, signature=GEMINI_SIG),)))
    assert SIG not in text and REDACTED not in text and GEMINI_SIG not in text


# -- Gemini ------------------------------------------------------------------------------
def test_gemini_keeps_the_thought_signature_on_its_function_call_and_sends_it_back_on_the_same_part() -> None:
    completion = _answer("google-ai", GEMINI_ANSWER)
    assert completion.thinking == "**Planning** I should call get_weather."
    assert completion.tool_calls[0].signature == GEMINI_SIG and completion.tool_calls[0].source == "google-ai"
    contents = _body("google-ai", _turn(completion, completion.tool_calls[0].id), tools=TOOLS)["contents"]
    # Section 3, "Replay" [observed, exact]: the thought part, then the call with its signature.
    assert contents[1] == {"role": "model", "parts": [
        {"text": "**Planning** I should call get_weather.", "thought": True},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": GEMINI_SIG}]}
    assert contents[2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}]}


def test_gemini_stream_keeps_signatures_of_calls_and_text() -> None:
    """Thought text and the signed call arrive in separate chunks (section 3)."""
    def event(parts: list[Any], finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        data = json.dumps({"candidates": [candidate], "modelVersion": "gemini-3-pro"})
        return b"data: " + data.encode() + b"\r\n\r\n"
    completion = _streamed("gemini-3", [
        event([{"text": "Planning.", "thought": True}]),
        event([{"functionCall": {"name": "get_weather", "args": {}}, "thoughtSignature": GEMINI_SIG}], "STOP")])
    assert completion.thinking == "Planning." and completion.tool_calls[0].signature == GEMINI_SIG
    text_answer = _streamed("gemini-3", [event([{"text": "Hel"}]), event([{"text": "lo", "thoughtSignature": "c2ln"}],
                                                                          "STOP")])
    assert text_answer.parts == (TextPart("Hello", "c2ln", "google-ai"),)
    replay = _body("gemini-3", [Message("user", "hi"), text_answer.message, Message("user", "again")])
    assert replay["contents"][1]["parts"] == [{"text": "Hello", "thoughtSignature": "c2ln"}]


def test_gemini_does_not_send_another_providers_state() -> None:
    claude = _answer("anthropic", ANTHROPIC_ANSWER)
    contents = _body("gemini-3", _turn(claude, "toolu_01"), tools=TOOLS)["contents"]
    assert contents[1]["parts"] == [
        {"text": "Let me check."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
         "thoughtSignature": "skip_thought_signature_validator"}]
    as_text = _body("gemini-3", _turn(claude, "toolu_01"), tools=TOOLS, foreign_reasoning="text")["contents"]
    assert as_text[1]["parts"][0] == {"text": "The user wants weather; call the tool."}
    # Gemini on Vertex is another source: the Gemini API's signature is not sent there.
    vertex = llmclient.VertexAIClient("gemini-3-pro", location="l", project_id="p", authorization="t").adapter
    gemini = _answer("google-ai", GEMINI_ANSWER)
    body = vertex.build_request(ChatRequest(to_messages(_turn(gemini, "call_0")), {}), stream=False).json()
    assert body["contents"][1]["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                                             "thoughtSignature": "skip_thought_signature_validator"}]


# -- Bedrock -----------------------------------------------------------------------------
def test_bedrock_reasoning_content_is_kept_and_replayed_as_reasoning_content_blocks() -> None:
    completion = _answer("aws-bedrock", BEDROCK_ANSWER)
    assert completion.thinking == "User wants weather; call tool."
    assert completion.parts[:2] == (ThinkingPart("User wants weather; call tool.", SIG, "aws-bedrock"),
                                    RedactedThinkingPart("AAFyZWRhY3RlZC1ieXRlcw==", "aws-bedrock"))
    content = _body("aws-bedrock", _turn(completion, "tooluse_abc"), tools=TOOLS)["messages"][1]["content"]
    assert content == BEDROCK_ANSWER["output"]["message"]["content"]    # section 4: sent back as they came
    # Anthropic cannot verify Bedrock's signatures (not assumed interchangeable): dropped there.
    assert _body("anthropic", _turn(completion, "tooluse_abc"))["messages"][1]["content"][0] == {
        "type": "text", "text": "Let me check."}


def test_bedrock_stream_merges_reasoning_text_and_signature_deltas() -> None:
    """Section 4, "ConverseStream reasoning events"."""
    frames = [event_frame("messageStart", {"role": "assistant"}),
              event_frame("contentBlockDelta", {"contentBlockIndex": 0,
                                                "delta": {"reasoningContent": {"text": "User "}}}),
              event_frame("contentBlockDelta", {"contentBlockIndex": 0,
                                                "delta": {"reasoningContent": {"text": "wants weather."}}}),
              event_frame("contentBlockDelta", {"contentBlockIndex": 0,
                                                "delta": {"reasoningContent": {"signature": SIG}}}),
              event_frame("contentBlockStop", {"contentBlockIndex": 0}),
              event_frame("contentBlockDelta", {"contentBlockIndex": 1,
                                                "delta": {"reasoningContent": {"redactedContent": "AAFy"}}}),
              event_frame("contentBlockStop", {"contentBlockIndex": 1}),
              event_frame("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"text": "Hello"}}),
              event_frame("contentBlockStop", {"contentBlockIndex": 2}),
              event_frame("messageStop", {"stopReason": "end_turn"}),
              event_frame("metadata", {"usage": {"inputTokens": 1, "outputTokens": 2}, "metrics": {"latencyMs": 5}})]
    completion = _streamed("aws-bedrock", frames)
    assert completion.text == "Hello" and completion.thinking == "User wants weather."
    assert completion.parts == (ThinkingPart("User wants weather.", SIG, "aws-bedrock"),
                                RedactedThinkingPart("AAFy", "aws-bedrock"), TextPart("Hello"))


# -- the one reasoning control -------------------------------------------------------------
def test_reasoning_effort_becomes_anthropics_thinking_with_max_tokens_raised_to_fit() -> None:
    body = _body("anthropic", "hi", reasoning_effort="medium", max_tokens=1000)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096} and body["max_tokens"] == 5096
    assert "reasoning_effort" not in body
    budget = _body("anthropic", "hi", reasoning_budget_tokens=2000)
    assert budget["thinking"]["budget_tokens"] == 2000 and budget["max_tokens"] == 2000 + 4096
    native = _body("anthropic", "hi", thinking={"type": "adaptive"}, reasoning_effort="high")
    assert native["thinking"] == {"type": "adaptive"}                       # the provider's own wins
    vertex = _body("vertex-claude", "hi", reasoning_effort="low")
    assert vertex["thinking"] == {"type": "enabled", "budget_tokens": 1024} and "model" not in vertex


def test_reasoning_for_gemini_goes_inside_generation_config() -> None:
    assert _body("gemini-3", "hi", reasoning_effort="high")["generationConfig"] == {
        "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"}}
    assert _body("google-ai", "hi", reasoning_effort="low")["generationConfig"] == {
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}}          # 2.5 takes budgets
    assert _body("gemini-3", "hi", reasoning_budget_tokens=0)["generationConfig"] == {
        "thinkingConfig": {"thinkingLevel": "MINIMAL"}}
    # Seen before: thinking_config at the top of the body. It belongs in generationConfig (camelCase keys).
    native = _body("google-ai", "hi", thinking_config={"thinking_budget": 512, "include_thoughts": True},
                   temperature=0.2)
    assert "thinking_config" not in native and "reasoning_effort" not in native
    assert native["generationConfig"] == {"temperature": 0.2,
                                          "thinkingConfig": {"thinkingBudget": 512, "includeThoughts": True}}


def test_reasoning_for_claude_on_bedrock_and_a_clear_error_for_other_models() -> None:
    body = _body("aws-bedrock", "hi", reasoning_effort="low", max_tokens=500)
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert body["inferenceConfig"] == {"maxTokens": 1524}
    with pytest.raises(InvalidRequestError, match="amazon.nova-pro-v1:0.*additional_model_request_fields"):
        _body("bedrock-nova", "hi", reasoning_effort="low")
    assert "additionalModelRequestFields" not in _body("bedrock-nova", "hi")


def test_openai_takes_reasoning_effort_as_is_and_a_budget_as_the_nearest_effort() -> None:
    assert _body("openai", "hi", reasoning_effort="xhigh")["reasoning_effort"] == "xhigh"
    body = _body("openai", "hi", reasoning_budget_tokens=20000, foreign_reasoning="text")
    assert body["reasoning_effort"] == "high"
    assert "reasoning_budget_tokens" not in body and "foreign_reasoning" not in body


@pytest.mark.parametrize("params", [{"reasoning_effort": "extreme"}, {"reasoning_budget_tokens": -1},
                                    {"reasoning_budget_tokens": "lots"}, {"foreign_reasoning": "keep"}])
def test_bad_reasoning_parameters_are_a_typed_error_naming_the_parameter(params: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError, match=next(iter(params))):
        _body("anthropic", "hi", **params)


# -- OpenAI-compatible servers: reasoning_content -------------------------------------------------
def _chat(message: dict[str, Any]) -> dict[str, Any]:
    return {"id": "x", "model": "deepseek", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


def test_reasoning_content_from_openai_compatible_servers_is_thinking_never_text() -> None:
    """Section 5: DeepSeek's reasoning_content and vLLM's newer reasoning."""
    deepseek = _answer("vllm", _chat({"role": "assistant", "content": "9.11 < 9.8",
                                      "reasoning_content": "Compare decimals: ..."}))
    assert deepseek.text == "9.11 < 9.8" and deepseek.thinking == "Compare decimals: ..."
    vllm = _answer("vllm", _chat({"role": "assistant", "content": "ok", "reasoning": "Think."}))
    assert vllm.text == "ok" and vllm.thinking == "Think."
    events = [b'data: {"id":"x","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,'
              b'"reasoning_content":""}}]}\n\n',
              b'data: {"id":"x","choices":[{"index":0,"delta":{"reasoning_content":"Compare "}}]}\n\n',
              b'data: {"id":"x","choices":[{"index":0,"delta":{"content":"9.8","reasoning_content":null},'
              b'"finish_reason":"stop"}]}\n\n', b"data: [DONE]\n\n"]
    streamed = _streamed("vllm", events)
    assert streamed.text == "9.8" and streamed.thinking == "Compare "


def test_deepseek_gets_its_reasoning_content_back_on_a_tool_call_turn_and_openai_does_not() -> None:
    turn = Message("assistant", (ThinkingPart("Plan.", source="openai-generic"),),
                   tool_calls=(ToolCall("c1", "get_weather", {}),))
    sent = _body("vllm", [Message("user", "hi"), turn, Message("tool", "21", tool_call_id="c1")])["messages"][1]
    assert sent["reasoning_content"] == "Plan." and sent["content"] is None
    claude = _answer("anthropic", ANTHROPIC_ANSWER)
    to_openai = _body("openai", _turn(claude, "toolu_01"))["messages"][1]
    assert "reasoning_content" not in to_openai and to_openai["content"] == [{"type": "text", "text": "Let me check."}]
