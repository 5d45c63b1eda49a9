"""The transport over real sockets (FakeLLMServer): failures, every timeout, redirects, pooling, fork, proxies."""

from __future__ import annotations

import http.server
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import eventually, free_port, generic_client, needs_proc, tcp_ends

from llmclient import (
    ClientClosedError,
    LLMTimeoutError,
    OpenAIClient,
    OpenAIGenericClient,
    StreamError,
    TransportError,
)
from llmclient.models import HttpRequest
from llmclient.testing import FakeLLMServer, Fault
from llmclient.transport import USER_AGENT, Timeouts, Transport

KEY = "transport-key-DISTINCTIVE-91ab"


# -- timeouts value -----------------------------------------------------------------------------
def test_timeouts_from_options_and_capped() -> None:
    assert Timeouts.from_options(None) == Timeouts(10.0, 600.0, None, None)
    t = Timeouts.from_options({"connect_timeout_ms": 500, "request_timeout_ms": 2000,
                               "time_to_first_token_timeout_ms": 300, "idle_timeout_ms": 100})
    assert t == Timeouts(0.5, 2.0, 0.3, 0.1)
    assert Timeouts.from_options({"request_timeout_ms": None}).request is None
    assert t.capped(1.0) == Timeouts(0.5, 1.0, 0.3, 0.1)
    assert t.capped(None) is t
    assert Timeouts(None, None).capped(0.25) == Timeouts(0.25, 0.25)


# -- failures -----------------------------------------------------------------------------------
def test_connection_refused_is_a_transport_error() -> None:
    port = free_port()
    client = OpenAIGenericClient("m", base_url=f"http://127.0.0.1:{port}/v1")
    with client, pytest.raises(TransportError) as info:
        client.complete("hi")
    assert "refused" in str(info.value) and info.value.retryable is True
    assert info.value.client_name == client.name


def test_connection_reset_is_a_transport_error(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.reset())
    with generic_client(fake_llm_server) as client:
        with pytest.raises(TransportError):
            client.complete("hi")
        assert client.complete("again").text == "Echo: again"


def test_reset_mid_body_is_a_transport_error(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.reset(after_chunks=1))
    with generic_client(fake_llm_server) as client, pytest.raises(TransportError):
        client.complete("hi")


def test_stall_before_first_byte_hits_request_timeout(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.stall(5))
    started = time.monotonic()
    client = generic_client(fake_llm_server, http={"request_timeout_ms": 200})
    with client, pytest.raises(LLMTimeoutError) as info:
        client.complete("hi")
    assert info.value.kind == "request" and "request_timeout_ms" in str(info.value)
    assert time.monotonic() - started < 4


def test_request_timeout_covers_a_slow_body(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.stall_mid_stream(5, after_chunks=1))
    fake_llm_server.enqueue(Fault.stall_mid_stream(5, after_chunks=3))
    with generic_client(fake_llm_server, http={"request_timeout_ms": 300}) as client:
        with pytest.raises(LLMTimeoutError) as info:
            client.stream("hi there")  # only the role chunk came: nothing reached the caller
        assert info.value.kind == "request"
        stream = client.stream("one two three four")
        with pytest.raises(StreamError) as broken:
            _ = stream.completion
    assert broken.value.partial_text
    assert isinstance(broken.value.__cause__, LLMTimeoutError) and broken.value.__cause__.kind == "request"


def test_stream_stall_before_headers_hits_first_token_timeout(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.stall(5))
    with generic_client(fake_llm_server, http={"time_to_first_token_timeout_ms": 200}) as client:
        with pytest.raises(LLMTimeoutError) as info:
            client.stream("hi")
    assert info.value.kind == "first_token" and "time_to_first_token_timeout_ms" in str(info.value)


def test_stream_stall_after_headers_hits_first_token_timeout(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.stall_mid_stream(5, after_chunks=0))
    with generic_client(fake_llm_server, http={"time_to_first_token_timeout_ms": 200}) as client:
        with pytest.raises(LLMTimeoutError) as info:
            client.stream("hi")
    assert info.value.kind == "first_token"


def test_first_token_timeout_does_not_apply_to_complete(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.stall(0.3))
    with generic_client(fake_llm_server, http={"time_to_first_token_timeout_ms": 50}) as client:
        assert client.complete("slow").text == "Echo: slow"


def test_idle_stall_before_content_raises_from_stream(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.stall_mid_stream(5, after_chunks=1))  # only the role chunk arrives
    with generic_client(fake_llm_server, http={"idle_timeout_ms": 200}) as client:
        with pytest.raises(LLMTimeoutError) as info:
            client.stream("hi")
    assert info.value.kind == "idle" and "idle_timeout_ms" in str(info.value)


@needs_proc
def test_idle_stall_after_content_is_a_stream_error_and_the_socket_is_closed(
        fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.stall_mid_stream(1.5, after_chunks=3))
    port = fake_llm_server.port
    with generic_client(fake_llm_server, http={"idle_timeout_ms": 200}) as client:
        stream = client.stream("one two three four five")
        assert tcp_ends(port) == (1, 1)
        seen = []
        with pytest.raises(StreamError) as info:
            for chunk in stream:
                seen.append(chunk.text)
        assert tcp_ends(port) == (0, 1)  # our end closed at once; the server is still stalled
        assert info.value.partial_text == "".join(seen) != ""
        assert isinstance(info.value.__cause__, LLMTimeoutError) and info.value.__cause__.kind == "idle"
        assert not client.runtime.transport._open_streams
        # The server notices the dropped connection once it writes again.
        assert eventually(lambda: tcp_ends(port) == (0, 0))
        assert client.complete("after").text == "Echo: after"


def test_stream_with_content_length_is_not_held_back() -> None:
    with FakeLLMServer(stream_content_length=True, chunk_delay=0.05, stream_chunks=10) as server:
        with generic_client(server) as client:
            stream = client.stream("a b c d e f g h i j")
            arrivals = []
            for chunk in stream:
                if chunk.text:
                    arrivals.append(time.monotonic())
            assert len(arrivals) == 10
            assert arrivals[-1] - arrivals[0] > 0.25  # 9 gaps of 50 ms: they came as sent, not at the end
            assert stream.completion.text.startswith("Echo:")


# -- redirects ----------------------------------------------------------------------------------
class _Redirect(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("Location", self.target + "?key=SECRETSECRET")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def redirector(fake_llm_server: FakeLLMServer) -> Iterator[str]:
    handler = type("H", (_Redirect,), {"target": fake_llm_server.openai_base_url + "/chat/completions"})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_redirects_are_errors_and_never_followed(redirector: str, fake_llm_server: FakeLLMServer) -> None:
    client = OpenAIClient("gpt-4o", api_key=KEY, base_url=redirector)
    with client, pytest.raises(TransportError) as info:
        client.complete("hi")
    message = str(info.value)
    assert "307" in message and "redirect" in message and "not" in message
    assert "SECRETSECRET" not in message
    assert info.value.status_code == 307 and info.value.retryable is False
    assert fake_llm_server.requests == []


# -- pooling, closing, fork ----------------------------------------------------------------------
def test_32_threads_share_one_pool_without_warnings(fake_llm_server: FakeLLMServer,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3")
    errors: list[BaseException] = []
    with generic_client(fake_llm_server) as client:
        barrier = threading.Barrier(32)

        def work(i: int) -> None:
            try:
                barrier.wait()
                for j in range(4):
                    assert client.complete(f"t{i} c{j}").text == f"Echo: t{i} c{j}"
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert not [r for r in caplog.records if "Connection pool is full" in r.getMessage()]
    assert len(fake_llm_server.requests) == 128
    assert fake_llm_server.connections_opened <= 32


def test_a_small_pool_would_warn(fake_llm_server: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    # The check above can fail: a pool smaller than the thread count does log the warning.
    caplog.set_level(logging.WARNING, logger="urllib3")
    from llmclient import Runtime

    runtime = Runtime(max_workers=2, max_connections=4)  # 6 connections kept (3 per worker) for 16 threads
    client = OpenAIGenericClient("m", base_url=fake_llm_server.openai_base_url, runtime=runtime)
    barrier = threading.Barrier(16)

    def work() -> None:
        barrier.wait()
        fake_llm_server.enqueue(Fault.stall(0.05))
        client.complete("x")

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runtime.close()
    assert [r for r in caplog.records if "Connection pool is full" in r.getMessage()]


@needs_proc
def test_close_leaves_no_socket_open(fake_llm_server: FakeLLMServer) -> None:
    port = fake_llm_server.port
    client = generic_client(fake_llm_server)
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        client.complete("x")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    open_stream = client.stream("left open")  # still referenced: it must not keep the pool's sockets alive
    assert tcp_ends(port)[0] >= 2
    client.close()
    assert tcp_ends(port)[0] == 0  # every client socket closed at once, without waiting for GC
    assert eventually(lambda: tcp_ends(port) == (0, 0))
    with pytest.raises(ClientClosedError, match="closed"):
        client.complete("after close")
    open_stream.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
# Forking with the fake server's threads running is the point of this test (3.12+ warns about it).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_child_gets_its_own_pool(fake_llm_server: FakeLLMServer) -> None:
    with generic_client(fake_llm_server) as client:
        assert client.complete("parent 1").text == "Echo: parent 1"
        assert fake_llm_server.connections_opened == 1
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                code = 0 if client.complete("child").text == "Echo: child" else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert fake_llm_server.connections_opened == 2  # the child did not reuse the parent's socket
        assert client.complete("parent 2").text == "Echo: parent 2"
        assert fake_llm_server.connections_opened == 2  # and the parent's socket still works
    assert [r.json()["messages"][0]["content"] for r in fake_llm_server.requests] == [
        "parent 1", "child", "parent 2"]


# -- environment --------------------------------------------------------------------------------
def test_proxies_come_from_the_environment_once_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    transport = Transport()
    found = transport._proxies_for("https://api.openai.com/v1/chat/completions")
    assert found.get("https") == "http://proxy.example:3128"
    assert transport._proxies_for("https://internal.example/v1/chat/completions") == {}
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:1")
    assert transport._proxies_for("https://api.openai.com/v1/x").get("https") == "http://proxy.example:3128"
    assert Transport()._proxies_for("https://api.openai.com/v1/x").get("https") == "http://other.example:1"
    transport.close()


def test_requests_go_through_the_environment_proxy(monkeypatch: pytest.MonkeyPatch,
                                                   fake_llm_server: FakeLLMServer) -> None:
    # The fake server plays the proxy: it sees the absolute URL and answers like the provider.
    monkeypatch.setenv("HTTP_PROXY", fake_llm_server.url)
    with OpenAIGenericClient("m", base_url="http://llm.invalid/v1") as client:
        assert client.complete("via proxy").text == "Echo: via proxy"
    assert fake_llm_server.requests[0].path == "http://llm.invalid/v1/chat/completions"


def test_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    assert Transport().verify is True
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tmp_path / "curl.pem"))
    assert Transport().verify == str(tmp_path / "curl.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    assert Transport().verify == str(tmp_path / "ca.pem")
    assert Transport(verify=False).verify is False


def test_user_agent_and_lowercased_response_headers(fake_llm_server: FakeLLMServer) -> None:
    transport = Transport()
    response = transport.send(HttpRequest("POST", fake_llm_server.url + "/nowhere", {"X-Test": "1"}, b"{}"),
                              Timeouts())
    assert response.status_code == 404 and response.headers["content-type"] == "application/json"
    assert all(k == k.lower() for k in response.headers)
    assert fake_llm_server.requests[0].headers["user-agent"] == USER_AGENT
    transport.close()


# -- streams over sockets -----------------------------------------------------------------------
@needs_proc
def test_stream_context_manager_closes_early_and_the_server_sees_it() -> None:
    with FakeLLMServer(chunk_delay=0.05, stream_chunks=40) as server, generic_client(server) as client:
        with client.stream("long answer please") as stream:
            first = next(stream)
            assert first.text or first.raw_finish_reason is None
            assert tcp_ends(server.port) == (1, 1)
        assert tcp_ends(server.port)[0] == 0  # our end is closed at once
        assert eventually(lambda: tcp_ends(server.port) == (0, 0))  # the server's write failed: dropped
        with pytest.raises(StreamError, match="closed before"):
            _ = stream.completion
        assert client.complete("next").text == "Echo: next"


def test_stream_completion_after_consumption(fake_llm_server: FakeLLMServer) -> None:
    client = OpenAIClient("gpt-4o", api_key=KEY, base_url=fake_llm_server.openai_base_url, name="S")
    with client, client.stream("count the words") as stream:
        text = "".join(chunk.text for chunk in stream)
        completion = stream.completion
        assert stream.completion is completion
    assert text == completion.text == "Echo: count the words"
    assert completion.finish_reason == "stop" and completion.usage.total_tokens > 0
    assert completion.request_id and completion.request_id.startswith("req_fake")
    assert completion.model == "gpt-4o" and completion.client_name == "S"
    assert fake_llm_server.requests[0].json()["stream_options"] == {"include_usage": True}
    assert fake_llm_server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_a_finished_stream_gives_its_connection_back_to_the_pool(fake_llm_server: FakeLLMServer) -> None:
    with generic_client(fake_llm_server) as client:
        for i in range(3):
            with client.stream(f"s{i}") as stream:
                assert "".join(c.text for c in stream) == f"Echo: s{i}"
            assert client.complete(f"c{i}").text == f"Echo: c{i}"
    assert fake_llm_server.connections_opened == 1


# -- compressed bodies --------------------------------------------------------------------------
class _Gzip(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        import gzip
        import json

        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if body.get("stream"):
            raw = (b'data: {"choices":[{"index":0,"delta":{"content":"zipped "}}]}\n\n'
                   b'data: {"choices":[{"index":0,"delta":{"content":"stream"},"finish_reason":"stop"}]}\n\n'
                   b"data: [DONE]\n\n")
            ctype = "text/event-stream"
        else:
            raw = json.dumps({"model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": "zipped json"}}]}).encode()
            ctype = "application/json"
        data = gzip.compress(raw)
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_gzip_bodies_are_decoded() -> None:
    # We send Accept-Encoding: gzip, so a compressed JSON answer or stream must be read as text.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gzip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with OpenAIGenericClient("m", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1") as client:
            assert client.complete("hi").text == "zipped json"
            with client.stream("hi") as stream:
                assert "".join(c.text for c in stream) == "zipped stream"
    finally:
        server.shutdown()
        server.server_close()


# -- provider faults over real sockets ----------------------------------------------------------
def test_faults_over_sockets_map_to_typed_errors(fake_llm_server: FakeLLMServer) -> None:
    from llmclient import InvalidRequestError, ProviderError, RateLimitError

    client = OpenAIClient("gpt-4o", api_key=KEY, base_url=fake_llm_server.openai_base_url, name="F")
    with client:
        fake_llm_server.enqueue(Fault.rate_limit(retry_after=3))
        with pytest.raises(RateLimitError) as limited:
            client.complete("x")
        assert limited.value.retry_after == 3.0 and limited.value.request_id

        fake_llm_server.enqueue(Fault.rate_limit(retry_after_ms=1500))
        with pytest.raises(RateLimitError) as limited:
            client.complete("x")
        assert limited.value.retry_after == 1.5

        fake_llm_server.enqueue(Fault.rate_limit(quota=True))
        with pytest.raises(RateLimitError) as quota:
            client.complete("x")
        assert quota.value.retryable is False

        fake_llm_server.enqueue(Fault.status(404))
        with pytest.raises(InvalidRequestError) as missing:
            client.complete("x")
        assert missing.value.status_code == 404 and missing.value.code == "model_not_found"

        fake_llm_server.enqueue(Fault.html(502))
        with pytest.raises(ProviderError) as gateway:
            client.complete("x")
        assert "text/html" in str(gateway.value) and "502 Bad Gateway" in str(gateway.value)

        fake_llm_server.enqueue(Fault.malformed_json())
        with pytest.raises(ProviderError) as malformed:
            client.complete("x")
        assert malformed.value.status_code == 200

        fake_llm_server.enqueue(Fault.error_event(after_chunks=1))
        with pytest.raises(ProviderError) as early:
            client.stream("x")
        assert early.value.status_code == 500 and early.value.client_name == "F"

        fake_llm_server.enqueue(Fault.error_event(after_chunks=3, error_type="rate_limit_exceeded"))
        stream = client.stream("one two three four")
        with pytest.raises(StreamError) as late:
            _ = stream.completion
        assert late.value.partial_text and isinstance(late.value.__cause__, RateLimitError)
        assert late.value.status_code == 429

        fake_llm_server.enqueue(Fault.malformed_json())
        with pytest.raises(ProviderError, match="malformed JSON"):
            client.stream("x")

        fake_llm_server.enqueue(Fault.reset(after_chunks=3))
        stream = client.stream("one two three four")
        with pytest.raises(StreamError) as reset:
            _ = stream.completion
        assert isinstance(reset.value.__cause__, TransportError)

        assert client.complete("healthy").text == "Echo: healthy"
