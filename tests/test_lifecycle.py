"""Closed means closed; one runtime per tree of clients; connections fit the caller's threads."""

from __future__ import annotations

import logging
import threading

import pytest

from llmclient import ClientClosedError, FallbackClient, OpenAIGenericClient, load_config
from llmclient.testing import FakeLLMServer, Fault


def llmclient_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("llmclient") and t.is_alive())


def test_every_call_after_close_raises_client_closed_and_builds_nothing(fake_llm_server: FakeLLMServer) -> None:
    registry = load_config({"clients": {"A": {"provider": "openai-generic", "options": {
        "model": "m", "base_url": fake_llm_server.openai_base_url}}}})
    client = registry.client("A")
    assert client.submit("before").result(timeout=30).text == "Echo: before"
    registry.close()
    assert llmclient_threads() == []
    for call in (lambda: client.complete("x"), lambda: client.stream("x"), lambda: client.submit("x"),
                 lambda: client.batch(["x", "y"])):
        with pytest.raises(ClientClosedError, match="closed"):
            call()
    assert llmclient_threads() == []  # submit() after close started no new pool
    assert not ClientClosedError("x").retryable


def test_a_composite_does_not_fall_back_past_a_closed_runtime(fake_llm_server: FakeLLMServer) -> None:
    first = OpenAIGenericClient("m1", base_url=fake_llm_server.openai_base_url, name="first")
    second = OpenAIGenericClient("m2", base_url=fake_llm_server.openai_base_url, name="second")
    chain = FallbackClient([first, second])
    chain.close()
    with pytest.raises(ClientClosedError):
        chain.complete("x")
    with pytest.raises(ClientClosedError):
        FallbackClient([first, second], total_timeout_ms=1000).complete("x")


def test_a_hand_built_fallback_shares_one_runtime(fake_llm_server: FakeLLMServer) -> None:
    a = OpenAIGenericClient("m1", base_url=fake_llm_server.openai_base_url, name="a")
    b = OpenAIGenericClient("m2", base_url=fake_llm_server.openai_base_url, name="b")
    inner = FallbackClient([b, OpenAIGenericClient("m3", base_url=fake_llm_server.openai_base_url, name="c")])
    chain = FallbackClient([a, inner], hedge_after_ms=10_000)
    runtimes = {id(x.runtime) for x in (a, b, inner, chain, inner.member(1))}
    assert len(runtimes) == 1
    fake_llm_server.enqueue(Fault.server_error(500))
    assert chain.complete("x").client_name == "b"
    assert fake_llm_server.connections_opened == 1  # one pool for the whole tree
    chain.close()
    assert a.runtime.closed and inner.member(1).runtime.closed


def test_a_used_client_keeps_its_own_pools_in_a_fallback(fake_llm_server: FakeLLMServer) -> None:
    used = OpenAIGenericClient("m1", base_url=fake_llm_server.openai_base_url, name="used")
    used.complete("warm")
    fresh = OpenAIGenericClient("m2", base_url=fake_llm_server.openai_base_url, name="fresh")
    chain = FallbackClient([fresh, used])
    assert chain.runtime is fresh.runtime and used.runtime is not fresh.runtime
    chain.close()
    used.close()


def test_48_caller_threads_on_four_workers_never_discard_connections(
        fake_llm_server: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3")
    registry = load_config({"clients": {"A": {"provider": "openai-generic", "options": {
        "model": "m", "base_url": fake_llm_server.openai_base_url}}}, "settings": {"max_workers": 4}})
    client = registry.client("A")
    fake_llm_server.enqueue(*[Fault.stall(0.2)] * 48)  # all 48 requests in flight at once
    barrier = threading.Barrier(48)
    errors: list[BaseException] = []

    def web_request() -> None:
        barrier.wait()
        try:
            client.complete("hello")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=web_request) for _ in range(48)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    registry.close()
    assert errors == []
    assert not [r for r in caplog.records if "Connection pool is full" in r.getMessage()]


def test_max_connections_is_a_setting(fake_llm_server: FakeLLMServer) -> None:
    registry = load_config({"clients": {}, "settings": {"max_workers": 2, "max_connections": 250}})
    assert registry.runtime.max_connections == 250
    assert load_config({"clients": {}, "settings": {"max_workers": 50}}).runtime.max_connections == 150
