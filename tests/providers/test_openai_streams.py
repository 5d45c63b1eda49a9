"""OpenAI streams: recorded streams decoded at any split, in-stream errors, truncated and broken streams."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import responses

from llmclient import (
    AuthError,
    ContextWindowExceededError,
    InvalidRequestError,
    LLMError,
    OpenAIClient,
    ProviderError,
    RateLimitError,
    StreamError,
    ToolCall,
    Usage,
)
from llmclient.models import Chunk
from llmclient.providers.openai import OpenAIAdapter, OpenAIStreamDecoder
from llmclient.stream import StreamAccumulator

RECORDED = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "openai").glob("*.sse"))
URL = "https://api.openai.com/v1/chat/completions"
KEY = "stream-key-DISTINCTIVE-3b9d"


def decoder() -> OpenAIStreamDecoder:
    return OpenAIStreamDecoder(OpenAIAdapter("openai", {"model": "gpt-4o"}), (KEY,))


def decode(pieces: list[bytes]) -> tuple[StreamAccumulator, list[Chunk], str | None]:
    dec = decoder()
    chunks: list[Chunk] = []
    for piece in pieces:
        chunks.extend(dec.feed(piece))
    chunks.extend(dec.finish())
    acc = StreamAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc, chunks, dec.model


def reference(raw: bytes) -> dict[str, Any]:
    """An independent, deliberately simple reading of a recorded stream (choice 0 only)."""
    text, refusal, finish, usage, model = "", "", None, None, None
    calls: dict[int, dict[str, Any]] = {}
    for line in raw.decode("utf-8").splitlines():
        if not line.startswith("data:") or line[5:].strip() == "[DONE]":
            continue
        event = json.loads(line[5:])
        model = model or event.get("model")
        if event.get("usage"):
            usage = event["usage"]
        for choice in event.get("choices") or []:
            if choice["index"] != 0:
                continue
            delta = choice.get("delta") or {}
            text += delta.get("content") or ""
            refusal += delta.get("refusal") or ""
            for tc in delta.get("tool_calls") or []:
                slot = calls.setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
                slot["id"] = tc.get("id") or slot["id"]
                fn = tc.get("function") or {}
                slot["name"] = fn.get("name") or slot["name"]
                slot["arguments"] += fn.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return {"text": text, "refusal": refusal, "calls": calls, "finish": finish, "usage": usage, "model": model}


def splits(raw: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(raw)), min(len(raw) - 1, rng.randint(1, 40))))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]


def summary(acc: StreamAccumulator) -> tuple[Any, ...]:
    completion = acc.completion()
    return (completion.text, completion.refusal, completion.tool_calls, completion.finish_reason,
            completion.raw_finish_reason, completion.usage)


def test_there_are_recorded_streams() -> None:
    assert len(RECORDED) == 12


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_recorded_stream_matches_reference_whole_bytewise_and_split(path: Path) -> None:
    raw = path.read_bytes()
    ref = reference(raw)
    whole, chunks, model = decode([raw])
    completion = whole.completion()
    assert completion.text == ref["text"]
    assert (completion.refusal or "") == ref["refusal"]
    assert completion.raw_finish_reason == ref["finish"]
    assert completion.finish_reason == {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}[ref["finish"]]
    assert completion.tool_calls == tuple(
        ToolCall.from_json_text(c["id"], c["name"], c["arguments"]) for _, c in sorted(ref["calls"].items()))
    for call in completion.tool_calls:
        assert call.arguments == json.loads(call.raw_arguments)
    u = ref["usage"]
    assert completion.usage == Usage(input_tokens=u["prompt_tokens"], output_tokens=u["completion_tokens"],
                                     total_tokens=u["total_tokens"])
    assert model == ref["model"] == "gpt-4o-2024-08-06"
    expected = summary(whole)
    assert summary(decode([raw[i:i + 1] for i in range(len(raw))])[0]) == expected
    for seed in range(5):
        assert summary(decode(splits(raw, seed))[0]) == expected
    # Choices other than index 0 never leak into chunks.
    assert "".join(c.text for c in chunks) == ref["text"]


# Literal values read from the files, so that the reference reader is checked too.
LITERALS = {
    "83b060bae42e": ("Foo!", None, "stop", (9, 2, 11), ()),
    "4cc50a6135d2": ('{"', None, "length", (79, 1, 80), ()),
    "173417d55340": ("", "I'm sorry, I can't assist with that request.", "stop", (79, 11, 90), ()),
    "7e5ea4d12e7c": ('{"city":"San Francisco","temperature":61,"units":"f"}', None, "stop", (79, 14, 93), ()),
    "a491adda08c3": ('{"city":"San Francisco","temperature":65,"units":"f"}', None, "stop", (79, 42, 121), ()),
    "2018feb66ae1": ("", None, "tool_calls", (44, 16, 60),
                     (("call_4XzlGBLtUe9dy3GVNV4jhq7h", "get_weather", {"city": "New York City"}),)),
    "f82268f2fefd": ("", None, "tool_calls", (149, 60, 209), (
        ("call_JMW1whyEaYG438VE1OIflxA2", "GetWeatherArgs", {"city": "Edinburgh", "country": "GB", "units": "c"}),
        ("call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price", {"ticker": "AAPL", "exchange": "NASDAQ"}))),
}


@pytest.mark.parametrize("stem", sorted(LITERALS))
def test_recorded_stream_literal_values(stem: str) -> None:
    text, refusal, finish, (inp, out, total), calls = LITERALS[stem]
    completion = decode([(RECORDED[0].parent / f"{stem}.sse").read_bytes()])[0].completion()
    assert completion.text == text and completion.refusal == refusal and completion.finish_reason == finish
    assert (completion.usage.input_tokens, completion.usage.output_tokens, completion.usage.total_tokens) == (
        inp, out, total)
    assert tuple((c.id, c.name, dict(c.arguments)) for c in completion.tool_calls) == calls


def test_long_recorded_stream_text_shape() -> None:
    completion = decode([(RECORDED[0].parent / "d61558011839.sse").read_bytes()])[0].completion()
    assert len(completion.text) == 608 and completion.text.startswith('\n  {\n    "location": "San Francisco, CA"')
    assert completion.usage.output_tokens == 177


# -- broken streams at the decoder -------------------------------------------------------------
def event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def content(text: str) -> bytes:
    return event({"model": "m", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


ROLE = event({"model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
FINISH = event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})


@pytest.mark.parametrize("kind, code, cls, status", [
    ("server_error", None, ProviderError, 500),
    ("requests", "rate_limit_exceeded", RateLimitError, 429),
    ("invalid_request_error", "context_length_exceeded", ContextWindowExceededError, 400),
    ("invalid_request_error", None, InvalidRequestError, 400),
    ("authentication_error", None, AuthError, 401),
    ("insufficient_quota", "insufficient_quota", RateLimitError, 429),
])
def test_error_event_maps_to_the_class_of_its_status(kind: str, code: str | None, cls: type[LLMError],
                                                     status: int) -> None:
    dec = decoder()
    assert dec.feed(ROLE) == []
    with pytest.raises(LLMError) as info:
        dec.feed(event({"error": {"message": f"failed, key {KEY}", "type": kind, "code": code}}))
    assert type(info.value) is cls and info.value.status_code == status != 200
    assert KEY not in str(info.value)
    if kind == "insufficient_quota":
        assert info.value.retryable is False


def test_error_after_content_in_the_same_read_is_raised_on_the_next_call() -> None:
    dec = decoder()
    chunks = dec.feed(content("Hel") + event({"error": {"message": "boom", "type": "server_error"}}))
    assert [c.text for c in chunks] == ["Hel"]
    with pytest.raises(ProviderError):
        dec.feed(b"")
    dec2 = decoder()
    dec2.feed(content("Hel") + event({"error": {"message": "boom", "type": "server_error"}}))
    with pytest.raises(ProviderError):
        dec2.finish()


def test_stream_ending_without_done_and_without_finish_is_a_provider_error() -> None:
    dec = decoder()
    dec.feed(ROLE + content("Hel"))
    with pytest.raises(ProviderError, match="ended before"):
        dec.finish()


def test_stream_with_a_finish_reason_but_no_done_is_accepted() -> None:
    acc, _, _ = decode([ROLE, content("Hi"), FINISH])
    assert acc.completion().text == "Hi" and acc.finish_reason == "stop"


def test_malformed_event_json_is_a_provider_error_without_the_key() -> None:
    dec = decoder()
    with pytest.raises(ProviderError, match="malformed JSON") as info:
        dec.feed(b'data: {"id": "' + KEY.encode() + b'\n\n')
    assert KEY not in str(info.value)
    with pytest.raises(ProviderError):
        decoder().feed(b"data: [1, 2]\n\n")


def test_other_choices_are_ignored_unless_asked_for() -> None:
    two = event({"choices": [{"index": 1, "delta": {"content": "B"}}, {"index": 0, "delta": {"content": "A"}}]})
    assert [c.text for c in decoder().feed(two)] == ["A"]
    other = OpenAIStreamDecoder(OpenAIAdapter("openai", {}), (), choice_index=1)
    assert [c.text for c in other.feed(two)] == ["B"]


# -- through the client ------------------------------------------------------------------------
def client() -> OpenAIClient:
    return OpenAIClient("gpt-4o", api_key=KEY, name="S")


@pytest.mark.parametrize("path", RECORDED[:4], ids=[p.stem for p in RECORDED[:4]])
def test_recorded_stream_through_the_client(mock: responses.RequestsMock, path: Path) -> None:
    raw = path.read_bytes()
    mock.post(URL, body=raw, content_type="text/event-stream", headers={"x-request-id": "req_s"})
    with client().stream("hi") as stream:
        texts = [c.text for c in stream]
        completion = stream.completion
    ref = reference(raw)
    assert "".join(texts) == ref["text"] == completion.text
    assert completion.raw_finish_reason == ref["finish"]
    assert completion.usage.total_tokens == ref["usage"]["total_tokens"]
    assert (completion.model, completion.request_id, completion.client_name) == (ref["model"], "req_s", "S")
    assert len(completion.attempts) == 1


def test_error_event_before_content_raises_the_typed_error_from_stream(mock: responses.RequestsMock) -> None:
    mock.post(URL, body=ROLE + event({"error": {"message": "overloaded", "type": "server_error"}}),
              content_type="text/event-stream", headers={"x-request-id": "req_e"})
    with pytest.raises(ProviderError) as info:
        client().stream("hi")
    assert info.value.status_code == 500 and info.value.client_name == "S" and info.value.provider == "openai"


def test_error_event_after_content_is_a_stream_error_with_partial_text(mock: responses.RequestsMock) -> None:
    body = ROLE + content("Hel") + content("lo") + event({"error": {"message": "boom", "type": "server_error"}})
    mock.post(URL, body=body, content_type="text/event-stream")
    stream = client().stream("hi")
    seen = []
    with pytest.raises(StreamError) as info:
        for chunk in stream:
            seen.append(chunk.text)
    assert "".join(seen) == "Hello" == info.value.partial_text
    assert isinstance(info.value.__cause__, ProviderError) and info.value.__cause__.status_code == 500
    assert info.value.status_code == 500 and info.value.retryable is False and info.value.client_name == "S"


def test_truncated_stream_through_the_client(mock: responses.RequestsMock) -> None:
    mock.post(URL, body=ROLE + content("Hel"), content_type="text/event-stream")
    stream = client().stream("hi")
    with pytest.raises(StreamError) as info:
        _ = stream.completion
    assert info.value.partial_text == "Hel" and isinstance(info.value.__cause__, ProviderError)


def test_error_status_on_a_stream_request(mock: responses.RequestsMock) -> None:
    mock.post(URL, status=429, json={"error": {"message": "slow", "type": "requests"}},
              headers={"retry-after": "2"})
    with pytest.raises(RateLimitError) as info:
        client().stream("hi")
    assert info.value.retry_after == 2.0 and info.value.status_code == 429


def test_tool_call_streams_and_answers_over_real_sockets(fake_llm_server: Any) -> None:
    tools = [{"name": "lookup", "description": "Look it up", "parameters": {
        "type": "object", "properties": {"prompt": {"type": "string"}}}}]
    with OpenAIClient("gpt-4o", api_key=KEY, base_url=fake_llm_server.openai_base_url) as c:
        with c.stream("find cats", tools=tools, tool_choice="lookup") as stream:
            chunks = list(stream)
        streamed = stream.completion
        answered = c.complete("find cats", tools=tools, tool_choice="lookup")
    assert sum(1 for ch in chunks if ch.tool_calls) > 1  # the arguments came in pieces
    for completion in (streamed, answered):
        assert completion.finish_reason == "tool_calls" and completion.text == ""
        (call,) = completion.tool_calls
        assert call.name == "lookup" and call.arguments == {"prompt": "find cats"} and call.id.startswith("call_")
    sent = fake_llm_server.requests[0].json()
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert sent["tools"][0]["function"]["name"] == "lookup"


def test_a_200_html_page_to_a_stream_request_names_the_page(mock: responses.RequestsMock) -> None:
    page = "<html>\n<head><title>Sign in to the guest network</title></head>\n<body>portal</body>\n</html>\n"
    mock.post(URL, body=page, content_type="text/html")
    with pytest.raises(ProviderError) as info:
        client().stream("hi")
    assert "Sign in to the guest network" in str(info.value) and "event stream" in str(info.value)
    assert info.value.client_name == "S"


def test_a_json_error_body_in_a_200_stream_is_typed(mock: responses.RequestsMock) -> None:
    body = json.dumps({"error": {"message": f"slow down {KEY}", "type": "requests", "code": "rate_limit_exceeded"}},
                      indent=2)
    mock.post(URL, body=body, content_type="application/json")
    with pytest.raises(RateLimitError) as info:
        client().stream("hi")
    assert info.value.status_code == 429 and KEY not in str(info.value)


def test_a_truncated_real_stream_still_says_so() -> None:
    dec = decoder()
    dec.feed(ROLE)
    with pytest.raises(ProviderError, match=r"ended before \[DONE\]"):
        dec.finish()
