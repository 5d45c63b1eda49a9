"""How the fake server puts one answer on the wire: framing, keep-alive and the byte-level faults.

The request handler (:mod:`llmclient.testing.handler`) decides *what* to answer; a
:class:`Responder` decides *how the bytes travel*. Framing: JSON answers carry
``Content-Length``; streams are chunked, or carry a ``Content-Length``
(``stream_content_length``), or are close-delimited (``Connection: close`` and the body ends
with the connection) for HTTP/1.0 clients, with ``close_delimited=True`` on the server, and
under the ``close_delimited`` and ``late_fin`` faults. The faults that act on bytes (resets
and stalls mid-answer, trickled headers, cuts inside the headers or a chunk, a late FIN) are
applied here. Every pause goes through :meth:`Responder.wait`, which wakes up as soon as the
server closes. Streams with no delay and no mid-stream fault are written with one
``sendall``, because benchmarks stream thousands of events through it.
"""

from __future__ import annotations

import socket
import struct
from http import HTTPStatus
from io import BufferedIOBase
from typing import TYPE_CHECKING, NoReturn

from llmclient.testing.faults import Fault
from llmclient.testing.formats.base import FakeCall, WireFormat

if TYPE_CHECKING:
    from llmclient.testing.server import FakeLLMServer

__all__ = ["Aborted", "Responder"]

_REASONS = {status.value: status.phrase for status in HTTPStatus}
_LINGER_RST = struct.pack("ii", 1, 0)


class Aborted(Exception):
    """The connection is gone (reset or cut by a fault, or the server is closing): stop serving it."""


class Responder:
    """Writes the answer to one request on one connection.

    Attributes:
        fault: The fault picked for this request (set by the handler once it is known), or None.
        close_connection: Whether the connection must close after this answer; the handler
            reads it back (close-delimited framing sets it).

    Args:
        sock: The connection.
        rfile: The handler's buffered reader on ``sock``; closed with it on a reset.
        fake: The server, for its options and its "closing" event.
        keep_alive: Whether the client may send another request on this connection.
        http10: Whether the client spoke HTTP/1.0 (no chunked encoding; keep-alive only when
            asked for, and then confirmed with ``Connection: keep-alive``).
    """

    def __init__(self, sock: socket.socket, rfile: BufferedIOBase, fake: FakeLLMServer, *,
                 keep_alive: bool, http10: bool) -> None:
        self.sock, self.rfile, self.fake = sock, rfile, fake
        self.close_connection = not keep_alive
        self.http10 = http10
        self.fault: Fault | None = None
        #: Headers added to the answer (the server's ``rate_limit_headers``).
        self.extra_headers: dict[str, str] = {}

    @property
    def _kind(self) -> str | None:
        return self.fault.kind if self.fault is not None else None

    def framing(self, *, stream: bool) -> str:
        """``"length"``, ``"chunked"`` or ``"close"`` (close-delimited) for this answer."""
        kind = self._kind
        if kind == "cut_mid_chunk":
            return "chunked"
        if kind in ("close_delimited", "late_fin") or self.fake.close_delimited:
            return "close"
        if not stream or self.fake.stream_content_length:
            return "length"
        return "close" if self.http10 else "chunked"

    # -- answers ----------------------------------------------------------------------------

    def send(self, status: int, headers: dict[str, str], body: bytes, *, reset_after: int | None = None) -> None:
        """Send a whole (non-stream) answer; ``reset_after`` bytes of body, then a TCP RST, if given."""
        framing = self.framing(stream=False)
        if framing == "chunked":  # only under cut_mid_chunk: the body is one chunk, and it is cut
            headers["transfer-encoding"] = "chunked"
            self._emit(self.head(status, headers), b"")
            self._cut_chunk(body)
        if framing == "length":
            headers["content-length"] = str(len(body))
        else:
            self.close_connection = True
        head = self.head(status, headers)
        if reset_after is not None:
            self.write(head + body[:reset_after])
            self.reset()
        self._emit(head, body)
        self._finish()

    def stream(self, wire_format: WireFormat, call: FakeCall, events: list[bytes]) -> None:
        """Write a stream: in one piece when nothing must happen between events, else event by event."""
        fault, kind = self.fault, self._kind
        after = fault.after_chunks if fault is not None and fault.after_chunks is not None else 1
        pause_at = reset_at = cut_at = None
        if fault is not None and kind == "error_event":
            events = events[:after] + [wire_format.error_event(fault.error_type or "server_error", fault.message or "")]
        elif kind == "malformed_json":
            events = events[:1] + [wire_format.malformed_event(call)]
        elif kind == "reset":
            reset_at = min(after, len(events))
        elif kind == "stall_mid_stream":
            pause_at = min(after, len(events))
        elif fault is not None and kind == "cut_mid_chunk":  # the terminator's "0" line can be cut too
            cut_at = min(after, len(events) if fault.in_size_line else len(events) - 1)
        headers = wire_format.stream_headers(call)
        framing = self.framing(stream=True)
        if framing == "chunked":
            headers["transfer-encoding"] = "chunked"
        elif framing == "length":
            headers["content-length"] = str(sum(map(len, events)))
        else:
            self.close_connection = True
        chunked = framing == "chunked"
        head = self.head(200, headers)
        delay = 0.0 if kind == "late_fin" else self.fake.chunk_delay
        if delay <= 0 and pause_at is None and reset_at is None and cut_at is None:  # the fast path
            body = b"".join(events)
            if chunked:
                body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
            self._emit(head, body)
            return self._finish()
        self._emit(head, b"")
        for index, event in enumerate([*events, b""]):
            if index == reset_at:
                self.reset()
            if index == cut_at:
                self._cut_chunk(event)
            if index == pause_at and fault is not None:
                self.wait(fault.seconds)
            elif 0 < index < len(events) and delay > 0:
                self.wait(delay)
            if event:
                self.write(b"%x\r\n%s\r\n" % (len(event), event) if chunked else event)
        if chunked:
            self.write(b"0\r\n\r\n")
        self._finish()

    def head(self, status: int, headers: dict[str, str]) -> bytes:
        """The status line and headers, with the ``connection`` header the framing calls for."""
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\nserver: FakeLLMServer\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        lines.extend(f"{name}: {value}\r\n" for name, value in self.extra_headers.items() if name not in headers)
        if self.close_connection:
            lines.append("connection: close\r\n")
        elif self.http10:  # HTTP/1.0 keep-alive must be confirmed, else the client waits for EOF
            lines.append("connection: keep-alive\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    # -- the byte-level faults ------------------------------------------------------------------

    def _emit(self, head: bytes, body: bytes) -> None:
        """Write the head (trickled, or cut, if the fault says so), then ``body``."""
        fault, kind = self.fault, self._kind
        if fault is not None and kind == "trickle_headers":
            for start in range(0, len(head), fault.piece_bytes):
                if start:
                    self.wait(fault.seconds)
                self.write(head[start:start + fault.piece_bytes])
            if body:
                self.write(body)
        elif kind == "cut_in_headers":
            status_end = head.index(b"\r\n") + 2
            self.write(head[: status_end + max(1, (len(head) - 2 - status_end) // 2)])
            self._cut()
        else:
            self.write(head + body)

    def _cut_chunk(self, data: bytes) -> NoReturn:
        """Write the start of one chunk (part of its size line, or the line and half the data), then close."""
        size = b"%x" % len(data)
        if self.fault is not None and self.fault.in_size_line:
            self.write(size[: max(1, len(size) // 2)])
        else:
            self.write(size + b"\r\n" + data[: max(1, len(data) // 2)])
        self._cut()

    def _finish(self) -> None:
        """After a complete answer: under ``late_fin``, hold the connection open before it closes."""
        if self.fault is not None and self._kind == "late_fin":
            self.close_connection = True
            self.wait(self.fault.seconds)

    def _cut(self) -> NoReturn:
        """End the connection with a FIN (the handler closes it) and abort this request."""
        self.close_connection = True
        raise Aborted("cut")

    # -- primitives -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send ``data`` whole."""
        self.sock.sendall(data)

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up (and abort the connection) as soon as the server closes."""
        if self.fake._closed.wait(seconds):
            raise Aborted("server closed")

    def reset(self) -> NoReturn:
        """Close the connection with a TCP RST (``SO_LINGER`` 0) and abort this request."""
        self.close_connection = True
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            self.rfile.close()  # its reference would otherwise keep the socket open
            self.sock.close()
        except OSError:
            pass
        raise Aborted("reset")
