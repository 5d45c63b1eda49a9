"""The Client contract that providers and strategies both implement, and the Stream it returns.

A caller uses ``complete``, ``stream``, ``submit``, ``batch``, ``with_options`` and ``close``.
A client implements two hooks, ``invoke`` and ``open_stream``, which take a normalised
:class:`ChatRequest` and a :class:`CallContext` (the call's deadline, cancel token, event
hooks and the attempts recorded so far). Composite clients call their children's hooks with
the same context, so one call's attempts, deadline and cancellation span the whole tree.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field, fields
from time import monotonic
from typing import TYPE_CHECKING, Any

from . import hooks as _hook_registry
from .errors import CancelledError, LLMError, TokenCountUnavailableError
from .hooks import EventHook, Hooks, as_hooks, emit
from .models import Attempt, ChatRequest, Completion, MessagesInput, Usage, to_messages
from .stream import Stream

if TYPE_CHECKING:
    from .cancel import CancelToken
    from .runtime import Runtime
    from .token_count import TokenCount

__all__ = ["Client", "CallContext", "ConfiguredClient"]


_CALL_IDS = itertools.count(1)


@dataclass
class CallContext:
    """What one top-level call carries through every client it reaches.

    Attributes:
        deadline: ``time.monotonic()`` value after which the call must stop, or None.
        attempts: Every attempt made so far, in order, by any client of the tree.
        cancel: The caller's cancel token, if any.
        hooks: Event hooks to tell what happens (empty: nothing is built for them).
        call_id: Identifies the top-level call in events.
        http: ``options.http`` overrides for every leaf reached (from ``with_options``).
        parent: The context this one was derived from; its deadline bounds this one.
    """

    deadline: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    cancel: CancelToken | None = None
    hooks: tuple[EventHook, ...] = ()
    call_id: int = 0
    http: Mapping[str, Any] | None = None
    parent: CallContext | None = field(default=None, repr=False)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None when there is none), this one's or a parent's."""
        own = None if self.deadline is None else self.deadline - monotonic()
        if self.parent is None:
            return own
        up = self.parent.remaining()
        if own is None or up is None:
            return own if up is None else up
        return min(own, up)

    def derive(self, **changes: Any) -> CallContext:
        """A context for a subtree: these fields changed, the rest (attempts list included) shared."""
        values = {f.name: getattr(self, f.name) for f in fields(CallContext) if f.init}
        values.update(changes, parent=self)
        return CallContext(**values)

    def cancelled_error(self, cause: LLMError | None = None) -> CancelledError | None:
        """A CancelledError if the call was cancelled (``cause``: the failure the abort caused)."""
        if self.cancel is None or not self.cancel.cancelled:
            return None
        error = CancelledError(self.cancel.reason, retryable=False)
        if cause is not None:
            error.with_context(client_name=cause.client_name, provider=cause.provider)
        return error


class Client(ABC):
    """One blocking interface to a model, whether one provider or a strategy over several.

    Subclasses implement :meth:`invoke` and :meth:`open_stream`; everything else is here.
    A client is thread-safe: share one across threads, which share its connection pool.
    """

    name: str
    provider: str
    #: Hooks of this client itself (see :meth:`with_options`); they see every call it makes.
    _own_hooks: tuple[EventHook, ...] = ()

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
                a ``None`` value removes a default set in the client's options. Two names
                are the call's own and never sent: ``cancel`` (a ``CancelToken``) and
                ``on_event`` (a hook, a list of hooks, or a ``Collector``).
        """
        context = self._new_context(params)
        request = ChatRequest(to_messages(messages), params)
        try:
            if not (context.hooks or self._own_hooks):
                return self.invoke(request, context)
            started = monotonic()
            try:
                completion = self.invoke(request, context)
            except LLMError as err:
                self._finished(context, started, None, err)
                raise
        except KeyboardInterrupt:
            self.runtime.interrupt()
            raise
        self._finished(context, started, completion, None)
        return completion

    def stream(self, messages: MessagesInput, **params: Any) -> Stream:
        """Send ``messages`` and return a :class:`Stream` of chunks.

        Returns once the first content chunk has arrived, so that failures before it
        (an error status, a refused connection, a stall before the first token) can
        still be retried or fallen back on, and never reach the caller half-done.
        Takes the same parameters as :meth:`complete`.
        """
        context = self._new_context(params)
        request = ChatRequest(to_messages(messages), params)
        started = monotonic()
        try:
            stream = self.open_stream(request, context)
        except LLMError as err:
            self._finished(context, started, None, err)
            raise
        except KeyboardInterrupt:
            self.runtime.interrupt()
            raise
        return stream.watched(context, context.hooks + self._own_hooks,
                              lambda done, err: self._finished(context, started, done, err))

    def count_tokens(self, messages: MessagesInput, **params: Any) -> TokenCount:
        """How many input tokens ``messages`` would use, asked before the call is made.

        Where the provider offers a count endpoint (Anthropic ``messages/count_tokens``,
        Gemini and Vertex ``countTokens``, Bedrock ``CountTokens``) it is asked, with the
        request signed and sent like any other (retries, timeouts, ``cancel``); OpenAI models
        are counted locally with tiktoken (``pip install 'llmclient[tokens]'``). A composite
        counts with its first member that can. Never an estimate presented as a count.

        Args:
            messages: As for :meth:`complete`.
            **params: As for :meth:`complete` (``tools``, ``model``, ``system``-bearing
                messages... count; sampling parameters are ignored); ``cancel`` is honoured.
                Counts send no events (``on_event`` is refused): they are not chat calls.

        Raises:
            TokenCountUnavailableError: Neither a count endpoint nor a local tokenizer applies.
        """
        if "on_event" in params:
            raise TypeError("count_tokens() takes no on_event: a count is not a chat call and sends no events")
        cancel = params.pop("cancel", None)
        if cancel is not None:
            cancel.raise_if_cancelled()
        request = ChatRequest(to_messages(messages), params)
        try:
            return self.count_request(request, CallContext(cancel=cancel, call_id=next(_CALL_IDS)))
        except KeyboardInterrupt:
            self.runtime.interrupt()
            raise

    def count_request(self, request: ChatRequest, context: CallContext) -> TokenCount:
        """Hook of :meth:`count_tokens`: leaf clients ask their provider, composites a member.

        The default (a client that knows no way to count) raises TokenCountUnavailableError.
        """
        raise TokenCountUnavailableError(f"client {self.name!r} ({type(self).__name__}) cannot count tokens",
                                         client_name=self.name, provider=self.provider)

    def with_options(self, *, http: Mapping[str, Any] | None = None, on_event: Hooks = None,
                     **params: Any) -> Client:
        """A client like this one with default call parameters, ``http`` limits or hooks.

        It shares this client's pools (nothing is rebuilt): ``params`` become defaults of
        every call (a call's own parameters win), ``http`` overrides ``options.http``
        (timeouts, TLS) of every provider reached, and ``on_event`` hooks see every call.
        """
        return ConfiguredClient(self, params=params, http=http, hooks=as_hooks(on_event))

    def _new_context(self, params: dict[str, Any]) -> CallContext:
        cancel = params.pop("cancel", None)
        hooks = self.runtime.hooks + _hook_registry.PROCESS_HOOKS + as_hooks(params.pop("on_event", None))
        if cancel is not None:
            cancel.raise_if_cancelled()
        return CallContext(cancel=cancel, hooks=hooks, call_id=next(_CALL_IDS))

    def _finished(self, context: CallContext, started: float, completion: Completion | None,
                  error: LLMError | None) -> None:
        hooks = context.hooks + self._own_hooks
        if hooks:
            from .events import CallFinished

            emit(hooks, CallFinished(self.name, self.provider, monotonic(), context.call_id, completion,
                                             error, monotonic() - started,
                                             completion.usage if completion is not None else Usage()))

    def submit(self, messages: MessagesInput, **params: Any) -> Future[Completion]:
        """Run :meth:`complete` on the shared thread pool and return its future (a
        :class:`~llmclient.pool_calls.CallFuture`).

        A KeyboardInterrupt while waiting on the future (``result()``, ``exception()``)
        cancels every call the runtime's pool has in flight or queued (see
        :meth:`Runtime.interrupt <llmclient.runtime.Runtime.interrupt>`), so that Ctrl-C
        ends a script at once. Raises :class:`ClientClosedError` after :meth:`close`.
        """
        from .pool_calls import submit

        return submit(self, messages, params)

    def batch(self, inputs: Iterable[MessagesInput], *, max_workers: int | None = None,
              return_exceptions: bool = True, progress: Callable[[int, int], None] | None = None,
              **params: Any) -> list[Completion | LLMError]:
        """Complete every input on the shared pool and return the results in input order.

        If the batch ends early (a KeyboardInterrupt, or the first failure with
        ``return_exceptions=False``), its calls still queued or in flight are cancelled:
        their sockets are shut down, so the program does not wait for stalled requests.

        Args:
            inputs: One ``messages`` value per call.
            max_workers: At most this many calls in flight (default: the pool's size).
            return_exceptions: Put each failure (an ``LLMError``) in its slot instead of
                raising the first one.
            progress: Called as ``progress(done, total)`` after each call finishes. If it
                raises, that is logged once (a warning) and it is not called again.
            **params: Passed to every call.
        """
        from .pool_calls import batch

        return batch(self, list(inputs), max_workers=max_workers, return_exceptions=return_exceptions,
                     progress=progress, params=params)

    def close(self) -> None:
        """Close the connection pool and thread pool, if this client owns them.

        Clients built by a registry share the registry's pools: close the registry.
        """
        if self._owns_runtime:
            self.runtime.close()

    def _share_runtime(self, runtime: Runtime, *, replacing: Runtime | None = None) -> None:
        """Use ``runtime`` instead of a private one never used yet (a hand-built tree of clients).

        ``replacing``: a parent's former runtime, which this client shares (and so may leave).
        """
        own = self.runtime
        if own is runtime or not own.unused or not (self._owns_runtime or own is replacing):
            return
        self.runtime = runtime
        self._owns_runtime = False

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} provider={self.provider!r}>"


class ConfiguredClient(Client):
    """What :meth:`Client.with_options` returns: the same client, with call defaults.

    It shares the wrapped client's runtime and closes nothing of it.
    """

    def __init__(self, inner: Client, *, params: Mapping[str, Any], http: Mapping[str, Any] | None,
                 hooks: tuple[EventHook, ...]) -> None:
        super().__init__(name=inner.name, provider=inner.provider, runtime=inner.runtime)
        self._owns_runtime = False
        self.inner = inner
        self.params = dict(params)
        self.http = dict(http) if http else None
        self._own_hooks = hooks

    def _apply(self, request: ChatRequest, context: CallContext) -> tuple[ChatRequest, CallContext]:
        merged = ChatRequest(request.messages, {**self.params, **request.params})
        http = {**(context.http or {}), **self.http} if self.http else context.http
        return merged, context.derive(http=http, hooks=context.hooks + self._own_hooks)

    def invoke(self, request: ChatRequest, context: CallContext) -> Completion:
        return self.inner.invoke(*self._apply(request, context))

    def open_stream(self, request: ChatRequest, context: CallContext) -> Stream:
        return self.inner.open_stream(*self._apply(request, context))

    def count_request(self, request: ChatRequest, context: CallContext) -> TokenCount:
        merged, derived = self._apply(request, context)
        return self.inner.count_request(merged, derived.derive(hooks=()))
