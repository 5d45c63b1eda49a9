"""A streamed request answered with one plain JSON body (a gateway such as a LiteLLM proxy does that).

For every provider's stream decoder: a JSON error becomes its typed error (class, status, code,
retryable as for a non-stream error), the provider's non-stream answer is used as the answer, and
any other body is "expected an event stream, got ..." -- never "the connection was closed early".
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest

import llmclient
from llmclient.errors import InvalidRequestError, LLMError, ProviderError, RateLimitError
from llmclient.models import Chunk
from llmclient.providers.anthropic import AnthropicAdapter
from llmclient.providers.base import StreamDecoder
from llmclient.providers.bedrock import BedrockAdapter
from llmclient.providers.gemini import GeminiStreamDecoder
from llmclient.providers.openai import OpenAIAdapter
from llmclient.retry import RetryPolicy
from llmclient.stream import StreamAccumulator
from llmclient.testing import FakeLLMServer, Fault

KEY = "plain-body-key-DISTINCTIVE-77aa"


def bedrock_decoder() -> StreamDecoder:
    from llmclient.auth.aws import AwsCredentialSource

    adapter = BedrockAdapter({"model": "anthropic.claude-x"}, AwsCredentialSource(region="us-east-1"))
    return adapter.stream_decoder((KEY,))


DECODERS: dict[str, Callable[[], StreamDecoder]] = {
    "openai": lambda: OpenAIAdapter("openai", {"model": "m"}).stream_decoder((KEY,)),
    "anthropic": lambda: AnthropicAdapter({"model": "m"}).stream_decoder((KEY,)),
    "gemini": lambda: GeminiStreamDecoder("google-ai", (KEY,)),
    "bedrock": bedrock_decoder,
}

#: Each provider's own non-stream answer, and the id it carries.
MESSAGES: dict[str, tuple[dict[str, Any], str | None]] = {
    "openai": ({"id": "chatcmpl-9", "object": "chat.completion", "model": "gpt-x",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}}, "chatcmpl-9"),
    "anthropic": ({"id": "msg_01X", "type": "message", "role": "assistant", "model": "claude-x",
                   "content": [{"type": "text", "text": "Hello there"}], "stop_reason": "end_turn",
                   "usage": {"input_tokens": 4, "output_tokens": 2}}, "msg_01X"),
    "gemini": ({"candidates": [{"content": {"parts": [{"text": "Hello there"}], "role": "model"},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6},
                "modelVersion": "gemini-x", "responseId": "resp-9"}, "resp-9"),
    "bedrock": ({"output": {"message": {"role": "assistant", "content": [{"text": "Hello there"}]}},
                 "stopReason": "end_turn", "usage": {"inputTokens": 4, "outputTokens": 2, "totalTokens": 6},
                 "metrics": {"latencyMs": 9}}, None),
}

#: (error body, class, status, code, retryable) as a non-stream answer with that error would give.
ERRORS: dict[str, list[tuple[dict[str, Any], type[LLMError], int, str, bool]]] = {
    "openai": [
        ({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
         RateLimitError, 429, "rate_limit_exceeded", True),
        ({"error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}},
         RateLimitError, 429, "insufficient_quota", False),
    ],
    "anthropic": [
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
         ProviderError, 529, "overloaded_error", True),
        ({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too big"}},
         InvalidRequestError, 400, "invalid_request_error", False),
    ],
    "gemini": [
        ({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}},
         RateLimitError, 429, "RESOURCE_EXHAUSTED", True),
        ({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}},
         ProviderError, 503, "UNAVAILABLE", True),
    ],
    "bedrock": [
        ({"__type": "com.amazon.bedrock#ThrottlingException", "message": "Too many requests"},
         RateLimitError, 429, "ThrottlingException", True),
        ({"__type": "ValidationException", "message": "The model id is invalid"},
         InvalidRequestError, 400, "ValidationException", False),
    ],
}


def bodies(obj: Any) -> Iterator[list[bytes]]:
    """The body compact and pretty-printed, fed whole and byte by byte."""
    for text in (json.dumps(obj).encode(), json.dumps(obj, indent=2).encode() + b"\n"):
        yield [text]
        yield [text[i:i + 1] for i in range(len(text))]


def run(decoder: StreamDecoder, pieces: list[bytes]) -> list[Chunk]:
    out: list[Chunk] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    out.extend(decoder.finish())
    return out


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_a_json_message_is_used_as_the_answer(name: str) -> None:
    message, response_id = MESSAGES[name]
    for pieces in bodies(message):
        decoder = DECODERS[name]()
        acc = StreamAccumulator()
        for chunk in run(decoder, pieces):
            acc.add(chunk)
        completion = acc.completion()
        assert (completion.text, completion.finish_reason) == ("Hello there", "stop")
        assert (completion.usage.input_tokens, completion.usage.output_tokens) == (4, 2)
        if response_id is not None:
            assert decoder.response_id_of({}) == response_id


@pytest.mark.parametrize(("name", "case"), [(n, i) for n in sorted(ERRORS) for i in range(len(ERRORS[n]))])
def test_a_json_error_body_is_its_typed_error(name: str, case: int) -> None:
    body, cls, status, code, retryable = ERRORS[name][case]
    for pieces in bodies(body):
        with pytest.raises(LLMError) as caught:
            run(DECODERS[name](), pieces)
        err = caught.value
        assert type(err) is cls, err
        assert (err.status_code, err.code, err.retryable) == (status, code, retryable)
        assert "closed early" not in err.message


@pytest.mark.parametrize("name", sorted(DECODERS))
@pytest.mark.parametrize("body", [b'{"detail": "Not Found"}', b"<html><head><title>Login required</title></head>"
                                  b"<body>sign in</body></html>", b"upstream said " + KEY.encode()])
def test_any_other_body_is_expected_an_event_stream(name: str, body: bytes) -> None:
    with pytest.raises(ProviderError, match="expected an event stream, got") as caught:
        run(DECODERS[name](), [body])
    assert "closed early" not in caught.value.message and caught.value.retryable is False
    assert KEY not in caught.value.message and KEY not in (caught.value.body or "")


def test_an_empty_body_is_still_a_stream_that_ended_early() -> None:
    with pytest.raises(ProviderError, match="closed early"):
        run(DECODERS["anthropic"](), [b""])


def test_gemini_json_array_without_alt_sse_is_decoded_like_events() -> None:
    first, _ = MESSAGES["gemini"]
    part = {"candidates": [{"content": {"parts": [{"text": "Hello "}], "role": "model"}, "index": 0}]}
    raw = json.dumps([part, first], indent=2).encode()
    acc = StreamAccumulator()
    for chunk in run(GeminiStreamDecoder("google-ai", ()), [raw[i:i + 7] for i in range(0, len(raw), 7)]):
        acc.add(chunk)
    assert acc.completion().text == "Hello Hello there"


# -- end to end: the fake server answers a streamed request with one JSON body --------------------------------
def anthropic_client(server: FakeLLMServer) -> llmclient.AnthropicClient:
    return llmclient.AnthropicClient("claude-x", api_key="fake-key", base_url=server.url,
                                     retry_policy=RetryPolicy(max_retries=0))


def test_e2e_anthropic_stream_answered_with_a_message(server: FakeLLMServer) -> None:
    server.enqueue(Fault.status(200, body=MESSAGES["anthropic"][0]))
    with anthropic_client(server).stream("hi") as stream:
        texts = [c.text for c in stream]
    assert "".join(texts) == "Hello there"
    assert stream.completion.response_id == "msg_01X" and stream.completion.finish_reason == "stop"


def test_e2e_anthropic_stream_answered_with_an_error_body(server: FakeLLMServer) -> None:
    server.enqueue(Fault.status(200, body=ERRORS["anthropic"][0][0]))
    with pytest.raises(ProviderError) as caught:
        anthropic_client(server).stream("hi")
    assert (caught.value.status_code, caught.value.code, caught.value.retryable) == (529, "overloaded_error", True)
    assert "closed early" not in caught.value.message
