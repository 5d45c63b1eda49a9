"""Where composite clients run their members' attempts: deadlines, hedging and the internal executor.

A composite client (fallback, round-robin) runs a member inline on the caller's thread
unless it needs to stop waiting for it: with ``total_timeout_ms`` (to answer at the
deadline even while a read is blocked) or ``hedge_after_ms`` (to start the next member
beside a slow one). Then each member runs as a :class:`Branch` on the runtime's *internal*
executor, kept apart from ``runtime.executor`` so that a ``batch()`` filling the shared pool
cannot starve it, inside an :class:`~llmclient.abort.AbortScope`, so that an abandoned branch
(a hedge that lost, an attempt past the deadline) has its sockets shut down at once. Each
branch records its attempts in its own list, merged into the call's in the order the
branches end, so that ``Completion.attempts`` never changes after the call returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import fields, replace
from time import monotonic
from typing import Any

from ..abort import AbortScope
from ..client import CallContext, Client
from ..errors import CancelledError, ClientClosedError, FinishReasonError, LLMError, LLMTimeoutError
from ..models import Attempt, ChatRequest, Chunk, Completion
from ..runtime import Runtime
from ..stream import Stream, StreamAccumulator

__all__ = ["Branch", "BranchContext", "LinkedContext", "deadline_context", "summarise_attempts",
           "total_timeout_error", "restamp_stream", "ABANDON_GRACE_S"]

log = logging.getLogger(__name__)

#: How long an abandoned branch is given to record how it ended before a stand-in record is used.
ABANDON_GRACE_S = 0.25


def deadline_context(context: CallContext, total_timeout_s: float | None) -> CallContext:
    """A context for one composite's part of a call: the same attempts list, the earliest deadline.

    The caller's context is left alone, so that an inner composite's shorter deadline
    does not bind the outer composite's later members.
    """
    if total_timeout_s is None:
        return context
    deadline = monotonic() + total_timeout_s
    if context.deadline is not None:
        deadline = min(deadline, context.deadline)
    return LinkedContext(context, deadline=deadline, attempts=context.attempts)


def expired(context: CallContext) -> bool:
    """Whether the context's deadline has passed."""
    remaining = context.remaining()
    return remaining is not None and remaining <= 0


def summarise_attempts(attempts: Sequence[Attempt]) -> str:
    """One line per attempt: client, provider, outcome, status and latency (never a secret).

    Error messages are already redacted where they are made; they are shortened here.
    """
    lines = []
    for number, attempt in enumerate(attempts, 1):
        status = f" HTTP {attempt.status_code}" if attempt.status_code is not None else ""
        detail = ""
        if attempt.error is not None:
            message = " ".join(attempt.error.message.split())
            detail = f": {message[:117] + '...' if len(message) > 120 else message}"
        lines.append(f"  {number}. {attempt.client_name} ({attempt.provider}) {attempt.outcome}{status} "
                     f"after {attempt.latency_s:.3f} s{detail}")
    return "\n".join(lines)


def total_timeout_error(owner: Client, timeout_s: float | None, attempts: Sequence[Attempt]) -> LLMTimeoutError:
    """The error of a call whose composite deadline passed, listing the attempts made."""
    what = f"total_timeout_ms ({round(timeout_s * 1000)} ms)" if timeout_s is not None else "the call's deadline"
    summary = summarise_attempts(attempts)
    message = f"{what} passed after {len(attempts)} attempt(s)" + (f":\n{summary}" if summary else "")
    return LLMTimeoutError(message, kind="total", client_name=owner.name, provider=owner.provider)


class LinkedContext(CallContext):
    """A context derived from the call's: every field copied, a deadline and attempts list of its own.

    ``remaining()`` also consults the parent, so that abandoning a branch (see
    :class:`BranchContext`) stops the composites nested inside it too.
    """

    def __init__(self, parent: CallContext, *, deadline: float | None, attempts: list[Attempt]) -> None:
        values = {f.name: getattr(parent, f.name) for f in fields(CallContext) if f.init}
        values.update(deadline=deadline, attempts=attempts)
        super().__init__(**values)
        self.parent = parent  # remaining() consults it: see CallContext.remaining


class BranchContext(LinkedContext):
    """The context of one branch: the call's, with its own attempts list and an abort flag.

    Once aborted, ``remaining()`` is negative, so the member's retry loop gives up instead
    of retrying the error the abort caused, and nested composites stop too.
    """

    def __init__(self, parent: CallContext) -> None:
        super().__init__(parent, deadline=parent.deadline, attempts=[])
        self.aborted = False

    def remaining(self) -> float | None:
        if self.aborted:
            return -1.0
        return super().remaining()


class Branch:
    """One member's attempt running on the internal executor, which the caller may abandon.

    Args:
        runtime: Whose internal executor runs it.
        index: The member's index in its composite.
        client: The member.
        request: The request.
        context: The call's context: the branch gets its deadline (and every other field) but
            records its attempts apart, to be merged when it ends.
        stream: Open a stream (``open_stream``) instead of ``invoke``.
    """

    def __init__(self, runtime: Runtime, index: int, client: Client, request: ChatRequest,
                 context: CallContext, *, stream: bool) -> None:
        self.index = index
        self.client = client
        self.context = BranchContext(context)
        self.started = monotonic()
        self.abort_error: LLMError | None = None
        self.scope = AbortScope(parent=AbortScope.current())
        self._runtime = runtime
        runtime.track(self)
        call = client.open_stream if stream else client.invoke
        try:
            self.future: Future[Any] = runtime.internal_executor.submit(self._run, call, request)
        except (RuntimeError, ClientClosedError):  # closed meanwhile (RuntimeError: shut down)
            runtime.untrack(self)
            raise ClientClosedError("this client was closed; create a new one") from None
        self.future.add_done_callback(self._done)

    def _run(self, call: Callable[[ChatRequest, CallContext], Any], request: ChatRequest) -> Any:
        with self.scope:
            return call(request, self.context)

    def _done(self, future: Future[Any]) -> None:
        self._runtime.untrack(self)
        if self.abort_error is not None:
            self._hang_up()

    def abandon_on_close(self) -> None:
        """The runtime is closing: abort this branch."""
        self.abort(CancelledError("abandoned: the client was closed", client_name=self.client.name,
                                  provider=self.client.provider))

    def _hang_up(self) -> None:
        """Close the stream an abandoned branch opened after all (idempotent)."""
        future = self.future
        if future.done() and not future.cancelled() and future.exception() is None:
            result = future.result()
            if isinstance(result, Stream):
                result.close()

    def abort(self, error: LLMError) -> None:
        """Abandon the branch: shut its sockets down; ``error`` is recorded as how it ended."""
        if self.abort_error is None:
            self.abort_error = error
        self.context.aborted = True
        self.future.cancel()
        self.scope.abort()
        self._hang_up()  # it may have finished just before

    def attempts(self) -> list[Attempt]:
        """The branch's attempts, once it is done; an abandoned one ends with ``abort_error``."""
        attempts = list(self.context.attempts)
        if self.abort_error is None:
            return attempts
        if not self.future.done() or self.future.cancelled():
            if self.future.cancelled() and not attempts:
                return []  # never started: nothing was sent
            attempts.append(Attempt(self.client.name, self.client.provider, monotonic() - self.started,
                                    self.abort_error, None))
        elif attempts:  # how it ended (an error our abort caused, or an answer nobody wanted)
            attempts[-1] = replace(attempts[-1], error=self.abort_error, status_code=None)
        return attempts


def abandon(branches: Sequence[Branch], error: LLMError) -> list[Attempt]:
    """Abort ``branches``, give them a moment to record how they ended, and return their attempts."""
    if branches:
        log.debug("abandoning %s (%s)", ", ".join(b.client.name for b in branches), error.message)
    for branch in branches:
        branch.abort(error)
    futures = [b.future for b in branches if not b.future.done()]
    if futures:
        wait_futures(futures, timeout=ABANDON_GRACE_S)
    attempts: list[Attempt] = []
    for branch in branches:
        attempts.extend(branch.attempts())
    return attempts


def restamp_stream(stream: Stream, attempts: list[Attempt]) -> Stream:
    """``stream`` whose final completion carries ``attempts`` (the whole call's, read at the end)."""
    held: list[FinishReasonError] = []

    def relay() -> Iterator[Chunk]:
        try:
            yield from stream
        except FinishReasonError as err:  # raised at the end, not a failure mid-content
            held.append(err)

    def finish(acc: StreamAccumulator) -> Completion:
        if held:
            raise held[0]
        return stream.completion.with_attempts(attempts)

    return Stream(relay(), finish=finish, close=stream.close)

