"""Tests of ``llmclient.testing``: the fake server's fixture comes from the root conftest's plugin.

``server`` is a plain FakeLLMServer (no key) started for the test; ``raw_http(server)`` opens
a bare-socket connection (:class:`raw_http.RawConnection`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from raw_http import SOCKET_TIMEOUT, RawConnection

from llmclient.testing import FakeLLMServer


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    """A started FakeLLMServer with default options, closed after the test."""
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
def raw_http() -> Iterator[Any]:
    """``raw_http(server)`` opens a :class:`RawConnection`; all are closed after the test."""
    opened: list[socket.socket] = []

    def connect(server: FakeLLMServer) -> RawConnection:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=SOCKET_TIMEOUT)
        opened.append(sock)
        return RawConnection(sock)

    yield connect
    for sock in opened:
        sock.close()
