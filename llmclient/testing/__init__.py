"""A fake LLM provider for tests, demos and benchmarks: real HTTP on 127.0.0.1, scripted faults.

:class:`FakeLLMServer` speaks each provider's wire format (OpenAI, Azure OpenAI, Anthropic,
Gemini, Bedrock and Vertex AI; one module per format under ``llmclient.testing.formats``) and
answers deterministically with ``"Echo: " + <last user message>``, so that tests can assert on
replies, usage and streams without an API key or the internet. :class:`Fault` values script what should go wrong
(429s, resets, stalls, broken streams, and the transport faults of real networks and proxies:
close-delimited answers, trickled headers, late FINs, connections cut inside the headers or a
chunk), and the newest requests are kept as :class:`RecordedRequest` values. With pytest,
the ``fake_llm_server`` fixture (``llmclient.testing.pytest_plugin``) starts one server per test.

Example::

    from llmclient.testing import FakeLLMServer, Fault

    with FakeLLMServer() as server:
        server.enqueue(Fault.rate_limit(retry_after=1))
        ...  # point a client at server.openai_base_url

This package imports only the standard library.
"""

from __future__ import annotations

from llmclient.testing.faults import Fault
from llmclient.testing.formats.base import RecordedRequest
from llmclient.testing.server import FakeLLMServer

__all__ = ["FakeLLMServer", "Fault", "RecordedRequest"]
