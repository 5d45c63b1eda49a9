"""Scripted faults for the fake server: the ``Fault`` value type and the plan that hands them out.

A test says *what* should go wrong (a 429, a reset, a stall, a broken stream) with a
:class:`Fault`; :class:`FaultPlan` decides *which request* gets it, either from a FIFO queue
(:meth:`FaultPlan.enqueue`) or at random with a seeded generator
(:meth:`FaultPlan.set_random`). How a fault is rendered on the wire is the server's and the
wire format's business, not this module's.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

__all__ = ["FAULT_KINDS", "WIRE_FAULT_KINDS", "Fault", "FaultPlan"]

#: The kinds that change only how a normal answer travels (framing, pacing, where it is cut).
WIRE_FAULT_KINDS = frozenset({"close_delimited", "trickle_headers", "late_fin", "cut_in_headers", "cut_mid_chunk"})
#: Every fault kind the server knows how to apply.
FAULT_KINDS = frozenset(
    {"status", "reset", "stall", "stall_mid_stream", "error_event", "malformed_json", "html"} | WIRE_FAULT_KINDS
)
_HTML_PAGE = (
    "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
    "<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def _retry_after_text(seconds: float) -> str:
    """Format seconds the way servers do: ``"2"`` for whole seconds, ``"1.5"`` otherwise."""
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


@dataclass(frozen=True)
class Fault:
    """One thing that goes wrong with one request; build it with the constructors below.

    Fields not used by a kind keep their defaults. The value is immutable and hashable, so the
    same fault can be enqueued many times or shared between threads.

    Attributes:
        kind: ``"status"``, ``"reset"``, ``"stall"``, ``"stall_mid_stream"``, ``"error_event"``,
            ``"malformed_json"``, ``"html"``, or one of :data:`WIRE_FAULT_KINDS`
            (``"close_delimited"``, ``"trickle_headers"``, ``"late_fin"``, ``"cut_in_headers"``,
            ``"cut_mid_chunk"``).
        status_code: The HTTP status for ``status`` and ``html`` faults.
        headers: Extra response headers, as ``(name, value)`` pairs.
        body: A literal response body; None lets the wire format write its own error body.
        content_type: The content type of ``body``.
        seconds: How long a stall lasts; for ``trickle_headers`` the pause between two pieces;
            for ``late_fin`` how long the connection stays open after the answer.
        after_chunks: How many stream events go out before the fault strikes
            (for OpenAI the first event is the role chunk). None on ``reset`` means "before
            any byte of the response".
        piece_bytes: For ``trickle_headers``: how many header bytes each write carries.
        in_size_line: For ``cut_mid_chunk``: cut inside a chunk-size line (else inside the data).
        error_type: The provider error type of an ``error_event`` (or a default-body override).
        message: The message of an ``error_event`` (or a default-body override).
        quota: For a 429: a quota/billing error (not retryable) instead of a rate limit.
    """

    kind: str
    status_code: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str | None = None
    seconds: float = 0.0
    after_chunks: int | None = None
    error_type: str | None = None
    message: str | None = None
    quota: bool = False
    piece_bytes: int = 0
    in_size_line: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.seconds < 0 or (self.after_chunks is not None and self.after_chunks < 0):
            raise ValueError("seconds and after_chunks must not be negative")
        if self.kind == "trickle_headers" and (isinstance(self.piece_bytes, bool) or self.piece_bytes < 1):
            raise ValueError(f"trickle_headers needs piece_bytes >= 1, got {self.piece_bytes!r}")

    @classmethod
    def status(
        cls,
        code: int,
        *,
        headers: dict[str, str] | None = None,
        body: str | bytes | dict[str, Any] | None = None,
    ) -> Fault:
        """Answer with HTTP ``code``; use it for any error status a client must classify.

        Args:
            code: The HTTP status.
            headers: Extra response headers (e.g. ``{"x-should-retry": "false"}``).
            body: A literal body (a dict is sent as JSON); None sends the wire format's own
                error body for that status.
        """
        raw = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(body, str) else body
        content_type = None
        if raw is not None:
            looks_json = raw.lstrip()[:1] in (b"{", b"[")
            content_type = "application/json" if looks_json else "text/plain; charset=utf-8"
        pairs = tuple((k.lower(), v) for k, v in (headers or {}).items())
        return cls("status", status_code=code, headers=pairs, body=raw, content_type=content_type)

    @classmethod
    def rate_limit(
        cls, retry_after: float | None = 0, *, retry_after_ms: int | None = None, quota: bool = False
    ) -> Fault:
        """Answer 429, with the retry hints a client's backoff should honour.

        Args:
            retry_after: Seconds for the ``Retry-After`` header; None omits the header.
            retry_after_ms: Milliseconds for the ``retry-after-ms`` header; None omits it.
            quota: Send the format's "quota exhausted" error (OpenAI ``insufficient_quota``),
                which clients must not retry.
        """
        pairs: list[tuple[str, str]] = []
        if retry_after is not None:
            pairs.append(("retry-after", _retry_after_text(retry_after)))
        if retry_after_ms is not None:
            pairs.append(("retry-after-ms", str(int(retry_after_ms))))
        return cls("status", status_code=429, headers=tuple(pairs), quota=quota)

    @classmethod
    def server_error(cls, code: int = 500) -> Fault:
        """Answer a 5xx with the format's own error body; the usual retryable failure."""
        return cls("status", status_code=code)

    @classmethod
    def reset(cls, *, after_chunks: int | None = None) -> Fault:
        """Drop the connection with a TCP RST (``SO_LINGER`` 0).

        Args:
            after_chunks: None resets right after the request is read (the client sees a
                connection error). An int sends the headers and that many stream events first
                (on a non-stream request: the headers and half the body), then resets.
        """
        return cls("reset", after_chunks=after_chunks)

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before the first response byte, then answer normally (read timeouts)."""
        return cls("stall", seconds=seconds)

    @classmethod
    def stall_mid_stream(cls, seconds: float, *, after_chunks: int = 1) -> Fault:
        """Send the headers and ``after_chunks`` stream events, wait, then finish normally.

        On a non-stream request it behaves like :meth:`stall`.
        """
        return cls("stall_mid_stream", seconds=seconds, after_chunks=after_chunks)

    @classmethod
    def error_event(
        cls,
        *,
        after_chunks: int = 1,
        error_type: str = "server_error",
        message: str = "The server had an error while processing your request.",
    ) -> Fault:
        """Send ``after_chunks`` stream events, then the format's in-stream error event, then end.

        The HTTP status is already 200 when the error arrives, as with real providers. On a
        non-stream request it is answered as a 500.
        """
        return cls("error_event", after_chunks=after_chunks, error_type=error_type, message=message)

    @classmethod
    def context_window(cls, *, in_stream: bool = False, after_chunks: int = 1) -> Fault:
        """Answer with the provider's own "the prompt is too long" error (a 400 on every provider).

        Each wire format writes its provider's exact body (OpenAI's ``context_length_exceeded``,
        Anthropic's "prompt is too long", Gemini's "input token count exceeds", Bedrock's
        ``ValidationException``), so a client must raise ``ContextWindowExceededError``.

        Args:
            in_stream: Send it as the format's in-stream error event after ``after_chunks``
                events of a 200 stream instead (a non-stream request still gets the 400).
            after_chunks: For ``in_stream``: how many events go out first.
        """
        from llmclient.testing.formats.base import CONTEXT_WINDOW

        if in_stream:
            return cls("error_event", status_code=400, after_chunks=after_chunks, error_type=CONTEXT_WINDOW)
        return cls("status", status_code=400, error_type=CONTEXT_WINDOW)

    @classmethod
    def malformed_json(cls) -> Fault:
        """Send a 200 whose JSON is cut short (a stream: one broken event after the first)."""
        return cls("malformed_json")

    @classmethod
    def html(cls, status: int = 502) -> Fault:
        """Answer with an nginx-style HTML error page, as a gateway in front of the API would."""
        try:
            title = f"{status} {HTTPStatus(status).phrase}"
        except ValueError:
            title = f"{status} Error"
        page = _HTML_PAGE.format(title=title).encode()
        return cls("html", status_code=status, body=page, content_type="text/html")

    # -- faults of the transport: the answer is right, the way it travels is not ----------------

    @classmethod
    def close_delimited(cls) -> Fault:
        """Send the normal answer with ``Connection: close``, no ``Content-Length`` and no chunks.

        The body (JSON or a whole stream) ends only when the server closes the connection, as
        with HTTP/1.0 servers and some reverse proxies; a client must read to EOF. For every
        answer of a server use ``FakeLLMServer(close_delimited=True)`` instead.
        """
        return cls("close_delimited")

    @classmethod
    def trickle_headers(cls, piece_bytes: int = 20, every_s: float = 0.3) -> Fault:
        """Write the status line and headers ``piece_bytes`` at a time, ``every_s`` apart, then the body.

        A slow or congested link, or a proxy that flushes small writes: a client's connect or
        first-byte timeout must not fire while bytes keep coming, and its whole-request
        deadline must still hold.
        """
        return cls("trickle_headers", piece_bytes=piece_bytes, seconds=every_s)

    @classmethod
    def late_fin(cls, seconds: float) -> Fault:
        """Write the whole answer at once, close-delimited, then keep the connection open ``seconds``.

        The stream's final event (``[DONE]``, ``message_stop``...) is there at once, but with
        no length and no chunked terminator the end of the body is the FIN, which comes late:
        a client that stops at the final event answers at once, one that reads to EOF waits.
        """
        return cls("late_fin", seconds=seconds)

    @classmethod
    def cut_in_headers(cls) -> Fault:
        """Send the status line and part of the headers, then close the connection (a FIN).

        What a crashing upstream or a proxy timeout looks like: the client has a status but
        never a complete header block, and must report a connection error.
        """
        return cls("cut_in_headers")

    @classmethod
    def cut_mid_chunk(cls, *, in_size_line: bool = False, after_chunks: int = 1) -> Fault:
        """Send a chunked answer and close the connection (a FIN) in the middle of a chunk.

        Args:
            in_size_line: Cut inside the next chunk's size line (its first hex digits, no
                CRLF); False cuts inside the chunk's data (the size line and half the data).
            after_chunks: How many complete stream events (one chunk each) go out first. A
                JSON answer is sent chunked, as one chunk, and that chunk is cut.
        """
        return cls("cut_mid_chunk", after_chunks=after_chunks, in_size_line=in_size_line)


class FaultPlan:
    """Decides which request gets which fault; shared by all handler threads.

    Queued faults are handed out first, one per request, in FIFO order among the entries whose
    ``match`` fits the request; then, if a random rate is set, a seeded draw decides.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[tuple[Fault, str | None]] = []
        self._rate = 0.0
        self._choices: tuple[Fault, ...] = ()
        self._random_match: str | None = None
        self._rng = random.Random(0)

    def enqueue(self, faults: Sequence[Fault], match: str | None = None) -> None:
        """Append ``faults`` to the queue; with ``match`` only matching requests consume them."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"expected a Fault, got {type(fault).__name__}")
        with self._lock:
            self._queue.extend((fault, match) for fault in faults)

    def set_random(
        self, rate: float, faults: Sequence[Fault], *, seed: int = 0, match: str | None = None
    ) -> None:
        """Fault each matching request with probability ``rate``; ``rate=0`` turns it off."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if rate > 0 and not faults:
            raise ValueError("random faults need at least one Fault to choose from")
        with self._lock:
            self._rate = float(rate)
            self._choices = tuple(faults)
            self._random_match = match
            self._rng = random.Random(seed)

    def clear(self) -> None:
        """Forget queued faults and switch random faults off."""
        with self._lock:
            self._queue.clear()
            self._rate = 0.0
            self._choices = ()

    def pick(self, path: str, models: Sequence[str]) -> Fault | None:
        """Return the fault for one request, or None; called once per routed request.

        Args:
            path: The request path (without the query).
            models: The model names the request names (body and/or path), for ``match``.
        """
        if not self._queue and not self._rate:  # the common case: no lock taken
            return None
        with self._lock:
            for i, (fault, match) in enumerate(self._queue):
                if _matches(match, path, models):
                    del self._queue[i]
                    return fault
            if (
                self._rate
                and _matches(self._random_match, path, models)
                and self._rng.random() < self._rate
            ):
                return self._rng.choice(self._choices)
        return None


def _matches(match: str | None, path: str, models: Sequence[str]) -> bool:
    """Whether a ``match`` substring selects a request (None selects every request)."""
    return match is None or match in path or any(match in model for model in models)
