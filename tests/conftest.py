"""Shared test setup: the fake provider server fixture, and an environment without credentials.

No test may read real credentials or reach the internet: every variable that could carry a
key, a proxy or a CA bundle is removed for each test, and tests set what they need.
"""

from __future__ import annotations

import os

import pytest

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
