"""The original design's Resilient_LLM, Resilient and SmartLLM, written as dicts, against FakeLLMServer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llmclient.config.canonical import canonicalize
from llmclient.config.registry import Registry
from llmclient.config.schema import validate_config
from llmclient.errors import AllClientsFailedError
from llmclient.runtime import Runtime
from llmclient.strategies.fallback import FallbackClient
from llmclient.strategies.round_robin import RoundRobinClient
from llmclient.testing import FakeLLMServer, Fault


def design_config(base_url: str) -> dict[str, Any]:
    """The seed examples' clients, spelled as BAML spells them; Claude is openai-generic here."""
    return {
        "clients": {
            "Resilient_LLM": {"provider": "baml-fallback", "options": {"strategy": ["GPT4", "Claude"]}},
            "GPT4": {"provider": "openai", "retry_policy": "Resilient",
                     "options": {"model": "gpt-4", "api_key": {"env": "OPENAI_API_KEY"}, "max_tokens": 1000,
                                 "base_url": base_url}},
            "Claude": {"provider": "openai-generic", "options": {"model": "claude-3", "base_url": base_url}},
            "SmartLLM": {"provider": "baml-strategy", "options": {
                "strategy": "round_robin", "providers": [{"client": "GPT4", "weight": 2},
                                                         {"client": "Claude", "weight": 1}]}},
        },
        "retry_policies": {
            "Resilient": {"max_retries": 3, "strategy": {"type": "exponential_backoff", "initial_delay": 1000,
                                                         "max_delay": 30000}},
        },
    }


@pytest.fixture
def registry(fake_llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-design-key")
    raw = design_config(fake_llm_server.openai_base_url)
    validate_config(raw)
    sleeps: list[float] = []
    runtime = Runtime(sleep=sleeps.append)
    runtime.sleeps = sleeps  # type: ignore[attr-defined]
    with Registry(canonicalize(raw), runtime=runtime) as built:
        yield built


def _models(server: FakeLLMServer) -> list[str]:
    return [str(r.json().get("model")) for r in server.requests]


def test_resilient_llm_retries_gpt4_with_backoff_then_falls_back_to_claude(
        registry: Registry, fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(*[Fault.server_error(500)] * 4, match="gpt-4")
    client = registry.client("Resilient_LLM")
    assert isinstance(client, FallbackClient)
    reply = client.complete("Name three primes.")
    assert reply.text == "Echo: Name three primes." and reply.client_name == "Claude"
    assert [(a.client_name, a.status_code) for a in reply.attempts] == [("GPT4", 500)] * 4 + [("Claude", 200)]
    assert registry.runtime.sleeps == [1.0, 1.5, 2.25]  # type: ignore[attr-defined]
    assert _models(fake_llm_server) == ["gpt-4"] * 4 + ["claude-3"]
    assert fake_llm_server.requests[0].headers["authorization"] == "Bearer sk-test-design-key"


def test_resilient_policy_obeys_the_servers_retry_after(registry: Registry, fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.rate_limit(2), match="gpt-4")
    reply = registry.client("GPT4").complete("hi")
    assert reply.client_name == "GPT4" and [a.status_code for a in reply.attempts] == [429, 200]
    assert registry.runtime.sleeps == [2.0]  # type: ignore[attr-defined]


def test_resilient_llm_when_both_fail(registry: Registry, fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.rate_limit(0, quota=True), match="gpt-4")  # quota: not retried
    fake_llm_server.enqueue(Fault.server_error(503), match="claude-3")
    with pytest.raises(AllClientsFailedError) as info:
        registry.client("Resilient_LLM").complete("hi")
    assert [(e.client_name, e.status_code) for e in info.value.errors] == [("GPT4", 429), ("Claude", 503)]
    assert "sk-test-design-key" not in str(info.value) + repr(info.value.errors)


def test_smart_llm_spreads_two_to_one_interleaved(registry: Registry, fake_llm_server: FakeLLMServer) -> None:
    client = registry.client("SmartLLM")
    assert isinstance(client, RoundRobinClient)
    for i in range(6):
        client.complete(f"q{i}")
    assert _models(fake_llm_server) == ["gpt-4", "claude-3", "gpt-4", "gpt-4", "claude-3", "gpt-4"]


def test_smart_llm_streams(registry: Registry) -> None:
    with registry.client("SmartLLM").stream("Count to five.") as stream:
        text = "".join(chunk.text for chunk in stream)
    assert text == "Echo: Count to five." and stream.completion.client_name == "GPT4"
