"""AbortScope: interrupt, from another thread, the HTTP requests a piece of work has in flight.

A hedged attempt, a deadline-bound attempt or a cancellable call runs inside ``with
AbortScope(...)``; the transport puts every connection it takes from the pool inside the
scope of the thread taking it, until the connection goes back. ``abort()`` shuts those
sockets down, so a read blocked on them returns at once (with an error the caller maps to
a timeout or a cancellation). Kept apart from ``transport.py``, which feeds it, because it
needs nothing from requests.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

__all__ = ["AbortScope"]

_THREAD = threading.local()


class AbortScope:
    """The connections used by the requests made inside ``with scope:``, to interrupt from another thread.

    Composite clients run a hedged (or deadline-bound) attempt inside a scope; calling
    :meth:`abort` shuts its sockets down, so that a read blocked on them ends at once, and
    aborts the scopes opened inside it (nested composites). A connection leaves the scope
    when it goes back to the pool, so aborting never touches another call's request.
    """

    def __init__(self, parent: AbortScope | None = None) -> None:
        self._lock = threading.Lock()
        self._conns: set[Any] = set()
        self._children: list[AbortScope] = []
        self.aborted = False
        self._outer: AbortScope | None = None
        if parent is not None:
            with parent._lock:
                parent._children.append(self)
                self.aborted = parent.aborted

    @staticmethod
    def current() -> AbortScope | None:
        """The scope the calling thread is inside, if any."""
        return getattr(_THREAD, "scope", None)

    def abort(self) -> None:
        """Shut down every connection in use inside this scope (and nested scopes); idempotent."""
        with self._lock:
            self.aborted = True
            conns, children = list(self._conns), list(self._children)
        for child in children:
            child.abort()
        for conn in conns:
            _shutdown_conn(conn)

    def _track(self, conn: Any) -> None:
        with self._lock:
            aborted = self.aborted
            if not aborted:
                self._conns.add(conn)
                conn._llmclient_scope = self
        if aborted:
            _shutdown_conn(conn)

    def _release(self, conn: Any) -> None:
        with self._lock:
            self._conns.discard(conn)
            conn._llmclient_scope = None

    def __enter__(self) -> AbortScope:
        self._outer = AbortScope.current()
        _THREAD.scope = self
        return self

    def __exit__(self, *exc: object) -> None:
        _THREAD.scope = self._outer


def _shutdown_conn(conn: Any) -> None:
    # http.client lets go of the socket of an answer sent with "Connection: close"; the
    # transport's connection class keeps it as _llmclient_sock (see exchange.py).
    sock = getattr(conn, "sock", None) or getattr(conn, "_llmclient_sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
