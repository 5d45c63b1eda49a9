"""CancelToken: stop a call from any thread, at once, wherever it is.

``token.cancel()`` ends a backoff sleep immediately, aborts the request in flight (its socket
is shut down, so a blocked read returns), stops retries and fallbacks, and stops a stream;
the caller gets :class:`~llmclient.errors.CancelledError`. One token may be shared by many
calls (e.g. everything a web request started), and cancelling twice is harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .errors import CancelledError

__all__ = ["CancelToken"]

log = logging.getLogger(__name__)


class CancelToken:
    """A thread-safe, shareable cancellation flag with callbacks."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next = 0
        self.reason = "cancelled by the caller"

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._event.is_set()

    def cancel(self, reason: str | None = None) -> None:
        """Cancel every call using this token (from any thread)."""
        with self._lock:
            if self._event.is_set():
                return
            if reason:
                self.reason = reason
            self._event.set()
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:  # aborting a socket that is already gone is fine
                # The class only: an exception's text may quote a URL or a header.
                log.debug("cancel callback %s raised %s; ignored", _name_of(callback), type(exc).__name__)

    def raise_if_cancelled(self) -> None:
        """Raise :class:`CancelledError` if the token was cancelled."""
        if self._event.is_set():
            raise CancelledError(self.reason, retryable=False)

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, ending early (with CancelledError) when cancelled."""
        if self._event.wait(max(seconds, 0.0)):
            self.raise_if_cancelled()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` when cancelled (at once if already); returns an unregister function."""
        with self._lock:
            if not self._event.is_set():
                key = self._next
                self._next += 1
                self._callbacks[key] = callback

                def unregister() -> None:
                    with self._lock:
                        self._callbacks.pop(key, None)

                return unregister
        callback()
        return lambda: None

    def __repr__(self) -> str:
        return f"<CancelToken cancelled={self.cancelled}>"


def _name_of(callback: Callable[[], None]) -> str:
    """A callback's qualified name for a log line (never its repr, which may show its state)."""
    return str(getattr(callback, "__qualname__", type(callback).__qualname__))
