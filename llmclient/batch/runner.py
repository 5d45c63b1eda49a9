"""The one-machine batch runner: JSONL lines through a client on the shared thread pool.

The driver (the calling thread) reads input lines, waits for the rate limiter, keeps at most
``workers`` calls in flight on the client's shared pool, and writes each finished record
itself, so that the output has exactly one writer. Ctrl-C once stops taking new lines and
lets in-flight calls finish; twice aborts their connections and returns at once. Either way
the output holds only complete records, and running again with it finishes the rest.
"""

from __future__ import annotations

import logging
import math
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import Future
from decimal import Decimal, InvalidOperation
from types import FrameType
from typing import Any, Union

from ..cancel import CancelToken
from ..client import Client
from ..config.loader import ConfigSource, load_config
from ..config.registry import Registry
from ..errors import LLMError, RateLimitError
from ..ratelimit import RateLimiter
from .jsonl import InputLine, OutputFile, PathLike, dumps, estimate_tokens, prepare_output, read_input
from .progress import BatchSummary, LineResult, Progress, Tally
from .records import check_output_format, completion_record, error_record, input_error_record

__all__ = ["run", "BatchControl", "execute_line", "ClientSource", "completion_record", "error_record",
           "check_arguments", "check_max_cost"]

log = logging.getLogger(__name__)

ClientSource = Union[ConfigSource, Registry, Client]


class _Stopped(Exception):
    """Raised through the rate limiter's wait when the run stops taking lines."""


class BatchControl:
    """Stop or cancel a running batch from another thread (or from SIGINT).

    :meth:`stop` stops taking new lines and lets in-flight calls finish; :meth:`cancel`
    also cuts the in-flight calls short through one :class:`~llmclient.cancel.CancelToken`
    shared by every call of the run (sockets shut down, backoff sleeps ended); their lines
    get no record and are redone by the next run.
    """

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.token = CancelToken()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self.token.cancelled

    def stop(self) -> None:
        """Take no new lines; let the calls in flight finish."""
        self.stopping.set()

    def cancel(self) -> None:
        """Take no new lines and abort the calls in flight."""
        self.stopping.set()
        self.token.cancel("the batch run was cancelled")

    def interrupt(self) -> None:
        """What Ctrl-C does: stop the first time, cancel the second."""
        if not self.stopping.is_set():
            log.warning("batch: stopping; waiting for the calls in flight (Ctrl-C again to cancel them)")
            self.stop()
        elif not self.cancelled:
            log.warning("batch: cancelling the calls in flight")
            self.cancel()

    def wait(self, seconds: float) -> None:
        """The rate limiter's wait: ends early (raising) once the run stops."""
        if self.stopping.wait(seconds):
            raise _Stopped()

    def install_sigint(self) -> Callable[[], None]:
        """Route SIGINT here (main thread only); returns the function restoring the old handler."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum: int, frame: FrameType | None) -> None:
            self.interrupt()

        previous = signal.signal(signal.SIGINT, handler)

        def restore() -> None:
            signal.signal(signal.SIGINT, previous)

        return restore


#: Call parameters a JSON line may not set (they are the call's own, not the provider's).
_RESERVED_PARAMS = frozenset({"cancel", "on_event"})


def execute_line(client: Client, item: InputLine, *, params: Mapping[str, Any] | None = None,
                 limiter: RateLimiter | None = None, estimate: int = 0,
                 control: BatchControl | None = None, output_format: str = "llmclient") -> LineResult:
    """Make one line's call (through ``client.complete``) and build its record; never raises.

    Runs on a pool thread (or a Dask worker). A call cut short by ``control.cancel()``
    comes back ``cancelled`` (no record: the next run redoes it).
    """
    merged = {k: v for k, v in {**(params or {}), **item.params}.items() if k not in _RESERVED_PARAMS}
    if control is not None:
        merged["cancel"] = control.token
    try:
        completion = client.complete(item.messages, **merged)
    except Exception as err:  # every failure becomes the line's error record
        if control is not None and control.cancelled:
            return LineResult(item.id, item.line, b"", "error", cancelled=True)
        if not isinstance(err, LLMError):
            log.error("batch: line %d: unexpected %s", item.line, type(err).__name__, exc_info=True)
        if limiter is not None and isinstance(err, RateLimitError) and err.retry_after:
            limiter.penalize(err.retry_after)
        attempts = list(getattr(err, "attempts", None) or ())
        return LineResult(item.id, item.line, dumps(error_record(item, err, attempts, output_format)), "error",
                          error_class=type(err).__name__, client_name=getattr(err, "client_name", None))
    u = completion.usage
    if limiter is not None and u.total_tokens:
        limiter.record(u.total_tokens, estimate=estimate)
    return LineResult(item.id, item.line, dumps(completion_record(item, completion, [], output_format)), "ok",
                      client_name=completion.client_name, usage=(u.input_tokens, u.output_tokens, u.total_tokens),
                      cost=completion.cost)


def run(config_or_registry: ClientSource, client: str | None = None, input: PathLike = "", output: PathLike = "",
        *, workers: int = 32, requests_per_minute: float | None = None, tokens_per_minute: float | None = None,
        rate_limiter: RateLimiter | None = None, params: Mapping[str, Any] | None = None,
        progress: bool | None = None, progress_every: float = 10.0, control: BatchControl | None = None,
        handle_sigint: bool = True, cancel_grace: float = 10.0, retry_failed: bool = False,
        output_format: str = "llmclient", max_cost: Decimal | float | str | None = None) -> BatchSummary:
    """Run every line of a JSONL input through one client, appending records to a JSONL output.

    Resumable: ids already in ``output`` are skipped, and a truncated last line left by a
    killed run is removed and redone. Safe to interrupt: see :class:`BatchControl`.

    Args:
        config_or_registry: A config (dict, ``.json``/``.baml`` path), a :class:`Registry`
            (not closed here), or a :class:`Client`.
        client: The client's name in the config (ignored when a Client is given).
        input: The JSONL input: ``{"id", "messages" | "prompt", "params"?}`` per line, or
            OpenAI Batch API lines (``{"custom_id", "method", "url", "body"}``).
        output: The JSONL output (created, or resumed when it exists).
        workers: At most this many calls in flight (and the pool size of a loaded config).
        requests_per_minute: Client-side request budget (token bucket).
        tokens_per_minute: Client-side token budget; each line is estimated as its prompt
            characters // 4 plus ``max_tokens`` (or 256), then settled with actual usage.
        rate_limiter: Share this limiter instead (e.g. with other runs on one account).
        params: Call parameters for every line (a line's own ``params`` win).
        progress: None: a bar on a terminal or in a notebook, else log lines; True: a bar;
            False: log lines.
        progress_every: Seconds between progress log lines.
        control: Stop or cancel the run from another thread.
        handle_sigint: Make Ctrl-C stop (then cancel) the run, when run on the main thread.
        cancel_grace: After a cancel, seconds to wait for the aborted calls to return.
        retry_failed: Redo the lines whose record in ``output`` is a failure (an error or
            an input error): their records are removed first (the file is rewritten safely,
            see :mod:`llmclient.batch.compact`), so that afterwards every id has exactly
            one record, the newest.
        output_format: ``"llmclient"`` (the default) or ``"openai"``, the OpenAI Batch API's
            output lines (see :mod:`llmclient.batch.records`).
        max_cost: US dollars: take no new line once the answers recorded in ``output`` (by
            this run and, when resuming, by earlier ones) cost this much. Calls in flight
            then finish and are written, so the total may pass it by what they cost;
            answers whose model has no price cannot be counted (a warning says so).

    Raises:
        ValueError: A bad number (``workers`` < 1, a budget <= 0...) or output format.
        DuplicateIdError: Some ids repeat in the input (before any call is made).
        ConfigError: A bad config, an unknown client, or an unreadable input.
    """
    check_arguments(workers=workers, requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                    progress_every=progress_every, cancel_grace=cancel_grace)
    check_output_format(output_format)
    limit = check_max_cost(max_cost)
    control = control or BatchControl()
    limiter = rate_limiter or (RateLimiter(requests_per_minute, tokens_per_minute)
                               if requests_per_minute or tokens_per_minute else None)
    owned: Registry | None = None
    if isinstance(config_or_registry, Client):
        target = config_or_registry
    elif isinstance(config_or_registry, Registry):
        target = config_or_registry.client(_require(client))
    else:
        owned = load_config(config_or_registry, max_workers=workers)
    try:
        if owned is not None:
            target = owned.client(_require(client))
        return _drive(target, input, output, workers=workers, limiter=limiter, params=params, progress=progress,
                      progress_every=progress_every, control=control, handle_sigint=handle_sigint,
                      cancel_grace=cancel_grace, retry_failed=retry_failed, output_format=output_format,
                      max_cost=limit)
    finally:
        if owned is not None:
            owned.close()


def check_max_cost(value: Decimal | float | str | None) -> Decimal | None:
    """``max_cost`` as a Decimal (None: no limit).

    Raises:
        ValueError: It is not a finite number > 0.
    """
    if value is None:
        return None
    try:
        limit = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        limit = Decimal("NaN")
    if isinstance(value, bool) or not limit.is_finite() or limit <= 0:
        raise ValueError(f"max_cost must be a number of US dollars > 0 (got {value!r})")
    return limit


def check_arguments(**numbers: float | None) -> None:
    """Refuse bad numbers before any work: counts (``workers``, ``max_concurrency``...) are
    integers >= 1, budgets and intervals are finite and > 0, ``cancel_grace`` and ``retries``
    are >= 0; None means "not given".

    Raises:
        ValueError: Naming the argument and the value.
    """
    for name, value in numbers.items():
        if value is None:
            continue
        if name in ("cancel_grace", "retries"):
            ok, rule = _finite(value) and value >= 0, "a number >= 0"
        elif name in _COUNTS:
            ok, rule = isinstance(value, int) and not isinstance(value, bool) and value >= 1, "an integer >= 1"
        else:
            ok, rule = _finite(value) and value > 0, "a number > 0"
        if name == "retries":
            ok, rule = ok and isinstance(value, int), "an integer >= 0"
        if not ok:
            raise ValueError(f"{name} must be {rule} (got {value!r})")


#: The arguments :func:`check_arguments` treats as counts.
_COUNTS = frozenset({"workers", "max_concurrency", "partitions", "partition_size", "threads_per_partition",
                     "max_pending"})


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _require(client: str | None) -> str:
    if not client:
        from ..errors import ConfigError

        raise ConfigError("batch: name the client to use (client=...)")
    return client


def _drive(target: Client, input: PathLike, output: PathLike, *, workers: int, limiter: RateLimiter | None,
           params: Mapping[str, Any] | None, progress: bool | None, progress_every: float, control: BatchControl,
           handle_sigint: bool, cancel_grace: float, retry_failed: bool, output_format: str,
           max_cost: Decimal | None = None) -> BatchSummary:
    started = time.monotonic()
    done, scan = prepare_output(input, output, retry_failed=retry_failed)
    summary = BatchSummary(str(input), str(output), total=scan.lines, skipped=scan.done,
                           skipped_failed=scan.done_failed, retried=len(scan.redo), spent_before=done.spent,
                           max_cost=max_cost)
    unpriced_warned = [False]
    tally = Tally(summary)
    display = Progress(tally, mode=progress, every=progress_every)
    results: queue.SimpleQueue[tuple[Future[LineResult], InputLine]] = queue.SimpleQueue()
    pending: set[Future[LineResult]] = set()
    executor = target.runtime.executor
    restore = control.install_sigint() if handle_sigint else (lambda: None)
    log.info("batch: %d line(s) in %s, %d already done in %s (%d of them failed), %d failed line(s) to redo",
             scan.lines, input, scan.done, output, scan.done_failed, len(scan.redo))

    with OutputFile(output) as out:
        def handle(result: LineResult) -> None:
            if result.cancelled:
                return
            out.write(result.data)
            tally.add(result)
            display.update()
            if max_cost is not None and result.outcome == "ok" and result.cost is None and not unpriced_warned[0]:
                unpriced_warned[0] = True
                log.warning("batch: line %d's answer has no price (its model is not in the price table), so "
                            "max_cost cannot count it; add its price with llmclient.pricing.set_price or "
                            "settings.prices", result.line)

        def spent() -> bool:
            if max_cost is None or summary.total_cost < max_cost:
                return False
            if not summary.stopped_for_cost:
                summary.stopped_for_cost = True
                log.warning("batch: $%s spent of max_cost $%s; taking no new lines", f"{summary.total_cost:f}",
                            f"{max_cost:f}")
            return True

        def drain(timeout: float | None) -> bool:
            try:
                future, item = results.get(timeout=timeout) if timeout is not None else results.get_nowait()
            except queue.Empty:
                display.tick()
                return False
            pending.discard(future)
            try:
                handle(future.result())
            except FutureCancelled:
                pass
            return True

        try:
            for item in read_input(input):
                if control.stopping.is_set():
                    break
                if done.has(item):
                    continue
                if item.problem is not None:
                    log.warning("batch: %s", item.problem)
                    handle(LineResult(item.id, item.line, dumps(input_error_record(item, output_format)), "input_error",
                                      error_class="InputError"))
                    continue
                while len(pending) >= workers and not control.stopping.is_set():
                    drain(0.25)
                while drain(None):
                    pass
                if spent():
                    break
                estimate = estimate_tokens(item.messages, {**(params or {}), **item.params})
                if limiter is not None:
                    limiter.acquire(estimate, wait=control.wait)
                if control.stopping.is_set():
                    break
                future = executor.submit(execute_line, target, item, params=params, limiter=limiter,
                                         estimate=estimate, control=control, output_format=output_format)
                pending.add(future)
                future.add_done_callback(lambda f, item=item: results.put((f, item)))  # type: ignore[misc]
        except _Stopped:
            pass
        finally:
            deadline: float | None = None
            while pending:
                if control.cancelled:
                    if deadline is None:
                        for future in list(pending):
                            future.cancel()
                        deadline = time.monotonic() + cancel_grace
                    elif time.monotonic() > deadline:
                        log.warning("batch: %d cancelled call(s) did not return in time; not waiting", len(pending))
                        break
                drain(0.25)
            restore()
            summary.wall_s = time.monotonic() - started
            if control.cancelled:
                summary.interrupted = "cancelled"
            elif control.stopping.is_set():
                summary.interrupted = "stopped"
            display.close()
    log.info("batch: %d written (%d ok, %d errors, %d input errors), %d remaining, %.1fs", summary.written,
             summary.ok, summary.failed, summary.input_errors, summary.remaining, summary.wall_s)
    return summary
