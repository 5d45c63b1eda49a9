"""The deadline watchdog: one thread that calls a callback when its deadline passes.

Why a thread: a socket timeout bounds one ``recv``, not an exchange. A server that trickles
its headers 20 bytes at a time, or a TLS handshake that crawls, restarts that timeout on
every read, so the limit a user set would never fire. The transport schedules each
exchange's deadline here; when it passes, the callback shuts the exchange's socket down and
the blocked read returns at once. Scheduling and cancelling cost a heap push and a flag;
the thread wakes only when the earliest live deadline is due.

After ``fork`` the child starts with an empty watchdog (the parent's thread does not exist
there), created again on first use.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
from collections.abc import Callable
from time import monotonic

__all__ = ["Watchdog", "WATCHDOG", "Deadline", "LINGER_S"]

log = logging.getLogger(__name__)

#: How long the thread waits with nothing to watch before it leaves (a new one starts on demand):
#: calls come and go quickly, and starting a thread per call would cost more than the call's
#: own bookkeeping.
LINGER_S = 30.0


class Deadline:
    """A scheduled callback; :meth:`cancel` it once the work it guards has ended."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Never call the callback (idempotent; a callback already running finishes)."""
        self.cancelled = True


class Watchdog:
    """Calls each scheduled callback on its own thread once its deadline (monotonic) passes."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._sweep_at = 1024
        self._leaving = False

    def schedule(self, when: float, callback: Callable[[], None]) -> Deadline:
        """Call ``callback()`` at monotonic time ``when`` unless cancelled first."""
        deadline = Deadline(when, callback)
        with self._lock:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (when, next(self._seq), deadline))
            if len(self._heap) >= self._sweep_at:
                self._sweep()
            self._leaving = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="llmclient-watchdog", daemon=True)
                self._thread.start()
            elif earliest is None or when < earliest:  # lingering on nothing, or due sooner than it waits for
                self._wake.notify()
        return deadline

    def pending(self) -> int:
        """Deadlines scheduled and not yet due (cancelled ones included until swept)."""
        with self._lock:
            return len(self._heap)

    def settle(self, timeout: float = 1.0) -> None:
        """Let the thread go now if no live deadline is left (a transport was closed).

        The thread also leaves by itself after :data:`LINGER_S` with nothing to watch; this
        only makes it prompt, so that a closed client leaves no thread behind.
        """
        with self._lock:
            thread = self._thread
            if thread is None or any(not entry[2].cancelled for entry in self._heap):
                return
            self._leaving = True
            self._wake.notify()
        if thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            due: list[Deadline] = []
            with self._lock:
                while not due:
                    now = monotonic()
                    heap = self._heap
                    while heap and (heap[0][0] <= now or (self._leaving and heap[0][2].cancelled)):
                        entry = heapq.heappop(heap)[2]
                        if not entry.cancelled:
                            due.append(entry)
                    if due:
                        break
                    if not heap:
                        if self._leaving or not self._wake.wait(LINGER_S) and not self._heap:
                            # nothing to watch (for a while): leave; schedule() starts a new thread
                            self._thread, self._leaving = None, False
                            return
                        continue
                    self._wake.wait(heap[0][0] - now)
            for entry in due:
                if entry.cancelled:
                    continue
                try:
                    entry.callback()
                except Exception:  # a deadline callback must never kill the watchdog
                    log.debug("deadline callback failed", exc_info=True)

    def _sweep(self) -> None:
        """Drop cancelled entries; amortised, as the heap is swept each time it doubles."""
        live = [e for e in self._heap if not e[2].cancelled]
        heapq.heapify(live)
        self._heap = live
        self._sweep_at = max(1024, 2 * len(live))


#: The process's watchdog, shared by every transport.
WATCHDOG = Watchdog()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=WATCHDOG._reset)
