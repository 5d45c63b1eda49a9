"""The fake server's transport faults over real sockets, read by a bare socket client.

Each test asserts the exact framing that goes out (headers, chunk boundaries, where the bytes
stop) and when the connection closes: a FIN (``recv`` returns b"") or still open.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from raw_http import HELLO, dechunk, split_head

from llmclient.testing import FakeLLMServer, Fault

STREAM = {**HELLO, "stream": True}
CLAUDE_STREAM = {"model": "claude-x", "max_tokens": 50, "stream": True,
                 "messages": [{"role": "user", "content": "hello world"}]}


def assert_close_delimited(headers: dict[str, str]) -> None:
    assert headers["connection"] == "close"
    assert "content-length" not in headers and "transfer-encoding" not in headers


# --- close-delimited answers -------------------------------------------------------------------


def test_close_delimited_fault_on_a_json_answer(server: FakeLLMServer, raw_http: Any) -> None:
    server.enqueue(Fault.close_delimited())
    conn = raw_http(server)
    conn.send()
    status, headers, body = split_head(conn.read_until_eof())
    assert status == "HTTP/1.1 200 OK"
    assert_close_delimited(headers)
    assert json.loads(body)["choices"][0]["message"]["content"] == "Echo: hello world"
    assert server.requests[-1].fault == "close_delimited"


def test_close_delimited_fault_on_a_stream_then_normal_again(server: FakeLLMServer, raw_http: Any) -> None:
    server.enqueue(Fault.close_delimited())
    conn = raw_http(server)
    conn.send(body=STREAM)
    _, headers, body = split_head(conn.read_until_eof())
    assert_close_delimited(headers)
    assert body.startswith(b"data: {") and body.endswith(b"data: [DONE]\n\n")  # raw events, no chunk lines
    again = raw_http(server)
    again.send(body=STREAM)
    _, headers, _ = split_head(again.read_until(b"0\r\n\r\n"))
    assert headers["transfer-encoding"] == "chunked" and "connection" not in headers


@pytest.mark.parametrize("body", [HELLO, STREAM, None])
def test_close_delimited_server_frames_every_answer_that_way(raw_http: Any, body: Any) -> None:
    with FakeLLMServer(close_delimited=True) as fake:
        conn = raw_http(fake)
        if body is None:
            conn.send("GET", "/nowhere", None)
        else:
            conn.send(body=body)
        status, headers, rest = split_head(conn.read_until_eof())
    assert_close_delimited(headers)
    if body is None:
        assert status.startswith("HTTP/1.1 404") and json.loads(rest)["error"]["code"] == "unknown_url"
    elif body is STREAM:
        assert rest.endswith(b"data: [DONE]\n\n")
    else:
        assert json.loads(rest)["object"] == "chat.completion"


# --- trickled headers --------------------------------------------------------------------------


def test_trickle_headers_writes_the_head_in_small_timed_pieces(server: FakeLLMServer, raw_http: Any) -> None:
    server.enqueue(Fault.trickle_headers(piece_bytes=40, every_s=0.15))
    conn = raw_http(server)
    conn.send()
    data = conn.read_until(b"\r\n\r\n")
    head_size = data.index(b"\r\n\r\n") + 4
    _, headers, _ = split_head(data)
    pieces = -(-head_size // 40)
    assert pieces >= 3
    assert len(conn.pieces[0][1]) <= 40  # the first write was one piece, the next came 0.15 s later
    head_done = conn.pieces[-1][0]
    assert head_done - conn.sent_at >= (pieces - 1) * 0.15  # every pause happened (no upper bound asserted)
    _, _, body = conn.read_response()
    assert json.loads(body)["choices"][0]["message"]["content"] == "Echo: hello world"
    assert "connection" not in headers  # a normal keep-alive answer otherwise


def test_trickle_headers_on_a_stream_then_the_normal_body(server: FakeLLMServer, raw_http: Any) -> None:
    server.enqueue(Fault.trickle_headers(piece_bytes=25, every_s=0.01))
    conn = raw_http(server)
    conn.send(body=STREAM)
    _, headers, rest = split_head(conn.read_until(b"0\r\n\r\n"))
    chunks, remainder, ended = dechunk(rest)
    assert headers["transfer-encoding"] == "chunked" and ended and remainder == b""
    assert b"".join(chunks).endswith(b"data: [DONE]\n\n")


def test_a_trickle_pause_wakes_when_the_server_closes(raw_http: Any) -> None:
    fake = FakeLLMServer().start()
    fake.enqueue(Fault.trickle_headers(piece_bytes=1, every_s=60))
    conn = raw_http(fake)
    conn.send()
    conn.read_until(b"H")
    started = time.monotonic()
    fake.close()
    assert conn.closed_within(5.0)
    assert time.monotonic() - started < 5.0
    assert bytes(conn.received) == b"H"


def test_trickle_needs_a_positive_piece_size() -> None:
    with pytest.raises(ValueError, match="piece_bytes"):
        Fault.trickle_headers(piece_bytes=0)


# --- a late FIN --------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body", "last_event"), [
    ("/v1/chat/completions", STREAM, b"data: [DONE]\n\n"),
    ("/v1/messages", CLAUDE_STREAM, b'event: message_stop\ndata: {"type":"message_stop"}\n\n'),
])
def test_late_fin_sends_the_whole_stream_then_keeps_the_connection_open(
        server: FakeLLMServer, raw_http: Any, path: str, body: Any, last_event: bytes) -> None:
    server.enqueue(Fault.late_fin(60))
    conn = raw_http(server)
    conn.send(path=path, body=body)
    data = conn.read_until(last_event)  # everything arrives at once...
    _, headers, rest = split_head(data)
    assert_close_delimited(headers)
    assert not conn.closed_within(0.3)  # ...but no FIN yet
    assert rest.endswith(last_event)
    assert bytes(conn.received) == data  # and nothing more came
    started = time.monotonic()
    server.close()  # the hold wakes up as soon as the server closes
    assert conn.closed_within(5.0) and time.monotonic() - started < 5.0


def test_late_fin_closes_after_the_given_seconds(server: FakeLLMServer, raw_http: Any) -> None:
    server.enqueue(Fault.late_fin(0.3))
    conn = raw_http(server)
    conn.send()
    data = conn.read_until_eof()
    _, headers, body = split_head(data)
    assert_close_delimited(headers)
    assert json.loads(body)["object"] == "chat.completion"
    assert conn.eof_at is not None and conn.eof_at - conn.pieces[0][0] >= 0.3


# --- connections cut inside the headers or a chunk ---------------------------------------------


@pytest.mark.parametrize("body", [HELLO, STREAM])
def test_cut_in_headers_sends_the_status_line_and_part_of_the_headers(
        server: FakeLLMServer, raw_http: Any, body: Any) -> None:
    server.enqueue(Fault.cut_in_headers())
    conn = raw_http(server)
    conn.send(body=body)
    data = conn.read_until_eof()  # a FIN: a reset would raise ConnectionResetError here
    assert data.startswith(b"HTTP/1.1 200 OK\r\nserver: FakeLLMServer\r\n")
    assert b"\r\n\r\n" not in data and len(data) > len(b"HTTP/1.1 200 OK\r\n")
    assert server.requests[-1].fault == "cut_in_headers"


@pytest.mark.parametrize("after", [1, 3])
def test_cut_mid_chunk_inside_the_size_line(server: FakeLLMServer, raw_http: Any, after: int) -> None:
    server.enqueue(Fault.cut_mid_chunk(in_size_line=True, after_chunks=after))
    conn = raw_http(server)
    conn.send(body=STREAM)
    _, headers, rest = split_head(conn.read_until_eof())
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    chunks, remainder, ended = dechunk(rest)
    assert len(chunks) == after and not ended
    assert all(chunk.startswith(b"data: {") for chunk in chunks)
    assert remainder and b"\r\n" not in remainder
    int(remainder, 16)  # only hex digits: the start of a size line


def test_cut_mid_chunk_can_cut_the_terminating_size_line(server: FakeLLMServer, raw_http: Any) -> None:
    server.enqueue(Fault.cut_mid_chunk(in_size_line=True, after_chunks=1000))
    conn = raw_http(server)
    conn.send(body=STREAM)
    chunks, remainder, ended = dechunk(split_head(conn.read_until_eof())[2])
    assert chunks[-1] == b"data: [DONE]\n\n" and remainder == b"0" and not ended


@pytest.mark.parametrize("body", [HELLO, STREAM])
def test_cut_mid_chunk_inside_the_data(server: FakeLLMServer, raw_http: Any, body: Any) -> None:
    server.enqueue(Fault.cut_mid_chunk(after_chunks=1))
    conn = raw_http(server)
    conn.send(body=body)
    _, headers, rest = split_head(conn.read_until_eof())
    assert headers["transfer-encoding"] == "chunked"
    chunks, remainder, ended = dechunk(rest)
    assert not ended
    size_line, _, partial = remainder.partition(b"\r\n")
    assert 0 < len(partial) < int(size_line, 16)
    if body is HELLO:  # the JSON answer is one chunk, and that one is cut
        assert chunks == [] and partial.startswith(b"{")
    else:
        assert len(chunks) == 1 and partial.startswith(b"data: {")


def test_the_server_answers_normally_after_a_cut(server: FakeLLMServer, raw_http: Any) -> None:
    server.enqueue(Fault.cut_in_headers(), Fault.cut_mid_chunk())
    for _ in range(2):
        conn = raw_http(server)
        conn.send(body=STREAM)
        conn.read_until_eof()
    conn = raw_http(server)
    conn.send()
    status, _, body = conn.read_response()
    assert status == "HTTP/1.1 200 OK" and json.loads(body)["object"] == "chat.completion"
    assert [r.fault for r in server.requests] == ["cut_in_headers", "cut_mid_chunk", None]
