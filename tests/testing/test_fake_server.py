"""Tests for llmclient.testing: the fake server over real sockets, driven by plain ``requests``.

Streams are parsed by hand here (split on blank lines) so that these tests do not depend on the
SSE parser they are used to test elsewhere.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import requests
from helpers import eventually

from llmclient.testing import FakeLLMServer, Fault, RecordedRequest
from llmclient.testing.faults import FaultPlan
from llmclient.testing.formats.base import FakeCall, make_reply, split_chunks

HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello world"}]}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]


def chat(server: FakeLLMServer, body: Any = None, *, path: str = "/v1/chat/completions",
         headers: dict[str, str] | None = None, session: Any = requests, **kwargs: Any) -> requests.Response:
    """POST a chat request (``HELLO`` by default); ``body`` bytes are sent as they are."""
    payload = HELLO if body is None else body
    if isinstance(payload, bytes):
        kwargs["data"] = payload
    else:
        kwargs["json"] = payload
    response: requests.Response = session.post(server.url + path, headers=headers, timeout=10, **kwargs)
    return response


def events(raw: bytes) -> list[Any]:
    """Split an SSE body into decoded ``data:`` payloads (JSON objects, or the ``[DONE]`` string)."""
    out: list[Any] = []
    for block in raw.split(b"\n\n"):
        if not block.strip():
            continue
        assert block.startswith(b"data: "), block
        data = block[len(b"data: "):].decode()
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def stream_text(parsed: list[Any]) -> str:
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in parsed if e != "[DONE]" and e["choices"])


# --- answers -----------------------------------------------------------------------------------


def test_json_answer_has_the_openai_shape_and_is_deterministic(server: FakeLLMServer) -> None:
    first, second = chat(server), chat(server)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.headers["x-request-id"] == "req_fake1"
    assert int(first.headers["openai-processing-ms"]) >= 1
    body = first.json()
    assert body["id"] == "chatcmpl-fake1"
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "gpt-4o-mini"
    assert body["choices"] == [{
        "index": 0, "logprobs": None, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "Echo: hello world", "refusal": None, "annotations": []},
    }]
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    again = second.json()
    assert again["id"] == "chatcmpl-fake2"
    assert again["choices"] == body["choices"] and again["usage"] == body["usage"]


def test_usage_counts_words_of_all_messages_and_of_the_reply(server: FakeLLMServer) -> None:
    body = {"model": "m", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "What is"},
                                     {"type": "image_url", "image_url": {"url": "data:,"}},
                                     {"type": "text", "text": "this?"}]},
    ]}
    answer = chat(server, body).json()
    assert answer["choices"][0]["message"]["content"] == "Echo: What is this?"
    assert answer["usage"]["prompt_tokens"] == 3 + 3
    assert answer["usage"]["completion_tokens"] == 4
    assert answer["usage"]["total_tokens"] == 10


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_cuts_the_reply_and_reports_length(server: FakeLLMServer, field: str) -> None:
    answer = chat(server, {**HELLO, field: 2}).json()
    assert answer["choices"][0]["message"]["content"] == "Echo: hello"
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 2
    roomy = chat(server, {**HELLO, field: 3}).json()
    assert roomy["choices"][0]["finish_reason"] == "stop"


def test_tools_make_a_tool_call_to_the_first_or_the_forced_function(server: FakeLLMServer) -> None:
    message = chat(server, {**HELLO, "tools": TOOLS, "tool_choice": "auto"}).json()["choices"][0]
    assert message["finish_reason"] == "tool_calls"
    assert message["message"]["content"] is None
    (call,) = message["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "get_weather", "arguments": json.dumps({"prompt": "hello world"})}
    forced = {"type": "function", "function": {"name": "get_time"}}
    named = chat(server, {**HELLO, "tools": TOOLS, "tool_choice": forced}).json()["choices"][0]
    assert named["message"]["tool_calls"][0]["function"]["name"] == "get_time"
    none = chat(server, {**HELLO, "tools": TOOLS, "tool_choice": "none"}).json()["choices"][0]
    assert none["message"]["content"] == "Echo: hello world" and none["finish_reason"] == "stop"


@pytest.mark.parametrize("kind", ["json_object", "json_schema"])
def test_json_response_format_answers_json(server: FakeLLMServer, kind: str) -> None:
    answer = chat(server, {**HELLO, "response_format": {"type": kind}}).json()
    assert json.loads(answer["choices"][0]["message"]["content"]) == {"echo": "hello world"}


def test_n_returns_that_many_choices(server: FakeLLMServer) -> None:
    choices = chat(server, {**HELLO, "n": 3}).json()["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2]
    assert {c["message"]["content"] for c in choices} == {"Echo: hello world"}


def test_bad_requests_get_openai_errors(server: FakeLLMServer) -> None:
    bad_json = chat(server, b'{"model": "m", "messages": [')
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["type"] == "invalid_request_error"
    assert set(bad_json.json()["error"]) == {"message", "type", "param", "code"}
    assert chat(server, {"model": "m"}).status_code == 400
    unknown = chat(server, path="/v1/completions")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_url"
    assert requests.get(server.url + "/v1/chat/completions", timeout=5).status_code == 404


# --- streams -----------------------------------------------------------------------------------


def test_stream_sends_role_content_finish_and_done(server: FakeLLMServer) -> None:
    response = chat(server, {**HELLO, "stream": True}, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers
    parsed = events(response.content)
    assert parsed[-1] == "[DONE]"
    first, *content, final, done = parsed
    assert first["object"] == "chat.completion.chunk" and first["id"] == "chatcmpl-fake1"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert [c["choices"][0]["delta"]["content"] for c in content] == ["Echo:", " hello", " world"]
    assert final["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert all(e["usage"] is None for e in parsed[:-1])


def test_stream_usage_chunk_only_with_include_usage(server: FakeLLMServer) -> None:
    body = {**HELLO, "stream": True, "stream_options": {"include_usage": True}}
    usage = events(chat(server, body).content)[-2]
    assert usage["choices"] == []
    assert usage["usage"]["prompt_tokens"] == 2 and usage["usage"]["completion_tokens"] == 3
    without = events(chat(server, {**HELLO, "stream": True}).content)
    assert all(e == "[DONE]" or e["choices"] for e in without)


@pytest.mark.parametrize("count", [1, 2, 7, 5000])
def test_stream_chunks_gives_exactly_that_many_content_chunks(count: int) -> None:
    with FakeLLMServer(stream_chunks=count) as fake:
        body = {**HELLO, "stream": True, "stream_options": {"include_usage": True}}
        parsed = events(chat(fake, body).content)
    content = [e for e in parsed[1:] if e != "[DONE]" and e["choices"] and e["choices"][0]["delta"].get("content")]
    assert len(content) == count
    text = stream_text(parsed)
    assert text.startswith("Echo:" if count > 2 else "Echo: hello")
    assert parsed[-2]["usage"]["completion_tokens"] == len(text.split())


def test_stream_tool_call_deltas_concatenate_to_the_arguments(server: FakeLLMServer) -> None:
    parsed = events(chat(server, {**HELLO, "stream": True, "tools": TOOLS}).content)
    first = parsed[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["index"] == 0 and first["type"] == "function" and first["id"].startswith("call_")
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    fragments = [e["choices"][0]["delta"]["tool_calls"][0] for e in parsed[1:-2]]
    assert all(set(f) == {"index", "function"} for f in fragments)
    assert json.loads("".join(f["function"]["arguments"] for f in fragments)) == {"prompt": "hello world"}
    assert parsed[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_chunk_delay_spaces_the_events_out() -> None:
    with FakeLLMServer(chunk_delay=0.05) as fake:
        started = time.monotonic()
        response = chat(fake, {**HELLO, "stream": True}, stream=True)
        arrivals = [time.monotonic() for _ in response.iter_content(chunk_size=None)]
        elapsed = time.monotonic() - started
    assert elapsed >= 0.2  # 6 events, 5 gaps of 0.05 s
    assert len(arrivals) >= 3  # written progressively, not in one piece


def test_stream_content_length_replaces_chunked_encoding() -> None:
    with FakeLLMServer(stream_content_length=True, chunk_delay=0.01) as fake:
        response = chat(fake, {**HELLO, "stream": True}, stream=True)
        assert "transfer-encoding" not in response.headers
        body = response.content
        assert int(response.headers["content-length"]) == len(body)
        assert stream_text(events(body)) == "Echo: hello world"
        fake.enqueue(Fault.error_event(after_chunks=2))
        broken = chat(fake, {**HELLO, "stream": True})
        assert int(broken.headers["content-length"]) == len(broken.content)
        assert "error" in events(broken.content)[-1]


# --- Azure and auth ----------------------------------------------------------------------------

AZURE_PATH = "/openai/deployments/my-gpt/chat/completions"


def test_azure_route_uses_the_deployment_and_needs_api_version() -> None:
    with FakeLLMServer(api_key="azure-key-123") as fake:
        ok = chat(fake, path=AZURE_PATH + "?api-version=2024-10-21", headers={"api-key": "azure-key-123"})
        assert ok.status_code == 200
        assert ok.json()["model"] == "my-gpt"
        bearer = chat(fake, path=AZURE_PATH + "?api-version=2024-10-21",
                      headers={"Authorization": "Bearer azure-key-123"})
        assert bearer.status_code == 200
        missing = chat(fake, path=AZURE_PATH, headers={"api-key": "azure-key-123"})
        assert missing.status_code == 400
        assert "api-version" in missing.json()["error"]["message"]
        wrong = chat(fake, path=AZURE_PATH + "?api-version=2024-10-21", headers={"api-key": "nope"})
        assert wrong.status_code == 401
        assert fake.requests[0].query == {"api-version": "2024-10-21"}


def test_wrong_or_missing_key_gets_401_without_echoing_it() -> None:
    with FakeLLMServer(api_key="sk-right") as fake:
        assert chat(fake, headers={"Authorization": "Bearer sk-right"}).status_code == 200
        wrong = chat(fake, headers={"Authorization": "Bearer sk-wrong-secret"})
        assert wrong.status_code == 401
        assert wrong.json() == {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                          "param": None, "code": "invalid_api_key"}}
        assert b"sk-wrong-secret" not in wrong.content and b"sk-right" not in wrong.content
        assert "sk-wrong" not in str(wrong.headers)
        assert chat(fake).status_code == 401


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "error_type", "error_code"), [
    (400, "invalid_request_error", None),
    (401, "invalid_request_error", "invalid_api_key"),
    (404, "invalid_request_error", "model_not_found"),
    (429, "requests", "rate_limit_exceeded"),
    (500, "server_error", None),
    (503, "server_error", None),
])
def test_status_fault_sends_the_formats_error_body(
    server: FakeLLMServer, code: int, error_type: str, error_code: str | None
) -> None:
    server.enqueue(Fault.status(code, headers={"X-Should-Retry": "false"}))
    response = chat(server)
    assert response.status_code == code
    assert response.headers["x-should-retry"] == "false"
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (error_type, error_code, None)
    if code == 404:
        assert "gpt-4o-mini" in error["message"]
    if code == 503:
        assert "overloaded" in error["message"]
    assert chat(server).status_code == 200


def test_status_fault_with_a_literal_body(server: FakeLLMServer) -> None:
    server.enqueue(Fault.status(500, body={"custom": True}), Fault.status(502, body="upstream died"))
    first = chat(server)
    assert (first.status_code, first.json()) == (500, {"custom": True})
    second = chat(server)
    assert (second.status_code, second.text) == (502, "upstream died")
    assert second.headers["content-type"].startswith("text/plain")


def test_rate_limit_fault_sends_retry_hints(server: FakeLLMServer) -> None:
    server.enqueue(Fault.rate_limit(1.5, retry_after_ms=300), Fault.rate_limit(), Fault.rate_limit(None))
    first = chat(server)
    assert first.status_code == 429
    assert (first.headers["retry-after"], first.headers["retry-after-ms"]) == ("1.5", "300")
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    assert chat(server).headers["retry-after"] == "0"
    assert "retry-after" not in chat(server).headers


def test_quota_fault_is_insufficient_quota(server: FakeLLMServer) -> None:
    server.enqueue(Fault.rate_limit(quota=True))
    error = chat(server).json()["error"]
    assert error["type"] == error["code"] == "insufficient_quota"


def test_server_error_fault(server: FakeLLMServer) -> None:
    server.enqueue(Fault.server_error(), Fault.server_error(502))
    assert chat(server).status_code == 500
    bad_gateway = chat(server)
    assert bad_gateway.status_code == 502 and bad_gateway.json()["error"]["type"] == "server_error"


def test_reset_fault_raises_connection_error(server: FakeLLMServer) -> None:
    server.enqueue(Fault.reset())
    with pytest.raises(requests.ConnectionError):
        chat(server)
    assert chat(server).status_code == 200
    assert [r.fault for r in server.requests] == ["reset", None]


@pytest.mark.parametrize("stream", [True, False])
def test_reset_after_chunks_breaks_the_body(server: FakeLLMServer, stream: bool) -> None:
    server.enqueue(Fault.reset(after_chunks=2))
    response = chat(server, {**HELLO, "stream": stream}, stream=True)
    assert response.status_code == 200
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        for _ in response.iter_content(chunk_size=None):
            pass
    assert chat(server).status_code == 200


def test_stall_delays_the_first_byte(server: FakeLLMServer) -> None:
    server.enqueue(Fault.stall(0.3))
    started = time.monotonic()
    assert chat(server).json()["choices"][0]["message"]["content"] == "Echo: hello world"
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.exceptions.ReadTimeout):
        server.enqueue(Fault.stall(5))
        requests.post(server.openai_base_url + "/chat/completions", json=HELLO, timeout=0.2)


def test_close_returns_promptly_while_a_handler_stalls() -> None:
    fake = FakeLLMServer().start()
    fake.enqueue(Fault.stall(30))
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            outcome.append(chat(fake).status_code)
        except requests.RequestException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    assert eventually(lambda: bool(fake.requests), timeout=5)  # the handler is stalling
    started = time.monotonic()
    fake.close()
    assert time.monotonic() - started < 1.0
    thread.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], requests.ConnectionError)
    fake.close()  # idempotent


def test_stall_mid_stream_pauses_after_the_first_chunks(server: FakeLLMServer) -> None:
    server.enqueue(Fault.stall_mid_stream(0.3, after_chunks=2))
    started = time.monotonic()
    response = chat(server, {**HELLO, "stream": True}, stream=True)
    pieces = list(response.iter_content(chunk_size=None))
    assert time.monotonic() - started >= 0.3
    assert len(pieces) >= 2
    assert stream_text(events(b"".join(pieces))) == "Echo: hello world"


def test_error_event_fault_ends_the_stream_with_an_error(server: FakeLLMServer) -> None:
    server.enqueue(Fault.error_event(after_chunks=2, error_type="server_error", message="boom"))
    response = chat(server, {**HELLO, "stream": True})
    assert response.status_code == 200
    parsed = events(response.content)
    assert len(parsed) == 3
    assert stream_text(parsed[:2]) == "Echo:"
    assert parsed[-1] == {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    server.enqueue(Fault.error_event())
    assert chat(server).status_code == 500


def test_malformed_json_fault(server: FakeLLMServer) -> None:
    server.enqueue(Fault.malformed_json(), Fault.malformed_json())
    response = chat(server)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(response.content)
    blocks = [b for b in chat(server, {**HELLO, "stream": True}).content.split(b"\n\n") if b]
    assert len(blocks) == 2
    json.loads(blocks[0][len(b"data: "):])
    assert blocks[1] == b'data: {"id": "chatcmpl-'


def test_html_fault_is_an_nginx_page(server: FakeLLMServer) -> None:
    server.enqueue(Fault.html(), Fault.html(504))
    response = chat(server)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<center><h1>502 Bad Gateway</h1></center>" in response.text and "nginx" in response.text
    timeout = chat(server)
    assert timeout.status_code == 504 and "<title>504 Gateway Timeout</title>" in timeout.text


def test_enqueue_with_match_only_hits_matching_requests(server: FakeLLMServer) -> None:
    server.enqueue(Fault.server_error(), Fault.server_error(503), match="claude")
    assert chat(server).status_code == 200
    assert chat(server, {**HELLO, "model": "claude-x"}).status_code == 500
    server.enqueue(Fault.status(418), match="deployments")
    assert chat(server, path=AZURE_PATH + "?api-version=1").status_code == 418
    assert chat(server, {**HELLO, "model": "claude-x"}).status_code == 503
    assert chat(server, {**HELLO, "model": "claude-x"}).status_code == 200


def test_random_faults_follow_the_rate_and_the_seed(server: FakeLLMServer) -> None:
    def run(seed: int) -> list[str | None]:
        server.clear()
        server.random_faults(0.2, [Fault.server_error(), Fault.rate_limit()], seed=seed)
        session = requests.Session()
        for _ in range(200):
            chat(server, session=session)
        return [r.fault for r in server.requests]

    first = run(7)
    assert 20 <= sum(f is not None for f in first) <= 60
    assert first == run(7)
    server.random_faults(0, [])
    assert chat(server).status_code == 200


def test_queued_faults_precede_random_ones_and_match_filters_random(server: FakeLLMServer) -> None:
    server.random_faults(1.0, [Fault.server_error(503)], match="gpt")
    server.enqueue(Fault.status(418))
    assert chat(server).status_code == 418
    assert chat(server).status_code == 503
    assert chat(server, {**HELLO, "model": "claude"}).status_code == 200
    server.clear()
    assert chat(server).status_code == 200 and len(server.requests) == 1


def test_fault_values_are_validated() -> None:
    with pytest.raises(ValueError):
        Fault("explode")
    with pytest.raises(ValueError):
        Fault.stall(-1)
    with pytest.raises(ValueError):
        FaultPlan().set_random(1.5, [Fault.reset()])
    assert Fault.reset() == Fault.reset() and hash(Fault.rate_limit(1))


# --- recording, connections, lifecycle ----------------------------------------------------------


def test_requests_are_recorded(server: FakeLLMServer) -> None:
    server.enqueue(Fault.server_error())
    chat(server, path="/v1/chat/completions?trace=1", headers={"X-Custom": "Yes"})
    chat(server)
    first, second = server.requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, first.query) == ("POST", "/v1/chat/completions", {"trace": "1"})
    assert first.headers["x-custom"] == "Yes" and first.headers["content-type"] == "application/json"
    assert all(name == name.lower() for name in first.headers)
    assert first.json() == HELLO and first.body == json.dumps(HELLO).encode()
    assert (first.fault, second.fault) == ("status", None)
    assert first.received_at <= second.received_at <= time.monotonic()


def test_keep_alive_reuses_one_connection(server: FakeLLMServer) -> None:
    with requests.Session() as session:
        for _ in range(20):
            assert chat(server, session=session).status_code == 200
        for _ in range(3):
            chat(server, {**HELLO, "stream": True}, session=session)
    assert server.connections_opened == 1


def test_32_threads_share_one_session() -> None:
    errors: list[BaseException] = []
    with FakeLLMServer() as fake, requests.Session() as session:
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=32)
        session.mount("http://", adapter)

        def work() -> None:
            try:
                for _ in range(20):
                    answer = chat(fake, session=session)
                    assert answer.json()["choices"][0]["message"]["content"] == "Echo: hello world"
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors
        assert len(fake.requests) == 640
        assert len({r.received_at for r in fake.requests}) > 1
        assert fake.connections_opened <= 32


def test_lifecycle_url_and_fixture(fake_llm_server: FakeLLMServer) -> None:
    assert fake_llm_server.start() is fake_llm_server
    assert fake_llm_server.url == f"http://127.0.0.1:{fake_llm_server.port}"
    assert fake_llm_server.openai_base_url == fake_llm_server.url + "/v1"
    assert chat(fake_llm_server).status_code == 200
    idle = FakeLLMServer()
    with pytest.raises(RuntimeError):
        _ = idle.url
    idle.close()
    with pytest.raises(RuntimeError):
        idle.start()


@pytest.mark.fake_llm_server(api_key="sk-marked", stream_chunks=4)
def test_fixture_takes_options_from_the_marker(fake_llm_server: FakeLLMServer) -> None:
    assert chat(fake_llm_server).status_code == 401
    authorized = {"Authorization": "Bearer sk-marked"}
    parsed = events(chat(fake_llm_server, {**HELLO, "stream": True}, headers=authorized).content)
    assert len(parsed) == 1 + 4 + 1 + 1


# --- reply logic (pure) ------------------------------------------------------------------------


def test_split_chunks_round_trips_text() -> None:
    for text in ["Echo: hello world", "  lead", "trail  ", "", "a\n\nb"]:
        assert "".join(split_chunks(text)) == text
    assert split_chunks("Echo: hello world") == ["Echo:", " hello", " world"]


def test_make_reply_fits_stream_chunks() -> None:
    call = FakeCall(seq=1, model="m", stream=True, prompt="a b c d e", prompt_tokens=5)
    assert make_reply(call, 3).chunks == ("Echo: a", " b c", " d e")
    assert make_reply(call, 8).chunks[-2:] == (" Echo:", " a")
    assert make_reply(FakeCall(seq=1, model="m", max_tokens=0), None).text == ""
