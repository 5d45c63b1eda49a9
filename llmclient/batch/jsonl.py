"""The files of a batch run: reading input lines, checking them, and the append-only output with resume.

Input is streamed line by line (never the whole file in memory). Before any call, one pass
checks for duplicate ids (keeping only the ids) and counts the lines. The output is a JSONL
file appended to as lines finish; on resume it is read back once to learn which ids are done
and which of those failed (keeping only their sets) and a truncated or unreadable tail left
by a crash is cut off.

An input line is either llmclient's ``{"id", "messages" | "prompt", "params"?}`` or a line of
an OpenAI Batch API input file, ``{"custom_id", "method": "POST", "url":
"/v1/chat/completions", "body": {"model", "messages", ...}}``: ``custom_id`` is the id, the
body's other fields (but ``model`` and ``stream``: the configured client decides those) are
the call's parameters.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Union

from ..errors import ConfigError
from ..providers.token_estimate import estimate_tokens  # one rule with the leaf client's limiter; re-exported
from .records import RecordKey, input_error_record, record_cost, record_state

__all__ = ["InputLine", "InputScan", "DuplicateIdError", "OutputFile", "LineId", "PathLike", "read_input",
           "scan_input", "read_done", "prepare_output", "DoneSet", "input_error_record", "estimate_tokens", "dumps"]

log = logging.getLogger(__name__)

LineId = Union[str, int]
PathLike = Union[str, "os.PathLike[str]"]

#: How many duplicate ids an error message lists.
_MAX_LISTED = 20


class DuplicateIdError(ConfigError):
    """The input names the same id more than once (found before any call is made).

    Attributes:
        duplicates: Each duplicated id with the line numbers it appears on.
    """

    def __init__(self, path: str, duplicates: dict[LineId, list[int]]) -> None:
        self.duplicates = duplicates
        problems = [f"id {key!r} on lines {', '.join(map(str, lines))}"
                    for key, lines in list(duplicates.items())[:_MAX_LISTED]]
        if len(duplicates) > _MAX_LISTED:
            problems.append(f"... and {len(duplicates) - _MAX_LISTED} more")
        super().__init__(f"{path}: {len(duplicates)} id(s) appear more than once", problems=problems)


@dataclass(frozen=True, slots=True)
class InputLine:
    """One non-blank input line: a call to make, or the reason it cannot be made.

    Attributes:
        line: 1-based line number in the input file.
        id: The line's id (None when it has none or is not JSON).
        messages: ``messages`` (a list) or ``prompt`` (a string) as given.
        params: Per-line call parameters.
        problem: Why the line is malformed (None when it is fine).
    """

    line: int
    id: LineId | None
    messages: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


def _parse(line_number: int, raw: bytes) -> InputLine:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return InputLine(line_number, None, problem=f"line {line_number}: invalid JSON ({exc})")
    if not isinstance(data, dict):
        return InputLine(line_number, None, problem=f"line {line_number}: not a JSON object")
    if "custom_id" in data and "id" not in data:
        return _parse_openai(line_number, data)
    key = data.get("id")
    if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "":
        return InputLine(line_number, None, problem=f"line {line_number}: no 'id' (a non-empty string or an integer)")
    params = data.get("params", {})
    if not isinstance(params, dict):
        return InputLine(line_number, key, problem=f"line {line_number}: 'params' must be an object")
    messages = data.get("messages")
    if messages is None:
        messages = data.get("prompt")
        if not isinstance(messages, str) or not messages:
            return InputLine(line_number, key, problem=f"line {line_number}: neither 'messages' nor 'prompt'")
    elif not isinstance(messages, list) or not messages:
        return InputLine(line_number, key, problem=f"line {line_number}: 'messages' must be a non-empty list")
    return InputLine(line_number, key, messages, params)


#: Body fields of an OpenAI Batch line that are not call parameters here.
_OPENAI_BODY_IGNORED = frozenset({"messages", "model", "stream", "stream_options"})


def _parse_openai(line_number: int, data: dict[str, Any]) -> InputLine:
    """A line of an OpenAI Batch API input file (``custom_id``, ``method``, ``url``, ``body``)."""
    key = data["custom_id"]
    where = f"line {line_number}"
    if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "":
        return InputLine(line_number, None, problem=f"{where}: 'custom_id' must be a non-empty string")
    method, url = data.get("method", "POST"), data.get("url", "/v1/chat/completions")
    if not isinstance(method, str) or method.upper() != "POST":
        return InputLine(line_number, key, problem=f"{where}: 'method' must be POST (got {method!r})")
    if url not in ("/v1/chat/completions", "/chat/completions"):
        return InputLine(line_number, key, problem=f"{where}: 'url' {url!r} is not supported "
                                                   "(only /v1/chat/completions)")
    body = data.get("body")
    if not isinstance(body, dict):
        return InputLine(line_number, key, problem=f"{where}: 'body' must be an object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return InputLine(line_number, key, problem=f"{where}: 'body.messages' must be a non-empty list")
    params = {k: v for k, v in body.items() if k not in _OPENAI_BODY_IGNORED}
    return InputLine(line_number, key, messages, params)


def read_input(path: PathLike) -> Iterator[InputLine]:
    """Yield every non-blank line of ``path`` in order, parsed (malformed lines carry a ``problem``)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if raw.strip():
                yield _parse(number, raw)


@dataclass(slots=True)
class InputScan:
    """What the checking pass learnt.

    Attributes:
        lines: Non-blank input lines.
        malformed: Lines that cannot be sent (each gets an ``InputError`` record).
        done: Lines that already have a record, skipped by this run.
        done_failed: Of those, the lines whose record is a failure.
        redo: The keys of the lines whose failure record is to be dropped and the line
            redone (``retry_failed``).
    """

    lines: int = 0
    malformed: int = 0
    done: int = 0
    done_failed: int = 0
    redo: set[RecordKey] = field(default_factory=set)


def prepare_output(input: PathLike, output: PathLike, *, retry_failed: bool = False) -> tuple[DoneSet, InputScan]:
    """Before a run: read what ``output`` has, check ``input``, and (``retry_failed``) drop the failures to redo.

    Raises:
        DuplicateIdError: Some ids repeat in the input.
        ConfigError: The input cannot be read.
    """
    done = read_done(output)
    scan = scan_input(input, done=done, retry_failed=retry_failed)
    if scan.redo or (retry_failed and done.repeated):
        from .compact import compact_output

        compact_output(output, scan.redo)
        done.forget(scan.redo)
        log.info("%s: %d failed line(s) will be redone", output, len(scan.redo))
    return done, scan


def scan_input(path: PathLike, *, done: DoneSet | None = None, retry_failed: bool = False) -> InputScan:
    """Count the lines and check that no id repeats, before any call is made.

    Args:
        path: The JSONL input.
        done: What the output already has, to count the lines a resumed run will skip.
        retry_failed: Lines whose record in ``done`` is a failure are to be redone:
            they go to ``redo`` instead of being counted as done (and so does the failure
            record of an id-less line that now has an id).

    Raises:
        DuplicateIdError: Some ids appear more than once (listed with their line numbers).
        ConfigError: The input cannot be read.
    """
    first_seen: dict[LineId, int] = {}
    duplicates: dict[LineId, list[int]] = {}
    scan = InputScan()
    try:
        for item in read_input(path):
            scan.lines += 1
            if item.problem is not None:
                scan.malformed += 1
            if retry_failed and done is not None and item.id is not None and ("line", item.line) in done.failures:
                scan.redo.add(("line", item.line))  # the failure of an id-less line that has an id now
            if done is not None and done.has(item):
                if not done.failed(item):
                    scan.done += 1
                elif retry_failed:
                    scan.redo.add(DoneSet.key(item))
                else:
                    scan.done += 1
                    scan.done_failed += 1
            if item.id is None:
                continue
            seen = first_seen.setdefault(item.id, item.line)
            if seen != item.line:
                duplicates.setdefault(item.id, [seen]).append(item.line)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the input ({exc.strerror})") from None
    if duplicates:
        raise DuplicateIdError(str(path), duplicates)
    return scan


@dataclass(slots=True)
class DoneSet:
    """The lines the output already has a record for, and those whose newest record is a failure.

    Keys are ``("id", id)``, or ``("line", n)`` for an id-less malformed line.
    """

    keys: set[RecordKey] = field(default_factory=set)
    failures: set[RecordKey] = field(default_factory=set)
    #: Whether some line has more than one record (the newest counts).
    repeated: bool = False
    #: US dollars the success records say their calls cost (what a resumed ``max_cost`` counts).
    spent: Decimal = field(default_factory=lambda: Decimal(0))

    @staticmethod
    def key(item: InputLine) -> RecordKey:
        """The key of an input line."""
        return ("id", item.id) if item.id is not None else ("line", item.line)

    def has(self, item: InputLine) -> bool:
        """Whether ``item`` has a record."""
        return self.key(item) in self.keys

    def failed(self, item: InputLine) -> bool:
        """Whether ``item``'s newest record is a failure (an error or an input error)."""
        return self.key(item) in self.failures

    def add(self, key: RecordKey, ok: bool) -> None:
        """Note a record (a later one for the same key replaces the earlier)."""
        if key in self.keys:
            self.repeated = True
        self.keys.add(key)
        if ok:
            self.failures.discard(key)
        else:
            self.failures.add(key)

    @property
    def ids(self) -> set[LineId]:
        """The ids that have a record."""
        return {value for kind, value in self.keys if kind == "id"}

    def forget(self, keys: set[RecordKey]) -> None:
        """Drop ``keys`` (their records were removed from the output)."""
        self.keys -= keys
        self.failures -= keys

    def __len__(self) -> int:
        return len(self.keys)


def read_done(path: PathLike, *, repair: bool = True) -> DoneSet:
    """Read an existing output: what is done (and failed), and cut a crash's truncated tail off.

    A record counts when it is a complete line (ends with a newline) holding a record of
    either output format (see :func:`~llmclient.batch.records.record_state`); when a line
    has several records, the newest (last) one counts. Everything after the last record (a
    line cut short by a kill, or garbage) is truncated away when ``repair`` is true, so that
    appending starts on a clean line; a bad line in the middle is kept and logged.
    """
    done = DoneSet()
    if not os.path.exists(path):
        return done
    good_end = offset = 0
    bad_lines = pending_bad = 0
    with open(path, "rb") as handle:
        for raw in handle:
            offset += len(raw)
            state, record = None, None
            if raw.endswith(b"\n"):
                try:
                    record = json.loads(raw)
                    state = record_state(record)
                except ValueError:
                    state = None
            if state is not None:
                done.add(*state)
                if state[1]:
                    done.spent += record_cost(record) or 0
                bad_lines, pending_bad = bad_lines + pending_bad, 0
                good_end = offset
            elif raw.strip():
                pending_bad += 1  # only "in the middle" once a good record follows
    if offset > good_end:
        if repair:
            log.warning("%s: dropping %d byte(s) after the last complete record (an interrupted run); "
                        "those lines will be redone", path, offset - good_end)
            with open(path, "r+b") as handle:
                handle.truncate(good_end)
    if bad_lines:
        log.warning("%s: %d unreadable line(s) in the middle of the output were kept as they are", path, bad_lines)
    return done


class OutputFile:
    """The append-only output: each record is written whole, flushed, and fsync'd at least every second.

    Only one thread (the driver) writes. A record is one ``write`` of one complete line, so a
    kill can leave at most one truncated line at the end, which :func:`read_done` removes.

    Args:
        path: The output file (created if missing).
        fsync_every: Seconds between fsyncs (and one at :meth:`close`).
    """

    def __init__(self, path: PathLike, *, fsync_every: float = 1.0) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._fsync_every = fsync_every
        self._last_sync = time.monotonic()
        self._dirty = False

    def write(self, data: bytes) -> None:
        """Append one record (``data`` is a complete line ending with a newline)."""
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._dirty = True
        now = time.monotonic()
        if now - self._last_sync >= self._fsync_every:
            self.sync(now)

    def sync(self, now: float | None = None) -> None:
        """Force what was written to disk."""
        if self._dirty:
            os.fsync(self._fd)
            self._dirty = False
        self._last_sync = time.monotonic() if now is None else now

    def close(self) -> None:
        """Fsync and close (idempotent)."""
        if self._fd >= 0:
            try:
                self.sync()
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def dumps(record: dict[str, Any]) -> bytes:
    """One record as a JSONL line (UTF-8, newline-terminated)."""
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")
