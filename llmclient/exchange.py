"""One HTTP exchange's deadlines, and the urllib3 hooks that let the transport enforce them.

Every time limit of an exchange is a deadline counted from the moment it was sent:
``connect`` until the connection (TCP and TLS) is up, ``first_token`` until the first
byte of a stream's body, ``request`` until the last byte. A socket timeout cannot keep
them: it bounds one ``recv``, and a server trickling its headers restarts it on every
read. So an :class:`Exchange` puts its earliest deadline on the watchdog; when it passes,
the exchange shuts its connection's socket down, and the read blocked on it returns at once
(the transport then raises the timeout the exchange names in :attr:`Exchange.expired`).

urllib3 does not expose the connection behind a request, nor keep the socket of an answer
sent with ``Connection: close`` (http.client detaches it from the connection). The pool and
connection classes below are the only places llmclient reaches inside urllib3:

* the pool's ``_get_conn``/``_put_conn``: the connection taken for a request is attached to
  the calling thread's exchange and :class:`~llmclient.abort.AbortScope`, and leaves both
  when it goes back to the pool (so a late deadline never touches another request);
* the connection's ``connect``: marks the exchange connected and remembers the socket, which
  :func:`socket_of` still finds after http.client has let go of it.

``tests/test_urllib3_contract.py`` pins each of these behaviours, so that a urllib3 upgrade
that changes them fails a test rather than a user.
"""

from __future__ import annotations

import socket
import threading
from time import monotonic
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

from .abort import AbortScope
from .watchdog import WATCHDOG, Deadline

__all__ = ["Exchange", "ScopedHTTPPool", "ScopedHTTPSPool", "socket_of", "shutdown_socket"]

_CURRENT = threading.local()


class Exchange:
    """The deadlines of one request and the connection it runs on.

    Args:
        started: ``time.monotonic()`` when sending began.
        connect: Seconds allowed to open the connection, or None.
        first_byte: Seconds allowed until the first byte of the body (streams), or None.
        request: Seconds allowed for the whole exchange, or None.
    """

    __slots__ = ("connect_by", "first_byte_by", "done_by", "connected", "got_first_byte", "expired",
                 "_conn", "_lock", "_deadline", "_ended")

    def __init__(self, started: float, connect: float | None, first_byte: float | None,
                 request: float | None) -> None:
        self.connect_by = None if connect is None else started + connect
        self.first_byte_by = None if first_byte is None else started + first_byte
        self.done_by = None if request is None else started + request
        self.connected = False
        self.got_first_byte = False
        #: The limit that passed (``connect``, ``first_token``, ``request``), once one has.
        self.expired: str | None = None
        self._conn: Any = None
        self._lock = threading.Lock()
        self._deadline: Deadline | None = None
        self._ended = False
        self._arm()

    # -- the deadlines ------------------------------------------------------------------
    def _next_due(self) -> float | None:
        due = self.done_by
        for other in (None if self.connected else self.connect_by,
                      None if self.got_first_byte else self.first_byte_by):
            if other is not None and (due is None or other < due):
                due = other
        return due

    def _arm(self) -> None:
        when = self._next_due()
        self._deadline = None if when is None else WATCHDOG.schedule(when, self._on_deadline)

    def _passed(self, now: float) -> str | None:
        if not self.connected and self.connect_by is not None and self.connect_by <= now:
            return "connect"
        if not self.got_first_byte and self.first_byte_by is not None and self.first_byte_by <= now:
            return "first_token"
        if self.done_by is not None and self.done_by <= now:
            return "request"
        return None

    def _on_deadline(self) -> None:
        with self._lock:
            if self._ended:
                return
            kind = self._passed(monotonic())
            if kind is None:  # the limit that was due no longer applies (e.g. connected): the next one
                self._arm()
                return
            self.expired = kind
            sock = socket_of(self._conn)
        shutdown_socket(sock)

    def end(self) -> None:
        """The exchange is over: its deadlines no longer apply (idempotent)."""
        with self._lock:
            self._ended = True
            self._conn = None
            deadline = self._deadline
        if deadline is not None:
            deadline.cancel()

    # -- the connection -------------------------------------------------------------------
    def attach(self, conn: Any) -> None:
        with self._lock:
            self._conn = conn
            conn._llmclient_exchange = self
            if conn.sock is not None:  # a pooled connection, already up
                self.connected = True
            expired = self.expired
        if expired is not None:
            shutdown_socket(socket_of(conn))

    def detach(self, conn: Any) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
            conn._llmclient_exchange = None

    def __enter__(self) -> Exchange:
        _CURRENT.exchange = self
        return self

    def __exit__(self, *exc: object) -> None:
        _CURRENT.exchange = None


def socket_of(conn: Any) -> socket.socket | None:
    """The socket a connection's answer is read from, even after http.client detached it."""
    if conn is None:
        return None
    sock = conn.sock
    return sock if sock is not None else getattr(conn, "_llmclient_sock", None)


def shutdown_socket(sock: socket.socket | None) -> None:
    """Shut ``sock`` down both ways, so that a read blocked on it returns (never raises)."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _ExchangeConnectionMixin:
    """Marks the exchange connected once ``connect`` (TCP, and TLS for https) has finished."""

    _llmclient_sock: Any = None
    _llmclient_exchange: Exchange | None = None
    sock: Any

    def connect(self) -> None:
        self._llmclient_sock = None
        super().connect()  # type: ignore[misc]
        self._llmclient_sock = self.sock
        exchange = self._llmclient_exchange
        if exchange is not None:
            exchange.connected = True


class _HTTPConnection(_ExchangeConnectionMixin, HTTPConnection):
    pass


class _HTTPSConnection(_ExchangeConnectionMixin, HTTPSConnection):
    pass


class _ScopedPoolMixin:
    """Attaches each connection taken from the pool to the calling thread's exchange and AbortScope."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        exchange = getattr(_CURRENT, "exchange", None)
        if exchange is not None:
            exchange.attach(conn)
        scope = AbortScope.current()
        if scope is not None:
            scope._track(conn)
        return conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            exchange = getattr(conn, "_llmclient_exchange", None)
            if exchange is not None:
                exchange.detach(conn)
            scope = getattr(conn, "_llmclient_scope", None)
            if scope is not None:
                scope._release(conn)
        super()._put_conn(conn)  # type: ignore[misc]


class ScopedHTTPPool(_ScopedPoolMixin, urllib3.HTTPConnectionPool):
    """The http pool class the transport mounts."""

    ConnectionCls = _HTTPConnection


class ScopedHTTPSPool(_ScopedPoolMixin, urllib3.HTTPSConnectionPool):
    """The https pool class the transport mounts."""

    ConnectionCls = _HTTPSConnection
