"""Stream: an answer arriving in chunks, and the accumulator that builds its final Completion.

Providers make a Stream from their decoded chunks; composites hand their member's Stream on.
It is iterated once, closed early or late (the connection is released either way), and turns
a failure after content reached the caller into a StreamError carrying the partial text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from time import monotonic
from typing import TYPE_CHECKING, Any

from .errors import LLMError, StreamError
from .hooks import EventHook, emit
from .models import Chunk, Completion, Part, TextPart, ToolCall, ToolCallDelta, Usage

if TYPE_CHECKING:
    from .client import CallContext

__all__ = ["Stream", "StreamAccumulator", "chunks_of"]


class StreamAccumulator:
    """Builds a stream's final text, tool calls, finish reason, usage and reasoning parts.

    Reasoning parts (``Chunk.parts``) are kept in arrival order, ahead of the text, in the
    final message; a :class:`TextPart` with empty text in ``Chunk.parts`` carries the
    signature of the streamed text (Gemini) and is merged into it. A tool-call delta's
    ``signature`` stays with its call.
    """

    __slots__ = ("_text", "_refusal", "_thinking", "_calls", "_parts", "_text_signature", "finish_reason",
                 "raw_finish_reason", "usage")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._refusal: list[str] = []
        self._thinking: list[str] = []
        self._calls: dict[int, list[Any]] = {}
        self._parts: list[Part] = []
        self._text_signature: TextPart | None = None
        self.finish_reason: str | None = None
        self.raw_finish_reason: str | None = None
        self.usage: Usage | None = None

    def add(self, chunk: Chunk) -> None:
        """Fold one chunk in."""
        if chunk.text:
            self._text.append(chunk.text)
        if chunk.tool_calls:
            for delta in chunk.tool_calls:
                slot = self._calls.get(delta.index)
                if slot is None:
                    slot = self._calls[delta.index] = [None, None, [], None, None]
                if delta.id:
                    slot[0] = delta.id
                if delta.name:
                    slot[1] = delta.name
                if delta.arguments:
                    slot[2].append(delta.arguments)
                if delta.signature:
                    slot[3], slot[4] = delta.signature, delta.source
        if chunk.parts:
            for part in chunk.parts:
                if isinstance(part, TextPart) and not part.text:
                    self._text_signature = part
                else:
                    self._parts.append(part)
        if chunk.refusal:
            self._refusal.append(chunk.refusal)
        if chunk.thinking:
            self._thinking.append(chunk.thinking)
        if chunk.raw_finish_reason is not None:
            self.finish_reason = chunk.finish_reason
            self.raw_finish_reason = chunk.raw_finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage

    @property
    def text(self) -> str:
        """The text so far."""
        return "".join(self._text)

    @property
    def has_content(self) -> bool:
        """Whether any text, tool call, refusal or thinking has arrived."""
        return bool(self._text or self._calls or self._refusal or self._thinking or self._parts)

    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls so far, arguments joined per index and parsed (signatures kept)."""
        out = []
        for index, slot in sorted(self._calls.items()):
            call = ToolCall.from_json_text(slot[0] or f"call_{index}", slot[1] or "", "".join(slot[2]))
            if slot[3]:
                call = replace(call, signature=slot[3], source=slot[4])
            out.append(call)
        return tuple(out)

    def parts(self) -> tuple[Part, ...]:
        """The final message's content when the stream carried reasoning state, else ``()``."""
        if not self._parts and self._text_signature is None:
            return ()
        text = self.text
        signed = self._text_signature
        if signed is not None:
            return (*self._parts, replace(signed, text=text))
        return (*self._parts, TextPart(text)) if text else tuple(self._parts)

    def completion(self, **fields: Any) -> Completion:
        """The final :class:`Completion`; ``fields`` adds model, provider, client_name..."""
        return Completion(
            text=self.text, finish_reason=self.finish_reason, raw_finish_reason=self.raw_finish_reason,
            tool_calls=self.tool_calls(), usage=self.usage or Usage(),
            refusal="".join(self._refusal) or None, thinking="".join(self._thinking) or None,
            parts=self.parts(), **fields)


class Stream:
    """An answer arriving in chunks: iterate it, then read ``.completion``.

    Use it as a context manager (or call :meth:`close`) so that a stream left early
    gives its connection back. ``completion`` reads whatever is left, then returns the
    assembled answer. A failure after content has reached you raises
    :class:`StreamError` with the partial text; it is never silently retried.

    Args:
        chunks: The chunks, in order (the first ones may already be buffered).
        finish: Called once at the end with the accumulator; returns the completion.
        close: Releases the connection (idempotent).
    """

    def __init__(self, chunks: Iterator[Chunk], *, finish: Callable[[StreamAccumulator], Completion],
                 close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._finish = finish
        self._close = close
        self._acc = StreamAccumulator()
        self._completion: Completion | None = None
        self._closed = False
        self._context: CallContext | None = None
        self._hooks: tuple[EventHook, ...] = ()
        self._on_done: Callable[[Completion | None, LLMError | None], None] | None = None
        self._chunk_index = 0
        self._source = ("", "")

    def watched(self, context: CallContext, hooks: tuple[EventHook, ...],
                on_done: Callable[[Completion | None, LLMError | None], None]) -> Stream:
        """Tie the stream to its call: chunks and the end are reported to ``hooks``, and a
        cancelled call makes the stream raise CancelledError."""
        self._context = context
        self._hooks = hooks
        self._on_done = on_done if hooks else None
        # The chunks come from the client whose attempt succeeded last (a composite's member).
        answered = next((a for a in reversed(context.attempts) if a.error is None), None)
        if answered is not None:
            self._source = (answered.client_name, answered.provider)
        return self

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> Chunk:
        if self._completion is not None or self._closed:
            raise StopIteration
        try:
            chunk = next(self._chunks)
        except StopIteration:
            try:
                self._completion = self._finish(self._acc)
            except LLMError as err:
                self._done(None, err)
                raise
            finally:
                self.close()  # also when finish refuses the answer (FinishReasonError)
            self._done(self._completion, None)
            raise
        except LLMError as err:
            self.close()
            error: LLMError | None = self._context.cancelled_error(err) if self._context is not None else None
            if error is None and (isinstance(err, StreamError) or not self._acc.has_content):
                error = err
            elif error is None:
                error = StreamError(f"stream failed after content arrived: {err.message}",
                                    partial_text=self._acc.text, provider=err.provider, client_name=err.client_name,
                                    status_code=err.status_code, request_id=err.request_id, retryable=False,
                                    code=err.code)
            self._done(None, error)
            if error is err:
                raise
            raise error from err
        except BaseException:
            self.close()
            raise
        self._acc.add(chunk)
        if self._hooks and self._context is not None:
            from .events import StreamChunk

            emit(self._hooks, StreamChunk(*self._source, monotonic(), self._context.call_id, self._chunk_index,
                                          chunk.text))
            self._chunk_index += 1
        return chunk

    def _done(self, completion: Completion | None, error: LLMError | None) -> None:
        if self._on_done is not None:
            on_done, self._on_done = self._on_done, None
            on_done(completion, error)

    @property
    def text(self) -> str:
        """The text received so far."""
        return self._acc.text

    @property
    def completion(self) -> Completion:
        """The whole answer; reads the rest of the stream first if needed."""
        if self._completion is None:
            if self._closed:
                raise StreamError("the stream was closed before it finished", partial_text=self._acc.text)
            for _ in self:
                pass
        assert self._completion is not None
        return self._completion

    def close(self) -> None:
        """Stop reading and release the connection (closed, unless fully read)."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chunks_of(completion: Completion) -> Sequence[Chunk]:
    """A finished completion as chunks (for clients that cannot stream)."""
    return [Chunk(text=completion.text, finish_reason=completion.finish_reason,
                  raw_finish_reason=completion.raw_finish_reason, usage=completion.usage,
                  refusal=completion.refusal or "", thinking=completion.thinking or "",
                  parts=_state_parts(completion.parts),
                  tool_calls=tuple(ToolCallDelta(i, c.id, c.name, c.raw_arguments or json.dumps(c.arguments),
                                                 c.signature, c.source)
                                   for i, c in enumerate(completion.tool_calls)))]


def _state_parts(parts: Sequence[Part]) -> tuple[Part, ...]:
    """A completion's parts as ``Chunk.parts``: text rides in ``Chunk.text``, its signature as an empty part."""
    out: list[Part] = []
    for part in parts:
        if isinstance(part, TextPart):
            if part.signature:
                out.append(replace(part, text=""))
        else:
            out.append(part)
    return tuple(out)
