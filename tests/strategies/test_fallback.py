"""FallbackClient: order, attempts, errors, fallback_on, cancellation, build failures, chain retries, nesting."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pytest

from llmclient.config.loader import load_config
from llmclient.errors import (
    AllClientsFailedError,
    AuthError,
    CancelledError,
    ConfigError,
    InvalidRequestError,
    LLMError,
    ProviderError,
    RateLimitError,
    TransportError,
)
from llmclient.retry import RetryPolicy
from llmclient.runtime import Runtime
from llmclient.strategies.fallback import FallbackClient
from llmclient.strategies.round_robin import RoundRobinClient
from llmclient.testing import FakeLLMServer, Fault

Make = Callable[..., Any]


def test_first_member_that_answers_wins_and_attempts_list_failures_first(scripted: Make, runtime: Runtime) -> None:
    a = scripted("A", ProviderError("boom", status_code=500))
    b = scripted("B", TransportError("refused"))
    c = scripted("C")
    d = scripted("D")
    reply = FallbackClient([a, b, c, d], runtime=runtime).complete("hi")
    assert reply.text == "C ok"
    assert [(x.client_name, x.outcome) for x in reply.attempts] == [
        ("A", "ProviderError"), ("B", "TransportError"), ("C", "ok")]
    assert d.calls == 0


def test_all_failed_error_lists_every_attempt_and_summarises_without_secrets(scripted: Make,
                                                                            runtime: Runtime) -> None:
    a = scripted("A", RateLimitError("slow down", status_code=429))
    b = scripted("B", AuthError("invalid key sk-...redacted", status_code=401))
    client = FallbackClient([a, b], name="Resilient_LLM", runtime=runtime)
    with pytest.raises(AllClientsFailedError) as info:
        client.complete("hi")
    err = info.value
    assert [type(e).__name__ for e in err.errors] == ["RateLimitError", "AuthError"]
    assert [a.client_name for a in err.attempts] == ["A", "B"]
    text = str(err)
    assert "Resilient_LLM" in text and "A (scripted) RateLimitError HTTP 429" in text
    assert "B (scripted) AuthError HTTP 401" in text and "after 0.000 s" in text
    assert err.client_name == "Resilient_LLM" and err.provider == "fallback"


def test_callers_cancellation_is_never_fallen_back_on(scripted: Make, runtime: Runtime) -> None:
    a = scripted("A", CancelledError("the caller cancelled"))
    b = scripted("B")
    with pytest.raises(CancelledError):
        FallbackClient([a, b], runtime=runtime).complete("hi")
    assert b.calls == 0


def test_fallback_on_narrows_what_moves_on(scripted: Make, runtime: Runtime) -> None:
    client = FallbackClient([scripted("A", InvalidRequestError("bad", status_code=400)), scripted("B")],
                            runtime=runtime, fallback_on=["RateLimitError", "503"])
    with pytest.raises(InvalidRequestError):
        client.complete("hi")
    by_status = FallbackClient([scripted("C", ProviderError("down", status_code=503)), scripted("D")],
                               runtime=runtime, fallback_on=["503"])
    assert by_status.complete("hi").text == "D ok"


def test_member_that_cannot_be_built_is_skipped_and_recorded(scripted: Make, runtime: Runtime) -> None:
    b = scripted("B")

    def resolve(name: str) -> Any:
        if name == "broken":
            raise ConfigError("environment variable MISSING_KEY is not set", provider="openai")
        return b

    client = FallbackClient(["broken", "B"], runtime=runtime, resolver=resolve, fallback_on=["RateLimitError"])
    reply = client.complete("hi")
    assert reply.text == "B ok"
    assert [(x.client_name, x.provider, x.outcome) for x in reply.attempts] == [
        ("broken", "openai", "ConfigError"), ("B", "scripted", "ok")]


def test_names_without_a_resolver_are_a_config_error(runtime: Runtime) -> None:
    with pytest.raises(ConfigError):
        FallbackClient(["A"], runtime=runtime)
    with pytest.raises(ConfigError):
        FallbackClient([], runtime=runtime)


def test_retry_policy_on_the_fallback_repeats_the_whole_chain(scripted: Make, runtime: Runtime) -> None:
    a = scripted("A", ProviderError("x", status_code=500), ProviderError("x", status_code=500))
    b = scripted("B", ProviderError("y", status_code=502))
    policy = RetryPolicy(max_retries=2, strategy="constant_delay", delay_ms=700)
    reply = FallbackClient([a, b], runtime=runtime, retry_policy=policy, cooldown_failures=5).complete("hi")
    assert [x.client_name for x in reply.attempts] == ["A", "B", "A", "B"]
    assert reply.text == "B ok"
    assert runtime.sleeps == [0.7]  # type: ignore[attr-defined]


def test_chain_retry_stops_on_an_error_the_policy_does_not_retry(scripted: Make, runtime: Runtime) -> None:
    a = scripted("A", AuthError("no", status_code=401))
    policy = RetryPolicy(max_retries=3)
    with pytest.raises(AllClientsFailedError) as info:
        FallbackClient([a], runtime=runtime, retry_policy=policy).complete("hi")
    assert len(info.value.errors) == 1 and a.calls == 1


def test_nested_round_robin_inside_fallback_shares_one_attempt_list(scripted: Make, runtime: Runtime) -> None:
    inner = RoundRobinClient([scripted("R1", ProviderError("x", status_code=500)), scripted("R2")],
                             name="pair", runtime=runtime)
    outer = FallbackClient([inner, scripted("Z")], runtime=runtime)
    reply = outer.complete("hi")
    assert reply.text == "Z ok"
    assert [(x.client_name, x.outcome) for x in reply.attempts] == [("R1", "ProviderError"), ("Z", "ok")]


def test_fallbacks_are_logged_at_warning(scripted: Make, runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="llmclient")
    FallbackClient([scripted("A", ProviderError("x", status_code=500)), scripted("B")],
                   runtime=runtime).complete("hi")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("A" in r.getMessage() and "ProviderError" in r.getMessage() for r in warnings)


def test_stream_falls_back_before_the_first_chunk(scripted: Make, runtime: Runtime) -> None:
    client = FallbackClient([scripted("A", TransportError("refused")), scripted("B")], runtime=runtime)
    with client.stream("hi") as stream:
        assert "".join(c.text for c in stream) == "B ok"
    assert [x.outcome for x in stream.completion.attempts] == ["TransportError", "ok"]


# -- end to end, over real sockets --------------------------------------------------------------

def test_e2e_member_retries_first_then_falls_back(fake_llm_server: FakeLLMServer, leaf: Make,
                                                  runtime: Runtime) -> None:
    fake_llm_server.enqueue(Fault.server_error(500), Fault.rate_limit(0), match="model-gpt")
    client = FallbackClient([leaf("gpt", retries=1), leaf("claude")], runtime=runtime)
    reply = client.complete("hello")
    assert reply.text == "Echo: hello" and reply.client_name == "claude"
    assert [(x.client_name, x.status_code) for x in reply.attempts] == [("gpt", 500), ("gpt", 429), ("claude", 200)]
    assert len(fake_llm_server.requests) == 3


def test_e2e_refused_connection_falls_back(fake_llm_server: FakeLLMServer, leaf: Make, runtime: Runtime) -> None:
    dead = FakeLLMServer().start()
    dead.close()  # its port now refuses connections
    client = FallbackClient([leaf("gone", server=dead), leaf("alive")], runtime=runtime)
    reply = client.complete("x")
    assert reply.client_name == "alive"
    assert reply.attempts[0].outcome == "TransportError"


def test_e2e_registry_skips_a_member_whose_key_is_missing(fake_llm_server: FakeLLMServer) -> None:
    config = {
        "clients": {
            "Keyed": {"provider": "openai", "options": {"model": "gpt-4", "base_url": fake_llm_server.openai_base_url,
                                                        "api_key": {"env": "LLMCLIENT_TEST_MISSING_KEY"}}},
            "Local": {"provider": "openai-generic", "options": {"model": "local",
                                                                "base_url": fake_llm_server.openai_base_url}},
            "Chain": {"provider": "fallback", "options": {"strategy": ["Keyed", "Local"]}},
        }
    }
    with load_config(config) as registry:
        reply = registry.client("Chain").complete("hi")
    assert reply.client_name == "Local"
    assert reply.attempts[0].client_name == "Keyed" and isinstance(reply.attempts[0].error, ConfigError)
    assert "LLMCLIENT_TEST_MISSING_KEY" in reply.attempts[0].error.message
    assert len(fake_llm_server.requests) == 1


def test_e2e_all_fail(fake_llm_server: FakeLLMServer, leaf: Make, runtime: Runtime) -> None:
    fake_llm_server.enqueue(Fault.server_error(503), Fault.status(400))
    with pytest.raises(AllClientsFailedError) as info:
        FallbackClient([leaf("one"), leaf("two")], runtime=runtime).complete("x")
    assert [e.status_code for e in info.value.errors] == [503, 400]
    assert all(isinstance(e, LLMError) for e in info.value.errors)


def test_closing_the_composite_closes_member_objects_and_their_pools(fake_llm_server: FakeLLMServer) -> None:
    from llmclient.providers.openai import OpenAIGenericClient

    first = OpenAIGenericClient("m1", base_url=fake_llm_server.openai_base_url, name="first")
    second = OpenAIGenericClient("m2", base_url=fake_llm_server.openai_base_url, name="second")
    with FallbackClient([first, second], total_timeout_ms=5000) as client:
        assert client.runtime is first.runtime
        assert client.complete("x").client_name == "first"
    assert first.runtime.closed and second.runtime.closed


def test_config_fallback_on_takes_class_names_and_statuses(fake_llm_server: FakeLLMServer) -> None:
    base = fake_llm_server.openai_base_url
    config = {"clients": {
        "A": {"provider": "openai-generic", "options": {"model": "model-a", "base_url": base}},
        "B": {"provider": "openai-generic", "options": {"model": "model-b", "base_url": base}},
        "Chain": {"provider": "fallback",
                  "options": {"strategy": ["A", "B"], "fallback_on": ["503", "RateLimitError"]}},
    }}
    fake_llm_server.enqueue(Fault.server_error(503), Fault.status(400), match="model-a")
    with load_config(config) as registry:
        assert registry.client("Chain").complete("x").client_name == "B"
        with pytest.raises(InvalidRequestError):
            registry.client("Chain").complete("y")
    with pytest.raises(ConfigError):
        load_config({"clients": {**config["clients"], "Chain": {"provider": "fallback", "options": {
            "strategy": ["A"], "fallback_on": ["5xx"]}}}})


def test_chain_retry_jitter_draws_from_the_runtime_random(scripted: Make) -> None:
    sleeps: list[float] = []
    rt = Runtime(sleep=sleeps.append, random=lambda: 0.25)
    a = scripted("A", ProviderError("x", status_code=500))
    policy = RetryPolicy(max_retries=1, strategy="constant_delay", delay_ms=1000, jitter="full")
    assert FallbackClient([a], runtime=rt, retry_policy=policy).complete("x").text == "A ok"
    assert sleeps == [0.25]
    rt.close()
