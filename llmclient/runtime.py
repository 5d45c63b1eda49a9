"""What a tree of clients shares: one connection pool, one thread pool, one clock.

A registry (or a client built on its own) owns a Runtime. Every client it builds sends on
the runtime's :class:`Transport` and runs ``submit``/``batch`` work on its executor, so the
pool of connections is sized to the pool of threads. The clock, sleep and random source
are injected here so that retry timing can be tested without waiting.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

from .hooks import EventHook, Hooks, as_hooks

if TYPE_CHECKING:
    from .cancel import CancelToken
    from .transport import Transport

__all__ = ["Runtime", "DEFAULT_MAX_WORKERS"]

DEFAULT_MAX_WORKERS = 32
_REAL_SLEEP = time.sleep


class Runtime:
    """Shared resources of a client tree, created lazily and closed together.

    Args:
        max_workers: Threads in the shared pool; connections kept per host are three times this
            (composite clients run hedged attempts on up to twice as many internal threads).
        transport: Use this transport instead of creating one.
        clock: A monotonic clock (seconds).
        sleep: How to wait between retries.
        random: A source of floats in [0, 1) for jitter.
        on_event: Event hooks (or a ``Collector``) that see every call of every client
            sharing this runtime.
    """

    def __init__(self, *, max_workers: int = DEFAULT_MAX_WORKERS, transport: Transport | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = _REAL_SLEEP,
                 random: Callable[[], float] = random.random, on_event: Hooks = None) -> None:
        self.max_workers = max_workers
        self.hooks: tuple[EventHook, ...] = as_hooks(on_event)
        self.clock = clock
        self.sleep = sleep
        self.random = random
        self._transport = transport
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._close_hooks: list[Callable[[], None]] = []
        self.closed = False

    @property
    def transport(self) -> Transport:
        """The shared connection pool (created on first use)."""
        if self._transport is None:
            from .transport import Transport  # requests is imported with the first transport

            with self._lock:
                if self._transport is None:
                    # The shared pool's threads, plus up to twice as many internal threads of
                    # composite clients (hedged attempts, see strategies/dispatch.py).
                    self._transport = Transport(pool_size=3 * self.max_workers)
        return self._transport

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The shared thread pool (created on first use)."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="llmclient")
        return self._executor

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
        """Call ``hook`` first when the runtime closes.

        Composite clients use it to abort their in-flight hedged attempts and stop their
        internal threads before the shared pools are shut down.
        """
        with self._lock:
            self._close_hooks.append(hook)

    def close(self) -> None:
        """Stop the thread pool (waiting for running calls) and close every connection."""
        self.closed = True
        with self._lock:
            hooks, self._close_hooks = self._close_hooks, []
        for hook in hooks:
            hook()
        with self._lock:
            executor, self._executor = self._executor, None
            transport = self._transport
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        if transport is not None:
            transport.close()
