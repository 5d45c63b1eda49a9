"""A bare-socket HTTP client for the fake server's framing and transport-fault tests.

Tests see exactly which bytes arrive, when, and when the server closes, without depending on
llmclient's own transport (whose handling of these faults is tested elsewhere). Imported by
name (``from raw_http import ...``): pytest puts this folder on ``sys.path``.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello world"}]}
#: Generous: no answer in these tests should take more than a fraction of it.
SOCKET_TIMEOUT = 10.0


def split_head(data: bytes) -> tuple[str, dict[str, str], bytes]:
    """``(status line, headers with lower-case names, the bytes after the blank line)``."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, f"no complete header block in {data[:200]!r}"
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def dechunk(body: bytes) -> tuple[list[bytes], bytes, bool]:
    """Parse chunked encoding: ``(complete chunks, the unparsed remainder, saw the last chunk)``."""
    chunks: list[bytes] = []
    while True:
        line, sep, after = body.partition(b"\r\n")
        if not sep:
            return chunks, body, False
        size = int(line.split(b";")[0], 16)
        if size == 0:  # the last chunk; then (no trailers) the final CRLF
            return chunks, after.removeprefix(b"\r\n"), True
        if len(after) < size + 2:
            return chunks, body, False
        chunks.append(after[:size])
        body = after[size + 2:]


@dataclass
class RawConnection:
    """One bare TCP connection to the fake server, every receive timestamped."""

    sock: socket.socket
    received: bytearray = field(default_factory=bytearray)
    pieces: list[tuple[float, bytes]] = field(default_factory=list)
    eof_at: float | None = None
    sent_at: float = 0.0

    def send(self, method: str = "POST", path: str = "/v1/chat/completions", body: Any = HELLO, *,
             version: str = "HTTP/1.1", headers: tuple[str, ...] = ()) -> None:
        """Send one request; ``body`` None sends none, a dict is sent as JSON."""
        data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        lines = [f"{method} {path} {version}", "Host: 127.0.0.1", *headers]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        self.sent_at = time.monotonic()
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)

    def recv(self) -> bytes:
        """One ``recv``; b"" at EOF. A stall beyond the socket timeout fails the test."""
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"the client stalled: nothing arrived for {self.sock.gettimeout()} s "
                        f"after {bytes(self.received)[-200:]!r}")
        now = time.monotonic()
        if data:
            self.received += data
            self.pieces.append((now, data))
        elif self.eof_at is None:
            self.eof_at = now
        return data

    def read_until(self, marker: bytes) -> bytes:
        """Receive until ``marker`` has arrived (fails on EOF first); returns everything so far."""
        while marker not in self.received:
            assert self.recv(), f"EOF before {marker!r}; got {bytes(self.received)[-200:]!r}"
        return bytes(self.received)

    def read_until_eof(self) -> bytes:
        """Receive until the server closes (a FIN; a reset raises ``ConnectionResetError``)."""
        while self.recv():
            pass
        return bytes(self.received)

    def read_response(self) -> tuple[str, dict[str, str], bytes]:
        """Read one ``Content-Length`` answer exactly, leaving the connection usable."""
        self.read_until(b"\r\n\r\n")
        status, headers, rest = split_head(bytes(self.received))
        assert "content-length" in headers, headers
        length = int(headers["content-length"])
        while len(rest) < length:
            assert self.recv(), "EOF inside a Content-Length body"
            status, headers, rest = split_head(bytes(self.received))
        assert len(rest) == length, "more bytes than Content-Length"
        del self.received[:]
        return status, headers, rest

    def closed_within(self, seconds: float) -> bool:
        """Whether the server closes (EOF) within ``seconds``, reading whatever still arrives."""
        self.sock.settimeout(seconds)
        try:
            while self.recv_raw():
                pass
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(SOCKET_TIMEOUT)
        return True

    def recv_raw(self) -> bytes:
        """Like :meth:`recv`, but a timeout raises ``TimeoutError`` instead of failing."""
        data = self.sock.recv(65536)
        if data:
            self.received += data
            self.pieces.append((time.monotonic(), data))
        elif self.eof_at is None:
            self.eof_at = time.monotonic()
        return data
