"""The fake server's bounded, thread-safe log of the requests it received.

A server that runs for hours (a demo, a load test, ``llmclient fake-server``) must not keep
every request it ever saw: :class:`RequestLog` is a ``deque`` that keeps the newest
``maxlen`` entries. Handler threads append while a test reads, so appends and reads take a
lock, and iterating walks a snapshot. It compares equal to a list with the same entries, so
``server.requests == []`` reads as before.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, SupportsIndex, overload

from llmclient.testing.formats.base import RecordedRequest

__all__ = ["DEFAULT_MAX_LOGGED_REQUESTS", "RequestLog"]

#: How many requests a server keeps by default.
DEFAULT_MAX_LOGGED_REQUESTS = 10_000


class RequestLog(deque[RecordedRequest]):
    """The newest ``maxlen`` requests, oldest first (``maxlen=None``: no bound).

    It is a ``deque``: ``len``, indexing (``log[-1]``), ``clear()`` and ``maxlen`` work as
    usual; slices (``log[-3:]``) return lists; iteration walks a snapshot, so it is safe while
    the server appends.
    """

    def __init__(self, iterable: Iterable[RecordedRequest] = (), maxlen: int | None = None) -> None:
        super().__init__(iterable, maxlen)
        self._lock = threading.Lock()

    def append(self, request: RecordedRequest) -> None:
        """Add ``request``; beyond ``maxlen`` the oldest entry is dropped."""
        with self._lock:
            super().append(request)

    def snapshot(self) -> list[RecordedRequest]:
        """The entries as a list, taken atomically."""
        with self._lock:
            return list(super().__iter__())

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.snapshot())

    @overload
    def __getitem__(self, key: SupportsIndex) -> RecordedRequest: ...

    @overload
    def __getitem__(self, key: slice) -> list[RecordedRequest]: ...

    def __getitem__(self, key: SupportsIndex | slice) -> RecordedRequest | list[RecordedRequest]:
        if isinstance(key, slice):
            return self.snapshot()[key]
        with self._lock:
            return super().__getitem__(key)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple)):
            return self.snapshot() == list(other)
        return super().__eq__(other)

    def __reduce__(self) -> Any:
        return type(self), (self.snapshot(), self.maxlen)
