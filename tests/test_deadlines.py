"""Time limits are deadlines, on every framing a server or proxy uses; cuts say they are cuts.

Each scenario was seen in the field (issue 10): trickled headers outlasting a 1 s limit, a
stall after a close-delimited answer's headers running to the first-read limit, a stream
whose whole answer had arrived waiting for a late FIN, a cut inside the headers reported
as an empty 200. Bounds are generous (twice the limit, or well under a stall the server
holds), never tight windows.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import free_port, generic_client

from llmclient import LLMTimeoutError, OpenAIGenericClient, RetryPolicy, StreamError, TransportError
from llmclient.redaction import RedactedCause
from llmclient.testing import FakeLLMServer, Fault


@pytest.fixture(params=["keep-alive", "close-delimited"])
def framing_server(request: pytest.FixtureRequest) -> Iterator[FakeLLMServer]:
    """The fake server answering with chunked keep-alive bodies, or with Connection: close bodies."""
    with FakeLLMServer(close_delimited=request.param == "close-delimited") as server:
        yield server


def elapsed_of(action: Any) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        action()
    except Exception as exc:  # returned for the test to inspect
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


# -- deadlines across the headers -------------------------------------------------------------
def test_request_timeout_bounds_headers_that_trickle_in(fake_llm_server: FakeLLMServer) -> None:
    # ~200 bytes of headers, 20 every 0.3 s: about 3 s of headers against a 1 s limit.
    fake_llm_server.enqueue(Fault.trickle_headers(piece_bytes=20, every_s=0.3))
    client = generic_client(fake_llm_server, http={"request_timeout_ms": 1000})
    elapsed, error = elapsed_of(lambda: client.complete("x"))
    assert isinstance(error, LLMTimeoutError) and error.kind == "request"
    assert "request_timeout_ms (1000 ms)" in error.message
    assert elapsed < 2.0  # per-read timeouts took 3.3 s here


def test_first_token_timeout_is_a_deadline_from_sending(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.trickle_headers(piece_bytes=20, every_s=0.3))
    client = generic_client(fake_llm_server, http={"time_to_first_token_timeout_ms": 1000})
    elapsed, error = elapsed_of(lambda: client.stream("x"))
    assert isinstance(error, LLMTimeoutError) and error.kind == "first_token"
    assert elapsed < 2.0


def test_trickled_headers_within_the_limit_are_fine(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.trickle_headers(piece_bytes=64, every_s=0.05))
    assert generic_client(fake_llm_server, http={"request_timeout_ms": 10_000}).complete("slow but fine").text == \
        "Echo: slow but fine"


def test_connect_timeout_covers_a_tls_handshake_that_never_ends() -> None:
    # A TCP server that accepts and never speaks: the TLS handshake stalls after the TCP connect.
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    port = listener.getsockname()[1]
    client = OpenAIGenericClient("m", base_url=f"https://127.0.0.1:{port}/v1", http={"connect_timeout_ms": 500})
    try:
        elapsed, error = elapsed_of(lambda: client.complete("x"))
    finally:
        client.close()
        listener.close()
        for sock in accepted:
            sock.close()
    assert isinstance(error, LLMTimeoutError) and error.kind == "connect", error
    assert elapsed < 1.0 * 2


# -- limits after the headers, on both framings --------------------------------------------------
def test_idle_timeout_holds_on_keep_alive_and_close_delimited_streams(framing_server: FakeLLMServer) -> None:
    framing_server.enqueue(Fault.stall_mid_stream(10, after_chunks=2))
    client = generic_client(framing_server, http={"idle_timeout_ms": 500})
    stream = client.stream("one two three")
    last_chunk_at = time.monotonic()
    with pytest.raises(StreamError) as info:
        for _ in stream:
            last_chunk_at = time.monotonic()
    assert time.monotonic() - last_chunk_at < 1.0 * 2  # close-delimited: 6 s after the last chunk before
    assert isinstance(info.value.__cause__, LLMTimeoutError) and info.value.__cause__.kind == "idle"


def test_request_timeout_holds_after_the_headers_on_both_framings(framing_server: FakeLLMServer) -> None:
    framing_server.enqueue(Fault.stall_mid_stream(10, after_chunks=2))
    client = generic_client(framing_server, http={"request_timeout_ms": 1000})
    started = time.monotonic()
    with pytest.raises(StreamError) as info:
        with client.stream("one two three") as stream:
            list(stream)
    assert time.monotonic() - started < 2.0
    assert isinstance(info.value.__cause__, LLMTimeoutError) and info.value.__cause__.kind == "request"


def test_close_delimited_answers_work(framing_server: FakeLLMServer) -> None:
    client = generic_client(framing_server)
    assert client.complete("plain").text == "Echo: plain"
    with client.stream("streamed words") as stream:
        assert "".join(c.text for c in stream) == "Echo: streamed words"
    assert stream.completion.finish_reason == "stop"


# -- a stream ends when its protocol says so ---------------------------------------------------------
def test_a_stream_ends_at_done_without_waiting_for_a_late_fin(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.late_fin(10))
    client = generic_client(fake_llm_server, http={"request_timeout_ms": 3000})
    started = time.monotonic()
    with client.stream("all at once") as stream:
        text = "".join(c.text for c in stream)
    assert text == "Echo: all at once" and stream.completion.finish_reason == "stop"
    assert time.monotonic() - started < 3.0  # before: a StreamError when the 3 s limit passed


def test_the_connection_goes_back_to_the_pool_after_a_chunked_stream(fake_llm_server: FakeLLMServer) -> None:
    client = generic_client(fake_llm_server)
    for _ in range(3):
        with client.stream("reuse me") as stream:
            list(stream)
    assert fake_llm_server.connections_opened == 1


# -- cuts are transport errors that say so ------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_a_cut_inside_the_headers_is_a_retryable_transport_error(fake_llm_server: FakeLLMServer,
                                                                  stream: bool) -> None:
    fake_llm_server.enqueue(Fault.cut_in_headers())
    client = generic_client(fake_llm_server)
    with pytest.raises(TransportError) as info:
        if stream:
            client.stream("x")
        else:
            client.complete("x")
    assert type(info.value) is TransportError and info.value.retryable
    assert "cut" in info.value.message and "empty body" not in info.value.message


def test_a_cut_inside_the_headers_is_retried(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.cut_in_headers())
    client = OpenAIGenericClient("m", base_url=fake_llm_server.openai_base_url,
                                 retry_policy=RetryPolicy(max_retries=1, delay_ms=0))
    reply = client.complete("again")
    assert reply.text == "Echo: again"
    assert [a.outcome for a in reply.attempts] == ["TransportError", "ok"]


@pytest.mark.parametrize("in_size_line", [True, False])
def test_a_chunked_body_cut_mid_chunk_says_the_connection_was_cut(fake_llm_server: FakeLLMServer,
                                                                   in_size_line: bool) -> None:
    fake_llm_server.enqueue(Fault.cut_mid_chunk(in_size_line=in_size_line))
    with pytest.raises(TransportError) as info:
        generic_client(fake_llm_server).complete("x")
    message = info.value.message
    assert "cut inside the chunked body" in message and "invalid literal" not in message
    assert info.value.retryable
    assert isinstance(info.value.__cause__, RedactedCause)  # the lower layer's error, kept (redacted)


def test_a_transport_error_keeps_a_redacted_cause() -> None:
    port = free_port()
    from llmclient import GoogleAIClient

    key = "AIzaSyTRANSPORT-cause-DISTINCTIVE-0123456"
    client = GoogleAIClient("gemini-2.5-flash", api_key=key, base_url=f"http://127.0.0.1:{port}/v1beta",
                            http={"connect_timeout_ms": 2000})
    with pytest.raises(TransportError) as info:
        client.complete("x")
    cause = info.value.__cause__
    assert isinstance(cause, RedactedCause) and ("urllib3" in str(cause) or "requests" in str(cause))
    assert key not in str(cause) and key not in str(info.value)
