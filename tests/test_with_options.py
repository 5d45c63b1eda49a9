"""with_options: call defaults, http limits and hooks on a client that shares the same pools."""

from __future__ import annotations

import pytest

import llmclient
from llmclient.testing import FakeLLMServer, Fault


def test_defaults_apply_and_a_call_overrides_them(fake_llm_server: FakeLLMServer) -> None:
    with llmclient.OpenAIGenericClient(model="m", base_url=fake_llm_server.openai_base_url) as base:
        tuned = base.with_options(temperature=0.1, max_tokens=5)
        tuned.complete("a")
        assert fake_llm_server.requests[-1].json()["temperature"] == 0.1
        tuned.complete("b", temperature=0.9)
        assert fake_llm_server.requests[-1].json()["temperature"] == 0.9
        base.complete("c")
        assert "temperature" not in fake_llm_server.requests[-1].json()
        assert tuned.runtime is base.runtime and tuned.runtime.transport is base.runtime.transport
        assert tuned.name == base.name and tuned.provider == base.provider
        tuned.close()  # closes nothing of the shared client
        assert base.complete("d").text == "Echo: d"


def test_http_limits_override_the_options(fake_llm_server: FakeLLMServer) -> None:
    with llmclient.OpenAIGenericClient(model="m", base_url=fake_llm_server.openai_base_url) as base:
        impatient = base.with_options(http={"request_timeout_ms": 200})
        fake_llm_server.enqueue(Fault.stall(1.0))
        with pytest.raises(llmclient.LLMTimeoutError) as info:
            impatient.complete("x")
        assert info.value.kind == "request"
        fake_llm_server.enqueue(Fault.stall(0.4))
        assert base.complete("y").text == "Echo: y"  # the original keeps its own limits


def test_options_reach_every_member_of_a_composite(fake_llm_server: FakeLLMServer) -> None:
    cfg = {"clients": {
        "A": {"provider": "openai-generic", "options": {"base_url": fake_llm_server.openai_base_url, "model": "a"}},
        "B": {"provider": "anthropic", "options": {"base_url": fake_llm_server.url, "model": "b", "api_key": "k"}},
        "F": {"provider": "fallback", "options": {"strategy": ["A", "B"]}}}}
    with llmclient.load_config(cfg) as registry:
        fallback = registry.client("F").with_options(max_tokens=3)
        fake_llm_server.enqueue(Fault.server_error(500), match="chat/completions")
        reply = fallback.complete("one two three four")
        assert reply.client_name == "B" and reply.finish_reason == "length"
        assert [r.json()["max_tokens"] for r in fake_llm_server.requests] == [3, 3]
