"""Rewriting a batch output so that every line keeps only its newest record (``retry_failed``).

A run with ``retry_failed`` redoes the lines whose record is a failure. Before it sends
anything, their failure records (and any older record of a line that has a newer one) are
removed from the output, which is rewritten safely: the kept lines are copied byte for byte
to a file beside it, flushed and fsync'd, renamed over the output with ``os.replace`` (atomic
on POSIX and Windows), and the directory is fsync'd so that the rename itself survives a
crash. A kill at any point leaves either the old file or the new one, never a mix; the new
records of the redone lines are then appended as usual, so that afterwards every id has
exactly one record, the newest.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .records import RecordKey, record_state

__all__ = ["compact_output"]

log = logging.getLogger(__name__)


def compact_output(path: str | os.PathLike[str], drop: set[RecordKey]) -> int:
    """Keep only the newest record of each line, and none for the keys in ``drop``.

    Lines that are not records (kept as they were by :func:`~llmclient.batch.jsonl.read_done`)
    are kept too. Returns how many records were removed.
    """
    target = Path(path)
    last: dict[RecordKey, int] = {}
    with open(target, "rb") as handle:
        for number, raw in enumerate(handle):
            state = _state(raw)
            if state is not None:
                last[state[0]] = number
    removed = 0
    aside = target.with_name(f".{target.name}.{os.getpid()}.compact")
    try:
        with open(target, "rb") as source, open(aside, "wb") as copy:
            for number, raw in enumerate(source):
                state = _state(raw)
                if state is not None and (state[0] in drop or last[state[0]] != number):
                    removed += 1
                    continue
                copy.write(raw)
            copy.flush()
            os.fsync(copy.fileno())
        os.replace(aside, target)
    except BaseException:
        aside.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)
    log.info("%s: removed %d record(s) to be redone or superseded", target, removed)
    return removed


def _state(raw: bytes) -> tuple[RecordKey, bool] | None:
    if not raw.endswith(b"\n"):
        return None
    try:
        return record_state(json.loads(raw))
    except ValueError:
        return None


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
