"""Every stream decoder's ``done`` flag: True as soon as its protocol's end marker is decoded.

The streams are fed whole, byte by byte and split at random; ``done`` must stay False until the
end marker starts arriving and be True once its last byte is in, before ``finish()`` is called.
"""

from __future__ import annotations

import json
import random
from typing import Any, Callable

import pytest

from llmclient.providers.anthropic import AnthropicAdapter
from llmclient.providers.base import StreamDecoder
from llmclient.providers.bedrock_stream import BedrockStreamDecoder
from llmclient.providers.gemini import GeminiStreamDecoder
from llmclient.providers.openai import OpenAIAdapter
from llmclient.stream import StreamAccumulator
from llmclient.testing.formats.bedrock import event_frame


def sse(obj: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + json.dumps(obj).encode() + b"\n\n"


def openai_case() -> tuple[Callable[[], StreamDecoder], bytes, bytes]:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-x"}
    prefix = (sse({**head, "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]})
              + sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
              + sse({**head, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}))
    return lambda: OpenAIAdapter("openai", {"model": "m"}).stream_decoder(()), prefix, b"data: [DONE]\n\n"


def anthropic_case() -> tuple[Callable[[], StreamDecoder], bytes, bytes]:
    prefix = (sse({"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "content": [],
                                                        "usage": {"input_tokens": 3, "output_tokens": 1}}},
                  "message_start")
              + sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                    "content_block_start")
              + sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
                    "content_block_delta")
              + sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
              + sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
                    "message_delta"))
    return (lambda: AnthropicAdapter({"model": "m"}).stream_decoder(()), prefix,
            sse({"type": "message_stop"}, "message_stop"))


def gemini_case() -> tuple[Callable[[], StreamDecoder], bytes, bytes]:
    def chunk(text: str, finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return sse({"candidates": [candidate], "responseId": "resp-1", "modelVersion": "gemini-x",
                    "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1, "totalTokenCount": 3}})

    return lambda: GeminiStreamDecoder("google-ai", ()), chunk("Hel") + chunk("lo"), chunk("!", "STOP")


def bedrock_case() -> tuple[Callable[[], StreamDecoder], bytes, bytes]:
    prefix = (event_frame("messageStart", {"role": "assistant"})
              + event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
              + event_frame("contentBlockStop", {"contentBlockIndex": 0})
              + event_frame("messageStop", {"stopReason": "end_turn"}))
    marker = event_frame("metadata", {"usage": {"inputTokens": 2, "outputTokens": 1, "totalTokens": 3},
                                      "metrics": {"latencyMs": 5}})
    return lambda: BedrockStreamDecoder("model-x", ()), prefix, marker


CASES = {"openai": openai_case, "anthropic": anthropic_case, "gemini": gemini_case, "bedrock": bedrock_case}


def splits(raw: bytes) -> list[list[bytes]]:
    rng = random.Random(11)
    ways = [[raw], [raw[i:i + 1] for i in range(len(raw))]]
    for _ in range(25):
        cuts = sorted(rng.sample(range(1, len(raw)), min(12, len(raw) - 1)))
        ways.append([raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)])
    return ways


@pytest.mark.parametrize("name", sorted(CASES))
def test_done_turns_true_when_the_end_marker_is_decoded(name: str) -> None:
    make, prefix, marker = CASES[name]()
    raw = prefix + marker
    for pieces in splits(raw):
        decoder = make()
        assert decoder.done is False
        fed, flipped_at = 0, None
        acc = StreamAccumulator()
        for piece in pieces:
            for chunk in decoder.feed(piece):
                acc.add(chunk)
            fed += len(piece)
            if decoder.done and flipped_at is None:
                flipped_at = fed
        # The marker is the body's last bytes: done turns True with the piece that completes it, not before.
        assert flipped_at == len(raw), f"done at byte {flipped_at} of {len(raw)}"
        for chunk in decoder.finish():
            acc.add(chunk)
        assert decoder.done is True
        completion = acc.completion()
        assert completion.text in ("Hi", "Hello!") and completion.finish_reason == "stop"


@pytest.mark.parametrize("name", sorted(CASES))
def test_done_flips_exactly_with_the_last_byte_of_the_marker(name: str) -> None:
    make, prefix, marker = CASES[name]()
    raw = prefix + marker
    decoder = make()
    for i in range(len(raw) - 1):
        decoder.feed(raw[i:i + 1])
        assert decoder.done is False, f"done at byte {i + 1} of {len(raw)}"
    decoder.feed(raw[-1:])
    assert decoder.done is True


@pytest.mark.parametrize("name", sorted(CASES))
def test_done_stays_false_without_the_end_marker(name: str) -> None:
    make, prefix, _ = CASES[name]()
    decoder = make()
    decoder.feed(prefix)
    assert decoder.done is False


def test_bedrock_is_done_only_after_both_message_stop_and_metadata() -> None:
    decoder = BedrockStreamDecoder("m", ())
    decoder.feed(event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}))
    decoder.feed(event_frame("metadata", {"usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}))
    assert decoder.done is False  # metadata before messageStop (not the documented order): not the end yet
    decoder.feed(event_frame("messageStop", {"stopReason": "end_turn"}))
    assert decoder.done is True


def test_gemini_is_done_at_a_blocked_prompt_and_waits_for_every_candidate() -> None:
    decoder = GeminiStreamDecoder("google-ai", ())
    decoder.feed(sse({"promptFeedback": {"blockReason": "SAFETY"}}))
    assert decoder.done is True
    two = GeminiStreamDecoder("google-ai", ())
    candidates = [{"content": {"parts": [{"text": "a"}]}, "index": 0, "finishReason": "STOP"},
                  {"content": {"parts": [{"text": "b"}]}, "index": 1}]
    two.feed(sse({"candidates": candidates}))
    assert two.done is False
