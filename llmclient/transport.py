"""HTTP for every provider: one ``requests.Session`` per Transport, and the only import of requests.

Why it is written the way it is (each point was measured or bitten, see DESIGN.md):

* ``trust_env`` is off: requests would re-read every environment variable on every
  request. Proxies (``HTTPS_PROXY``, ``NO_PROXY``...) are resolved once per origin and the
  CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) once per transport instead.
* The pool is sized to the concurrency the caller allows, so 32 threads never see
  "Connection pool is full"; ``max_retries=0`` underneath, because retrying is the retry
  policy's job; redirects are never followed, because credentials must not follow them.
* Bodies are read with ``read1`` (what is available), never a fixed chunk size, so a
  stream sent with a Content-Length is not held back; the socket's timeout is set before
  every read to what is left of the limit in force (request, first token, idle), which
  is how a stalled stream is detected and its socket closed.
* After ``fork`` the child gets a fresh session: sharing pooled sockets (and TLS state)
  with the parent would corrupt both.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from dataclasses import dataclass, replace
from time import monotonic
from typing import Any, Iterator, Mapping

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from ._version import __version__
from .abort import AbortScope
from .errors import ConfigError, LLMTimeoutError, TransportError
from .models import HttpRequest, HttpResponse
from .redaction import redact_url

__all__ = ["Timeouts", "Transport", "StreamingResponse", "USER_AGENT"]

log = logging.getLogger(__name__)

USER_AGENT = f"llmclient/{__version__} python-requests/{requests.__version__}"

_READ_SIZE = 65536


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Time limits of one HTTP exchange, in seconds (``None``: no limit).

    Attributes:
        connect: To open the TCP (and TLS) connection.
        request: For the whole exchange, from sending to the last byte of the body
            (for a stream: of the whole stream).
        first_token: From sending until the first byte of a stream's body.
        idle: Longest gap between two reads of a stream's body.
    """

    connect: float | None = 10.0
    request: float | None = 600.0
    first_token: float | None = None
    idle: float | None = None

    @classmethod
    def from_options(cls, http: Mapping[str, Any] | None) -> Timeouts:
        """Build from an ``options.http`` block (``connect_timeout_ms`` and friends)."""
        if not http:
            return cls()
        base = cls()

        def pick(key: str, default: float | None) -> float | None:
            if key not in http:
                return default
            value = http[key]
            return None if value is None else float(value) / 1000.0

        return cls(
            connect=pick("connect_timeout_ms", base.connect),
            request=pick("request_timeout_ms", base.request),
            first_token=pick("time_to_first_token_timeout_ms", base.first_token),
            idle=pick("idle_timeout_ms", base.idle),
        )

    def capped(self, remaining: float | None) -> Timeouts:
        """These limits, none longer than ``remaining`` (an enclosing deadline)."""
        if remaining is None:
            return self
        remaining = max(remaining, 0.001)
        return replace(
            self,
            connect=remaining if self.connect is None else min(self.connect, remaining),
            request=remaining if self.request is None else min(self.request, remaining),
        )


class StreamingResponse:
    """A response whose body is read as it arrives; close it to release the connection.

    Iterating yields the body's bytes as they come, enforcing the first-token and idle
    limits. ``read()`` returns the whole (remaining) body, e.g. for an error answer.
    """

    def __init__(self, transport: Transport, raw: requests.Response, started: float, timeouts: Timeouts) -> None:
        self.status_code: int = raw.status_code
        self.headers: dict[str, str] = {k.lower(): v for k, v in raw.headers.items()}
        self.url = raw.url
        self._raw = raw
        self._transport = transport
        self._started = started
        self._timeouts = timeouts
        self._request_deadline = None if timeouts.request is None else started + timeouts.request
        self._got_bytes = False
        self._done = False
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            while True:
                data = self._read1()
                if not data:
                    self._finish()
                    return
                yield data
        finally:
            if not self._done:
                self.close()

    def read(self) -> bytes:
        """Read the rest of the body at once (used for error answers and JSON bodies)."""
        parts = []
        try:
            while True:
                data = self._read1()
                if not data:
                    break
                parts.append(data)
        except BaseException:
            self.close()
            raise
        self._finish()
        return b"".join(parts)

    def _read1(self) -> bytes:
        limit, kind = self._next_limit()
        if limit is not None:
            if limit <= 0:
                self.close()
                raise self._timeout(kind)
            _set_socket_timeout(self._raw, limit)
        try:
            data: bytes = self._raw.raw.read1(_READ_SIZE, decode_content=True)  # we send Accept-Encoding: gzip
        except (ReadTimeoutError, TimeoutError):
            self.close()
            raise self._timeout(kind) from None
        except (ProtocolError, OSError, requests.RequestException) as exc:
            self.close()
            raise TransportError(f"connection broken while reading the response from {self._where()}: "
                                 f"{_reason(exc)}") from None
        if data:
            self._got_bytes = True
        return data

    def _next_limit(self) -> tuple[float | None, str]:
        now = monotonic()
        candidates: list[tuple[float, str]] = []
        if self._request_deadline is not None:
            candidates.append((self._request_deadline - now, "request"))
        if not self._got_bytes and self._timeouts.first_token is not None:
            candidates.append((self._started + self._timeouts.first_token - now, "first_token"))
        if self._got_bytes and self._timeouts.idle is not None:
            candidates.append((self._timeouts.idle, "idle"))
        if not candidates:
            return None, ""
        return min(candidates)

    def _timeout(self, kind: str) -> LLMTimeoutError:
        limits = {"request": self._timeouts.request, "first_token": self._timeouts.first_token,
                  "idle": self._timeouts.idle}
        names = {"request": "request_timeout_ms", "first_token": "time_to_first_token_timeout_ms",
                 "idle": "idle_timeout_ms"}
        ms = round((limits.get(kind) or 0) * 1000)
        return LLMTimeoutError(f"{names[kind]} ({ms} ms) passed while reading from {self._where()}", kind=kind)

    def _where(self) -> str:
        return redact_url(self.url)

    def _finish(self) -> None:
        self._done = True
        self._raw.raw.release_conn()
        self._transport._forget(self)

    def close(self) -> None:
        """Release the connection: back to the pool when the body was read, else closed."""
        if self._closed:
            return
        self._closed = True
        if not self._done:
            self._raw.raw.close()
        self._raw.raw.release_conn()
        self._transport._forget(self)

    def __enter__(self) -> StreamingResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport:
    """Sends ``HttpRequest`` objects on one pooled ``requests.Session``; thread-safe.

    Args:
        pool_size: Connections kept per host; match it to the threads you run.
        verify: TLS verification: True, False, or a CA bundle path. Default: True,
            or ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` when set.
        user_agent: The ``User-Agent`` header (requests' own names llmclient).
    """

    def __init__(self, *, pool_size: int = 32, verify: bool | str | None = None,
                 user_agent: str = USER_AGENT) -> None:
        self.pool_size = pool_size
        self.user_agent = user_agent
        self.verify: bool | str = verify if verify is not None else (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True)
        self._proxies: dict[str, dict[str, str]] = {}
        self._open_streams: weakref.WeakSet[StreamingResponse] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False
        self._session = self._new_session()
        _LIVE_TRANSPORTS.add(self)

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        adapter = _ScopedAdapter(pool_connections=16, pool_maxsize=self.pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def send(self, request: HttpRequest, timeouts: Timeouts, *, verify: bool | str | None = None) -> HttpResponse:
        """Send ``request`` and read the whole answer, whatever its status.

        Raises:
            TransportError: Refused, reset, TLS failure, or a redirect (never followed).
            LLMTimeoutError: A connect or request limit passed.
        """
        started = monotonic()
        streaming = self.open(request, timeouts, verify=verify, started=started)
        body = streaming.read()
        return HttpResponse(streaming.status_code, streaming.headers, body, streaming.url, monotonic() - started)

    def open(self, request: HttpRequest, timeouts: Timeouts, *, verify: bool | str | None = None,
             started: float | None = None) -> StreamingResponse:
        """Send ``request`` and return as soon as the status and headers have arrived."""
        if self._closed:
            raise TransportError("this client was closed; create a new one", retryable=False)
        started = monotonic() if started is None else started
        if not request.stream and timeouts.first_token is not None:
            timeouts = replace(timeouts, first_token=None)  # "first token" is a stream's limit only
        first_read = _min_limit(timeouts.request, timeouts.first_token)
        prepared = requests.PreparedRequest()
        headers = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate", **request.headers}
        try:
            prepared.prepare(method=request.method, url=request.url, headers=headers, data=request.body or None)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, ValueError) as exc:
            raise ConfigError(f"invalid URL {redact_url(request.url)!r}: {exc}") from None
        try:
            raw = self._session.send(
                prepared, stream=True, timeout=(timeouts.connect, first_read), allow_redirects=False,
                verify=self.verify if verify is None else verify, proxies=self._proxies_for(request.url))
        except requests.exceptions.ConnectTimeout:
            raise LLMTimeoutError(f"connect_timeout_ms ({_ms(timeouts.connect)} ms) passed connecting to "
                                  f"{_origin(request.url)}", kind="connect") from None
        except requests.exceptions.ReadTimeout:
            kind = "request" if first_read == timeouts.request else "first_token"
            raise LLMTimeoutError(f"{'request_timeout_ms' if kind == 'request' else 'time_to_first_token_timeout_ms'}"
                                  f" ({_ms(first_read)} ms) passed waiting for {_origin(request.url)}",
                                  kind=kind) from None
        except requests.exceptions.SSLError as exc:
            raise TransportError(f"TLS failure talking to {_origin(request.url)}: {_reason(exc)}",
                                 retryable=False) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportError(f"could not reach {_origin(request.url)}: {_reason(exc)}") from None
        streaming = StreamingResponse(self, raw, started, timeouts)
        with self._lock:
            self._open_streams.add(streaming)
        if 300 <= streaming.status_code < 400:
            location = redact_url(streaming.headers.get("location", "?"))
            streaming.close()
            raise TransportError(
                f"HTTP {streaming.status_code} redirect from {redact_url(request.url)} to {location} was not "
                "followed (credentials never follow a redirect): set base_url to the final address",
                status_code=streaming.status_code, retryable=False)
        return streaming

    def _proxies_for(self, url: str) -> dict[str, str]:
        origin = _origin(url)
        found = self._proxies.get(origin)
        if found is None:
            found = requests.utils.get_environ_proxies(url)
            self._proxies[origin] = found
        return found

    def _forget(self, streaming: StreamingResponse) -> None:
        with self._lock:
            self._open_streams.discard(streaming)

    def close(self) -> None:
        """Close every connection now: open streams, then the pooled idle sockets."""
        self._closed = True
        with self._lock:
            streams = list(self._open_streams)
        for s in streams:
            s.close()
        for adapter in self._session.adapters.values():
            # urllib3 2.x forgets its pools on clear() without closing them: their idle sockets
            # would stay open for as long as anything (e.g. a Stream) still references a pool.
            if isinstance(adapter, HTTPAdapter):
                managers = [adapter.poolmanager, *adapter.proxy_manager.values()]
                for manager in managers:
                    for key in list(manager.pools.keys()):
                        pool = manager.pools.get(key)
                        if pool is not None:
                            pool.close()
            adapter.close()
        self._session.close()

    def _reset_after_fork(self) -> None:
        # The parent's sockets (and TLS state) are shared with us: drop them without closing.
        self._open_streams = weakref.WeakSet()
        self._lock = threading.Lock()
        self._session = self._new_session()


_LIVE_TRANSPORTS: weakref.WeakSet[Transport] = weakref.WeakSet()


class _ScopedPoolMixin:
    """Puts each connection checked out of the pool into the calling thread's AbortScope."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        scope = AbortScope.current()
        if scope is not None:
            scope._track(conn)
        return conn

    def _put_conn(self, conn: Any) -> None:
        scope = getattr(conn, "_llmclient_scope", None)
        if scope is not None:
            scope._release(conn)
        super()._put_conn(conn)  # type: ignore[misc]


class _ScopedHTTPPool(_ScopedPoolMixin, urllib3.HTTPConnectionPool):
    pass


class _ScopedHTTPSPool(_ScopedPoolMixin, urllib3.HTTPSConnectionPool):
    pass


class _ScopedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _ScopedHTTPPool, "https": _ScopedHTTPSPool}


def _after_fork_in_child() -> None:
    for transport in list(_LIVE_TRANSPORTS):
        transport._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _set_socket_timeout(raw: requests.Response, seconds: float) -> None:
    conn = getattr(raw.raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def _min_limit(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}"


def _ms(seconds: float | None) -> int:
    return round((seconds or 0) * 1000)


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, without URLs that might carry keys."""
    inner: BaseException = exc
    seen = 0
    while seen < 6:
        first_arg = inner.args[0] if inner.args else None
        nxt = inner.__context__ or inner.__cause__ or (first_arg if isinstance(first_arg, BaseException) else None)
        reason = getattr(inner, "reason", None)
        if isinstance(reason, BaseException):
            nxt = reason
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
        seen += 1
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused"
    if isinstance(inner, ConnectionResetError):
        return "connection reset by peer"
    text = str(inner) or type(inner).__name__
    return redact_url(text) if "://" in text else text
