"""What a tree of clients shares: the connection pool, the thread pools, one clock.

A registry (or a client built on its own) owns a Runtime. Every client it builds sends on
the runtime's :class:`Transport`, runs ``submit``/``batch`` work on its executor, and runs
the hedged and deadline-bound attempts of composite clients on its internal executor. The
runtime owns all three, behind one lock:

* after ``close()`` each of them refuses work with :class:`ClientClosedError` (nothing
  quietly builds a new pool);
* after ``os.fork()`` the child renews all of them on first use: the parent's threads do
  not exist there and its sockets must not be shared (gunicorn ``--preload``, Celery
  prefork, ``multiprocessing``);
* :meth:`interrupt` cancels every call submitted to its pool so far, which is what a
  Ctrl-C (KeyboardInterrupt) reaching any wait inside llmclient does, so that a script
  exits at once instead of waiting for stalled requests.

The clock, sleep and random source are injected here so that retry timing can be tested
without waiting.
"""

from __future__ import annotations

import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from .cancel import CancelToken
from .errors import ClientClosedError
from .hooks import EventHook, Hooks, as_hooks

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ["Runtime", "DEFAULT_MAX_WORKERS", "DEFAULT_MAX_CONNECTIONS"]

DEFAULT_MAX_WORKERS = 32
#: Connections kept open per host by default: more than the request threads of a typical web
#: app, so that callers' own threads (not only llmclient's pool) never see "Connection pool
#: is full, discarding connection". Idle connections cost a socket each, nothing more.
DEFAULT_MAX_CONNECTIONS = 100
_REAL_SLEEP = time.sleep


class Abandonable(Protocol):
    """Work on the internal executor that must stop when the runtime closes (a Branch)."""

    def abandon_on_close(self) -> None:
        """Abort: the runtime is closing."""


class Runtime:
    """Shared resources of a client tree, created lazily and closed together.

    Args:
        max_workers: Threads in the shared pool (``submit``, ``batch``).
        max_connections: Connections kept open per host (default 100, and at least three
            per worker: composite clients run hedged attempts on up to two internal threads
            per worker). Threads beyond it still get a connection, but it is closed after use.
        transport: Use this transport instead of creating one.
        clock: A monotonic clock (seconds).
        sleep: How to wait between retries.
        random: A source of floats in [0, 1) for jitter.
        on_event: Event hooks (or a ``Collector``) that see every call of every client
            sharing this runtime.
    """

    def __init__(self, *, max_workers: int = DEFAULT_MAX_WORKERS, max_connections: int | None = None,
                 transport: Transport | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = _REAL_SLEEP, random: Callable[[], float] = random.random,
                 on_event: Hooks = None) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.max_connections = max(max_connections or DEFAULT_MAX_CONNECTIONS, 3 * max_workers)
        self.hooks: tuple[EventHook, ...] = as_hooks(on_event)
        self.clock = clock
        self.sleep = sleep
        self.random = random
        self._transport = transport
        self._close_hooks: list[Callable[[], None]] = []
        self._closed = False
        self._renew()
        _LIVE_RUNTIMES.add(self)

    def _renew(self) -> None:
        """Fresh thread pools and lock: at creation, and in a child after fork."""
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._internal: ThreadPoolExecutor | None = None
        self._abandonable: set[Abandonable] = set()
        self._calls_token = CancelToken()

    @property
    def unused(self) -> bool:
        """No pool created yet, no hooks, not closed: a hand-built tree may share another runtime instead."""
        return (self._transport is None and self._executor is None and self._internal is None and not self.hooks
                and not self._closed)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise ClientClosedError("this client was closed; create a new one")

    @property
    def transport(self) -> Transport:
        """The shared connection pool (created on first use)."""
        transport = self._transport
        if transport is None:
            from .transport import Transport  # requests is imported with the first transport

            with self._lock:
                self._refuse_if_closed()
                if self._transport is None:
                    self._transport = Transport(pool_size=self.max_connections)
                transport = self._transport
        return transport

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The shared thread pool (created on first use; ClientClosedError once closed)."""
        executor = self._executor
        if executor is None or self._closed:
            with self._lock:
                self._refuse_if_closed()
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="llmclient")
                executor = self._executor
        return executor

    @property
    def internal_executor(self) -> ThreadPoolExecutor:
        """Where composite clients run hedged and deadline-bound attempts.

        Kept apart from :attr:`executor` so that a ``batch()`` filling the shared pool
        cannot starve the attempts its own calls start: two threads per shared one.
        """
        internal = self._internal
        if internal is None or self._closed:
            with self._lock:
                self._refuse_if_closed()
                if self._internal is None:
                    self._internal = ThreadPoolExecutor(2 * self.max_workers, thread_name_prefix="llmclient-internal")
                internal = self._internal
        return internal

    def track(self, work: Abandonable) -> None:
        """Abandon ``work`` when the runtime closes (ClientClosedError if it already has)."""
        with self._lock:
            self._refuse_if_closed()
            self._abandonable.add(work)

    def untrack(self, work: Abandonable) -> None:
        """``work`` has ended."""
        with self._lock:
            self._abandonable.discard(work)

    # -- calls on the shared pool -------------------------------------------------------
    def calls_token(self) -> CancelToken:
        """The token of the calls submitted now: :meth:`interrupt` cancels it."""
        return self._calls_token

    def interrupt(self, reason: str = "interrupted (KeyboardInterrupt)") -> None:
        """Cancel every call submitted to the shared pool so far, running or queued.

        Called when a KeyboardInterrupt reaches a wait inside llmclient. Calls submitted
        afterwards run as usual: the runtime stays usable.
        """
        with self._lock:
            token, self._calls_token = self._calls_token, CancelToken()
        token.cancel(reason)

    def wait(self, seconds: float, cancel: CancelToken | None) -> None:
        """Wait ``seconds`` before a retry; a cancel token ends the wait at once (CancelledError).

        With the real clock the wait is the token's own (woken by ``cancel()``); with an
        injected ``sleep`` (tests) the injected one is called and the token checked after.
        """
        if cancel is None:
            self.sleep(seconds)
        elif self.sleep is _REAL_SLEEP:
            cancel.wait(seconds)
        else:
            self.sleep(seconds)
            cancel.raise_if_cancelled()

    def on_close(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` first when the runtime closes (before the pools are shut down)."""
        with self._lock:
            self._close_hooks.append(hook)

    def close(self) -> None:
        """Abandon internal work, stop the thread pools (waiting for running calls), close every connection.

        Idempotent; every later call raises :class:`ClientClosedError`.
        """
        with self._lock:
            self._closed = True
            hooks, self._close_hooks = self._close_hooks, []
            abandonable, self._abandonable = list(self._abandonable), set()
            executor, self._executor = self._executor, None
            internal, self._internal = self._internal, None
            transport = self._transport
        for hook in hooks:
            hook()
        for work in abandonable:
            work.abandon_on_close()
        for pool in (internal, executor):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        if transport is not None:
            transport.close()


_LIVE_RUNTIMES: weakref.WeakSet[Runtime] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for runtime in list(_LIVE_RUNTIMES):
        runtime._renew()  # the parent's pool threads do not exist here: drop their executors unshut


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
