"""Decode a server-sent-events byte stream into events, incrementally and without I/O.

This module's one responsibility is the WHATWG "Interpreting an event stream" algorithm
(https://html.spec.whatwg.org/multipage/server-sent-events.html): bytes go in, in whatever
pieces the network delivers them, and `ServerSentEvent` values come out. It knows nothing
about providers, JSON, sockets or time; callers decide what an event's data means.

It runs once per network chunk of every streamed response, so it is written for speed: a
chunk that is exactly one `data: ...` event skips line splitting altogether; otherwise bytes
are buffered and split with `bytes.rfind`/`split`, a whole block of complete lines is decoded
in one call, and carriage returns are only normalised when a chunk actually contains one.
"""

from __future__ import annotations

__all__ = ["SSEDecoder", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"


class ServerSentEvent:
    """One dispatched event: a small value object, compared by value.

    A plain `__slots__` class rather than a frozen dataclass because one is built per stream
    chunk and a frozen dataclass costs about six times as much to construct. Treat instances
    as immutable.

    Attributes:
        event: The event type; "message" when the event had no (or an empty) `event:` field.
        data: The event's `data:` lines joined with "\\n".
        id: The last event ID seen so far in the stream. Per WHATWG it persists across events
            until another `id:` field changes it (an empty `id:` sets it to ""); None when no
            `id:` field has been seen.
        retry: This event's `retry:` value in milliseconds if it was a valid integer, else None.
    """

    __slots__ = ("data", "event", "id", "retry")

    def __init__(self, event: str, data: str, id: str | None, retry: int | None) -> None:
        """Store the fields; the decoder builds these, callers rarely need to."""
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry

    def _fields(self) -> tuple[str, str, str | None, int | None]:
        return self.event, self.data, self.id, self.retry

    def __eq__(self, other: object) -> bool:
        """Compare by value, so tests and callers can compare decoded streams."""
        if isinstance(other, ServerSentEvent):
            return self._fields() == other._fields()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable in principle, so not hashable

    def __repr__(self) -> str:
        """Show every field, for test failures and debugging."""
        return f"ServerSentEvent(event={self.event!r}, data={self.data!r}, id={self.id!r}, retry={self.retry!r})"


class SSEDecoder:
    """Incremental server-sent-events decoder: call `feed` per chunk, `finish` at end of body.

    Line ends may be CRLF, LF or CR, also when a CRLF is split across two chunks. A UTF-8 BOM
    at the very start of the stream is dropped. Each complete line is decoded as UTF-8 with
    errors="replace"; only whole lines are decoded, so characters split across chunks survive.

    Deviation from WHATWG, on purpose: the standard discards an event that is not terminated by
    a blank line when the stream ends. Like the official OpenAI and Anthropic SDKs' parsers,
    `finish` is lenient: it processes a final line that lacks a line end and then dispatches any
    pending data, because some servers close the body right after the last `data:` line.

    Attributes:
        stray_lines: Only filled when the decoder was built with `keep_stray_lines=True`: the
            decoded lines that are neither blank, nor a comment, nor a known field (event, data,
            id, retry), in stream order. Some providers (Gemini) send a raw JSON error object
            over several such lines in the middle of a stream; callers can inspect it here.
    """

    __slots__ = (
        "_data",
        "_event",
        "_keep_stray",
        "_last_id",
        "_pending",
        "_retry",
        "_skip_lf",
        "_started",
        "stray_lines",
    )

    def __init__(self, *, keep_stray_lines: bool = False) -> None:
        """Create a decoder for one stream.

        Args:
            keep_stray_lines: Collect unrecognised lines in `stray_lines` instead of ignoring
                them, for callers that must detect errors sent outside the SSE framing.
        """
        self._keep_stray = keep_stray_lines
        self.stray_lines: list[str] = []
        self._reset()

    def _reset(self) -> None:
        """Forget all stream state, as at the start of a new body.

        `_pending`: bytes of the unterminated last line (never a CR). `_skip_lf`: the last
        chunk ended with a CR, so a leading LF in the next one completes that CRLF.
        """
        self._pending: list[bytes] = []
        self._started = False
        self._skip_lf = False
        self._event = ""
        self._data: list[str] = []
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Consume the next chunk of the body.

        Args:
            data: Any number of bytes, split anywhere (inside a line, a CRLF or a character).

        Returns:
            The events completed by these bytes, in order; often empty.
        """
        if not data:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[0] == 0x0A:
                data = data[1:]
                if not data:
                    return []
        if not self._started:
            data = self._strip_bom(data)
            if not data:
                return []
        if (
            not self._pending
            and not self._data
            and data.startswith(b"data: ")
            and data.find(b"\n") == len(data) - 2
            and data[-1] == 0x0A
            and b"\r" not in data
        ):
            # Fast path: one whole chunk holding exactly one `data: ...` event.
            event = ServerSentEvent(
                self._event or "message",
                data[6:-2].decode("utf-8", "replace"),
                self._last_id,
                self._retry,
            )
            self._event = ""
            self._retry = None
            return [event]
        if b"\r" in data:
            # A trailing CR ends its line now (so the event is not held back); remember it
            # so that an LF at the start of the next chunk is not taken as a second line end.
            self._skip_lf = data[-1] == 0x0D
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = data.rfind(b"\n")
        if end < 0:
            self._pending.append(data)
            return []
        if self._pending:
            self._pending.append(data)
            data = b"".join(self._pending)
            end += len(data) - len(self._pending[-1])
            self._pending = []
        if end + 1 < len(data):
            self._pending.append(data[end + 1 :])
        # UTF-8 never uses byte 0x0A inside a multi-byte character, so decoding the block of
        # complete lines at once equals decoding each line on its own, and is much faster.
        return self._process(data[:end].decode("utf-8", "replace").split("\n"))

    def finish(self) -> list[ServerSentEvent]:
        """Finish the stream at end of body and reset the decoder for a new stream.

        Leniently (see the class docstring) processes a final line without line end, then
        dispatches pending data as if a blank line had followed. Afterwards the decoder is as
        new (last event ID included), except that `stray_lines` is kept for the caller.

        Returns:
            The events completed by the end of the body: at most one.
        """
        tail = b"".join(self._pending).decode("utf-8", "replace")
        events = self._process([tail, ""] if tail else [""])
        self._reset()
        return events

    def _strip_bom(self, data: bytes) -> bytes:
        """Drop a BOM at stream start, waiting for up to three bytes to tell.

        Returns:
            The bytes to parse; empty while the stream is still a prefix of a BOM.
        """
        if self._pending:
            data = b"".join(self._pending) + data
            self._pending = []
        if len(data) < len(_BOM) and _BOM.startswith(data):
            self._pending.append(data)
            return b""
        self._started = True
        return data.removeprefix(_BOM)

    def _process(self, lines: list[str]) -> list[ServerSentEvent]:
        """Apply the WHATWG field rules to complete, decoded lines.

        Returns:
            The events dispatched by blank lines among `lines`.
        """
        events: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(
                        ServerSentEvent(
                            self._event or "message",
                            data[0] if len(data) == 1 else "\n".join(data),
                            self._last_id,
                            self._retry,
                        )
                    )
                    data = self._data = []
                self._event = ""
                self._retry = None
            elif line[:6] == "data: ":  # the overwhelmingly common line
                data.append(line[6:])
            elif line[:7] == "event: ":  # named events (Anthropic, OpenAI's Responses API) name every event
                self._event = line[7:]
            else:
                colon = line.find(":")
                if colon == 0:  # comment, e.g. a keep-alive
                    continue
                if colon < 0:
                    field, value = line, ""
                else:
                    field, value = line[:colon], line[colon + 1 :]
                    if value[:1] == " ":
                        value = value[1:]
                if field == "data":
                    data.append(value)
                elif field == "event":
                    self._event = value
                elif field == "id":
                    if "\0" not in value:
                        self._last_id = value
                elif field == "retry":
                    if value.isascii() and value.isdigit():
                        self._retry = int(value)
                elif self._keep_stray:
                    self.stray_lines.append(line)
        return events
