"""Decode an AWS event stream (``application/vnd.amazon.eventstream``) into frames, incrementally.

This module's one responsibility is framing: bytes go in, in whatever pieces the network
delivers them, and :class:`EventFrame` values (headers and raw payload) come out. The binary
format (prelude, headers, payload, two CRC-32 checksums) is parsed by botocore's
``botocore.eventstream.EventStreamBuffer``, imported on first use so that ``import llmclient``
stays cheap. What a frame's payload means (Bedrock's ``contentBlockDelta``...) is the
caller's business. A frame whose checksum does not match raises :class:`ProviderError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ProviderError

__all__ = ["EventFrame", "EventStreamDecoder"]


class EventFrame:
    """One decoded event-stream message.

    Attributes:
        headers: The frame's headers (``:message-type``, ``:event-type``, ``:content-type``,
            ``:exception-type``, ``:error-code``...), values as botocore decodes them.
        payload: The raw payload bytes (JSON for Bedrock).
    """

    __slots__ = ("headers", "payload")

    def __init__(self, headers: Mapping[str, Any], payload: bytes) -> None:
        """Store the fields; the decoder builds these."""
        self.headers = dict(headers)
        self.payload = payload

    @property
    def message_type(self) -> str:
        """``event``, ``exception`` or ``error`` (``event`` when the header is missing)."""
        return str(self.headers.get(":message-type") or "event")

    @property
    def event_type(self) -> str:
        """The ``:event-type`` header (``""`` when absent)."""
        return str(self.headers.get(":event-type") or "")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventFrame) and (self.headers, self.payload) == (other.headers, other.payload)

    def __hash__(self) -> int:
        return hash(self.payload)

    def __repr__(self) -> str:
        return f"EventFrame({self.message_type}:{self.event_type}, {len(self.payload)} bytes)"


class EventStreamDecoder:
    """Feed bytes, get complete frames; pure (no I/O), one instance per response.

    Args:
        provider: The provider named in errors.
    """

    def __init__(self, provider: str = "aws-bedrock") -> None:
        from botocore.eventstream import EventStreamBuffer  # type: ignore[import-untyped]

        self._provider = provider
        self._buffer = EventStreamBuffer()
        self._pending = 0

    def feed(self, data: bytes) -> list[EventFrame]:
        """The frames completed by ``data``.

        Raises:
            ProviderError: A checksum or a length in the prelude is wrong (a corrupted stream).
        """
        if data:
            self._buffer.add_data(data)
            self._pending += len(data)
        return self._drain()

    def finish(self) -> list[EventFrame]:
        """Call at the end of the body: the frames left, and an error if a frame was cut off.

        Raises:
            ProviderError: The body ended inside a frame.
        """
        frames = self._drain()
        if self._pending:
            raise ProviderError(f"the event stream ended inside a frame ({self._pending} bytes left over): "
                                "the connection was closed early", provider=self._provider)
        return frames

    def _drain(self) -> list[EventFrame]:
        from botocore.eventstream import ParserError

        frames: list[EventFrame] = []
        buffer = self._buffer
        while True:
            try:
                message = buffer.next()
            except StopIteration:
                break
            except ParserError as exc:
                raise ProviderError(f"corrupted event-stream frame: {type(exc).__name__}: {exc}",
                                    provider=self._provider) from None
            self._pending -= int(message.prelude.total_length)
            frames.append(EventFrame(message.headers, bytes(message.payload)))
        return frames
