"""The fake LLM server: lifecycle, options, the request log and the scripted faults.

:class:`FakeLLMServer` runs a ``ThreadingHTTPServer`` on 127.0.0.1 (one daemon thread per
connection, HTTP/1.1 keep-alive). Requests are served by :mod:`llmclient.testing.handler`
(routing, recording, choosing the answer) and written by :mod:`llmclient.testing.responder`
(framing and the byte-level faults); everything provider-specific lives in
``llmclient.testing.formats``. This module holds what a test touches: options, URLs, the
bounded request log and the fault plan.
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmclient.testing.faults import Fault, FaultPlan
from llmclient.testing.handler import Handler, HTTPServer
from llmclient.testing.request_log import DEFAULT_MAX_LOGGED_REQUESTS, RequestLog

__all__ = ["FakeLLMServer"]

logger = logging.getLogger(__name__)

#: (provider, path under the server's URL) for :meth:`FakeLLMServer.base_urls`.
_BASE_PATHS = (
    ("openai", "/v1"), ("azure-openai", ""), ("anthropic", ""), ("google-ai", "/v1beta"),
    ("vertex-ai", ""), ("google-oauth", "/token"), ("aws-bedrock", ""), ("openai-responses", "/v1"),
)


class FakeLLMServer:
    """A real HTTP server on 127.0.0.1 speaking LLM provider wire formats, with scripted faults.

    Use it as a context manager (or the ``fake_llm_server`` pytest fixture) and point a client
    at :attr:`openai_base_url` or :attr:`url`. Every request is answered deterministically
    (``"Echo: " + <last user message>``) unless a :class:`Fault` is scheduled for it.
    Per request: unknown route -> 404; bad credentials -> 401 (no fault consumed); then a
    queued or random fault, if any; then the format's answer (or its 400 for a bad body).

    Attributes:
        requests: The requests received, oldest first: a bounded ``deque``
            (:class:`~llmclient.testing.request_log.RequestLog`) that keeps the newest
            ``max_logged_requests``, so a long-running server does not grow.
        connections_opened: TCP connections accepted so far (keep-alive checks).

    HTTP/1.0 clients get HTTP/1.0-correct answers: a connection stays open only if the
    client sent ``Connection: keep-alive`` (the answer then says ``connection: keep-alive``
    and carries a ``Content-Length``), and streams to them are close-delimited, never chunked.

    Args:
        api_key: When set, requests must carry it the provider's way, else 401.
        chunk_delay: Seconds between stream events.
        stream_chunks: When set, every stream has exactly this many content chunks.
        stream_content_length: Send streams with ``Content-Length`` instead of chunked encoding.
        close_delimited: Frame every answer (JSON, streams, errors) with ``Connection: close``
            and no ``Content-Length`` or chunked encoding: the body ends when the server closes
            the connection (one request per connection, as behind some reverse proxies).
        max_logged_requests: How many requests :attr:`requests` keeps (the newest); None keeps
            them all.
        rate_limit_headers: Headers added to every answer, errors included, such as OpenAI's
            ``x-ratelimit-remaining-requests`` or Anthropic's ``anthropic-ratelimit-*``: a dict,
            or a callable given the request path (``/v1/chat/completions``) returning one. The
            attribute of the same name may be changed between requests.
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
        stream_chunks: int | None = None,
        stream_content_length: bool = False,
        close_delimited: bool = False,
        max_logged_requests: int | None = DEFAULT_MAX_LOGGED_REQUESTS,
        rate_limit_headers: Mapping[str, str] | Callable[[str], Mapping[str, str]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if max_logged_requests is not None and (
            isinstance(max_logged_requests, bool) or not isinstance(max_logged_requests, int) or max_logged_requests < 0
        ):
            raise ValueError(f"max_logged_requests must be a non-negative int or None, got {max_logged_requests!r}")
        self.api_key = api_key
        self.chunk_delay = chunk_delay
        self.stream_chunks = stream_chunks
        self.stream_content_length = stream_content_length
        self.close_delimited = bool(close_delimited)
        self.rate_limit_headers = rate_limit_headers
        self.requests = RequestLog(maxlen=max_logged_requests)
        #: Per-server state of formats that keep some (e.g. trusted keys and issued OAuth tokens).
        self.state: dict[str, Any] = {}
        self.connections_opened = 0
        self._address = (host, port)
        self._plan = FaultPlan()
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = threading.Event()
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def rate_limit_headers_for(self, path: str) -> dict[str, str]:
        """The ``rate_limit_headers`` to add to the answer to a request for ``path`` (lower-cased names)."""
        given = self.rate_limit_headers
        found = given(path) if callable(given) else given
        return {str(k).lower(): str(v) for k, v in (found or {}).items()}

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "not started"
        return f"<FakeLLMServer {where} requests={len(self.requests)}>"

    def start(self) -> FakeLLMServer:
        """Bind and serve in a background thread; calling it again is a no-op."""
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("this FakeLLMServer is closed; create a new one")
            if self._httpd is None:
                httpd = HTTPServer(self._address, Handler)
                httpd.fake = self
                self._thread = threading.Thread(
                    target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                    name=f"FakeLLMServer-{httpd.server_port}", daemon=True,
                )
                self._httpd = httpd
                self._thread.start()
                logger.debug("fake LLM server listening on %s", self.url)
        return self

    def close(self) -> None:
        """Stop accepting, drop open connections (stalled handlers wake up) and free the port."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            httpd, thread = self._httpd, self._thread
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)
        if thread is not None:
            thread.join(timeout=1.0)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The port the server listens on (after :meth:`start`)."""
        if self._httpd is None:
            raise RuntimeError("FakeLLMServer is not started; call start() or use it as a context manager")
        return self._httpd.server_port

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, e.g. for Azure's ``azure_endpoint``."""
        return f"http://{self._address[0]}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``url + "/v1"``: the base URL an OpenAI client needs."""
        return self.url + "/v1"

    def base_urls(self) -> dict[str, str]:
        """The address to give each provider's client, keyed by provider name.

        ``openai`` (and ``openai-generic``) and ``openai-responses``: ``base_url``; ``azure-openai``: ``endpoint`` (the
        model names the deployment); ``anthropic``, ``google-ai`` and ``vertex-ai``:
        ``base_url``; ``google-oauth``: a credentials file's ``token_uri`` (for Vertex);
        ``aws-bedrock``: ``endpoint_url``.
        """
        url = self.url
        return {provider: url + path for provider, path in _BASE_PATHS}

    def clear(self) -> None:
        """Forget recorded requests and pending (queued and random) faults."""
        self.requests.clear()
        self._plan.clear()

    def enqueue(self, *faults: Fault, match: str | None = None) -> None:
        """Give the next requests these faults, one per request, in order.

        Args:
            *faults: The faults, consumed first-in first-out.
            match: Only requests whose path or model contains this substring consume them.
        """
        self._plan.enqueue(faults, match)

    def random_faults(
        self, rate: float, faults: Sequence[Fault], *, seed: int = 0, match: str | None = None
    ) -> None:
        """Fault each (matching) request with probability ``rate``, choosing among ``faults``.

        The draw is seeded and thread-safe; ``rate=0`` turns it off; queued faults come first.
        """
        self._plan.set_random(rate, faults, seed=seed, match=match)

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections_opened += 1
            self._sockets.add(sock)
            closing = self._closed.is_set()
        if closing:
            _shutdown(sock)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)


def _shutdown(sock: socket.socket) -> None:
    """Shut a connection down both ways so that a handler blocked on it returns."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
