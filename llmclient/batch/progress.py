"""What a batch run tells its user: the running tally, the progress display, and the final summary.

On a terminal or in a Jupyter kernel (and with tqdm installed) progress is a bar (a notebook
widget when ``ipywidgets`` is there, through ``tqdm.auto``); otherwise it is a log line every
few seconds (logger ``llmclient.batch.progress`` at INFO). Both show done/total, rate, ETA,
errors so far and tokens so far. While a bar is shown, the console log handlers of the root
and ``llmclient`` loggers write through ``tqdm.write``, so that log lines never break the
bar; they are put back when it closes. :class:`BatchSummary` is what ``run`` returns.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["BatchSummary", "Tally", "Progress", "LineResult"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LineResult:
    """One finished line, as the driver receives it (picklable: Dask workers return these).

    Attributes:
        id: The line's id (None for an id-less malformed line).
        line: 1-based line number in the input.
        data: The output record as a complete JSONL line.
        outcome: ``"ok"``, ``"error"`` or ``"input_error"``.
        error_class: The error's class name for failures.
        client_name: The client that answered (or failed last).
        usage: ``(input_tokens, output_tokens, total_tokens)`` of a success.
        cancelled: The call was cut short by a second Ctrl-C: not written, redone next run.
        cost: US dollars the success cost (``Completion.cost``); None when it could not be priced.
    """

    id: Any
    line: int
    data: bytes
    outcome: str
    error_class: str | None = None
    client_name: str | None = None
    usage: tuple[int, int, int] = (0, 0, 0)
    cancelled: bool = False
    cost: Decimal | None = None


@dataclass
class BatchSummary:
    """The outcome of a batch run (printed by ``llmclient batch``).

    Attributes:
        input: The input file.
        output: The output file.
        total: Non-blank input lines.
        skipped: Lines already in the output when the run started (not redone).
        skipped_failed: Of those, the lines whose record is a failure (``retry_failed``
            redoes them).
        retried: Failed lines whose records were removed to be redone (``retry_failed``).
        written: Records written by this run.
        ok: Successful calls this run.
        failed: Calls that ended in an error this run.
        input_errors: Malformed input lines reported this run.
        errors_by_class: Failed calls (and input errors) by error class.
        tokens_by_client: Per answering client: ``input_tokens``, ``output_tokens``, ``total_tokens``.
        wall_s: Seconds from start to end of the run.
        interrupted: None, ``"stopped"`` (one Ctrl-C: in-flight calls finished) or ``"cancelled"``
            (two: in-flight calls were cut short and will be redone).
        cost: US dollars this run's answers cost (those that could be priced).
        unpriced: This run's answers whose cost is unknown (their model has no price).
        spent_before: US dollars the output's records already said they cost when the run began.
        max_cost: The run's spending limit (``max_cost``), or None.
        stopped_for_cost: The run stopped taking lines because ``max_cost`` was spent.
    """

    input: str
    output: str
    total: int = 0
    skipped: int = 0
    skipped_failed: int = 0
    retried: int = 0
    written: int = 0
    ok: int = 0
    failed: int = 0
    input_errors: int = 0
    errors_by_class: dict[str, int] = field(default_factory=dict)
    tokens_by_client: dict[str, dict[str, int]] = field(default_factory=dict)
    wall_s: float = 0.0
    interrupted: str | None = None
    cost: Decimal = field(default_factory=lambda: Decimal(0))
    unpriced: int = 0
    spent_before: Decimal = field(default_factory=lambda: Decimal(0))
    max_cost: Decimal | None = None
    stopped_for_cost: bool = False

    @property
    def total_cost(self) -> Decimal:
        """US dollars the output's records now say were spent: before this run and in it."""
        return self.spent_before + self.cost

    @property
    def calls(self) -> int:
        """Calls that finished this run (successes and failures)."""
        return self.ok + self.failed

    @property
    def calls_per_s(self) -> float:
        """Finished calls per second of wall time."""
        return self.calls / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def remaining(self) -> int:
        """Lines with no record yet (run again with the same output to finish them)."""
        return max(0, self.total - self.skipped - self.written)

    @property
    def complete(self) -> bool:
        """Every input line now has a record in the output."""
        return self.remaining == 0

    @property
    def failures(self) -> int:
        """Lines whose record in the output is now a failure: this run's and the skipped ones."""
        return self.failed + self.input_errors + self.skipped_failed

    @property
    def all_ok(self) -> bool:
        """Every input line now has a record in the output, and every one is a success."""
        return self.complete and self.failures == 0

    @property
    def outcomes(self) -> dict[str, int]:
        """Counts by outcome: ``ok``, ``error``, ``input_error``, ``skipped``, ``remaining``."""
        return {"ok": self.ok, "error": self.failed, "input_error": self.input_errors, "skipped": self.skipped,
                "remaining": self.remaining}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field and derived count."""
        return {"input": self.input, "output": self.output, "total": self.total, "outcomes": self.outcomes,
                "written": self.written, "skipped_failed": self.skipped_failed, "retried": self.retried,
                "failures": self.failures, "errors_by_class": dict(self.errors_by_class),
                "tokens_by_client": {k: dict(v) for k, v in self.tokens_by_client.items()},
                "wall_s": round(self.wall_s, 3), "calls_per_s": round(self.calls_per_s, 2),
                "interrupted": self.interrupted, "complete": self.complete, "all_ok": self.all_ok,
                "cost": f"{self.cost:f}", "unpriced": self.unpriced, "spent_before": f"{self.spent_before:f}",
                "total_cost": f"{self.total_cost:f}",
                "max_cost": None if self.max_cost is None else f"{self.max_cost:f}",
                "stopped_for_cost": self.stopped_for_cost}

    def format(self) -> str:
        """A few human-readable lines."""
        done = f"{self.skipped} already done"
        if self.skipped_failed:
            done += f" ({self.skipped_failed} of them failed: --retry-failed redoes them)"
        if self.retried:
            done += f", {self.retried} failed redone"
        lines = [f"batch {self.input} -> {self.output}: {self.total} line(s), {done}, "
                 f"{self.written} written, {self.remaining} remaining",
                 f"  ok {self.ok}, errors {self.failed}, input errors {self.input_errors}; "
                 f"{self.calls} call(s) in {self.wall_s:.1f}s ({self.calls_per_s:.1f} calls/s)"]
        if self.errors_by_class:
            lines.append("  errors by class: " + ", ".join(f"{k} {v}" for k, v in sorted(self.errors_by_class.items())))
        for name, usage in sorted(self.tokens_by_client.items()):
            lines.append(f"  tokens {name}: input {usage['input_tokens']}, output {usage['output_tokens']}, "
                         f"total {usage['total_tokens']}")
        if self.cost or self.spent_before or self.unpriced or self.max_cost is not None:
            cost = f"  cost ${self.cost:f} this run"
            if self.spent_before:
                cost += f", ${self.total_cost:f} in the output (${self.spent_before:f} before)"
            if self.unpriced:
                cost += f"; {self.unpriced} answer(s) unpriced (no price for their model)"
            lines.append(cost)
        if self.stopped_for_cost:
            lines.append(f"  stopped: --max-cost ${self.max_cost:f} spent; raise it and run again to finish")
        if self.interrupted:
            lines.append(f"  interrupted ({self.interrupted}): run again with the same --output to finish")
        return "\n".join(lines)


class Tally:
    """Folds finished lines into a :class:`BatchSummary` (driver thread only)."""

    def __init__(self, summary: BatchSummary) -> None:
        self.summary = summary
        self.tokens = 0

    @property
    def errors(self) -> int:
        return self.summary.failed + self.summary.input_errors

    def add(self, result: LineResult) -> None:
        s = self.summary
        s.written += 1
        if result.outcome == "ok":
            s.ok += 1
            name = result.client_name or "?"
            usage = s.tokens_by_client.setdefault(name, {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0})
            usage["input_tokens"] += result.usage[0]
            usage["output_tokens"] += result.usage[1]
            usage["total_tokens"] += result.usage[2]
            self.tokens += result.usage[2]
            if result.cost is None:
                s.unpriced += 1
            else:
                s.cost += result.cost
        else:
            if result.outcome == "input_error":
                s.input_errors += 1
            else:
                s.failed += 1
            key = result.error_class or "Error"
            s.errors_by_class[key] = s.errors_by_class.get(key, 0) + 1


class Progress:
    """A tqdm bar on a terminal, else an INFO log line every ``every`` seconds.

    Args:
        tally: The running tally it reports.
        mode: None: a bar when stderr is a terminal and tqdm is installed, else log lines;
            True: a bar whenever tqdm is installed; False: log lines only.
        every: Seconds between log lines.
    """

    def __init__(self, tally: Tally, *, mode: bool | None = None, every: float = 10.0) -> None:
        self.tally = tally
        self.every = every
        self.started = time.monotonic()
        self._next_log = self.started + every
        self._bar: Any = None
        self._restore_logging: Callable[[], None] = lambda: None
        notebook = mode is None and _in_notebook()
        want_bar = mode if mode is not None else notebook or _stderr_is_terminal()
        if want_bar:
            try:
                tqdm: Any = importlib.import_module("tqdm.auto" if notebook else "tqdm").tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                s = tally.summary
                self._bar = tqdm(total=s.total, initial=s.skipped, unit="call", file=sys.stderr,
                                 dynamic_ncols=True, smoothing=0.1, desc="batch")
                self._restore_logging = _route_console_logging(tqdm)
        self._last_postfix = 0.0

    def update(self) -> None:
        """Called after each record is written."""
        if self._bar is not None:
            self._bar.update(1)
            now = time.monotonic()
            if now - self._last_postfix > 0.5:
                self._last_postfix = now
                self._bar.set_postfix_str(f"errors={self.tally.errors} tokens={self.tally.tokens}", refresh=False)
        else:
            self.tick()

    def tick(self) -> None:
        """Log a progress line if one is due (called regularly by the driver)."""
        if self._bar is None and time.monotonic() >= self._next_log:
            self.log_line()

    def log_line(self) -> None:
        """Log where the run is now."""
        now = time.monotonic()
        self._next_log = now + self.every
        s = self.tally.summary
        elapsed = max(now - self.started, 1e-9)
        rate = s.written / elapsed
        done = s.skipped + s.written
        left = max(0, s.total - done)
        eta = f"{left / rate:.0f}s" if rate > 0 else "unknown"
        percent = f" ({100.0 * done / s.total:.1f}%)" if s.total else ""
        log.info("batch: %d/%d done%s, %.1f lines/s, ETA %s, %d error(s), %d token(s)", done, s.total, percent,
                 rate, eta, self.tally.errors, self.tally.tokens)

    def close(self) -> None:
        """Close the bar (or log the last line)."""
        if self._bar is not None:
            try:
                self._bar.set_postfix_str(f"errors={self.tally.errors} tokens={self.tally.tokens}", refresh=True)
                self._bar.close()
            finally:
                self._restore_logging()
                self._restore_logging = lambda: None
        else:
            self.log_line()


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _in_notebook() -> bool:
    """Whether this process is a Jupyter (IPython) kernel, where stderr is no terminal but a bar shows."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    try:
        shell = get_ipython()
        return shell is not None and "IPKernelApp" in getattr(shell, "config", {})
    except Exception:  # a half-initialised IPython: no bar
        return False


class _BarWriter(logging.Handler):
    """Writes log records through ``tqdm.write`` (above the bar) instead of over it."""

    def __init__(self, bar_class: Any, original: logging.StreamHandler[Any]) -> None:
        super().__init__(original.level)
        self.bar_class = bar_class
        self.stream = original.stream
        self.setFormatter(original.formatter)
        for log_filter in original.filters:
            self.addFilter(log_filter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bar_class.write(self.format(record), file=self.stream)
        except Exception:
            self.handleError(record)


def _route_console_logging(bar_class: Any) -> Callable[[], None]:
    """Swap the console handlers of the root and ``llmclient`` loggers for bar writers; returns the undo."""
    consoles = (sys.stdout, sys.stderr)
    swapped: list[tuple[logging.Logger, list[logging.Handler]]] = []
    for logger in (logging.getLogger(), logging.getLogger("llmclient")):
        handlers = list(logger.handlers)
        replaced = [_BarWriter(bar_class, h) if type(h) is logging.StreamHandler and h.stream in consoles else h
                    for h in handlers]
        if any(a is not b for a, b in zip(handlers, replaced, strict=True)):
            logger.handlers = replaced
            swapped.append((logger, handlers))

    def restore() -> None:
        for logger, handlers in swapped:
            logger.handlers = handlers

    return restore
