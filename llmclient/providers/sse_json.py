"""SseJsonDecoder: the skeleton of a decoder for SSE events holding JSON (OpenAI, Anthropic).

Written once: SSE framing (:mod:`llmclient.wire.sse`), the deferred-error rule and JSON
events (:class:`~llmclient.providers.base.JsonEventDecoder`), the end-of-body rule (a stream
must reach its end marker, else it was cut), and a body that held no event at all read as the
provider's non-stream answer or error (:class:`~llmclient.providers.plain_body.PlainBody`).
A provider's decoder supplies :meth:`SseJsonDecoder.decode_event` and its end marker.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..errors import LLMError, ProviderError
from ..models import Chunk
from ..wire.sse import ServerSentEvent, SSEDecoder
from .base import JsonEventDecoder
from .plain_body import PlainBody, ReadsAnswers, completion_chunks

__all__ = ["SseJsonDecoder", "AnswersStreams"]


class AnswersStreams(ReadsAnswers, Protocol):
    """What :class:`SseJsonDecoder` needs of its adapter: its name and how it reads answers and errors."""

    provider: str


class SseJsonDecoder(JsonEventDecoder):
    """SSE events of JSON to chunks, for one streamed answer.

    Attributes:
        end_marker: How the protocol marks its end, for the "ended before ..." error.
        answer_field: The list field that makes a plain JSON body the provider's answer.

    Args:
        adapter: Reads a plain body's answer or error (``parse_response``, ``error_from``).
        secrets: Credentials the request carried, scrubbed from messages.
    """

    end_marker = "its end marker"
    answer_field = ""

    def __init__(self, adapter: AnswersStreams, secrets: tuple[str, ...]) -> None:
        super().__init__(adapter.provider, secrets)
        self._adapter = adapter
        self._sse = SSEDecoder(keep_stray_lines=True)
        self._plain = PlainBody(adapter.provider, secrets)
        self._seen_events = False

    def feed(self, data: bytes) -> list[Chunk]:
        return self._chunks(self._sse.feed(data))

    def finish(self) -> list[Chunk]:
        out = self._chunks(self._sse.finish())
        if not self.done and not self.finished():
            plain = self._plain_body()
            if plain is not None:
                return out + plain
            raise ProviderError(f"the stream ended before {self.end_marker}: the connection was closed early",
                                provider=self.provider)
        return out + self.tail()

    def decode_event(self, event: ServerSentEvent) -> Chunk | None:
        """Hook: the chunk one event stands for (None for none); raises for an error event."""
        raise NotImplementedError

    def event_error(self, error: Any) -> LLMError:
        """The typed error of an error event's ``error`` value (an object, or a bare message)."""
        return self._adapter.error_from(error if isinstance(error, dict) else {"message": str(error)},
                                        response=None, secrets=self._secrets)

    def finished(self) -> bool:
        """Hook: whether the answer's finish was decoded (a body may then end without the marker)."""
        return False

    def tail(self) -> list[Chunk]:
        """Hook: chunks to add at the end of a complete stream (e.g. usage the server never sent)."""
        return []

    def _plain_body(self) -> list[Chunk] | None:
        """The chunks of a body that held no event (the provider's non-stream JSON); raises for
        an error JSON or any other text; None when there was nothing but events."""
        if self._seen_events or not self._plain.lines:
            return None
        completion = self._plain.answer(self._adapter, self.answer_field)
        self.model, self.response_id = completion.model, completion.response_id
        return completion_chunks(completion)

    def _chunks(self, events: list[Any]) -> list[Chunk]:
        if self._sse.stray_lines:
            if self._seen_events:
                self._sse.stray_lines.clear()
            else:
                self._plain.take(self._sse.stray_lines)
        if events:
            self._seen_events = True
        return self._decode(events, self.decode_event)
