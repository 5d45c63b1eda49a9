"""The fake server's Anthropic and Google AI wire formats, driven by plain ``requests``.

Streams are split by hand (blank lines) so that these tests do not depend on the providers'
own stream decoders, which are tested against these formats elsewhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from llmclient.testing import FakeLLMServer, Fault

ANTHROPIC_BODY = {"model": "claude-fake", "max_tokens": 100, "system": "Be brief.",
                  "messages": [{"role": "user", "content": "hello world"}]}
GOOGLE_BODY = {"contents": [{"role": "user", "parts": [{"text": "hello world"}]}],
               "systemInstruction": {"parts": [{"text": "Be brief."}]}}
GOOGLE_PATH = "/v1beta/models/gemini-fake:generateContent"
GOOGLE_STREAM = "/v1beta/models/gemini-fake:streamGenerateContent?alt=sse"


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(api_key="k") as fake:
        yield fake


def anthropic(server: FakeLLMServer, body: Any = None, stream: bool = False, **kw: Any) -> requests.Response:
    payload = dict(ANTHROPIC_BODY if body is None else body)
    if stream:
        payload["stream"] = True
    headers = kw.pop("headers", {"x-api-key": "k", "anthropic-version": "2023-06-01"})
    return requests.post(server.url + "/v1/messages", json=payload, headers=headers, timeout=10, **kw)


def google(server: FakeLLMServer, body: Any = None, path: str = GOOGLE_PATH, **kw: Any) -> requests.Response:
    headers = kw.pop("headers", {"x-goog-api-key": "k"})
    return requests.post(server.url + path, json=GOOGLE_BODY if body is None else body, headers=headers,
                         timeout=10, **kw)


def named_events(raw: bytes) -> list[tuple[str, Any]]:
    """``(event name, data JSON)`` pairs of an Anthropic stream."""
    out = []
    for block in raw.split(b"\n\n"):
        if not block.strip():
            continue
        name_line, data_line = block.split(b"\n")
        assert name_line.startswith(b"event: ") and data_line.startswith(b"data: "), block
        out.append((name_line[7:].decode(), json.loads(data_line[6:])))
    return out


def data_events(raw: bytes) -> list[Any]:
    """The ``data:`` JSON payloads of a Google stream (CRLF separated)."""
    out = []
    for block in raw.split(b"\r\n\r\n"):
        if block.strip():
            assert block.startswith(b"data: "), block
            out.append(json.loads(block[6:]))
    return out


# -- Anthropic -----------------------------------------------------------------------------------------
def test_anthropic_json_answer(server: FakeLLMServer) -> None:
    response = anthropic(server)
    assert response.status_code == 200
    assert response.headers["request-id"] == "req_fake1"
    assert response.json() == {
        "id": "msg_fake1", "type": "message", "role": "assistant", "model": "claude-fake",
        "content": [{"type": "text", "text": "Echo: hello world"}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 4, "cache_creation_input_tokens": 0,
                                         "cache_read_input_tokens": 0, "output_tokens": 3}}


def test_anthropic_tool_use_and_max_tokens(server: FakeLLMServer) -> None:
    tools = {**ANTHROPIC_BODY, "tools": [{"name": "a", "input_schema": {}}, {"name": "b", "input_schema": {}}],
             "tool_choice": {"type": "tool", "name": "b"}}
    content = anthropic(server, tools).json()
    assert content["content"] == [{"type": "tool_use", "id": "toolu_fake1", "name": "b",
                                   "input": {"prompt": "hello world"}}]
    assert content["stop_reason"] == "tool_use"
    short = anthropic(server, {**ANTHROPIC_BODY, "max_tokens": 1}).json()
    assert (short["content"][0]["text"], short["stop_reason"]) == ("Echo:", "max_tokens")


def test_anthropic_stream_events(server: FakeLLMServer) -> None:
    response = anthropic(server, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = named_events(response.content)
    assert [name for name, _ in events] == ["message_start", "content_block_start", "ping", "content_block_delta",
                                            "content_block_delta", "content_block_delta", "content_block_stop",
                                            "message_delta", "message_stop"]
    assert all(data["type"] == name for name, data in events)
    assert "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta") == "Echo: hello world"
    assert events[0][1]["message"]["usage"]["input_tokens"] == 4
    assert events[-2][1] == {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                             "usage": {"output_tokens": 3}}


def test_anthropic_refusals_and_auth(server: FakeLLMServer) -> None:
    missing = anthropic(server, {"model": "m", "messages": []})
    assert missing.status_code == 400
    assert missing.json()["error"] == {"type": "invalid_request_error", "message": "max_tokens: Field required"}
    wrong = anthropic(server, headers={"x-api-key": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["type"] == "error" and wrong.json()["error"]["type"] == "authentication_error"
    assert anthropic(server, headers={"authorization": "Bearer k"}).status_code == 200


@pytest.mark.parametrize(("fault", "status", "kind"), [
    (Fault.server_error(529), 529, "overloaded_error"), (Fault.server_error(), 500, "api_error"),
    (Fault.rate_limit(retry_after=3), 429, "rate_limit_error"), (Fault.status(404), 404, "not_found_error"),
    (Fault.status(413), 413, "request_too_large")])
def test_anthropic_status_faults(server: FakeLLMServer, fault: Fault, status: int, kind: str) -> None:
    server.enqueue(fault)
    response = anthropic(server)
    assert response.status_code == status
    assert response.json()["error"]["type"] == kind
    assert response.headers["request-id"] == "req_fake1"
    if status == 429:
        assert response.headers["retry-after"] == "3"


def test_anthropic_spend_limit(server: FakeLLMServer) -> None:
    server.enqueue(Fault.rate_limit(quota=True))
    error = anthropic(server).json()["error"]
    assert error["details"] == {"error_code": "enforced_spend_limit_reached"}


def test_anthropic_error_event_and_malformed(server: FakeLLMServer) -> None:
    server.enqueue(Fault.error_event(after_chunks=4, error_type="overloaded_error", message="Overloaded"),
                   Fault.error_event(after_chunks=1))
    events = named_events(anthropic(server, stream=True).content)
    assert [n for n, _ in events] == ["message_start", "content_block_start", "ping", "content_block_delta", "error"]
    assert events[-1][1] == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    default = named_events(anthropic(server, stream=True).content)
    assert default[-1][1]["error"]["type"] == "api_error"
    server.enqueue(Fault.malformed_json())
    raw = anthropic(server, stream=True).content
    assert raw.endswith(b'"ind\n\n')


# -- Google AI -----------------------------------------------------------------------------------------
def test_google_json_answer(server: FakeLLMServer) -> None:
    response = google(server)
    assert response.status_code == 200
    assert response.json() == {
        "candidates": [{"content": {"parts": [{"text": "Echo: hello world"}], "role": "model"},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7},
        "modelVersion": "gemini-fake", "responseId": "fake1"}


def test_google_function_call_json_mode_and_length(server: FakeLLMServer) -> None:
    tools = {**GOOGLE_BODY, "tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"}]}],
             "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["b"]}}}
    assert google(server, tools).json()["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "b", "args": {"prompt": "hello world"}}}]
    json_mode = google(server, {**GOOGLE_BODY, "generationConfig": {"responseMimeType": "application/json"}})
    assert json.loads(json_mode.json()["candidates"][0]["content"]["parts"][0]["text"]) == {"echo": "hello world"}
    short = google(server, {**GOOGLE_BODY, "generationConfig": {"maxOutputTokens": 1}}).json()
    assert short["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_google_stream_events(server: FakeLLMServer) -> None:
    response = google(server, path=GOOGLE_STREAM)
    assert response.headers["content-type"] == "text/event-stream"
    assert b"\r\n\r\n" in response.content and b"[DONE]" not in response.content
    events = data_events(response.content)
    texts = [e["candidates"][0]["content"]["parts"][0]["text"] for e in events]
    assert texts == ["Echo:", " hello", " world"]
    assert [e["candidates"][0].get("finishReason") for e in events] == [None, None, "STOP"]
    assert [e["usageMetadata"]["candidatesTokenCount"] for e in events] == [1, 2, 3]


def test_google_refusals_and_auth(server: FakeLLMServer) -> None:
    no_sse = google(server, path="/v1beta/models/g:streamGenerateContent")
    assert no_sse.status_code == 400 and no_sse.json()["error"]["status"] == "INVALID_ARGUMENT"
    no_contents = google(server, {"x": 1})
    assert no_contents.status_code == 400 and no_contents.json()["error"]["code"] == 400
    wrong = google(server, headers={"x-goog-api-key": "nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["status"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(("fault", "status", "name"), [
    (Fault.server_error(503), 503, "UNAVAILABLE"), (Fault.server_error(), 500, "INTERNAL"),
    (Fault.rate_limit(retry_after=None), 429, "RESOURCE_EXHAUSTED"), (Fault.status(404), 404, "NOT_FOUND"),
    (Fault.status(403), 403, "PERMISSION_DENIED")])
def test_google_status_faults(server: FakeLLMServer, fault: Fault, status: int, name: str) -> None:
    server.enqueue(fault)
    response = google(server)
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (status, name) and error["message"]


def test_google_error_event_and_malformed(server: FakeLLMServer) -> None:
    server.enqueue(Fault.error_event(after_chunks=2, error_type="UNAVAILABLE", message="overloaded"),
                   Fault.error_event(after_chunks=1))
    events = data_events(google(server, path=GOOGLE_STREAM).content)
    assert len(events) == 3
    assert events[-1] == {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    default = data_events(google(server, path=GOOGLE_STREAM).content)
    assert default[-1]["error"]["status"] == "INTERNAL" and default[-1]["error"]["code"] == 500
    server.enqueue(Fault.malformed_json())
    assert google(server, path=GOOGLE_STREAM).content.endswith(b'"content\r\n\r\n')


# -- faults that the server applies the same way to every format ----------------------------------------
@pytest.mark.parametrize("call", [anthropic, google])
def test_html_reset_and_stall_faults(server: FakeLLMServer, call: Any) -> None:
    server.enqueue(Fault.html(502))
    page = call(server)
    assert page.status_code == 502 and page.headers["content-type"] == "text/html"
    server.enqueue(Fault.reset())
    with pytest.raises(requests.ConnectionError):
        call(server)
    server.enqueue(Fault.stall(0.2))
    started = time.monotonic()
    assert call(server).status_code == 200
    assert time.monotonic() - started >= 0.15
    server.enqueue(Fault.malformed_json())
    with pytest.raises(ValueError):
        call(server).json()


def test_stream_reset_and_stall_mid_stream(server: FakeLLMServer) -> None:
    server.enqueue(Fault.reset(after_chunks=2))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        anthropic(server, stream=True).content  # noqa: B018
    server.enqueue(Fault.stall_mid_stream(0.2, after_chunks=1))
    started = time.monotonic()
    events = data_events(google(server, path=GOOGLE_STREAM).content)
    assert time.monotonic() - started >= 0.15 and len(events) == 3
