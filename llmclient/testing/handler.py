"""The fake server's request handler: read a request, record it, route it, pick a fault, answer.

One :class:`Handler` serves one TCP connection (any number of keep-alive requests) on a
daemon thread of :class:`HTTPServer`. It hands each request to the first wire format in
``formats.FORMATS`` that claims its route and decides *what* to answer (the format's answer,
its error, or a fault's); :class:`~llmclient.testing.responder.Responder` decides how the
bytes travel. Everything provider-specific lives in the formats.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from llmclient.testing import formats
from llmclient.testing.faults import Fault
from llmclient.testing.formats.base import CallError, FakeCall, RecordedRequest, WireFormat, make_reply
from llmclient.testing.responder import Aborted, Responder

if TYPE_CHECKING:
    from llmclient.testing.server import FakeLLMServer

__all__ = ["HTTPServer", "Handler"]

logger = logging.getLogger(__name__)

_UNKNOWN_ROUTE = (
    '{{"error":{{"message":"Invalid URL ({method} {path})","type":"invalid_request_error",'
    '"param":null,"code":"unknown_url"}}}}'
)


class HTTPServer(ThreadingHTTPServer):
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


class Handler(BaseHTTPRequestHandler):
    """Serves one connection: any number of keep-alive requests, each routed to a format."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeLLMServer"
    server: HTTPServer
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
        answer; benchmarks share the CPU with the client under test. HTTP/1.0 connections
        stay open only when the client asks (``Connection: keep-alive``, as ``ab -k`` sends).
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
        tokens = {token.strip() for token in headers.get("connection", "").lower().split(",")}
        self.close_connection = "close" in tokens or (words[2] == "HTTP/1.0" and "keep-alive" not in tokens)
        if words[2] != "HTTP/1.0" and headers.get("expect", "").lower() == "100-continue":
            self.connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def do_POST(self) -> None:
        """Answer one request; every method goes through here (unknown routes get a 404)."""
        out = Responder(self.connection, self.rfile, self.server.fake, keep_alive=not self.close_connection,
                        http10=self.request_version == "HTTP/1.0")
        out.extra_headers = self.server.fake.rate_limit_headers_for(self.path)
        try:
            self._serve(self.server.fake, out)
        except (Aborted, OSError):
            out.close_connection = True
        self.close_connection = out.close_connection

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def _serve(self, fake: FakeLLMServer, out: Responder) -> None:
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
            return out.send(404, {"content-type": "application/json"}, body)
        answer = wire_format.intercept(request, fake)
        if answer is not None:  # e.g. a token endpoint, or a refused token
            fake.requests.append(request)
            return out.send(*answer)
        if fake.api_key is not None and not wire_format.authenticate(request, fake.api_key):
            fake.requests.append(request)
            return _send_error(out, wire_format, 401, seq)
        call: FakeCall | None = None
        error = CallError(400, "Invalid request.", "invalid_request_error")
        try:
            call = wire_format.parse(request, seq)
        except CallError as refusal:
            error = refusal
        fault = fake._plan.pick(path, call.models if call is not None else ())
        fake.requests.append(request if fault is None else replace(request, fault=fault.kind))
        out.fault = fault
        if fault is not None:  # faults that act before (or instead of) the answer
            streaming = call is not None and call.stream
            if fault.kind == "reset" and fault.after_chunks is None:
                out.reset()
            if fault.kind == "stall" or (fault.kind == "stall_mid_stream" and not streaming):
                out.wait(fault.seconds)
                out.fault = fault = None
            elif fault.body is not None:  # html, or a status fault with a literal body
                headers = {"content-type": fault.content_type or "application/octet-stream", **dict(fault.headers)}
                return out.send(fault.status_code, headers, fault.body)
            elif fault.kind == "status" or (fault.kind == "error_event" and not streaming):
                return _send_error(out, wire_format, fault.status_code or 500, seq, fault, call)
        if call is None:
            headers, body = wire_format.error(error.status, error.message, error.error_type, error.code, seq=seq)
            return out.send(error.status, headers, body)
        reply = make_reply(call, fake.stream_chunks)
        if call.stream:
            return out.stream(wire_format, call, list(wire_format.render_stream(call, reply)))
        status, headers, body = wire_format.render_json(call, reply)
        if fault is not None and fault.kind == "malformed_json":
            body = body[: len(body) // 2]
        elif fault is not None and fault.kind == "reset":
            return out.send(status, headers, body, reset_after=len(body) // 2)
        return out.send(status, headers, body)

    def _read_body(self, headers: dict[str, str]) -> bytes:
        """Read a ``Content-Length`` or chunked request body (clients may send either)."""
        if "content-length" in headers:
            try:
                return self.rfile.read(int(headers["content-length"]))
            except ValueError:
                raise Aborted("bad Content-Length") from None
        if "chunked" not in headers.get("transfer-encoding", "").lower():
            return b""
        parts: list[bytes] = []
        while size := int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)
        while self.rfile.readline(65537).strip():  # trailers, then the blank line
            pass
        return b"".join(parts)


def _send_error(
    out: Responder, wire_format: WireFormat, status: int, seq: int, fault: Fault | None = None,
    call: FakeCall | None = None,
) -> None:
    """Send the format's error body for ``status``, adjusted by a fault's fields."""
    model = call.model if call is not None else ""
    message, error_type, code = wire_format.default_error(status, model=model, quota=bool(fault and fault.quota))
    if fault is not None:
        message, error_type = fault.message or message, fault.error_type or error_type
    headers, body = wire_format.error(status, message, error_type, code, seq=seq)
    if fault is not None:
        headers.update(fault.headers)
    out.send(status, headers, body)
