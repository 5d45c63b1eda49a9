"""Registry: clients built lazily by name, cached, sharing one runtime, closed together."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from llmclient import (
    AzureOpenAIClient,
    Client,
    ClientClosedError,
    ConfigError,
    OpenAIClient,
    OpenAIGenericClient,
    RetryPolicy,
    load_config,
)
from llmclient.config import registry as registry_module
from llmclient.config.registry import Registry, builder_for
from llmclient.testing import FakeLLMServer, Fault


def cfg(server_url: str = "http://127.0.0.1:9/v1") -> dict[str, Any]:
    return {
        "clients": {
            "Local": {"provider": "openai-generic", "options": {"model": "m", "base_url": server_url}},
            "GPT4": {"provider": "openai", "retry_policy": "Twice",
                     "options": {"model": "gpt-4o", "api_key": {"env": "REGISTRY_TEST_KEY"}}},
            "Azure": {"provider": "azure-openai", "options": {"endpoint": "https://x.openai.azure.com",
                                                              "model": "dep", "api_key": "k" * 12}},
            "Ollama": {"provider": "ollama", "options": {"model": "llama3"}},
            "Router": {"provider": "openrouter", "options": {"model": "x/y"}},
        },
        "retry_policies": {"Twice": {"max_retries": 2, "strategy": {"type": "constant_delay", "delay_ms": 0}}},
    }


def test_names_in_config_order() -> None:
    with load_config(cfg()) as registry:
        assert registry.names() == ["Local", "GPT4", "Azure", "Ollama", "Router"]
        assert "Local" in repr(registry)


def test_clients_are_built_lazily_and_cached() -> None:
    with load_config(cfg()) as registry:
        assert registry._clients == {}
        local = registry.client("Local")
        assert list(registry._clients) == ["Local"]
        assert registry.client("Local") is local
        assert local.name == "Local" and local.runtime is registry.runtime


def test_building_a_client_without_its_key_works_until_it_is_called() -> None:
    with load_config(cfg()) as registry:
        gpt4 = registry.client("GPT4")  # REGISTRY_TEST_KEY is not set: still buildable
        assert isinstance(gpt4, OpenAIClient)
        with pytest.raises(ConfigError, match="REGISTRY_TEST_KEY"):
            gpt4.complete("hi")


def test_each_provider_gets_its_class_and_retry_policy() -> None:
    with load_config(cfg()) as registry:
        assert isinstance(registry.client("Azure"), AzureOpenAIClient)
        for name, provider in (("Local", "openai-generic"), ("Ollama", "ollama"), ("Router", "openrouter")):
            client = registry.client(name)
            assert isinstance(client, OpenAIGenericClient) and client.provider == provider
        gpt4 = registry.client("GPT4")
        assert isinstance(gpt4.retry_policy, RetryPolicy) and gpt4.retry_policy.max_retries == 2  # type: ignore[attr-defined]
        assert registry.retry_policy("Twice").max_retries == 2


def test_unknown_client_and_policy_names() -> None:
    with load_config(cfg()) as registry:
        with pytest.raises(ConfigError) as info:
            registry.client("Nope")
        assert "Nope" in str(info.value) and "Local" in str(info.value)
        with pytest.raises(ConfigError, match="Nope"):
            registry.retry_policy("Nope")


def test_unknown_provider_builder() -> None:
    with pytest.raises(ConfigError, match="unknown provider"):
        builder_for("no-such-provider")


def test_config_errors_of_a_build_name_the_client() -> None:
    config = {"clients": {"Generic": {"provider": "openai-generic", "options": {"model": "m"}}}}
    with Registry(config) as registry, pytest.raises(ConfigError) as info:
        registry.client("Generic")
    assert info.value.client_name == "Generic" and "base_url" in str(info.value)


def test_concurrent_first_use_builds_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    original = registry_module.builder_for("openai-generic")

    def counting(name: str, options: dict[str, Any], **kw: Any) -> Client:
        built.append(name)
        return original(name, options, **kw)

    monkeypatch.setitem(registry_module._BUILDERS, "openai-generic", counting)
    with load_config(cfg()) as registry:
        barrier = threading.Barrier(16)
        got: list[Client] = []

        def get() -> None:
            barrier.wait()
            got.append(registry.client("Local"))

        threads = [threading.Thread(target=get) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert built == ["Local"] and len({id(c) for c in got}) == 1


def test_a_registry_client_works_against_the_fake_server(fake_llm_server: FakeLLMServer) -> None:
    with load_config(cfg(fake_llm_server.openai_base_url)) as registry:
        client = registry.client("Local")
        assert client.complete("hello").text == "Echo: hello"
        with client.stream("streamed") as stream:
            assert "".join(c.text for c in stream) == "Echo: streamed"
        completion = stream.completion
        assert completion.client_name == "Local" and completion.provider == "openai-generic"


def test_retry_policy_from_the_config_is_used(monkeypatch: pytest.MonkeyPatch,
                                              fake_llm_server: FakeLLMServer) -> None:
    monkeypatch.setenv("REGISTRY_TEST_KEY", "registry-key-123456")
    config = cfg()
    config["clients"]["GPT4"]["options"]["base_url"] = fake_llm_server.openai_base_url
    fake_llm_server.enqueue(Fault.server_error(500), Fault.server_error(503))
    with load_config(config) as registry:
        completion = registry.client("GPT4").complete("third time")
    assert completion.text == "Echo: third time"
    assert [a.status_code for a in completion.attempts] == [500, 503, 200]


def test_close_closes_every_client_of_the_registry(fake_llm_server: FakeLLMServer) -> None:
    registry = load_config(cfg(fake_llm_server.openai_base_url))
    client = registry.client("Local")
    assert client.complete("before").text == "Echo: before"
    client.close()  # a registry's client does not own the pools: still usable
    assert client.complete("still").text == "Echo: still"
    registry.close()
    assert registry.runtime.closed
    with pytest.raises(ClientClosedError, match="closed"):
        client.complete("after")


def test_a_null_option_in_a_config_removes_a_default(fake_llm_server: FakeLLMServer) -> None:
    config = {"clients": {"A": {"provider": "openai", "options": {
        "model": "gpt-4o", "api_key": "k" * 12, "base_url": fake_llm_server.openai_base_url,
        "stream_options": None, "temperature": 0.3}}}}
    with load_config(config) as registry:
        client = registry.client("A")
        with client.stream("hi") as stream:
            assert "".join(c.text for c in stream) == "Echo: hi"
        client.complete("again", temperature=None)
    first, second = (r.json() for r in fake_llm_server.requests)
    assert "stream_options" not in first and first["temperature"] == 0.3
    assert "temperature" not in second
