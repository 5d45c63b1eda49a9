"""Fixtures the provider tests share (the ``responses`` ``mock`` is the root conftest's).

``server`` is a FakeLLMServer that wants the key ``"fake-key"``, as the providers' clients in
these tests send it; a module needing another server defines its own ``server``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmclient.testing import FakeLLMServer

#: The key ``server`` accepts.
FAKE_KEY = "fake-key"


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    """A started FakeLLMServer that checks the key ``"fake-key"``, closed after the test."""
    with FakeLLMServer(api_key=FAKE_KEY) as fake:
        yield fake
