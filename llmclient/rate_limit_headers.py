"""RateLimit: what a provider's rate-limit response headers said, read into one small value.

OpenAI (and Azure OpenAI) send ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``,
the resets as Go-style durations (``6m0s``, ``1s``, ``20ms``); Anthropic sends
``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}``,
the resets as RFC 3339 instants. Both become a :class:`RateLimit` whose resets are seconds
after the answer, so that fallback and round-robin can skip a member that reported nothing
left until its budget resets (see :meth:`RateLimit.blocked_for_s`). Gemini and Bedrock send
no such headers: their attempts carry ``rate_limit=None``.

The leaf client notes each answer's headers (:func:`note`) on its own thread and takes the
parsed value (:func:`take`) when it records the attempt; answers without any rate-limit
header cost two dictionary look-ups.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["RateLimit", "parse_rate_limit", "parse_duration", "note", "take"]

log = logging.getLogger(__name__)

_DURATION_TOKEN = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A provider's rate-limit state after one answer. None means "not reported".

    Remaining counts are what the provider said was left in the current window (a
    negative value, which Azure sends for "not applicable", is read as not reported);
    ``*_reset_s`` are seconds from the answer until that budget is whole again.
    ``input_tokens_*`` and ``output_tokens_*`` are Anthropic's separate budgets.
    """

    requests_limit: int | None = None
    requests_remaining: int | None = None
    requests_reset_s: float | None = None
    tokens_limit: int | None = None
    tokens_remaining: int | None = None
    tokens_reset_s: float | None = None
    input_tokens_remaining: int | None = None
    input_tokens_reset_s: float | None = None
    output_tokens_remaining: int | None = None
    output_tokens_reset_s: float | None = None

    @property
    def blocked_for_s(self) -> float | None:
        """Seconds until a budget that reported zero remaining resets; None when none is at zero.

        When several are at zero, the latest reset wins. A budget at zero whose reset was
        not reported does not block (there is no end to wait for).
        """
        waits = [reset for remaining, reset in (
            (self.requests_remaining, self.requests_reset_s), (self.tokens_remaining, self.tokens_reset_s),
            (self.input_tokens_remaining, self.input_tokens_reset_s),
            (self.output_tokens_remaining, self.output_tokens_reset_s))
            if remaining == 0 and reset is not None]
        return max(waits) if waits else None


@lru_cache(maxsize=1024)  # resets repeat: a parse per distinct text, not per answer
def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (``6m0s``, ``1h2m3s``, ``20ms``, ``1.5s``; a bare number is seconds).

    Returns None for text that is not one (logged at DEBUG, never raised: a header's shape
    must not fail a call).
    """
    text = text.strip()
    if not text:
        return None
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    total, end = 0.0, 0
    for match in _DURATION_TOKEN.finditer(text):
        if match.start() != end:
            break
        value, unit = float(match.group(1)), match.group(2)
        total += value / 1000.0 if unit == "ms" else value * _UNIT_S[unit]
        end = match.end()
    if end != len(text):
        log.debug("rate-limit reset %r is not a duration; ignored", text)
        return None
    return total


def _count(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        log.debug("rate-limit header %s=%r is not an integer; ignored", name, value)
        return None
    return number if number >= 0 else None


def _duration(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    return None if value is None else parse_duration(value)


def _instant(headers: Mapping[str, str], name: str, now: float) -> float | None:
    """Seconds from ``now`` (epoch seconds) to the RFC 3339 instant in header ``name``."""
    value = headers.get(name)
    if value is None:
        return None
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        log.debug("rate-limit reset %s=%r is not an RFC 3339 time; ignored", name, value)
        return None
    if moment.tzinfo is None:
        return None
    return max(moment.timestamp() - now, 0.0)


def _server_now(headers: Mapping[str, str]) -> float:
    """The answer's own time (its ``date`` header) so that clock skew does not move resets; else ours."""
    date = headers.get("date")
    if date:
        from email.utils import parsedate_to_datetime

        try:
            return parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            pass
    return time.time()


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """The rate-limit state in ``headers`` (lower-cased names), or None when they carry none."""
    if "x-ratelimit-remaining-requests" in headers or "x-ratelimit-remaining-tokens" in headers:
        return RateLimit(
            requests_limit=_count(headers, "x-ratelimit-limit-requests"),
            requests_remaining=_count(headers, "x-ratelimit-remaining-requests"),
            requests_reset_s=_duration(headers, "x-ratelimit-reset-requests"),
            tokens_limit=_count(headers, "x-ratelimit-limit-tokens"),
            tokens_remaining=_count(headers, "x-ratelimit-remaining-tokens"),
            tokens_reset_s=_duration(headers, "x-ratelimit-reset-tokens"))
    prefix = "anthropic-ratelimit-"
    if prefix + "requests-remaining" in headers or prefix + "tokens-remaining" in headers \
            or prefix + "input-tokens-remaining" in headers:
        now = _server_now(headers)
        return RateLimit(
            requests_limit=_count(headers, prefix + "requests-limit"),
            requests_remaining=_count(headers, prefix + "requests-remaining"),
            requests_reset_s=_instant(headers, prefix + "requests-reset", now),
            tokens_limit=_count(headers, prefix + "tokens-limit"),
            tokens_remaining=_count(headers, prefix + "tokens-remaining"),
            tokens_reset_s=_instant(headers, prefix + "tokens-reset", now),
            input_tokens_remaining=_count(headers, prefix + "input-tokens-remaining"),
            input_tokens_reset_s=_instant(headers, prefix + "input-tokens-reset", now),
            output_tokens_remaining=_count(headers, prefix + "output-tokens-remaining"),
            output_tokens_reset_s=_instant(headers, prefix + "output-tokens-reset", now))
    return None


_seen = threading.local()


def note(headers: Mapping[str, str]) -> None:
    """Remember this thread's latest answer headers, for the attempt about to be recorded."""
    _seen.headers = headers


def take() -> RateLimit | None:
    """The rate-limit state of the headers :func:`note` kept on this thread (then forgotten)."""
    headers = getattr(_seen, "headers", None)
    if headers is None:
        return None
    _seen.headers = None
    return parse_rate_limit(headers)
