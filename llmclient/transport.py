"""HTTP for every provider: one ``requests.Session`` per Transport, and the only import of requests.

Why it is written the way it is (each point was measured or bitten, see DESIGN.md):

* ``trust_env`` is off: requests would re-read every environment variable on every
  request. Proxies (``HTTPS_PROXY``, ``NO_PROXY``...) are resolved once per origin and the
  CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) once per transport instead.
* The pool is sized to the concurrency the caller allows, so 32 threads never see
  "Connection pool is full"; ``max_retries=0`` underneath, because retrying is the retry
  policy's job; redirects are never followed, because credentials must not follow them.
* Every limit but ``idle`` is a deadline from the moment of sending, kept by a watchdog
  that shuts the exchange's socket down when it passes (exchange.py): a socket timeout
  alone restarts on every read, so headers trickling in would outlast any limit. Bodies
  are read as they arrive (http_response.py).
* After ``fork`` the child gets a fresh session: sharing pooled sockets (and TLS state)
  with the parent would corrupt both.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace
from time import monotonic
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from ._version import __version__
from .errors import ClientClosedError, ConfigError, LLMError, LLMTimeoutError, TransportError
from .exchange import Exchange, ScopedHTTPPool, ScopedHTTPSPool
from .http_response import LIMIT_NAMES, StreamingResponse, cut_reason
from .models import HttpRequest, HttpResponse
from .redaction import RedactedCause, redact_url
from .watchdog import WATCHDOG

__all__ = ["Timeouts", "Transport", "StreamingResponse", "USER_AGENT", "DEFAULT_MAX_CONNECTIONS"]

log = logging.getLogger(__name__)

USER_AGENT = f"llmclient/{__version__} python-requests/{requests.__version__}"

#: Connections kept open per host by default: more than the threads of a typical web app,
#: so that callers' own threads (not only llmclient's pool) never see "Connection pool is full".
DEFAULT_MAX_CONNECTIONS = 100


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
        """Build from an ``options.http`` block (``connect_timeout_ms`` and friends).

        A limit not given keeps its default; ``0`` or ``null`` means no limit, as BAML reads 0
        ("0 means infinite timeout"), never "fail at once".
        """
        if not http:
            return cls()
        base = cls()

        def pick(key: str, default: float | None) -> float | None:
            if key not in http:
                return default
            value = http[key]
            return None if value is None or value == 0 else float(value) / 1000.0

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
        """Send ``request`` and return as soon as the status and headers have arrived.

        The exchange's deadlines run from ``started`` (default: now) and cover connecting,
        sending, the headers and the body, however slowly each arrives.
        """
        if self._closed:
            raise ClientClosedError("this client was closed; create a new one")
        started = monotonic() if started is None else started
        if not request.stream and timeouts.first_token is not None:
            timeouts = replace(timeouts, first_token=None)  # "first token" is a stream's limit only
        prepared = requests.PreparedRequest()
        headers = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate", **request.headers}
        try:
            prepared.prepare(method=request.method, url=request.url, headers=headers, data=request.body or None)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, ValueError) as exc:
            raise ConfigError(f"invalid URL {redact_url(request.url)!r}: {exc}") from None
        exchange = Exchange(started, timeouts.connect, timeouts.first_token, timeouts.request)
        # Per-read socket limits too, as a backstop: the watchdog keeps the deadlines.
        socket_limits = (timeouts.connect, _min_limit(timeouts.request, timeouts.first_token))
        try:
            with exchange:
                raw = self._session.send(
                    prepared, stream=True, timeout=socket_limits, allow_redirects=False,
                    verify=self.verify if verify is None else verify,
                    proxies=self._proxies_for(request.url))
        except BaseException as exc:
            exchange.end()
            if isinstance(exc, (requests.RequestException, urllib3.exceptions.HTTPError, OSError)):
                raise _send_error(exc, exchange, timeouts, request.url) from RedactedCause.of(exc)
            raise
        streaming = StreamingResponse(self, raw, exchange, timeouts)
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
        WATCHDOG.settle()

    def _reset_after_fork(self) -> None:
        # The parent's sockets (and TLS state) are shared with us: drop them without closing.
        self._open_streams = weakref.WeakSet()
        self._lock = threading.Lock()
        self._session = self._new_session()


_LIVE_TRANSPORTS: weakref.WeakSet[Transport] = weakref.WeakSet()


class _ScopedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": ScopedHTTPPool, "https": ScopedHTTPSPool}


def _after_fork_in_child() -> None:
    for transport in list(_LIVE_TRANSPORTS):
        transport._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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


def _send_error(exc: BaseException, exchange: Exchange, timeouts: Timeouts, url: str) -> LLMError:
    """The typed error for a failure before the headers arrived."""
    kind = exchange.expired
    if kind is None and isinstance(exc, requests.exceptions.ConnectTimeout):
        kind = "connect"
    elif kind is None and isinstance(exc, requests.exceptions.ReadTimeout):
        kind = "request" if timeouts.first_token is None or (timeouts.request or 1e18) <= timeouts.first_token \
            else "first_token"
    if kind is not None:
        limit = {"connect": timeouts.connect, "request": timeouts.request, "first_token": timeouts.first_token}[kind]
        doing = "connecting to" if kind == "connect" else "waiting for"
        return LLMTimeoutError(f"{LIMIT_NAMES[kind]} ({_ms(limit)} ms) passed {doing} {_origin(url)}", kind=kind)
    if isinstance(exc, requests.exceptions.SSLError):
        return TransportError(f"TLS failure talking to {_origin(url)}: {_reason(exc)}", retryable=False)
    if exchange.connected:
        return TransportError(f"{_cut_before_headers(exc)} ({_origin(url)})")
    return TransportError(f"could not reach {_origin(url)}: {_reason(exc)}")


def _cut_before_headers(exc: BaseException) -> str:
    reason = _reason(exc)
    if "without response" in reason or "closed connection" in reason.lower():
        return "the connection was cut before the answer's headers arrived"
    return f"the connection broke before the answer's headers arrived: {cut_reason(exc)}"


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, without URLs that might carry keys."""
    inner: BaseException = exc
    seen = 0
    while seen < 6:
        first_arg = inner.args[0] if inner.args else None
        context = None if inner.__suppress_context__ else inner.__context__
        nxt = inner.__cause__ or context or (first_arg if isinstance(first_arg, BaseException) else None)
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
