"""Responses API streams: the documented event orders at every split, in-stream errors, cut streams."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import responses
from responses_fixtures import CONTEXT_ERROR, TEXT_STREAM, TOOL_STREAM, USAGE, sse

from llmclient import (
    AuthError,
    ContextWindowExceededError,
    InvalidRequestError,
    LLMError,
    OpenAIResponsesClient,
    ProviderError,
    RateLimitError,
    StreamError,
    ToolCall,
    Usage,
)
from llmclient.models import Chunk, TextPart, ThinkingPart
from llmclient.providers.openai_responses import OpenAIResponsesAdapter, ResponsesStreamDecoder
from llmclient.stream import StreamAccumulator

KEY = "sk-stream-DISTINCTIVE-91ab2c"
URL = "https://api.openai.com/v1/responses"
STREAM_USAGE = Usage(input_tokens=9, output_tokens=14, total_tokens=23, reasoning_tokens=10)


def decoder() -> ResponsesStreamDecoder:
    return OpenAIResponsesAdapter({"model": "gpt-5.2"}).stream_decoder((KEY,))


def decode(pieces: list[bytes]) -> tuple[StreamAccumulator, list[Chunk], ResponsesStreamDecoder]:
    dec = decoder()
    chunks: list[Chunk] = []
    for piece in pieces:
        chunks.extend(dec.feed(piece))
    chunks.extend(dec.finish())
    acc = StreamAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc, chunks, dec


def splits(raw: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(raw)), min(len(raw) - 1, rng.randint(1, 40))))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]


def summary(acc: StreamAccumulator) -> tuple[Any, ...]:
    c = acc.completion()
    return c.text, c.thinking, c.tool_calls, c.finish_reason, c.raw_finish_reason, c.usage, c.refusal


def test_the_text_stream_gives_text_thinking_finish_and_usage_at_any_split() -> None:
    acc, chunks, dec = decode([TEXT_STREAM])
    completion = acc.completion()
    assert completion.text == "Hello!" and completion.thinking == "Greeting."
    assert (completion.finish_reason, completion.raw_finish_reason) == ("stop", "completed")
    assert completion.usage == STREAM_USAGE
    assert dec.model == "gpt-5.2-2025-12-11" and dec.response_id_of({}) == "resp_1" and dec.done
    assert [c.text for c in chunks if c.text] == ["Hel", "lo!"]
    expected = summary(acc)
    assert summary(decode([TEXT_STREAM[i:i + 1] for i in range(len(TEXT_STREAM))])[0]) == expected
    for seed in range(5):
        assert summary(decode(splits(TEXT_STREAM, seed))[0]) == expected


def test_the_reasoning_item_of_a_stream_is_kept_whole_from_its_done_event() -> None:
    acc, _, _ = decode([TEXT_STREAM])
    [thinking, text] = acc.completion().message.parts
    assert isinstance(thinking, ThinkingPart) and thinking.text == "Greeting."
    assert thinking.signature == "rs_1 gAAAA..." and thinking.source == "openai-responses"  # from .done
    assert isinstance(text, TextPart) and text.text == "Hello!"


def test_the_tool_stream_joins_arguments_by_call_at_any_split() -> None:
    acc, _, dec = decode([TOOL_STREAM])
    calls = acc.completion().tool_calls
    assert calls == (ToolCall("call_0", "search", {"query": "llm"}, '{"query":"llm"}'),
                     ToolCall("call_1", "weather", {"city": "Paris"}, '{"city":"Paris"}'))
    assert acc.completion().finish_reason == "tool_calls" and dec.done
    expected = summary(acc)
    for seed in range(5):
        assert summary(decode(splits(TOOL_STREAM, seed))[0]) == expected


def test_arguments_sent_only_whole_are_taken_from_the_done_events() -> None:
    item = {"id": "fc_0", "type": "function_call", "call_id": "call_0", "name": "f", "arguments": ""}
    raw = b"".join([sse("response.output_item.added", 0, output_index=0, item=item),
                    sse("response.function_call_arguments.done", 1, item_id="fc_0", output_index=0,
                        arguments='{"a":1}'),
                    sse("response.output_item.done", 2, output_index=0, item={**item, "arguments": '{"a":1}'}),
                    sse("response.completed", 3, response={"status": "completed", "usage": USAGE})])
    assert decode([raw])[0].completion().tool_calls == (ToolCall("call_0", "f", {"a": 1}, '{"a":1}'),)


def test_summary_parts_are_joined_by_a_blank_line() -> None:
    where = {"item_id": "rs_1", "output_index": 0}
    raw = b"".join([sse("response.reasoning_summary_text.delta", 0, summary_index=0, delta="One.", **where),
                    sse("response.reasoning_summary_text.delta", 1, summary_index=0, delta=" More.", **where),
                    sse("response.reasoning_summary_text.delta", 2, summary_index=1, delta="Two.", **where),
                    sse("response.completed", 3, response={"status": "completed", "usage": USAGE})])
    assert decode([raw])[0].completion().thinking == "One. More.\n\nTwo."


@pytest.mark.parametrize(("reason", "finish"), [("max_output_tokens", "length"), ("content_filter", "content_filter")])
def test_response_incomplete_ends_the_stream_with_its_reason(reason: str, finish: str) -> None:
    raw = sse("response.output_text.delta", 0, delta="Hi") + sse(
        "response.incomplete", 1, response={"status": "incomplete", "incomplete_details": {"reason": reason},
                                            "usage": USAGE})
    acc, _, dec = decode([raw])
    assert (acc.finish_reason, acc.raw_finish_reason) == (finish, reason) and dec.done


def test_a_terminal_event_without_usage_gives_unknown_usage() -> None:
    acc, _, _ = decode([sse("response.completed", 0, response={"status": "completed", "usage": None})])
    assert acc.usage is not None and acc.usage.known is False


def test_unknown_and_bookkeeping_events_are_ignored() -> None:
    raw = sse("response.audio.delta", 0, delta="AAAA") + sse("response.future_thing", 1, x=1) + TEXT_STREAM
    assert decode([raw])[0].text == "Hello!"


@pytest.mark.parametrize(("error", "cls", "status"), [
    ({"code": "rate_limit_exceeded", "message": "Rate limit reached", "param": None}, RateLimitError, 429),
    ({"code": "server_error", "message": "boom"}, ProviderError, 500),
    ({"code": "invalid_prompt", "message": "no"}, InvalidRequestError, 400),
    ({"code": "invalid_api_key", "message": f"bad key {KEY}"}, AuthError, 401),
    ({"code": "something_new", "message": "?"}, ProviderError, 500),
])
def test_a_flat_error_event_raises_the_class_of_its_code(error: dict[str, Any], cls: type[LLMError],
                                                        status: int) -> None:
    dec = decoder()
    dec.feed(sse("response.created", 0, response={"id": "resp_1", "status": "in_progress"}))
    with pytest.raises(LLMError) as info:
        dec.feed(sse("error", 1, **error))
    assert type(info.value) is cls and info.value.status_code == status and KEY not in str(info.value)
    assert info.value.code == error["code"]


def test_a_nested_error_event_and_the_context_window_error() -> None:
    dec = decoder()
    with pytest.raises(ContextWindowExceededError) as info:
        dec.feed(b"event: error\ndata: " + json.dumps({"type": "error", "error": CONTEXT_ERROR}).encode() + b"\n\n")
    assert info.value.status_code == 400 and info.value.code == "context_length_exceeded"
    assert info.value.retryable is False


def test_response_failed_raises_its_error_and_ends_the_stream() -> None:
    dec = decoder()
    chunks = dec.feed(sse("response.output_text.delta", 0, delta="Par") + sse(
        "response.failed", 1, response={"id": "resp_f", "status": "failed",
                                        "error": {"code": "server_error", "message": "The model failed"}}))
    assert [c.text for c in chunks] == ["Par"] and dec.done  # content first, the error on the next call
    with pytest.raises(ProviderError, match="The model failed") as info:
        dec.finish()
    assert info.value.retryable is True and info.value.status_code == 500


def test_a_stream_cut_before_its_terminal_event_is_a_provider_error() -> None:
    dec = decoder()
    dec.feed(TEXT_STREAM[:TEXT_STREAM.index(b"event: response.completed")])
    with pytest.raises(ProviderError, match="ended before response.completed"):
        dec.finish()


def test_malformed_json_in_an_event_quotes_a_redacted_excerpt() -> None:
    dec = decoder()
    with pytest.raises(ProviderError, match="malformed JSON") as info:
        dec.feed(b'event: response.output_text.delta\ndata: {"delta": "' + KEY.encode() + b'\n\n')
    assert KEY not in str(info.value)


def test_a_plain_json_answer_to_a_streamed_request_is_read_as_the_answer() -> None:
    from responses_fixtures import RESPONSE

    acc, _, dec = decode([json.dumps(RESPONSE).encode()])
    assert acc.text == "Hello, world!" and dec.response_id_of({}) == "resp_abc123"


@responses.activate
def test_a_stream_through_the_client_and_an_error_after_content() -> None:
    responses.post(URL, body=TEXT_STREAM, content_type="text/event-stream", headers={"x-request-id": "req_s"})
    client = OpenAIResponsesClient(model="gpt-5.2", api_key=KEY)
    with client.stream("hi") as stream:
        assert "".join(c.text for c in stream) == "Hello!"
    completion = stream.completion
    assert completion.response_id == "resp_1" and completion.request_id == "req_s"
    assert completion.thinking == "Greeting." and completion.usage == STREAM_USAGE
    broken = sse("response.output_text.delta", 0, delta="Hel") + sse("error", 1, code="server_error", message="x")
    responses.replace(responses.POST, URL, body=broken, content_type="text/event-stream")
    with pytest.raises(StreamError) as info, client.stream("hi") as stream:
        for _ in stream:
            pass
    assert info.value.partial_text == "Hel"
