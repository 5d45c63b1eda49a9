"""StreamingResponse: an answer's body, read as it arrives, within the exchange's deadlines.

Bodies are read with ``read1`` (what is available), never a fixed chunk size, so a stream
sent with a Content-Length is not held back. The ``request`` and ``first_token`` limits are
deadlines kept by the exchange's watchdog entry (see exchange.py); the ``idle`` limit is a
gap between two reads, so it is the socket's timeout once the first byte has arrived. Both
apply to answers sent with ``Connection: close`` too, whose socket http.client has detached
from the connection.

Failures say what happened on the wire: a connection cut inside the headers or before the
body, or inside a chunk, is a retryable :class:`TransportError` naming it, with the
lower layer's exception kept (redacted) as ``__cause__``.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import TYPE_CHECKING

from urllib3.exceptions import InvalidChunkLength, ProtocolError, ReadTimeoutError

from .errors import LLMTimeoutError, TransportError
from .exchange import Exchange, socket_of
from .redaction import RedactedCause, redact_url

if TYPE_CHECKING:
    import requests

    from .transport import Timeouts, Transport

__all__ = ["StreamingResponse", "LIMIT_NAMES", "cut_reason"]

_READ_SIZE = 65536
#: How long the end of a body (a chunked terminator) may take to follow a stream's last event
#: before the connection is closed instead of going back to the pool.
_TAIL_GRACE_S = 0.05
_UNSET = object()

#: The option that sets each limit, by ``LLMTimeoutError.kind``.
LIMIT_NAMES = {"connect": "connect_timeout_ms", "request": "request_timeout_ms",
               "first_token": "time_to_first_token_timeout_ms", "idle": "idle_timeout_ms"}


class StreamingResponse:
    """A response whose body is read as it arrives; close it to release the connection.

    Iterating yields the body's bytes as they come. ``read()`` returns the whole
    (remaining) body, e.g. for an error answer. ``finish_early()`` releases the
    connection once the body's protocol (``[DONE]``, ``message_stop``) says it is over.
    """

    def __init__(self, transport: Transport, raw: requests.Response, exchange: Exchange,
                 timeouts: Timeouts) -> None:
        self.status_code: int = raw.status_code
        self.headers: dict[str, str] = {k.lower(): v for k, v in raw.headers.items()}
        self.url = raw.url
        self._raw = raw
        self._body = raw.raw
        self._transport = transport
        self._exchange = exchange
        self._timeouts = timeouts
        self._sock = socket_of(getattr(raw.raw, "_connection", None))
        self._sock_timeout: object = _UNSET
        #: No length and no chunked framing: the body ends when the server closes.
        self.chunked = bool(getattr(raw.raw, "chunked", False))
        self.close_delimited = not self.chunked and raw.raw.length_remaining is None
        self._got_bytes = False
        self._done = False
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            while True:
                data = self._read1()
                if not data:
                    self._check_not_cut()
                    self._finish()
                    return
                yield data
        finally:
            if not self._done:
                self.close()

    def read(self) -> bytes:
        """Read the rest of the body at once (used for error answers and JSON bodies)."""
        parts = []
        try:
            while True:
                data = self._read1()
                if not data:
                    break
                parts.append(data)
            if not parts:
                self._check_not_cut()
        except BaseException:
            self.close()
            raise
        self._finish()
        return b"".join(parts)

    def finish_early(self) -> None:
        """The body's own protocol says the answer is complete: release the connection now.

        A chunked body's terminator usually follows the last event at once: it is read (for
        at most a moment) so that the connection can go back to the pool. A close-delimited
        body only ends with the server's FIN, which may come late: the connection is closed.
        """
        if self._done or self._closed:
            return
        if not self.close_delimited and self._sock is not None:
            try:
                self._sock.settimeout(_TAIL_GRACE_S)
                if not self._body.read1(_READ_SIZE, decode_content=True) and self._body.isclosed():
                    self._finish()
                    return
            except Exception:  # whatever came (or did not): the connection cannot be reused
                pass
        self.close()

    # -- reading --------------------------------------------------------------------------
    def _read1(self) -> bytes:
        exchange = self._exchange
        idle = self._timeouts.idle if self._got_bytes else None
        if idle is not self._sock_timeout and self._sock is not None:
            try:
                self._sock.settimeout(idle)  # None: deadlines are the watchdog's, not the socket's
            except OSError:
                pass
            self._sock_timeout = idle
        try:
            data: bytes = self._body.read1(_READ_SIZE, decode_content=True)  # we send Accept-Encoding: gzip
        except (ReadTimeoutError, TimeoutError) as exc:
            self.close()
            raise self._timeout(exchange.expired or ("idle" if idle is not None else "request")) \
                from RedactedCause.of(exc)
        except (ProtocolError, OSError, http.client.HTTPException) as exc:  # urllib3's and http.client's
            self.close()
            if exchange.expired is not None:
                raise self._timeout(exchange.expired) from RedactedCause.of(exc)
            raise TransportError(f"{cut_reason(exc, chunked=self.chunked)} while reading the response from "
                                 f"{self._where()}") \
                from RedactedCause.of(exc)
        if exchange.expired is not None:  # the watchdog shut the socket: this is not the body's end
            self.close()
            raise self._timeout(exchange.expired)
        if data and not self._got_bytes:
            self._got_bytes = True
            exchange.got_first_byte = True
        return data

    def _check_not_cut(self) -> None:
        """An empty close-delimited 2xx body is a connection cut inside or right after the headers."""
        if self.close_delimited and not self._got_bytes and 200 <= self.status_code < 300:
            raise TransportError(f"the connection to {self._where()} was cut before the body arrived "
                                 "(inside the headers or right after them)")

    def _timeout(self, kind: str) -> LLMTimeoutError:
        limits = {"connect": self._timeouts.connect, "request": self._timeouts.request,
                  "first_token": self._timeouts.first_token, "idle": self._timeouts.idle}
        ms = round((limits.get(kind) or 0) * 1000)
        return LLMTimeoutError(f"{LIMIT_NAMES[kind]} ({ms} ms) passed while reading from {self._where()}", kind=kind)

    def _where(self) -> str:
        return redact_url(self.url)

    # -- releasing ------------------------------------------------------------------------
    def _finish(self) -> None:
        self._done = True
        self._exchange.end()
        self._body.release_conn()
        self._transport._forget(self)

    def close(self) -> None:
        """Release the connection: back to the pool when the body was read, else closed."""
        if self._closed:
            return
        self._closed = True
        self._exchange.end()
        if not self._done:
            self._body.close()
        self._body.release_conn()
        self._transport._forget(self)

    def __enter__(self) -> StreamingResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cut_reason(exc: BaseException, *, chunked: bool = False) -> str:
    """What a broken read means on the wire, from the exceptions behind a requests/urllib3 error."""
    chain = _chain(exc)
    if any(isinstance(e, (InvalidChunkLength, ValueError)) for e in chain):
        return "the connection was cut inside a chunk's size line"
    incomplete = next((e for e in chain if isinstance(e, http.client.IncompleteRead)), None)
    if incomplete is not None or any(isinstance(e, ProtocolError) and "prematurely" in str(e) for e in chain):
        if chunked:
            return "the connection was cut inside the chunked body (mid-chunk or in a chunk's size line)"
        expected = f", {incomplete.expected} more expected" if incomplete is not None and incomplete.expected else ""
        return f"the connection was cut mid-body{expected}"
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return "the connection was reset by the peer"
    return f"the connection broke ({type(chain[-1]).__name__})"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions behind it (causes, contexts not suppressed, wrapped arguments)."""
    found = [exc]
    while len(found) < 8:
        inner = found[-1]
        first_arg = inner.args[1] if len(inner.args) > 1 else (inner.args[0] if inner.args else None)
        nxt = inner.__cause__ or (None if inner.__suppress_context__ else inner.__context__)
        if nxt is None and isinstance(first_arg, BaseException):
            nxt = first_arg
        if nxt is None or nxt in found:
            break
        found.append(nxt)
    return found
