"""CompositeClient: the loop that tries members until one answers, shared by fallback and round-robin.

It holds what both share: members resolved lazily (a member that cannot be built is
recorded and skipped), the cooldown of failing members, the call's deadline
(``total_timeout_ms``), hedging (``hedge_after_ms``) and the errors that end a call. A
subclass only says which member to try next (its ``_planner``). Members run inline on the
caller's thread, or as branches on the runtime's internal pool when the call has a
deadline to keep or hedges to start (dispatch.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import wait as wait_futures
from time import monotonic
from typing import TYPE_CHECKING, Any, Union

from ..client import CallContext, Client
from ..error_kinds import ERROR_KINDS, is_kind_name, kinds_of
from ..errors import (
    AllClientsFailedError,
    CancelledError,
    ClientClosedError,
    ConfigError,
    LLMError,
    LLMTimeoutError,
    TokenCountUnavailableError,
)
from ..hooks import emit
from ..models import Attempt, ChatRequest, Completion
from ..retry import NO_RETRY, RetryPolicy
from ..runtime import Runtime
from ..stream import Stream
from .cooldown import Cooldown
from .dispatch import (
    Branch,
    abandon,
    deadline_context,
    expired,
    restamp_stream,
    summarise_attempts,
    total_timeout_error,
)

if TYPE_CHECKING:
    from ..token_count import TokenCount

__all__ = ["CompositeClient", "Member", "NextMember"]

log = logging.getLogger(__name__)


#: A member: a client, or a name that ``resolver`` turns into one when it is first needed.
Member = Union[Client, str]

#: next_member(last_error, hedge=...) -> the index of the member to try next, or None to stop.
NextMember = Callable[..., Union[int, None]]


def _fallback_on(name: str, entries: Sequence[str]) -> frozenset[str]:
    """``fallback_on`` as a set; a lower-case entry that is no error kind is a typo (ConfigError)."""
    found = frozenset(str(x) for x in entries)
    unknown = sorted(x for x in found if is_kind_name(x) and x not in ERROR_KINDS)
    if unknown:
        raise ConfigError(f"client {name!r}: fallback_on {unknown[0]!r} is not an error kind "
                          f"({', '.join(ERROR_KINDS)}), an error class name or an HTTP status")
    return found


class CompositeClient(Client):
    """A client over other clients; subclasses choose the order (see :meth:`_planner`).

    Args:
        clients: Members: ``Client`` objects, or names resolved by ``resolver`` on first use.
        name: This client's name.
        provider: ``fallback`` or ``round-robin``.
        runtime: Shared pools (a registry passes its own).
        retry_policy: What happens after every member tried has failed (see subclasses).
        resolver: Turns a member name into its client (a registry's ``client``).
        total_timeout_ms: One deadline for the whole call, retries and sleeps included.
        hedge_after_ms: Start the next member beside one that has not answered this soon.
        fallback_on: Error class names (``"RateLimitError"``), HTTP statuses (``"429"``) and
            error kinds (``"context_window"``, ``"content_filter"``...: see
            :data:`~llmclient.error_kinds.ERROR_KINDS`) that move on to the next member; other
            errors end the call at once. Default: every error.
        cooldown_failures: Failures in a row after which a member is skipped...
        cooldown_ms: ...for this long.
    """

    def __init__(self, clients: Sequence[Member], *, name: str, provider: str, runtime: Runtime | None = None,
                 retry_policy: RetryPolicy | None = None, resolver: Callable[[str], Client] | None = None,
                 total_timeout_ms: float | None = None, hedge_after_ms: float | None = None,
                 fallback_on: Sequence[str] | None = None, cooldown_failures: int = 3,
                 cooldown_ms: float = 5000) -> None:
        if not clients:
            raise ConfigError(f"client {name!r}: a {provider} client needs at least one member")
        given = [c for c in clients if isinstance(c, Client)]
        hand_built = runtime is None and bool(given)
        if hand_built:
            runtime = given[0].runtime
        super().__init__(name=name, provider=provider, runtime=runtime)
        if hand_built:  # one runtime for the whole tree: the first member's, now owned here
            self._owns_runtime, given[0]._owns_runtime = given[0]._owns_runtime, False
            for member in given[1:]:
                member._share_runtime(self.runtime)
        if any(isinstance(c, str) for c in clients) and resolver is None:
            raise ConfigError(f"client {name!r}: members given by name need a resolver (e.g. registry.client)")
        self._members: list[Member] = list(clients)
        self._given = [c for c in clients if isinstance(c, Client)]
        self._resolver = resolver
        self._resolve_lock = threading.Lock()
        self.member_names = [c if isinstance(c, str) else c.name for c in clients]
        self.retry_policy = retry_policy or NO_RETRY
        self.total_timeout_s = None if total_timeout_ms is None else float(total_timeout_ms) / 1000.0
        self.hedge_after_s = None if hedge_after_ms is None else float(hedge_after_ms) / 1000.0
        self.fallback_on = None if fallback_on is None else _fallback_on(name, fallback_on)
        self.cooldown = Cooldown(self.member_names, failures=cooldown_failures, cooldown_s=cooldown_ms / 1000.0,
                                 clock=self.runtime.clock, owner=f"{provider} client {name!r}")

    # -- what subclasses provide ------------------------------------------------------
    def _planner(self, context: CallContext) -> NextMember:
        """The order of one call: a function giving the next member's index (or None to stop)."""
        raise NotImplementedError

    # -- the hooks --------------------------------------------------------------------
    def invoke(self, request: ChatRequest, context: CallContext) -> Completion:
        result: Completion = self._run(request, context, stream=False)
        return result

    def open_stream(self, request: ChatRequest, context: CallContext) -> Stream:
        """Try the members' ``open_stream`` in turn: each returns only once content arrived,
        so every failure seen here is before the first chunk and may still move on."""
        result: Stream = self._run(request, context, stream=True)
        return result

    def count_request(self, request: ChatRequest, context: CallContext) -> TokenCount:
        """``count_tokens`` through a composite: its first member, in member order, that can count.

        A member that cannot (no count endpoint, no local tokenizer: raised before anything is
        sent) or cannot be built is skipped. Any other error of the counting member is raised:
        counts are not fallen back on, since another member's model counts differently. The
        result names the provider and model that counted.
        """
        ctx = deadline_context(context, self.total_timeout_s)
        reasons: list[str] = []
        for index, name in enumerate(self.member_names):
            try:
                return self.member(index).count_request(request, ctx)
            except ConfigError as err:  # TokenCountUnavailableError included
                reasons.append(f"{name}: {err.message}")
        raise TokenCountUnavailableError(f"no member of {self.provider} client {self.name!r} can count tokens",
                                         problems=reasons, client_name=self.name, provider=self.provider)

    def _share_runtime(self, runtime: Runtime, *, replacing: Runtime | None = None) -> None:
        before = self.runtime
        super()._share_runtime(runtime, replacing=replacing)
        if self.runtime is not before:
            for member in self._given:
                member._share_runtime(runtime, replacing=before)

    def close(self) -> None:
        """Close the member clients given as objects (each closes the pools it owns), then this one.

        Members resolved by name belong to the registry that built them: close the registry.
        """
        for member in self._given:
            member.close()
        super().close()

    # -- members ----------------------------------------------------------------------
    def member(self, index: int) -> Client:
        """Member ``index`` as a client, resolving a name on first use (raises ConfigError)."""
        found = self._members[index]
        if isinstance(found, Client):
            return found
        assert self._resolver is not None
        with self._resolve_lock:
            found = self._members[index]
            if isinstance(found, Client):
                return found
            client = self._resolver(found)
            self._members[index] = client
            return client

    def moves_on(self, error: LLMError) -> bool:
        """Whether ``error`` from a member moves on to the next one (``fallback_on``)."""
        if isinstance(error, (CancelledError, ClientClosedError)):
            return False
        if self.fallback_on is None or isinstance(error, ConfigError):
            return True
        names = {cls.__name__ for cls in type(error).__mro__}
        return (bool(self.fallback_on & names) or str(error.status_code) in self.fallback_on
                or bool(self.fallback_on & kinds_of(error)))

    def _sleep_before_retry(self, context: CallContext, delay: float | None) -> bool:
        """Sleep ``delay`` unless it would pass the deadline; False when the call must stop."""
        if delay is None:
            return False
        remaining = context.remaining()
        if remaining is not None and delay >= remaining:
            return False
        if delay > 0:
            self.runtime.wait(delay, context.cancel)
        return True

    # -- the loop ---------------------------------------------------------------------
    def _run(self, request: ChatRequest, context: CallContext, *, stream: bool) -> Any:
        ctx = deadline_context(context, self.total_timeout_s)
        call = _Call(self, request, ctx, stream=stream)
        if self.total_timeout_s is None and self.hedge_after_s is None:
            return call.run_inline()
        return call.run_branches()


class _Call:
    """One call of a composite: its context, the errors so far, and how it ends."""

    def __init__(self, owner: CompositeClient, request: ChatRequest, context: CallContext, *, stream: bool) -> None:
        self.owner = owner
        self.request = request
        self.context = context
        self.stream = stream
        self.first = len(context.attempts)
        self.next_member = owner._planner(context)
        self.last_error: LLMError | None = None
        self.last_failed: int | None = None

    def starting(self, index: int, *, hedge: bool) -> None:
        """Tell the call's hooks that ``index`` starts after a failure (a fallback) or beside a slow one."""
        hooks = self.context.hooks
        if not hooks:
            return
        from ..events import FallbackTaken, HedgeStarted, describe  # event types load with the first hook

        owner, name = self.owner, self.owner.member_names[index]
        if hedge:
            emit(hooks, HedgeStarted(owner.name, owner.provider, monotonic(), self.context.call_id, name,
                                     owner.hedge_after_s or 0.0))
        elif self.last_failed is not None and self.last_error is not None:
            emit(hooks, FallbackTaken(owner.name, owner.provider, monotonic(), self.context.call_id,
                                      owner.member_names[self.last_failed], name, describe(self.last_error)))

    def resolve(self, index: int) -> Client | None:
        """The member's client; a build failure is recorded as an attempt and gives None."""
        try:
            return self.owner.member(index)
        except ConfigError as err:
            name = self.owner.member_names[index]
            err.with_context(client_name=name)
            self.context.attempts.append(Attempt(name, err.provider or "unknown", 0.0, err, None))
            self.last_error = err
            self.last_failed = index
            log.warning("%s %r: member %s cannot be built (%s); skipping it", self.owner.provider, self.owner.name,
                        name, err.message)
            return None

    def failed(self, index: int, error: LLMError) -> None:
        """Count a member's failure; raise when the call must end now rather than move on."""
        self.last_error = error
        self.last_failed = index
        self.owner.cooldown.failed(index, error, self.context.attempts)
        if expired(self.context):
            raise self.timed_out() from error
        if not self.owner.moves_on(error):
            raise error
        log.warning("%s %r: member %s failed with %s%s", self.owner.provider, self.owner.name,
                    self.owner.member_names[index], type(error).__name__,
                    f" (HTTP {error.status_code})" if error.status_code is not None else "")

    def succeeded(self, index: int, result: Any) -> Any:
        self.owner.cooldown.succeeded(index, self.context.attempts)
        if isinstance(result, Completion):
            return result.with_attempts(self.context.attempts)
        return result

    def timed_out(self) -> LLMError:
        return total_timeout_error(self.owner, self.owner.total_timeout_s, self.context.attempts[self.first:])

    def all_failed(self) -> LLMError:
        if expired(self.context):
            return self.timed_out()
        attempts = self.context.attempts[self.first:]
        errors = [a.error for a in attempts if a.error is not None]
        last = errors[-1] if errors else None
        return AllClientsFailedError(
            f"every member of {self.owner.provider} client {self.owner.name!r} failed "
            f"({len(attempts)} attempt(s)):\n{summarise_attempts(attempts)}",
            errors=errors, attempts=attempts, client_name=self.owner.name, provider=self.owner.provider,
            retryable=last.retryable if last is not None else False)

    # -- members run on the caller's thread ---------------------------------------------
    def run_inline(self) -> Any:
        while True:
            index = self.next_member(self.last_error, hedge=False)
            if index is None:
                raise self.all_failed()
            client = self.resolve(index)
            if client is None:
                continue
            self.starting(index, hedge=False)
            before, started = len(self.context.attempts), monotonic()
            try:
                result = client.open_stream(self.request, self.context) if self.stream else \
                    client.invoke(self.request, self.context)
            except LLMError as err:
                self._record_if_silent(client, before, started, err)
                self.failed(index, err)
                continue
            self._record_if_silent(client, before, started, None)
            return self.succeeded(index, result)

    def _record_if_silent(self, client: Client, before: int, started: float, error: LLMError | None) -> None:
        """Record the attempt of a member that records none itself (a custom Client subclass)."""
        if len(self.context.attempts) == before:
            self.context.attempts.append(Attempt(client.name, client.provider, monotonic() - started, error,
                                                 error.status_code if error is not None else None))

    # -- members run as branches: a deadline to keep, or hedges to start ----------------------
    def run_branches(self) -> Any:
        owner, ctx = self.owner, self.context
        running: list[Branch] = []
        hedge_at: float | None = None
        hedges_left = owner.hedge_after_s is not None
        try:
            while True:
                if not running:
                    if expired(ctx):
                        raise self.timed_out()
                    if not self._start(running, hedge=False):
                        raise self.all_failed()
                    hedges_left = owner.hedge_after_s is not None
                    hedge_at = None if owner.hedge_after_s is None else monotonic() + owner.hedge_after_s
                    continue
                timeout = ctx.remaining()
                if hedges_left and hedge_at is not None:
                    wait_hedge = hedge_at - monotonic()
                    timeout = wait_hedge if timeout is None else min(timeout, wait_hedge)
                done, _ = wait_futures([b.future for b in running], timeout=None if timeout is None else
                                       max(timeout, 0.0), return_when=FIRST_COMPLETED)
                if not done:
                    if expired(ctx):
                        ctx.attempts.extend(abandon(running, LLMTimeoutError(
                            "cut off at the deadline", kind="total", client_name=owner.name, provider=owner.provider)))
                        running = []
                        raise self.timed_out()
                    hedges_left = self._start(running, hedge=True)
                    if hedges_left:
                        log.info("%s %r: no answer within hedge_after_ms; started member %s beside it",
                                 owner.provider, owner.name, owner.member_names[running[-1].index])
                    hedge_at = None if owner.hedge_after_s is None else monotonic() + owner.hedge_after_s
                    continue
                finished = [b for b in running if b.future.done()]
                finished.sort(key=lambda b: b.future.exception() is not None)  # an answer beats a failure
                for branch in finished:
                    running.remove(branch)
                    failure = branch.future.exception()
                    if failure is None:
                        result = branch.future.result()
                        losers, running = running, []
                        ctx.attempts.extend(abandon(losers, CancelledError(
                            f"abandoned: member {owner.member_names[branch.index]} answered first",
                            client_name=owner.name, provider=owner.provider)))
                        ctx.attempts.extend(branch.attempts())
                        if isinstance(result, Stream):
                            result = restamp_stream(result, ctx.attempts)
                        return self.succeeded(branch.index, result)
                    ctx.attempts.extend(branch.attempts())
                    if not isinstance(failure, LLMError):
                        raise failure
                    self.failed(branch.index, failure)
        except BaseException:
            if running:
                ctx.attempts.extend(abandon(running, CancelledError(
                    "abandoned: the call ended", client_name=owner.name, provider=owner.provider)))
            raise

    def _start(self, running: list[Branch], *, hedge: bool) -> bool:
        """Start the next member as a branch; False when there is none to start."""
        while True:
            index = self.next_member(None if hedge else self.last_error, hedge=hedge)
            if index is None:
                return False
            client = self.resolve(index)
            if client is None:
                continue
            self.starting(index, hedge=hedge)
            running.append(Branch(self.owner.runtime, index, client, self.request, self.context,
                                  stream=self.stream))
            return True
