"""Runtime control of a registry: add/shadow clients, the primary, provider/model shorthand, cycles."""

from __future__ import annotations

from typing import Any

import pytest

import llmclient
from llmclient.testing import FakeLLMServer


def config(url: str) -> dict[str, Any]:
    return {"clients": {"A": {"provider": "openai-generic", "options": {"base_url": url, "model": "a"}},
                        "B": {"provider": "openai-generic", "options": {"base_url": url, "model": "b"}}}}


def test_add_builds_a_new_client_that_answers(fake_llm_server: FakeLLMServer) -> None:
    with llmclient.load_config(config(fake_llm_server.openai_base_url)) as registry:
        client = registry.add("C", provider="openai-generic",
                              options={"base_url": fake_llm_server.openai_base_url, "model": "c"})
        assert client.complete("hi").text == "Echo: hi"
        assert fake_llm_server.requests[-1].json()["model"] == "c"
        assert registry.names() == ["A", "B", "C"]
        assert registry.client("C") is client


def test_add_shadows_a_client_of_the_same_name(fake_llm_server: FakeLLMServer) -> None:
    with llmclient.load_config(config(fake_llm_server.openai_base_url)) as registry:
        old = registry.client("A")
        registry.add("A", provider="openai-generic", options={"base_url": fake_llm_server.openai_base_url,
                                                               "model": "replacement"})
        assert registry.client("A") is not old
        registry.client("A").complete("x")
        assert fake_llm_server.requests[-1].json()["model"] == "replacement"
        assert registry.names() == ["A", "B"]


def test_add_validates_like_a_config_entry() -> None:
    with llmclient.load_config({"clients": {}}) as registry:
        with pytest.raises(llmclient.ConfigError) as info:
            registry.add("X", provider="openai-generic", options={"base_url": "http://h", "temperature": "hot"})
        assert "$.clients.X.options.temperature" in str(info.value)
        with pytest.raises(llmclient.ConfigError, match="retry policy 'Nope' is not defined"):
            registry.add("X", provider="openai-generic", options={"base_url": "http://h"}, retry_policy="Nope")
        assert registry.names() == []


def test_add_refuses_a_cycle_and_keeps_the_old_config(fake_llm_server: FakeLLMServer) -> None:
    cfg = config(fake_llm_server.openai_base_url)
    cfg["clients"]["F"] = {"provider": "fallback", "options": {"strategy": ["A", "G"]}}
    cfg["clients"]["G"] = {"provider": "fallback", "options": {"strategy": ["B"]}}
    with llmclient.load_config(cfg) as registry:
        with pytest.raises(llmclient.ConfigError, match="cycle: G -> F -> G|cycle: F -> G -> F"):
            registry.add("G", provider="fallback", options={"strategy": ["F"]})
        assert registry.names() == ["A", "B", "F", "G"]


def test_a_cycle_in_a_loaded_config_is_named() -> None:
    cfg = {"clients": {"X": {"provider": "fallback", "options": {"strategy": ["Y"]}},
                       "Y": {"provider": "round-robin", "options": {"strategy": ["Z", "X"]}},
                       "Z": {"provider": "openai-generic", "options": {"base_url": "http://h"}}}}
    with pytest.raises(llmclient.ConfigError) as info:
        llmclient.load_config(cfg)
    assert "cycle: X -> Y -> X" in str(info.value)


def test_primary_is_the_first_client_until_set(fake_llm_server: FakeLLMServer) -> None:
    with llmclient.load_config(config(fake_llm_server.openai_base_url)) as registry:
        assert registry.primary.name == "A"
        registry.set_primary("B")
        assert registry.primary.name == "B"
        with pytest.raises(llmclient.ConfigError, match="no client named 'Nope'"):
            registry.set_primary("Nope")
        assert registry.primary.name == "B"


def test_primary_of_an_empty_registry_is_an_error() -> None:
    with llmclient.load_config({"clients": {}}) as registry:
        with pytest.raises(llmclient.ConfigError, match="no clients"):
            _ = registry.primary


def test_provider_model_shorthand(monkeypatch: pytest.MonkeyPatch, fake_llm_server: FakeLLMServer) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-shorthand-test-key")
    with llmclient.load_config({"clients": {}}) as registry:
        client = registry.client("openai/gpt-4o-mini")
        assert client.provider == "openai" and client.name == "openai/gpt-4o-mini"
        request = client.adapter.build_request(llmclient.ChatRequest(llmclient.models.to_messages("hi")),  # type: ignore[attr-defined]
                                               stream=False)
        assert request.json()["model"] == "gpt-4o-mini"
        assert request.url == "https://api.openai.com/v1/chat/completions"
        # split at the first slash, as BAML does
        generic = registry.client("ollama/library/llama3:8b")
        assert generic.adapter.body_defaults == {"model": "library/llama3:8b"}  # type: ignore[attr-defined]
        with pytest.raises(llmclient.ConfigError, match="no client named 'nosuch/model'"):
            registry.client("nosuch/model")


def test_shorthand_is_accepted_as_a_composite_member(fake_llm_server: FakeLLMServer) -> None:
    cfg = {"clients": {"F": {"provider": "fallback", "options": {"strategy": ["A", "openai/gpt-4o"]}},
                       "A": {"provider": "openai-generic", "options": {"base_url": fake_llm_server.openai_base_url}}}}
    llmclient.config.schema.validate_config(cfg)
    assert llmclient.config.schema.reference_warnings(cfg) == []


class HeaderToken(llmclient.AuthProvider):
    def __init__(self, token: str) -> None:
        self.token = token

    def apply(self, request: llmclient.HttpRequest) -> llmclient.HttpRequest:
        return request.with_headers({"Authorization": f"Bearer {self.token}"}, secrets=[self.token])


def test_auth_replaces_a_config_clients_builtin_auth(fake_llm_server: FakeLLMServer) -> None:
    cfg = config(fake_llm_server.openai_base_url)
    cfg["clients"]["A"]["options"]["api_key"] = "from-config"
    with llmclient.load_config(cfg, auth={"A": HeaderToken("gateway-token-1")}) as registry:
        registry.client("A").complete("x")
        assert fake_llm_server.requests[-1].headers["authorization"] == "Bearer gateway-token-1"
        registry.client("B").complete("y")  # B keeps its own (none)
        assert "authorization" not in fake_llm_server.requests[-1].headers
        registry.add("C", provider="openai-generic", options={"base_url": fake_llm_server.openai_base_url},
                     auth=HeaderToken("gateway-token-2"))
        registry.client("C").complete("z")
        assert fake_llm_server.requests[-1].headers["authorization"] == "Bearer gateway-token-2"


def test_auth_on_a_composite_is_refused() -> None:
    cfg = {"clients": {"A": {"provider": "openai-generic", "options": {"base_url": "http://h"}},
                       "F": {"provider": "fallback", "options": {"strategy": ["A"]}}}}
    with llmclient.load_config(cfg, auth={"F": HeaderToken("t")}) as registry:
        with pytest.raises(llmclient.ConfigError, match="give it for its members"):
            registry.client("F")


def test_twenty_thousand_shorthand_names_keep_the_cache_bounded() -> None:
    import gc
    import weakref

    from llmclient.config.registry import SHORTHAND_CACHE_SIZE

    with llmclient.load_config({"clients": {}}) as registry:
        first = registry.client("openai/model-0")
        assert registry.client("openai/model-0") is first  # cached while recent
        first_ref = weakref.ref(first)
        del first
        for i in range(1, 20_000):
            registry.client(f"openai/model-{i}")
        gc.collect()
        kept = [name for name in registry._shorthand_clients]
        assert len(kept) == SHORTHAND_CACHE_SIZE == 256
        assert kept[-1] == "openai/model-19999" and first_ref() is None  # the oldest were dropped
        recent = registry.client("openai/model-19999")
        assert registry.client("openai/model-19999") is recent
        again = registry.client("openai/model-0")  # rebuilt on demand, on the same (open) pools
        assert again.runtime is registry.runtime and not registry.runtime.closed
