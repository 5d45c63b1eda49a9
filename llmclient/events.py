"""What a call did, as typed events for hooks, and a Collector that keeps them per call.

Pass ``on_event=callable`` (or a list) to a client, or to one call, and it receives each
event as it happens: a request sent, a response received, a retry scheduled (with its delay
and reason), a fallback taken, a hedge started, each stream chunk, and the call finished.
Every event carries the client and provider names and a ``time.monotonic()`` timestamp;
request and response metadata are redacted before they reach a hook. A hook that raises is
logged and ignored: observing a call never breaks it.

Times are measured on one clock (``time.monotonic()``, the events' ``at``) from the moment
an attempt's request was sent: ``ResponseReceived.elapsed_s`` and the Collector's
``time_to_first_token_s`` end when the answer arrived (for a stream: its first content),
``total_s`` when the attempt ended (for a stream: its last chunk or its failure), so
``time_to_first_token_s <= total_s`` always holds.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import LLMError
from .hooks import EventHook, Hooks, as_hooks, emit
from .models import Completion, Usage

if TYPE_CHECKING:
    from decimal import Decimal

__all__ = [
    "Event",
    "RequestSent",
    "ResponseReceived",
    "AttemptFailed",
    "RetryScheduled",
    "FallbackTaken",
    "HedgeStarted",
    "StreamChunk",
    "CallFinished",
    "EventHook",
    "Hooks",
    "as_hooks",
    "Collector",
    "CallLog",
    "AttemptLog",
    "emit",
]

@dataclass(frozen=True)
class Event:
    """Base of every event: which client, which provider, when (monotonic seconds)."""

    client_name: str
    provider: str
    at: float
    call_id: int


@dataclass(frozen=True)
class RequestSent(Event):
    """An HTTP request left for the provider (headers and URL redacted)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: str
    stream: bool
    attempt: int


@dataclass(frozen=True)
class ResponseReceived(Event):
    """An HTTP answer arrived (for a stream: its headers and first content).

    ``elapsed_s`` is the time since the attempt's :class:`RequestSent`, on the same clock.
    A 2xx answer can still fail afterwards (an unparseable body, a refused finish
    reason, a stream cut later): an :class:`AttemptFailed` with the same ``attempt``
    number then follows.
    """

    status_code: int | None
    headers: Mapping[str, str]
    body: str | None
    elapsed_s: float
    request_id: str | None
    attempt: int


@dataclass(frozen=True)
class AttemptFailed(Event):
    """An attempt ended in ``error`` (whether or not it will be retried)."""

    error: LLMError
    elapsed_s: float
    attempt: int


@dataclass(frozen=True)
class RetryScheduled(Event):
    """An attempt failed and the retry policy will try again after ``delay_s``."""

    delay_s: float
    retry_number: int
    reason: str
    error: LLMError


@dataclass(frozen=True)
class FallbackTaken(Event):
    """A composite moved from one member to the next (``client_name`` is the composite)."""

    from_client: str
    to_client: str
    reason: str


@dataclass(frozen=True)
class HedgeStarted(Event):
    """A fallback started ``to_client`` in parallel because the current one was slow."""

    to_client: str
    after_s: float


@dataclass(frozen=True)
class StreamChunk(Event):
    """One chunk reached the caller; ``index`` counts from 0.

    ``client_name`` and ``provider`` name the provider client whose answer it is (for a
    composite: the member that answered).
    """

    index: int
    text: str


@dataclass(frozen=True)
class CallFinished(Event):
    """A top-level call ended, with its completion or its error."""

    completion: Completion | None
    error: LLMError | None
    latency_s: float
    usage: Usage = field(default_factory=Usage)


@dataclass
class AttemptLog:
    """One HTTP attempt of a call, as a Collector saw it.

    ``started_at`` is when its request was sent; ``time_to_first_token_s`` is the time from
    then to the answer (for a stream: its first content; for ``complete()``: the whole
    answer, so it equals ``total_s`` when the attempt succeeded); ``total_s`` the time to
    the attempt's end (for a stream: its last chunk, or the failure that ended it; None
    while it runs, and for a stream closed before its end). ``error`` is the failure that
    ended the attempt, also when it came after a 2xx status (a body that cannot be parsed,
    a refused finish reason, a stream cut midway). ``attempt`` is the client's attempt
    number (1-based, as in the events).
    """

    client_name: str
    provider: str
    url: str
    request_body: str
    started_at: float
    status_code: int | None = None
    response_body: str | None = None
    time_to_first_token_s: float | None = None
    total_s: float | None = None
    error: LLMError | None = None
    selected: bool = False
    attempt: int = 0
    stream: bool = False

    @property
    def ok(self) -> bool:
        """Whether the attempt got a 2xx answer and nothing failed after it."""
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class CallLog:
    """Everything one call did: its attempts (the selected one marked), outcome and usage."""

    call_id: int
    attempts: list[AttemptLog] = field(default_factory=list)
    retries: list[RetryScheduled] = field(default_factory=list)
    fallbacks: list[FallbackTaken] = field(default_factory=list)
    completion: Completion | None = None
    error: LLMError | None = None
    latency_s: float | None = None

    @property
    def usage(self) -> Usage:
        """The call's token usage (zero when it failed)."""
        return self.completion.usage if self.completion is not None else Usage()

    @property
    def cost(self) -> Decimal | None:
        """What the call cost in US dollars (``Completion.cost``); None when failed or unpriced."""
        return self.completion.cost if self.completion is not None else None

    @property
    def selected(self) -> AttemptLog | None:
        """The attempt whose answer the call returned."""
        return next((a for a in self.attempts if a.selected), None)


class Collector:
    """An event hook that keeps a log per call; attach it with ``on_event=collector``.

    Thread-safe: one collector may watch many concurrent calls. ``calls`` lists the calls
    in the order they started; ``usage`` totals the tokens of every finished call and
    ``cost`` what they cost.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[int, CallLog] = {}

    def __call__(self, event: Event) -> None:
        with self._lock:
            call = self._calls.setdefault(event.call_id, CallLog(event.call_id))
            if isinstance(event, RequestSent):
                call.attempts.append(AttemptLog(event.client_name, event.provider, event.url, event.body, event.at,
                                                attempt=event.attempt, stream=event.stream))
            elif isinstance(event, ResponseReceived):
                attempt = _running(call, event.client_name, event.attempt)
                if attempt is not None:
                    attempt.status_code = event.status_code
                    attempt.response_body = event.body
                    attempt.time_to_first_token_s = event.at - attempt.started_at
                    if not attempt.stream and attempt.ok:  # the whole answer is in (it may still fail to parse)
                        attempt.total_s = attempt.time_to_first_token_s
            elif isinstance(event, AttemptFailed):
                attempt = _running(call, event.client_name, event.attempt)
                if attempt is not None:
                    attempt.error = event.error
                    attempt.status_code = attempt.status_code or event.error.status_code
                    attempt.total_s = event.at - attempt.started_at
            elif isinstance(event, RetryScheduled):
                call.retries.append(event)
            elif isinstance(event, FallbackTaken):
                call.fallbacks.append(event)
            elif isinstance(event, CallFinished):
                self._finish(call, event)

    @staticmethod
    def _finish(call: CallLog, event: CallFinished) -> None:
        call.completion, call.error, call.latency_s = event.completion, event.error, event.latency_s
        source = event.completion.client_name if event.completion is not None else \
            event.error.client_name if event.error is not None else None
        streamed = next((a for a in reversed(call.attempts) if a.stream and a.ok and a.total_s is None
                         and a.client_name == source), None)
        if streamed is not None:  # the stream ended with the call: at its last chunk, or failing
            streamed.total_s = event.at - streamed.started_at
            streamed.error = event.error
        if event.completion is not None:
            chosen = [a for a in call.attempts if a.ok and a.client_name == event.completion.client_name]
            if chosen:
                chosen[-1].selected = True

    @property
    def calls(self) -> list[CallLog]:
        """The calls seen so far, in the order they started."""
        with self._lock:
            return list(self._calls.values())

    @property
    def last(self) -> CallLog | None:
        """The most recent call, or None."""
        with self._lock:
            return next(reversed(self._calls.values()), None) if self._calls else None

    @property
    def usage(self) -> Usage:
        """Tokens used by every finished call, summed."""
        total = Usage()
        for call in self.calls:
            total = total + call.usage
        return total

    @property
    def cost(self) -> Decimal | None:
        """US dollars spent by every finished call, summed (``Decimal('0')`` before any).

        None when some answer could not be priced (its model has no price, or its usage
        is unknown): a partial sum is not the total. :attr:`priced_cost` is that partial
        sum and :attr:`unpriced` counts the answers left out. Failed calls cost nothing here.
        """
        return self.priced_cost if not self.unpriced else None

    @property
    def priced_cost(self) -> Decimal:
        """The summed cost of the answers that could be priced."""
        from decimal import Decimal

        costs = [call.cost for call in self.calls if call.completion is not None]
        return sum((c for c in costs if c is not None), Decimal(0))

    @property
    def unpriced(self) -> int:
        """Answers whose cost is unknown (left out of :attr:`priced_cost`)."""
        return sum(1 for call in self.calls if call.completion is not None and call.cost is None)

    def clear(self) -> None:
        """Forget every call."""
        with self._lock:
            self._calls.clear()


def _running(call: CallLog, client_name: str, number: int) -> AttemptLog | None:
    """The attempt an event of ``client_name``'s attempt ``number`` belongs to: the newest with that
    number that has not failed (a fallback chain repeated runs the same numbers again)."""
    return next((a for a in reversed(call.attempts) if a.client_name == client_name and a.attempt == number
                 and a.error is None), None)


def describe(value: Any) -> str:
    """A short reason for a retry or fallback: the error class and status."""
    if isinstance(value, LLMError):
        return f"{type(value).__name__}" + (f" (HTTP {value.status_code})" if value.status_code else "")
    return str(value)
