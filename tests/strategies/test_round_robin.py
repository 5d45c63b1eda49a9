"""RoundRobinClient: the smooth weighted order, start, the shared counter, retries moving on, end to end."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Callable

import pytest

from llmclient.errors import AllClientsFailedError, ConfigError, ProviderError
from llmclient.retry import RetryPolicy
from llmclient.runtime import Runtime
from llmclient.strategies.round_robin import RoundRobinClient, SmoothWeightedRoundRobin
from llmclient.testing import FakeLLMServer, Fault

Make = Callable[..., Any]


def _picks(order: SmoothWeightedRoundRobin, n: int) -> list[int]:
    return [order.next() for _ in range(n)]


def test_smooth_weights_two_to_one_interleave() -> None:
    assert _picks(SmoothWeightedRoundRobin([2, 1]), 6) == [0, 1, 0, 0, 1, 0]


def test_smooth_weights_never_burst() -> None:
    picks = _picks(SmoothWeightedRoundRobin([5, 1, 1]), 14)
    assert picks[:7] == [0, 0, 1, 0, 2, 0, 0]
    assert picks[7:] == picks[:7]
    assert Counter(picks) == {0: 10, 1: 2, 2: 2}


def test_equal_weights_are_plain_round_robin_and_start_picks_the_first() -> None:
    assert _picks(SmoothWeightedRoundRobin([1, 1, 1]), 5) == [0, 1, 2, 0, 1]
    assert _picks(SmoothWeightedRoundRobin([1, 1, 1], start=2), 4) == [2, 0, 1, 2]
    assert _picks(SmoothWeightedRoundRobin([2, 1], start=1), 6) == [1, 0, 0, 1, 0, 0]


@pytest.mark.parametrize("weights,start", [([], 0), ([0, 1], 0), ([1, 1], 2)])
def test_bad_weights_or_start(weights: list[int], start: int) -> None:
    with pytest.raises(ValueError):
        SmoothWeightedRoundRobin(weights, start=start)


def test_counter_is_shared_by_threads_and_advances_once_per_call(scripted: Make, runtime: Runtime) -> None:
    members = [scripted("A"), scripted("B"), scripted("C")]
    client = RoundRobinClient(members, weights=[3, 2, 1], runtime=runtime)
    results: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(20):
            name = client.complete("x").client_name
            with lock:
                results.append(name or "")

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert Counter(results) == {"A": 60, "B": 40, "C": 20}


def test_weights_must_match_members(scripted: Make, runtime: Runtime) -> None:
    with pytest.raises(ConfigError):
        RoundRobinClient([scripted("A")], weights=[1, 2], runtime=runtime)


def test_without_a_policy_a_failure_ends_the_call(scripted: Make, runtime: Runtime) -> None:
    a, b = scripted("A", ProviderError("x", status_code=500)), scripted("B")
    with pytest.raises(AllClientsFailedError) as info:
        RoundRobinClient([a, b], runtime=runtime).complete("x")
    assert [e.client_name for e in info.value.errors] == ["A"] and b.calls == 0


def test_a_retry_moves_to_the_next_member_without_advancing_the_counter(scripted: Make, runtime: Runtime) -> None:
    a = scripted("A", ProviderError("x", status_code=500))
    b, c = scripted("B", ProviderError("y", status_code=503)), scripted("C")
    policy = RetryPolicy(max_retries=2, delay_ms=100)
    client = RoundRobinClient([a, b, c], runtime=runtime, retry_policy=policy)
    reply = client.complete("x")
    assert [x.client_name for x in reply.attempts] == ["A", "B", "C"]
    assert runtime.sleeps == [0.1, 0.1]  # type: ignore[attr-defined]
    assert client.complete("x").client_name == "B"  # the second call's turn, not the fourth member


def test_unbuildable_member_is_skipped(scripted: Make, runtime: Runtime) -> None:
    b = scripted("B")

    def resolve(name: str) -> Any:
        if name == "broken":
            raise ConfigError("no key")
        return b

    client = RoundRobinClient(["broken", "B"], runtime=runtime, resolver=resolve)
    reply = client.complete("x")
    assert reply.client_name == "B" and [x.outcome for x in reply.attempts] == ["ConfigError", "ok"]


def test_e2e_spread_and_retry_on_next_member(fake_llm_server: FakeLLMServer, leaf: Make, runtime: Runtime) -> None:
    client = RoundRobinClient([leaf("alpha"), leaf("beta")], weights=[2, 1], runtime=runtime,
                              retry_policy=RetryPolicy(max_retries=1, delay_ms=0))
    names = [client.complete(f"q{i}").client_name for i in range(6)]
    assert names == ["alpha", "beta", "alpha", "alpha", "beta", "alpha"]
    assert client.complete("seventh").client_name == "alpha"
    fake_llm_server.enqueue(Fault.reset(), match="model-beta")
    reply = client.complete("eighth")  # beta's turn: reset, then alpha
    assert [(x.client_name, x.outcome) for x in reply.attempts] == [("beta", "TransportError"), ("alpha", "ok")]
