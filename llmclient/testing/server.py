"""HTTP plumbing of the fake LLM server: sockets, keep-alive, routing, recording, faults, framing.

:class:`FakeLLMServer` runs a ``ThreadingHTTPServer`` on 127.0.0.1 (one daemon thread per
connection, HTTP/1.1 keep-alive) and hands each request to the first wire format in
``formats.FORMATS`` that claims its route. Everything provider-specific lives in the formats;
this module only frames bytes, applies scripted faults and records what it received.
Streams with no delay and no mid-stream fault are written with one ``sendall``, because
benchmarks stream thousands of events through it on a machine shared with the client.
"""

from __future__ import annotations

import itertools
import logging
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from llmclient.testing import formats
from llmclient.testing.faults import Fault, FaultPlan
from llmclient.testing.formats.base import (
    CallError,
    FakeCall,
    RecordedRequest,
    WireFormat,
    make_reply,
)

__all__ = ["FakeLLMServer"]

logger = logging.getLogger(__name__)

_REASONS = {status.value: status.phrase for status in HTTPStatus}
_LINGER_RST = struct.pack("ii", 1, 0)
_UNKNOWN_ROUTE = (
    '{{"error":{{"message":"Invalid URL ({method} {path})","type":"invalid_request_error",'
    '"param":null,"code":"unknown_url"}}}}'
)


class _Aborted(Exception):
    """The connection is gone (reset by us, or the server is closing): stop serving it."""


class _HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its :class:`FakeLLMServer` and stays quiet."""

    daemon_threads = True
    request_queue_size = 128  # 32 client threads connect at once in benchmarks
    fake: FakeLLMServer

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s ``getfqdn`` call, which can wait on DNS."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects are routine here: log at DEBUG instead of printing a traceback.

        ``socketserver`` calls this from inside its ``except`` block, so the exception is current.
        """
        logger.debug("fake server: connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Serves one connection: any number of keep-alive requests, each routed to a format."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeLLMServer"
    server: _HTTPServer
    raw_requestline: bytes  # set by the base class before parse_request()
    header_dict: dict[str, str]

    def setup(self) -> None:
        """Disable Nagle (events must leave at once) and register the socket for ``close()``."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._connection_opened(self.connection)

    def finish(self) -> None:
        """Unregister the socket once the connection ends."""
        try:
            super().finish()
        finally:
            self.server.fake._connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Route ``http.server``'s own messages (malformed request lines...) to DEBUG."""
        logger.debug("fake server: " + format, *args)

    def parse_request(self) -> bool:
        """Parse the request line and headers into a plain dict (``self.header_dict``).

        Replaces the base class's ``email.parser`` path, which costs more CPU than the whole
        answer; benchmarks share the CPU with the client under test.
        """
        self.command, self.request_version, self.close_connection = "", "HTTP/1.1", True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.send_error(400, "Bad request line")
            return False
        self.command, self.path, self.request_version = words
        headers: dict[str, str] = {}
        while True:
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, colon, value = raw.decode("iso-8859-1").partition(":")
            if not colon or len(raw) > 65536 or len(headers) > 100:
                self.send_error(431 if colon else 400, "Bad header")
                return False
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.header_dict = headers
        connection = headers.get("connection", "").lower()
        self.close_connection = connection == "close" or (words[2] == "HTTP/1.0" and connection != "keep-alive")
        if headers.get("expect", "").lower() == "100-continue":
            self.connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def do_POST(self) -> None:
        """Answer one request; every method goes through here (unknown routes get a 404)."""
        try:
            self._serve(self.server.fake)
        except (_Aborted, OSError):
            self.close_connection = True

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def _serve(self, fake: FakeLLMServer) -> None:
        """Read, record, route, authenticate, pick a fault, answer."""
        path, _, query_string = self.path.partition("?")
        headers = self.header_dict
        request = RecordedRequest(
            method=self.command,
            path=path,
            query=dict(parse_qsl(query_string, keep_blank_values=True)) if query_string else {},
            headers=headers,
            body=self._read_body(headers),
            fault=None,
            received_at=time.monotonic(),
        )
        seq = next(fake._seq)
        wire_format = formats.find_format(self.command, path)
        if wire_format is None:
            fake.requests.append(request)
            body = _UNKNOWN_ROUTE.format(method=self.command, path=path.replace('"', "%22")).encode()
            return self._send(404, {"content-type": "application/json"}, body)
        answer = wire_format.intercept(request, fake)
        if answer is not None:  # e.g. a token endpoint, or a refused token
            fake.requests.append(request)
            return self._send(*answer)
        if fake.api_key is not None and not wire_format.authenticate(request, fake.api_key):
            fake.requests.append(request)
            return self._send_error(wire_format, 401, seq)
        call: FakeCall | None = None
        error = CallError(400, "Invalid request.", "invalid_request_error")
        try:
            call = wire_format.parse(request, seq)
        except CallError as refusal:
            error = refusal
        fault = fake._plan.pick(path, call.models if call is not None else ())
        fake.requests.append(request if fault is None else replace(request, fault=fault.kind))
        if fault is not None:  # faults that act before (or instead of) the answer
            streaming = call is not None and call.stream
            if fault.kind == "reset" and fault.after_chunks is None:
                self._reset()
            if fault.kind == "stall" or (fault.kind == "stall_mid_stream" and not streaming):
                self._wait(fake, fault.seconds)
                fault = None
            elif fault.body is not None:  # html, or a status fault with a literal body
                headers = {"content-type": fault.content_type or "application/octet-stream", **dict(fault.headers)}
                return self._send(fault.status_code, headers, fault.body)
            elif fault.kind == "status" or (fault.kind == "error_event" and not streaming):
                return self._send_error(wire_format, fault.status_code or 500, seq, fault, call)
        if call is None:
            headers, body = wire_format.error(error.status, error.message, error.error_type, error.code, seq=seq)
            return self._send(error.status, headers, body)
        reply = make_reply(call, fake.stream_chunks)
        if call.stream:
            return self._stream(fake, wire_format, call, list(wire_format.render_stream(call, reply)), fault)
        status, headers, body = wire_format.render_json(call, reply)
        if fault is not None and fault.kind == "malformed_json":
            body = body[: len(body) // 2]
        elif fault is not None and fault.kind == "reset":
            headers["content-length"] = str(len(body))
            self._write(self._head(status, headers) + body[: len(body) // 2])
            self._reset()
        return self._send(status, headers, body)

    def _send_error(
        self, wire_format: WireFormat, status: int, seq: int, fault: Fault | None = None, call: FakeCall | None = None
    ) -> None:
        """Send the format's error body for ``status``, adjusted by a fault's fields."""
        model = call.model if call is not None else ""
        message, error_type, code = wire_format.default_error(status, model=model, quota=bool(fault and fault.quota))
        if fault is not None:
            message, error_type = fault.message or message, fault.error_type or error_type
        headers, body = wire_format.error(status, message, error_type, code, seq=seq)
        if fault is not None:
            headers.update(fault.headers)
        self._send(status, headers, body)

    def _stream(
        self, fake: FakeLLMServer, wire_format: WireFormat, call: FakeCall, events: list[bytes], fault: Fault | None
    ) -> None:
        """Write a stream: in one piece when nothing must happen between events, else event by event."""
        after = fault.after_chunks if fault is not None and fault.after_chunks is not None else 1
        pause_at = reset_at = None
        if fault is not None and fault.kind == "error_event":
            events = events[:after] + [wire_format.error_event(fault.error_type or "server_error", fault.message or "")]
        elif fault is not None and fault.kind == "malformed_json":
            events = events[:1] + [wire_format.malformed_event(call)]
        elif fault is not None and fault.kind == "reset":
            reset_at = min(after, len(events))
        elif fault is not None and fault.kind == "stall_mid_stream":
            pause_at = min(after, len(events))
        headers = wire_format.stream_headers(call)
        chunked = not fake.stream_content_length
        if chunked:
            headers["transfer-encoding"] = "chunked"
        else:
            headers["content-length"] = str(sum(map(len, events)))
        head, delay = self._head(200, headers), fake.chunk_delay
        if delay <= 0 and pause_at is None and reset_at is None:  # the fast path: one sendall
            body = b"".join(events)
            if chunked:
                body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
            return self._write(head + body)
        self._write(head)
        for index, event in enumerate([*events, b""]):
            if index == reset_at:
                self._reset()
            if index == pause_at and fault is not None:
                self._wait(fake, fault.seconds)
            elif 0 < index < len(events) and delay > 0:
                self._wait(fake, delay)
            if event:
                self._write(b"%x\r\n%s\r\n" % (len(event), event) if chunked else event)
        if chunked:
            self._write(b"0\r\n\r\n")

    def _read_body(self, headers: dict[str, str]) -> bytes:
        """Read a ``Content-Length`` or chunked request body (clients may send either)."""
        if "content-length" in headers:
            try:
                return self.rfile.read(int(headers["content-length"]))
            except ValueError:
                self.close_connection = True
                raise _Aborted("bad Content-Length") from None
        if "chunked" not in headers.get("transfer-encoding", "").lower():
            return b""
        parts: list[bytes] = []
        while size := int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)
        while self.rfile.readline(65537).strip():  # trailers, then the blank line
            pass
        return b"".join(parts)

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        """The status line and headers (adds ``connection: close`` when the connection ends)."""
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\nserver: FakeLLMServer\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        if self.close_connection:
            lines.append("connection: close\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        headers["content-length"] = str(len(body))
        self._write(self._head(status, headers) + body)

    def _write(self, data: bytes) -> None:
        self.connection.sendall(data)

    def _wait(self, fake: FakeLLMServer, seconds: float) -> None:
        """Sleep, but wake up (and abort the connection) as soon as the server closes."""
        if fake._closed.wait(seconds):
            raise _Aborted("server closed")

    def _reset(self) -> None:
        """Close the connection with a TCP RST (``SO_LINGER`` 0) and abort this request."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            self.rfile.close()  # its reference would otherwise keep the socket open
            self.connection.close()
        except OSError:
            pass
        raise _Aborted("reset")


class FakeLLMServer:
    """A real HTTP server on 127.0.0.1 speaking LLM provider wire formats, with scripted faults.

    Use it as a context manager (or the ``fake_llm_server`` pytest fixture) and point a client
    at :attr:`openai_base_url` or :attr:`url`. Every request is answered deterministically
    (``"Echo: " + <last user message>``) unless a :class:`Fault` is scheduled for it.
    Per request: unknown route -> 404; bad credentials -> 401 (no fault consumed); then a
    queued or random fault, if any; then the format's answer (or its 400 for a bad body).

    Attributes:
        requests: Every request received, in arrival order.
        connections_opened: TCP connections accepted so far (keep-alive checks).

    Args:
        api_key: When set, requests must carry it the provider's way, else 401.
        chunk_delay: Seconds between stream events.
        stream_chunks: When set, every stream has exactly this many content chunks.
        stream_content_length: Send streams with ``Content-Length`` instead of chunked encoding.
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
        stream_chunks: int | None = None,
        stream_content_length: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.chunk_delay = chunk_delay
        self.stream_chunks = stream_chunks
        self.stream_content_length = stream_content_length
        self.requests: list[RecordedRequest] = []
        #: Per-server state of formats that keep some (e.g. trusted keys and issued OAuth tokens).
        self.state: dict[str, Any] = {}
        self.connections_opened = 0
        self._address = (host, port)
        self._plan = FaultPlan()
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "not started"
        return f"<FakeLLMServer {where} requests={len(self.requests)}>"

    def start(self) -> FakeLLMServer:
        """Bind and serve in a background thread; calling it again is a no-op."""
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("this FakeLLMServer is closed; create a new one")
            if self._httpd is None:
                httpd = _HTTPServer(self._address, _Handler)
                httpd.fake = self
                self._thread = threading.Thread(
                    target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                    name=f"FakeLLMServer-{httpd.server_port}", daemon=True,
                )
                self._httpd = httpd
                self._thread.start()
                logger.debug("fake LLM server listening on %s", self.url)
        return self

    def close(self) -> None:
        """Stop accepting, drop open connections (stalled handlers wake up) and free the port."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            httpd, thread = self._httpd, self._thread
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)
        if thread is not None:
            thread.join(timeout=1.0)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The port the server listens on (after :meth:`start`)."""
        if self._httpd is None:
            raise RuntimeError("FakeLLMServer is not started; call start() or use it as a context manager")
        return self._httpd.server_port

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, e.g. for Azure's ``azure_endpoint``."""
        return f"http://{self._address[0]}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``url + "/v1"``: the base URL an OpenAI client needs."""
        return self.url + "/v1"

    def clear(self) -> None:
        """Forget recorded requests and pending (queued and random) faults."""
        self.requests.clear()
        self._plan.clear()

    def enqueue(self, *faults: Fault, match: str | None = None) -> None:
        """Give the next requests these faults, one per request, in order.

        Args:
            *faults: The faults, consumed first-in first-out.
            match: Only requests whose path or model contains this substring consume them.
        """
        self._plan.enqueue(faults, match)

    def random_faults(
        self, rate: float, faults: Sequence[Fault], *, seed: int = 0, match: str | None = None
    ) -> None:
        """Fault each (matching) request with probability ``rate``, choosing among ``faults``.

        The draw is seeded and thread-safe; ``rate=0`` turns it off; queued faults come first.
        """
        self._plan.set_random(rate, faults, seed=seed, match=match)

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections_opened += 1
            self._sockets.add(sock)
            closing = self._closed.is_set()
        if closing:
            _shutdown(sock)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)


def _shutdown(sock: socket.socket) -> None:
    """Shut a connection down both ways so that a handler blocked on it returns."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
