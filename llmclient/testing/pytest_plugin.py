"""The pytest plugin of llmclient: a ``fake_llm_server`` fixture, one fresh server per test.

Registered as a ``pytest11`` entry point, so any project that installs llmclient can write::

    def test_retry(fake_llm_server):
        fake_llm_server.enqueue(Fault.server_error())
        ...

    @pytest.mark.fake_llm_server(api_key="sk-test", chunk_delay=0.01)
    def test_slow_stream(fake_llm_server):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmclient.testing.server import FakeLLMServer

__all__ = ["fake_llm_server"]


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker, so that ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers", "fake_llm_server(**options): FakeLLMServer keyword arguments for the fake_llm_server fixture"
    )


@pytest.fixture
def fake_llm_server(request: pytest.FixtureRequest) -> Iterator[FakeLLMServer]:
    """A started :class:`FakeLLMServer`, closed after the test.

    Function-scoped so that recorded requests and scripted faults never leak between tests;
    starting one costs about a millisecond. Options (``api_key``, ``chunk_delay``, ...) come
    from a ``@pytest.mark.fake_llm_server(...)`` marker on the test, if any.
    """
    marker = request.node.get_closest_marker("fake_llm_server")
    options = dict(marker.kwargs) if marker is not None else {}
    with FakeLLMServer(**options) as server:
        yield server
