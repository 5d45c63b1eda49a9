"""Shared test setup: the fake provider server fixture, mocked HTTP, and an environment without credentials.

No test may read real credentials or reach the internet: every variable that could carry a
key, a proxy or a CA bundle is removed for each test, and tests set what they need. Helper
functions every test may share (``eventually``, socket counts, client builders) are in
``helpers.py`` beside this file (``from helpers import ...``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import responses

pytest_plugins = ["llmclient.testing.pytest_plugin"]

_SCRUBBED_PREFIXES = ("OPENAI_", "AZURE_", "ANTHROPIC_", "GOOGLE_", "GEMINI_", "AWS_", "OPENROUTER_",
                      "VERTEX", "GCLOUD", "CLOUDSDK_")
_SCRUBBED = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
             "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}


@pytest.fixture(autouse=True)
def _scrub_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name in _SCRUBBED or name.startswith(_SCRUBBED_PREFIXES):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    """HTTP through ``requests`` answered by ``responses``; routes added by a test may go unused."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        yield rs
