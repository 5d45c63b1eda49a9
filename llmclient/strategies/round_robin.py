"""RoundRobinClient: spreads calls over its members in turn, in proportion to their weights.

The order is nginx's smooth weighted round-robin: deterministic, and interleaved rather
than in bursts (weights 2:1 give A, B, A, A, B, A, ...). One counter is shared by every
thread and advances exactly once per call. On a failure, when the client's retry policy
allows another try, the call moves to the next member in list order (as BAML does); members
cooling down are skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..client import CallContext, Client
from ..errors import ConfigError, LLMError
from ..retry import RetryPolicy, RetryState
from ..runtime import Runtime
from .composite import CompositeClient, Member, NextMember

__all__ = ["RoundRobinClient", "SmoothWeightedRoundRobin", "build_round_robin"]

log = logging.getLogger(__name__)


class SmoothWeightedRoundRobin:
    """nginx's smooth weighted round-robin over member indexes (thread-safe).

    Each pick adds every member's weight to its running score, picks the highest score
    (the first on a tie) and takes the total weight off the winner's score.

    Args:
        weights: One positive integer per member.
        start: The member the first pick returns; the sequence continues from there.
    """

    def __init__(self, weights: Sequence[int], *, start: int = 0) -> None:
        if not weights or any(int(w) < 1 for w in weights):
            raise ValueError("weights must be positive integers, one per member")
        if not 0 <= start < len(weights):
            raise ValueError(f"start must be between 0 and {len(weights) - 1}")
        self.weights = [int(w) for w in weights]
        self._total = sum(self.weights)
        self._scores = [0] * len(self.weights)
        self._lock = threading.Lock()
        for _ in range(self._total):  # the cycle is `total` picks long, so start is reached within it
            if self._peek() == start:
                break
            self._pick()

    def _peek(self) -> int:
        scores = [s + w for s, w in zip(self._scores, self.weights, strict=True)]
        return scores.index(max(scores))

    def _pick(self) -> int:
        for i, weight in enumerate(self.weights):
            self._scores[i] += weight
        best = self._scores.index(max(self._scores))
        self._scores[best] -= self._total
        return best

    def next(self) -> int:
        """The next member's index."""
        with self._lock:
            return self._pick()


class RoundRobinClient(CompositeClient):
    """Sends each call to the next member in turn (provider ``round-robin``, BAML ``baml-round-robin``).

    Args:
        clients: Members: ``Client`` objects or names (with ``resolver``).
        weights: One positive integer per member (default: all 1); a member of weight 2
            gets twice the calls, interleaved.
        start: The member the first call goes to (default 0).
        name: This client's name.
        runtime: Shared pools; default: the first member client's.
        retry_policy: After a failure, how many more members to try and how long to wait
            first; default: none (the member's own retries only).
        total_timeout_ms: One deadline for the whole call; then ``LLMTimeoutError(kind="total")``.
        cooldown_failures: Failures in a row that make a member cool down (default 3).
        cooldown_ms: How long a cooling member is skipped (default 5000).
        resolver: Turns member names into clients (a registry's ``client``).
    """

    def __init__(self, clients: Sequence[Member], *, weights: Sequence[int] | None = None, start: int = 0,
                 name: str = "round-robin", runtime: Runtime | None = None, retry_policy: RetryPolicy | None = None,
                 total_timeout_ms: float | None = None, cooldown_failures: int = 3, cooldown_ms: float = 5000,
                 resolver: Callable[[str], Client] | None = None) -> None:
        super().__init__(clients, name=name, provider="round-robin", runtime=runtime, retry_policy=retry_policy,
                         resolver=resolver, total_timeout_ms=total_timeout_ms, cooldown_failures=cooldown_failures,
                         cooldown_ms=cooldown_ms)
        if weights is not None and len(weights) != len(clients):
            raise ConfigError(f"client {name!r}: {len(weights)} weights for {len(clients)} members")
        try:
            self.order = SmoothWeightedRoundRobin(weights or [1] * len(clients), start=start)
        except ValueError as exc:
            raise ConfigError(f"client {name!r}: {exc}") from None

    def _planner(self, context: CallContext) -> NextMember:
        return _TurnPlan(self, context)


class _TurnPlan:
    """A round-robin call's order: this call's turn, then the next members while the policy allows.

    ``state`` counts the members tried after the first (its ``retries``) against the
    round-robin's retry policy; a member that cannot be built is skipped without a retry.
    """

    def __init__(self, owner: RoundRobinClient, context: CallContext) -> None:
        self.owner = owner
        self.context = context
        self.state = RetryState(owner.retry_policy, random=owner.runtime.random)
        self.unbuildable: set[int] = set()
        self.last: int | None = None

    def _from(self, first: int) -> int:
        count = len(self.owner.member_names)
        rotation = [(first + k) % count for k in range(count)]
        usable = [i for i in rotation if i not in self.unbuildable] or rotation
        return self.owner.cooldown.available(usable)[0]

    def __call__(self, error: LLMError | None, *, hedge: bool) -> int | None:
        owner = self.owner
        if hedge:
            return None
        if self.last is None:
            self.last = self._from(owner.order.next())
            return self.last
        if isinstance(error, ConfigError) and not error.status_code:  # could not be built: next one, no retry
            self.unbuildable.add(self.last)
            if len(self.unbuildable) >= len(owner.member_names):
                return None
        else:
            if error is None:
                return None
            following = self.state.increment(error)
            if following is None or not owner._sleep_before_retry(self.context, following.delay_s):
                return None
            self.state = following
        self.last = self._from(self.last + 1)
        log.debug("round-robin %r: moving on to member %s", owner.name, owner.member_names[self.last])
        return self.last


def build_round_robin(name: str, options: dict[str, Any], *, runtime: Runtime, retry_policy: RetryPolicy | None,
                      registry: Any) -> Client:
    """The registry's builder for provider ``round-robin`` (canonical: ``strategy``, ``weights``, ``start``)."""
    return RoundRobinClient(
        list(options["strategy"]), weights=options.get("weights"), start=int(options.get("start", 0)), name=name,
        runtime=runtime, retry_policy=retry_policy, resolver=registry.client,
        total_timeout_ms=options.get("total_timeout_ms"), cooldown_failures=int(options.get("cooldown_failures", 3)),
        cooldown_ms=float(options.get("cooldown_ms", 5000)))
