"""Helpers every test module may share: waiting for a condition, counting sockets, building clients.

Imported by name (``from helpers import eventually``): the root conftest's folder (``tests/``)
is on ``sys.path``, as pytest puts it there. Fixtures built on these live in the conftest
files (``mock``, ``open_sockets``, ``leaf``).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from llmclient import OpenAIGenericClient
from llmclient.testing import FakeLLMServer

#: Skips a test that counts sockets where /proc (Linux) is not there to count them.
needs_proc = pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="counts sockets through /proc")


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """True as soon as ``check()`` is; False if it still is not after ``timeout`` seconds.

    For waiting on another thread or process: assert on it (``assert eventually(...)``)
    instead of sleeping a guessed time.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def tcp_ends(port: int) -> tuple[int, int]:
    """Sockets this process holds open to 127.0.0.1:``port`` (client ends) and accepted on it (server ends)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    client = server = 0
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if int(fields[9]) not in inodes:
                continue
            local_port, remote_port = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
            if remote_port == port:
                client += 1
            elif local_port == port and remote_port != 0:
                server += 1
    return client, server


def sockets_to(port: int) -> int:
    """How many TCP sockets this process holds open to 127.0.0.1:``port`` (the client ends)."""
    return tcp_ends(port)[0]


def free_port() -> int:
    """A local port nothing listens on (once the probe socket is closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def generic_client(server: FakeLLMServer, *, model: str = "fake-model", **options: Any) -> OpenAIGenericClient:
    """An openai-generic client on ``server``; ``options`` as its constructor takes them (``name=``, ``http=``, ...)."""
    return OpenAIGenericClient(model, base_url=server.openai_base_url, **options)
