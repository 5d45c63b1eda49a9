"""The Client contract that providers and strategies both implement, and the Stream it returns.

A caller uses ``complete``, ``stream``, ``submit``, ``batch`` and ``close``. A client
implements two hooks, ``invoke`` and ``open_stream``, which take a normalised
:class:`ChatRequest` and a :class:`CallContext` (the call's deadline and the attempts
recorded so far). Composite clients call their children's hooks with the same context,
so one call's attempts and deadline span the whole tree of clients.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass, field
from time import monotonic
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from .errors import LLMError, StreamError
from .models import Attempt, ChatRequest, Chunk, Completion, MessagesInput, ToolCall, Usage, to_messages

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["Client", "CallContext", "Stream", "StreamAccumulator"]


@dataclass
class CallContext:
    """What one top-level call carries through every client it reaches.

    Attributes:
        deadline: ``time.monotonic()`` value after which the call must stop, or None.
        attempts: Every attempt made so far, in order, by any client of the tree.
    """

    deadline: float | None = None
    attempts: list[Attempt] = field(default_factory=list)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None when there is none)."""
        return None if self.deadline is None else self.deadline - monotonic()


class Client(ABC):
    """One blocking interface to a model, whether one provider or a strategy over several.

    Subclasses implement :meth:`invoke` and :meth:`open_stream`; everything else is here.
    A client is thread-safe: share one across threads, which share its connection pool.
    """

    name: str
    provider: str

    def __init__(self, *, name: str, provider: str, runtime: Runtime | None = None) -> None:
        from .runtime import Runtime

        self.name = name
        self.provider = provider
        self._owns_runtime = runtime is None
        self.runtime: Runtime = runtime if runtime is not None else Runtime()

    # -- the two hooks ---------------------------------------------------------------
    @abstractmethod
    def invoke(self, request: ChatRequest, context: CallContext) -> Completion:
        """Answer ``request`` within ``context``; raise an :class:`LLMError` on failure."""

    @abstractmethod
    def open_stream(self, request: ChatRequest, context: CallContext) -> Stream:
        """Start streaming an answer; return once the first content has arrived."""

    # -- what callers use ------------------------------------------------------------
    def complete(self, messages: MessagesInput, **params: Any) -> Completion:
        """Send ``messages`` and block until the whole answer is back.

        Args:
            messages: A prompt string, OpenAI-style message dicts, or ``Message`` objects.
            **params: temperature, max_tokens, top_p, stop, tools, tool_choice,
                response_format, seed; unknown names are passed through to the body;
                a ``None`` value removes a default set in the client's options.
        """
        return self.invoke(ChatRequest(to_messages(messages), params), CallContext())

    def stream(self, messages: MessagesInput, **params: Any) -> Stream:
        """Send ``messages`` and return a :class:`Stream` of chunks.

        Returns once the first content chunk has arrived, so that failures before it
        (an error status, a refused connection, a stall before the first token) can
        still be retried or fallen back on, and never reach the caller half-done.
        """
        return self.open_stream(ChatRequest(to_messages(messages), params), CallContext())

    def submit(self, messages: MessagesInput, **params: Any) -> Future[Completion]:
        """Run :meth:`complete` on the shared thread pool and return its future."""
        return self.runtime.executor.submit(self.complete, messages, **params)

    def batch(self, inputs: Iterable[MessagesInput], *, max_workers: int | None = None,
              return_exceptions: bool = True, progress: Callable[[int, int], None] | None = None,
              **params: Any) -> list[Completion | LLMError]:
        """Complete every input on the shared pool and return the results in input order.

        Args:
            inputs: One ``messages`` value per call.
            max_workers: At most this many calls in flight (default: the pool's size).
            return_exceptions: Put each failure (an ``LLMError``) in its slot instead of
                raising the first one.
            progress: Called as ``progress(done, total)`` after each call finishes.
            **params: Passed to every call.
        """
        items = list(inputs)
        total = len(items)
        window = threading.BoundedSemaphore(max_workers or self.runtime.max_workers)
        lock = threading.Lock()
        done = [0]

        def finished(_: Future[Completion]) -> None:
            window.release()
            with lock:
                done[0] += 1
                count = done[0]
            if progress is not None:
                progress(count, total)

        futures = []
        for item in items:
            window.acquire()
            future = self.runtime.executor.submit(self.complete, item, **params)
            future.add_done_callback(finished)
            futures.append(future)
        results: list[Completion | LLMError] = []
        for future in futures:
            error = future.exception()
            if error is None:
                results.append(future.result())
            elif isinstance(error, LLMError):
                if not return_exceptions:
                    raise error
                results.append(error)
            else:
                raise error
        return results

    def close(self) -> None:
        """Close the connection pool and thread pool, if this client owns them.

        Clients built by a registry share the registry's pools: close the registry.
        """
        if self._owns_runtime:
            self.runtime.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} provider={self.provider!r}>"


class StreamAccumulator:
    """Builds a stream's final text, tool calls, finish reason and usage from its chunks."""

    __slots__ = ("_text", "_refusal", "_thinking", "_calls", "finish_reason", "raw_finish_reason", "usage")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._refusal: list[str] = []
        self._thinking: list[str] = []
        self._calls: dict[int, list[Any]] = {}
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
                    slot = self._calls[delta.index] = [None, None, []]
                if delta.id:
                    slot[0] = delta.id
                if delta.name:
                    slot[1] = delta.name
                if delta.arguments:
                    slot[2].append(delta.arguments)
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
        return bool(self._text or self._calls or self._refusal or self._thinking)

    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls so far, arguments joined per index and parsed."""
        return tuple(ToolCall.from_json_text(slot[0] or f"call_{index}", slot[1] or "", "".join(slot[2]))
                     for index, slot in sorted(self._calls.items()))

    def completion(self, **fields: Any) -> Completion:
        """The final :class:`Completion`; ``fields`` adds model, provider, client_name..."""
        return Completion(
            text=self.text, finish_reason=self.finish_reason, raw_finish_reason=self.raw_finish_reason,
            tool_calls=self.tool_calls(), usage=self.usage or Usage(),
            refusal="".join(self._refusal) or None, thinking="".join(self._thinking) or None, **fields)


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
            finally:
                self.close()  # also when finish refuses the answer (FinishReasonError)
            raise
        except LLMError as err:
            self.close()
            if isinstance(err, StreamError) or not self._acc.has_content:
                raise
            raise StreamError(f"stream failed after content arrived: {err.message}", partial_text=self._acc.text,
                              provider=err.provider, client_name=err.client_name, status_code=err.status_code,
                              request_id=err.request_id, retryable=False, code=err.code) from err
        except BaseException:
            self.close()
            raise
        self._acc.add(chunk)
        return chunk

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
    from .models import ToolCallDelta

    return [Chunk(text=completion.text, finish_reason=completion.finish_reason,
                  raw_finish_reason=completion.raw_finish_reason, usage=completion.usage,
                  refusal=completion.refusal or "", thinking=completion.thinking or "",
                  tool_calls=tuple(ToolCallDelta(i, c.id, c.name, c.raw_arguments or _dumps(c.arguments))
                                   for i, c in enumerate(completion.tool_calls)))]


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value)
