"""FallbackClient: tries its members in order until one answers.

A retry policy on it repeats the whole chain. The loop itself (members, cooldown,
deadlines, hedging) is :class:`~llmclient.strategies.composite.CompositeClient`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ..client import CallContext, Client
from ..errors import LLMError
from ..retry import RetryPolicy, RetryState
from ..runtime import Runtime
from .composite import CompositeClient, Member, NextMember

__all__ = ["CompositeClient", "FallbackClient", "Member", "NextMember", "build_fallback"]

log = logging.getLogger(__name__)


class FallbackClient(CompositeClient):
    """Tries its clients in order until one answers (provider ``fallback``, BAML ``baml-fallback``).

    Each member runs with its own retry policy first; then the next member is tried.
    A ``retry_policy`` on the fallback client repeats the whole chain (waiting as the
    policy says between rounds). Members that are cooling down are skipped.

    Args:
        clients: Members in order: ``Client`` objects or names (with ``resolver``).
        name: This client's name.
        runtime: Shared pools; default: the first member client's.
        retry_policy: Repeats the whole chain; default: one pass.
        hedge_after_ms: Start the next member when the current one has not answered this soon;
            the first answer wins and the others are abandoned (their connections closed).
        total_timeout_ms: One deadline for the whole call; then ``LLMTimeoutError(kind="total")``.
        fallback_on: Error class names and statuses that move on (default: every error).
        cooldown_failures: Failures in a row that make a member cool down (default 3).
        cooldown_ms: How long a cooling member is skipped (default 5000).
        resolver: Turns member names into clients (a registry's ``client``).
    """

    def __init__(self, clients: Sequence[Member], *, name: str = "fallback", runtime: Runtime | None = None,
                 retry_policy: RetryPolicy | None = None, hedge_after_ms: float | None = None,
                 total_timeout_ms: float | None = None, fallback_on: Sequence[str] | None = None,
                 cooldown_failures: int = 3, cooldown_ms: float = 5000,
                 resolver: Callable[[str], Client] | None = None) -> None:
        super().__init__(clients, name=name, provider="fallback", runtime=runtime, retry_policy=retry_policy,
                         resolver=resolver, total_timeout_ms=total_timeout_ms, hedge_after_ms=hedge_after_ms,
                         fallback_on=fallback_on, cooldown_failures=cooldown_failures, cooldown_ms=cooldown_ms)

    def _planner(self, context: CallContext) -> NextMember:
        return _ChainPlan(self, context)


class _ChainPlan:
    """A fallback call's order: the members not cooling, in order; then, if the policy says so, again.

    ``state`` counts the rounds after the first (its ``retries``), against the fallback's
    own retry policy; each member's own retries are counted by the member.
    """

    def __init__(self, owner: FallbackClient, context: CallContext) -> None:
        self.owner = owner
        self.context = context
        self.state = RetryState(owner.retry_policy, random=owner.runtime.random)
        self.queue = owner.cooldown.available(range(len(owner.member_names)))

    def __call__(self, error: LLMError | None, *, hedge: bool) -> int | None:
        owner = self.owner
        if not self.queue:
            if hedge or error is None:
                return None
            following = self.state.increment(error)
            if following is None or not owner._sleep_before_retry(self.context, following.delay_s):
                return None
            self.state = following
            log.warning("fallback %r: every member failed; repeating the chain (retry %d of %d)", owner.name,
                        following.retries, owner.retry_policy.max_retries)
            self.queue = owner.cooldown.available(range(len(owner.member_names)))
        return self.queue.pop(0)


def build_fallback(name: str, options: dict[str, Any], *, runtime: Runtime, retry_policy: RetryPolicy | None,
                   registry: Any) -> Client:
    """The registry's builder for provider ``fallback`` (canonical options: ``strategy: [names]``...)."""
    return FallbackClient(
        list(options["strategy"]), name=name, runtime=runtime, retry_policy=retry_policy, resolver=registry.client,
        hedge_after_ms=options.get("hedge_after_ms"), total_timeout_ms=options.get("total_timeout_ms"),
        fallback_on=options.get("fallback_on"), cooldown_failures=int(options.get("cooldown_failures", 3)),
        cooldown_ms=float(options.get("cooldown_ms", 5000)))
