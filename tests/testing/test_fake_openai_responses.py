"""The fake server's Responses API format: its answers read by plain ``requests``, then by the client under faults."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import llmclient
from llmclient import LLMTimeoutError, OpenAIResponsesClient, ProviderError, RateLimitError, StreamError
from llmclient.testing import FakeLLMServer, Fault

BODY = {"model": "gpt-fake", "instructions": "Be brief.", "input": [{"role": "user", "content": "hello world"}]}
TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]


@pytest.fixture
def keyed() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(api_key="k") as fake:
        yield fake


def post(server: FakeLLMServer, body: Any = None, **kw: Any) -> requests.Response:
    headers = kw.pop("headers", {"authorization": "Bearer k"})
    return requests.post(server.openai_base_url + "/responses", json=BODY if body is None else body,
                         headers=headers, timeout=10, **kw)


def events(raw: bytes) -> list[tuple[str, Any]]:
    """``(event name, data JSON)`` of each event, checking that the name is the data's type."""
    out = []
    for block in raw.split(b"\n\n"):
        if block.strip():
            name, data = block.split(b"\n")
            assert name.startswith(b"event: ") and data.startswith(b"data: "), block
            payload = json.loads(data[6:])
            assert payload["type"] == name[7:].decode()
            out.append((name[7:].decode(), payload))
    return out


def client(server: FakeLLMServer, **options: Any) -> OpenAIResponsesClient:
    return OpenAIResponsesClient(model="gpt-fake", api_key="k", base_url=server.openai_base_url, **options)


# -- the format, read by hand ---------------------------------------------------------------------


def test_json_answer(keyed: FakeLLMServer) -> None:
    answer = post(keyed)
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "req_fake1"
    data = answer.json()
    assert data["object"] == "response" and data["id"] == "resp_fake1" and data["status"] == "completed"
    assert data["output"] == [{"id": "msg_fake1", "type": "message", "status": "completed", "role": "assistant",
                               "content": [{"type": "output_text", "text": "Echo: hello world",
                                            "annotations": [], "logprobs": []}]}]
    assert data["usage"] == {"input_tokens": 4, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3,
                             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 7}
    assert data["instructions"] == "Be brief." and data["store"] is True


def test_a_string_input_reasoning_with_a_summary_and_a_cut_answer(keyed: FakeLLMServer) -> None:
    data = post(keyed, {"model": "m", "input": "one two three", "max_output_tokens": 2,
                        "reasoning": {"effort": "low", "summary": "auto"}, "store": False}).json()
    assert data["status"] == "incomplete" and data["incomplete_details"] == {"reason": "max_output_tokens"}
    reasoning, message = data["output"]
    assert reasoning["type"] == "reasoning" and reasoning["encrypted_content"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Thinking about: one two three"}]
    assert message["content"][0]["text"] == "Echo: one"
    assert data["usage"]["output_tokens_details"]["reasoning_tokens"] == 5 and data["store"] is False


def test_tools_and_json_mode(keyed: FakeLLMServer) -> None:
    call = post(keyed, {**BODY, "tools": TOOLS, "tool_choice": {"type": "function", "name": "get_weather"}}).json()
    [item] = call["output"]
    assert item["type"] == "function_call" and item["name"] == "get_weather" and item["call_id"] == "call_fake1"
    assert json.loads(item["arguments"]) == {"prompt": "hello world"}
    as_json = post(keyed, {**BODY, "text": {"format": {"type": "json_object"}}}).json()
    assert json.loads(as_json["output"][0]["content"][0]["text"]) == {"echo": "hello world"}


def test_stream_events_in_the_documented_order(keyed: FakeLLMServer) -> None:
    raw = post(keyed, {**BODY, "stream": True, "reasoning": {"summary": "auto"}}).content
    got = events(raw)
    assert b"[DONE]" not in raw
    assert [p["sequence_number"] for _, p in got] == list(range(len(got)))
    assert [name for name, _ in got] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    assert "".join(p["delta"] for n, p in got if n == "response.output_text.delta") == "Echo: hello world"
    assert got[-1][1]["response"]["usage"]["total_tokens"] > 0


def test_a_tool_stream_carries_call_id_and_name_only_on_the_item(keyed: FakeLLMServer) -> None:
    got = events(post(keyed, {**BODY, "stream": True, "tools": TOOLS}).content)
    added = next(p for n, p in got if n == "response.output_item.added")
    assert added["item"]["call_id"] == "call_fake1" and added["item"]["arguments"] == ""
    deltas = [p for n, p in got if n == "response.function_call_arguments.delta"]
    assert deltas and all("call_id" not in d and "name" not in d for d in deltas)
    assert json.loads("".join(d["delta"] for d in deltas)) == {"prompt": "hello world"}


def test_errors_auth_and_azure_routes(keyed: FakeLLMServer) -> None:
    assert post(keyed, headers={"authorization": "Bearer wrong"}).status_code == 401
    assert post(keyed, {"model": "m"}).json()["error"]["message"] == "Missing required parameter: 'input'."
    azure = requests.post(keyed.url + "/openai/v1/responses", json=BODY, headers={"api-key": "k"}, timeout=10)
    assert azure.status_code == 200 and azure.json()["object"] == "response"
    keyed.enqueue(Fault.rate_limit(retry_after=2))
    limited = post(keyed)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"


# -- through the client ---------------------------------------------------------------------------


def test_the_client_completes_and_streams_with_tools_and_reasoning(keyed: FakeLLMServer) -> None:
    c = client(keyed, reasoning={"effort": "low", "summary": "auto"})
    reply = c.complete([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi there"}])
    assert reply.text == "Echo: hi there" and reply.thinking == "Thinking about: hi there"
    assert reply.usage.reasoning_tokens == 4 and reply.response_id == "resp_fake1"
    assert keyed.requests[-1].json()["instructions"] == "Be brief."
    with c.stream("hi there", tools=[llmclient.Tool("get_weather")]) as stream:
        list(stream)
    done = stream.completion
    assert done.finish_reason == "tool_calls" and done.tool_calls[0].arguments == {"prompt": "hi there"}
    assert done.tool_calls[0].id == "call_fake2" and done.thinking == "Thinking about: hi there"


def test_status_faults_are_retried_and_typed(keyed: FakeLLMServer) -> None:
    keyed.enqueue(Fault.rate_limit(retry_after=0), Fault.server_error(503))
    c = client(keyed, retry_policy=llmclient.RetryPolicy(max_retries=2))
    assert c.complete("hello").text == "Echo: hello" and len(keyed.requests) == 3
    keyed.enqueue(Fault.rate_limit(quota=True))
    with pytest.raises(RateLimitError) as info:
        client(keyed).complete("hello")
    assert info.value.retryable is False


@pytest.mark.parametrize("stream", [False, True])
def test_reset_malformed_json_and_html_faults(keyed: FakeLLMServer, stream: bool) -> None:
    c = client(keyed)

    def call() -> str:
        if not stream:
            return c.complete("hello").text
        with c.stream("hello") as s:
            return "".join(chunk.text for chunk in s)

    for fault, error in [(Fault.reset(), llmclient.TransportError), (Fault.malformed_json(), ProviderError),
                         (Fault.html(502), ProviderError), (Fault.reset(after_chunks=5), llmclient.LLMError)]:
        keyed.enqueue(fault)
        with pytest.raises(error):
            call()
    assert call() == "Echo: hello"


def test_an_error_event_after_content_is_a_stream_error(keyed: FakeLLMServer) -> None:
    keyed.enqueue(Fault.error_event(after_chunks=6, error_type="server_error", message="boom"))
    with pytest.raises(StreamError) as info, client(keyed).stream("hello world") as stream:
        list(stream)
    assert info.value.partial_text == "Echo: hello" and "boom" in str(info.value)
    keyed.enqueue(Fault.error_event(after_chunks=1, error_type="rate_limit_exceeded", message="slow"))
    with pytest.raises(RateLimitError), client(keyed).stream("hello") as stream:
        list(stream)


def test_stalls_hit_the_time_limits_within_bounds(keyed: FakeLLMServer) -> None:
    c = client(keyed, http={"request_timeout_ms": 300, "idle_timeout_ms": 300})
    keyed.enqueue(Fault.stall(5))
    start = time.monotonic()
    with pytest.raises(LLMTimeoutError):
        c.complete("hello")
    assert time.monotonic() - start < 3
    keyed.enqueue(Fault.stall_mid_stream(5, after_chunks=6))
    start = time.monotonic()
    with pytest.raises((LLMTimeoutError, StreamError)), c.stream("hello") as stream:
        list(stream)
    assert time.monotonic() - start < 3


@pytest.mark.parametrize("fault", [Fault.close_delimited(), Fault.trickle_headers(piece_bytes=200, every_s=0.01),
                                   Fault.late_fin(30)])
def test_transport_faults_that_deliver_the_answer(keyed: FakeLLMServer, fault: Fault) -> None:
    keyed.enqueue(fault)
    start = time.monotonic()
    with client(keyed).stream("hello") as stream:
        assert "".join(chunk.text for chunk in stream) == "Echo: hello"
    assert time.monotonic() - start < 10  # late_fin: the stream ends at response.completed, not at the FIN


@pytest.mark.parametrize("fault", [Fault.cut_in_headers(), Fault.cut_mid_chunk(after_chunks=5)])
def test_transport_faults_that_cut_the_answer(keyed: FakeLLMServer, fault: Fault) -> None:
    keyed.enqueue(fault)
    with pytest.raises(llmclient.LLMError), client(keyed).stream("hello") as stream:
        list(stream)


def test_azure_and_compatible_servers_are_reached_through_base_url(keyed: FakeLLMServer,
                                                                  server: FakeLLMServer) -> None:
    azure = OpenAIResponsesClient(model="my-deployment", base_url=keyed.url + "/openai/v1", headers={"api-key": "k"})
    assert azure.complete("hello").text == "Echo: hello"
    sent = keyed.requests[-1]
    assert sent.path == "/openai/v1/responses" and sent.headers["api-key"] == "k"
    assert "authorization" not in sent.headers  # no OPENAI_API_KEY leaks to another server
    preview = OpenAIResponsesClient(model="d", base_url=keyed.url + "/openai", api_key="k",
                                    query_params={"api-version": "2025-03-01-preview"})
    with preview.stream("hello") as stream:
        assert "".join(chunk.text for chunk in stream) == "Echo: hello"
    assert keyed.requests[-1].query == {"api-version": "2025-03-01-preview"}
    local = OpenAIResponsesClient(model="qwen", base_url=server.openai_base_url)  # a vLLM-like server, no key
    assert local.complete("hello").response_id == "resp_fake1"
