"""RetryPolicy: when to try a failed attempt again, and how long to wait first.

A frozen value object built from a config's ``retry_policies`` entry. It decides; it never
sleeps (the client loop sleeps, through the runtime's injectable ``sleep``). What is
retried by default is what can succeed on a second try: transport errors, timeouts, 408,
409, 429, 5xx and provider throttling; never a bad request, bad credentials, an exhausted
quota or a refused finish reason. The server's own word wins: ``x-should-retry``
first, then a ``retry-after`` delay (when within ``max_retry_after_ms``) over backoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .errors import CancelledError, ConfigError, LLMError

__all__ = ["RetryPolicy", "NO_RETRY"]

_JITTERS = ("none", "full", "equal")


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries.

    Attributes:
        max_retries: Extra attempts after the first (total attempts = max_retries + 1).
        strategy: ``constant_delay`` or ``exponential_backoff``.
        delay_ms: The first retry's wait (and every retry's, for constant delay).
        multiplier: Growth per retry for exponential backoff: the k-th retry waits
            ``min(max_delay_ms, delay_ms * multiplier ** (k - 1))``.
        max_delay_ms: Cap on the backoff wait.
        jitter: ``none`` (exact waits, the default), ``full`` (uniform in [0, wait]:
            spreads a herd of clients the most) or ``equal`` (wait/2 + uniform in
            [0, wait/2]: keeps at least half the wait).
        retry_on: When set, exactly these are retried: HTTP statuses as strings
            (``"429"``) and error class names (``"TransportError"``), matching subclasses.
        max_retry_after_ms: A server asking to wait longer than this fails the call
            at once with its error instead of sleeping.
        name: The policy's name in the config, for messages.
    """

    max_retries: int = 0
    strategy: str = "constant_delay"
    delay_ms: float = 200.0
    multiplier: float = 1.5
    max_delay_ms: float = 10000.0
    jitter: str = "none"
    retry_on: frozenset[str] | None = None
    max_retry_after_ms: float = 60000.0
    name: str | None = None

    def __post_init__(self) -> None:
        if self.strategy not in ("constant_delay", "exponential_backoff"):
            raise ConfigError(f"retry policy {self.name or ''!r}: unknown strategy type {self.strategy!r}")
        if self.jitter not in _JITTERS:
            raise ConfigError(f"retry policy {self.name or ''!r}: jitter must be one of {', '.join(_JITTERS)}")
        if self.max_retries < 0:
            raise ConfigError(f"retry policy {self.name or ''!r}: max_retries must be >= 0")

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, name: str | None = None) -> RetryPolicy:
        """Build from a canonical config entry (``max_retries``, ``strategy {...}``...)."""
        strategy = dict(config.get("strategy") or {})
        kind = strategy.get("type", "constant_delay")
        retry_on = config.get("retry_on")
        return cls(
            max_retries=int(config.get("max_retries", 0)),
            strategy=kind,
            delay_ms=_number(strategy.get("delay_ms", strategy.get("initial_delay")), 200.0),
            multiplier=float(strategy.get("multiplier", 1.5)),
            max_delay_ms=_number(strategy.get("max_delay_ms", strategy.get("max_delay")), 10000.0),
            jitter=strategy.get("jitter", "none"),
            retry_on=None if retry_on is None else frozenset(str(x) for x in retry_on),
            max_retry_after_ms=float(config.get("max_retry_after_ms", 60000)),
            name=name,
        )

    def backoff_s(self, retry_number: int) -> float:
        """The wait before retry ``retry_number`` (1-based), before jitter, in seconds."""
        if self.strategy == "constant_delay":
            return self.delay_ms / 1000.0
        return min(self.max_delay_ms, self.delay_ms * self.multiplier ** (retry_number - 1)) / 1000.0

    def should_retry(self, error: LLMError) -> bool:
        """Whether ``error`` is worth another attempt (ignoring how many were made)."""
        if isinstance(error, CancelledError):
            return False
        if error.should_retry is not None:
            return error.should_retry
        if self.retry_on is not None:
            names = {cls.__name__ for cls in type(error).__mro__}
            return bool(self.retry_on & names) or str(error.status_code) in self.retry_on
        return error.retryable

    def next_delay(self, retry_number: int, error: LLMError, random: Callable[[], float]) -> float | None:
        """Seconds to wait before retry ``retry_number`` (1-based), or None to give up.

        The server's delay (``error.retry_after``) wins over backoff, unless it is
        longer than ``max_retry_after_ms``: then the call fails fast with ``error``.
        """
        if retry_number > self.max_retries or not self.should_retry(error):
            return None
        if error.retry_after is not None:
            if error.retry_after * 1000.0 > self.max_retry_after_ms:
                return None
            return max(error.retry_after, 0.0)
        wait = self.backoff_s(retry_number)
        if self.jitter == "full":
            return wait * random()
        if self.jitter == "equal":
            return wait / 2 + (wait / 2) * random()
        return wait


def _number(value: Any, default: float) -> float:
    """``value`` as a float, or ``default`` when it is absent (0 stays 0)."""
    return default if value is None else float(value)


#: The policy of a client configured without one: a single attempt.
NO_RETRY = RetryPolicy(max_retries=0, name="none")
