"""Cooldown: members that keep failing are skipped for a while, by fallback and round-robin alike."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import pytest

from llmclient.errors import InvalidRequestError, LLMTimeoutError, ProviderError, TransportError
from llmclient.retry import RetryPolicy
from llmclient.runtime import Runtime
from llmclient.strategies.cooldown import Cooldown
from llmclient.strategies.fallback import FallbackClient
from llmclient.strategies.round_robin import RoundRobinClient
from llmclient.testing import FakeLLMServer, Fault

Make = Callable[..., Any]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_three_failures_in_a_row_cool_a_member_until_the_time_is_up(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    cooldown = Cooldown(["A", "B"], failures=3, cooldown_s=5, clock=clock, owner="fallback 'x'")
    err = TransportError("refused")
    assert not cooldown.failed(0, err) and not cooldown.failed(0, err)
    with caplog.at_level(logging.WARNING, logger="llmclient"):
        assert cooldown.failed(0, err)
    assert "A failed 3 times in a row" in caplog.text
    assert cooldown.available([0, 1]) == [1]
    clock.now += 4.9
    assert cooldown.cooling(0)
    clock.now += 0.2
    assert cooldown.available([0, 1]) == [0, 1]
    assert cooldown.failed(0, err)  # half-open: one more failure cools it again
    cooldown.succeeded(0)
    assert cooldown.available([0, 1]) == [0, 1]
    assert not cooldown.failed(0, err)


def test_a_success_resets_the_streak() -> None:
    cooldown = Cooldown(["A"], failures=2, cooldown_s=5, clock=Clock())
    cooldown.failed(0, TransportError("x"))
    cooldown.succeeded(0)
    assert not cooldown.failed(0, TransportError("x"))


def test_when_every_member_cools_the_one_that_cools_soonest_is_tried() -> None:
    clock = Clock()
    cooldown = Cooldown(["A", "B", "C"], failures=1, cooldown_s=10, clock=clock)
    cooldown.failed(1, TransportError("x"))
    clock.now += 1
    cooldown.failed(0, TransportError("x"))
    cooldown.failed(2, TransportError("x"))
    assert cooldown.available([0, 1, 2]) == [1]


def test_request_errors_do_not_count() -> None:
    cooldown = Cooldown(["A"], failures=1, cooldown_s=10, clock=Clock())
    assert not cooldown.failed(0, InvalidRequestError("bad", status_code=400))
    assert not cooldown.failed(0, LLMTimeoutError("deadline", kind="total"))
    assert cooldown.failed(0, LLMTimeoutError("slow", kind="request"))


def test_counts_are_thread_safe() -> None:
    cooldown = Cooldown(["A"], failures=1000, cooldown_s=10, clock=Clock())
    started = []

    def hammer() -> None:
        for _ in range(250):
            if cooldown.failed(0, TransportError("x")):
                started.append(1)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert started == [1]  # exactly the 1000th failure started it


def test_fallback_skips_a_cooling_member(scripted: Make) -> None:
    clock = Clock()
    rt = Runtime(clock=clock, sleep=lambda s: None)
    a = scripted("A", *[ProviderError("x", status_code=500)] * 2)
    a.runtime = rt
    client = FallbackClient([a, scripted("B")], runtime=rt, cooldown_failures=2, cooldown_ms=1000)
    assert client.complete("1").client_name == "B"
    assert client.complete("2").client_name == "B"
    assert a.calls == 2
    assert [x.client_name for x in client.complete("3").attempts] == ["B"]  # A skipped, not recorded
    clock.now += 1.5
    assert client.complete("4").client_name == "A"  # A's script is done: it answers again
    rt.close()


def test_round_robin_skips_a_cooling_member_on_its_turn(scripted: Make) -> None:
    clock = Clock()
    rt = Runtime(clock=clock, sleep=lambda s: None)
    a = scripted("A", ProviderError("x", status_code=500))
    client = RoundRobinClient([a, scripted("B")], runtime=rt, cooldown_failures=1, cooldown_ms=1000,
                              retry_policy=RetryPolicy(max_retries=1, delay_ms=0))
    assert [x.client_name for x in client.complete("1").attempts] == ["A", "B"]
    assert client.complete("2").client_name == "B"
    assert client.complete("3").client_name == "B"  # A's turn, but A is cooling
    clock.now += 2
    assert client.complete("4").client_name == "B"
    assert client.complete("5").client_name == "A"
    rt.close()


def test_e2e_cooling_member_gets_no_requests(fake_llm_server: FakeLLMServer, leaf: Make, runtime: Runtime) -> None:
    fake_llm_server.enqueue(*[Fault.server_error()] * 2, match="model-flaky")
    client = FallbackClient([leaf("flaky"), leaf("steady")], runtime=runtime, cooldown_failures=2)
    for _ in range(5):
        assert client.complete("x").client_name == "steady"
    flaky = [r for r in fake_llm_server.requests if b"model-flaky" in r.body]
    assert len(flaky) == 2 and len(fake_llm_server.requests) == 7
