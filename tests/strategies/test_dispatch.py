"""Deadlines (total_timeout_ms) and hedging (hedge_after_ms), over real sockets and with scripted members."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest
from helpers import eventually

from llmclient.errors import AllClientsFailedError, CancelledError, LLMTimeoutError, ProviderError
from llmclient.retry import RetryPolicy
from llmclient.runtime import Runtime
from llmclient.strategies.fallback import FallbackClient
from llmclient.strategies.round_robin import RoundRobinClient
from llmclient.testing import FakeLLMServer, Fault

Make = Callable[..., Any]


def _llmclient_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("llmclient")]


# -- deadlines ------------------------------------------------------------------------------------

def test_total_timeout_ends_a_blocked_read_promptly(fake_llm_server: FakeLLMServer, leaf: Make,
                                                    runtime: Runtime) -> None:
    fake_llm_server.enqueue(Fault.stall(5))
    client = FallbackClient([leaf("slow"), leaf("never")], runtime=runtime, total_timeout_ms=400)
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        client.complete("x")
    elapsed = time.monotonic() - started
    assert info.value.kind == "total" and info.value.client_name == "fallback"
    assert elapsed < 0.4 + 0.5  # the stall is 5 s: the deadline cut the read (kind "total", one request)
    assert "total_timeout_ms (400 ms)" in str(info.value) and "slow (openai-generic)" in str(info.value)
    assert len(fake_llm_server.requests) == 1


def test_total_timeout_cuts_a_stream_stalled_before_its_first_content(fake_llm_server: FakeLLMServer, leaf: Make,
                                                                      runtime: Runtime) -> None:
    fake_llm_server.enqueue(Fault.stall_mid_stream(5, after_chunks=1))  # the role chunk, then nothing
    client = RoundRobinClient([leaf("slow")], runtime=runtime, total_timeout_ms=300)
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        client.stream("x")
    assert info.value.kind == "total"
    assert time.monotonic() - started < 0.3 + 0.5


def test_total_timeout_does_not_wait_for_a_member_that_ignores_deadlines(scripted: Make, runtime: Runtime) -> None:
    gate = threading.Event()
    stuck = scripted("stuck", gate=gate)
    client = FallbackClient([stuck], runtime=runtime, total_timeout_ms=200)
    started = time.monotonic()
    try:
        with pytest.raises(LLMTimeoutError) as info:
            client.complete("x")
        assert time.monotonic() - started < 0.2 + 0.6
        assert "stuck (scripted) LLMTimeoutError" in str(info.value)
    finally:
        gate.set()


def test_time_left_goes_to_the_next_member(fake_llm_server: FakeLLMServer, leaf: Make, runtime: Runtime) -> None:
    fake_llm_server.enqueue(Fault.server_error(), match="model-first")
    client = FallbackClient([leaf("first"), leaf("second")], runtime=runtime, total_timeout_ms=2000)
    reply = client.complete("x")
    assert [(a.client_name, a.outcome) for a in reply.attempts] == [("first", "ProviderError"), ("second", "ok")]


def test_no_retry_sleep_goes_past_the_deadline(fake_llm_server: FakeLLMServer, runtime: Runtime,
                                               leaf: Make) -> None:
    slow_retries = leaf("only")
    slow_retries.retry_policy = RetryPolicy(max_retries=3, delay_ms=5000)
    fake_llm_server.enqueue(Fault.server_error())
    client = FallbackClient([slow_retries], runtime=runtime, total_timeout_ms=3000,
                            retry_policy=RetryPolicy(max_retries=2, delay_ms=4000))
    with pytest.raises(AllClientsFailedError):
        client.complete("x")
    assert runtime.sleeps == []  # type: ignore[attr-defined]  # 5 s and 4 s would both pass the deadline
    fake_llm_server.enqueue(Fault.rate_limit(0.05))
    assert client.complete("y").text == "Echo: y"  # a server-directed 50 ms fits: slept
    assert runtime.sleeps == [0.05]  # type: ignore[attr-defined]


def test_an_inner_deadline_does_not_bind_the_outer_chain(fake_llm_server: FakeLLMServer, leaf: Make,
                                                         runtime: Runtime) -> None:
    fake_llm_server.enqueue(Fault.stall(3), match="model-inner")
    inner = FallbackClient([leaf("inner")], name="inner", runtime=runtime, total_timeout_ms=200)
    outer = FallbackClient([inner, leaf("outer")], runtime=runtime, total_timeout_ms=5000)
    reply = outer.complete("x")
    assert reply.client_name == "outer"
    assert [a.outcome for a in reply.attempts] == ["LLMTimeoutError", "ok"]


# -- hedging --------------------------------------------------------------------------------------

def test_hedge_starts_the_next_member_and_closes_the_losers_connection(
        fake_llm_server: FakeLLMServer, leaf: Make, runtime: Runtime, open_sockets: Callable[[int], int]) -> None:
    fake_llm_server.enqueue(Fault.stall(5), match="model-slow")
    client = FallbackClient([leaf("slow"), leaf("fast")], runtime=runtime, hedge_after_ms=100)
    started = time.monotonic()
    reply = client.complete("x")
    assert time.monotonic() - started < 2
    assert reply.client_name == "fast" and reply.text == "Echo: x"
    assert [(a.client_name, a.outcome) for a in reply.attempts] == [("slow", "CancelledError"), ("fast", "ok")]
    assert isinstance(reply.attempts[0].error, CancelledError)
    assert "answered first" in reply.attempts[0].error.message
    assert len(fake_llm_server.requests) == 2
    assert open_sockets(fake_llm_server.port) == 1  # fast's pooled connection; slow's is gone
    runtime.close()
    assert open_sockets(fake_llm_server.port) == 0
    assert _llmclient_threads() == []


def test_a_quick_failure_moves_on_without_waiting_for_the_hedge(scripted: Make, runtime: Runtime) -> None:
    client = FallbackClient([scripted("A", ProviderError("x", status_code=500)), scripted("B")], runtime=runtime,
                            hedge_after_ms=10_000)
    started = time.monotonic()
    reply = client.complete("x")
    assert time.monotonic() - started < 2
    assert [(a.client_name, a.outcome) for a in reply.attempts] == [("A", "ProviderError"), ("B", "ok")]


def test_hedges_that_all_fail(fake_llm_server: FakeLLMServer, leaf: Make, runtime: Runtime) -> None:
    fake_llm_server.enqueue(Fault.stall(0.4), match="model-one")
    fake_llm_server.enqueue(Fault.server_error(502), match="model-two")
    client = FallbackClient([leaf("one", http={"request_timeout_ms": 200}), leaf("two")], runtime=runtime,
                            hedge_after_ms=50)
    with pytest.raises(AllClientsFailedError) as info:
        client.complete("x")
    assert sorted(type(e).__name__ for e in info.value.errors) == ["LLMTimeoutError", "ProviderError"]


def test_hedged_stream_first_content_wins(fake_llm_server: FakeLLMServer, leaf: Make, runtime: Runtime) -> None:
    fake_llm_server.enqueue(Fault.stall(5), match="model-slow")
    client = FallbackClient([leaf("slow"), leaf("fast")], runtime=runtime, hedge_after_ms=100)
    with client.stream("streamed") as stream:
        text = "".join(chunk.text for chunk in stream)
    assert text == "Echo: streamed"
    assert [(a.client_name, a.outcome) for a in stream.completion.attempts] == [
        ("slow", "CancelledError"), ("fast", "ok")]


def test_batch_filling_the_shared_pool_cannot_starve_hedges(fake_llm_server: FakeLLMServer, leaf: Make) -> None:
    rt = Runtime(max_workers=2)
    try:
        fake_llm_server.enqueue(*[Fault.stall(5)] * 6, match="model-slow")
        client = FallbackClient([leaf("slow", rt=rt), leaf("fast", rt=rt)], runtime=rt, hedge_after_ms=50)
        started = time.monotonic()
        results = client.batch([f"q{i}" for i in range(6)])
        assert [getattr(r, "text", r) for r in results] == [f"Echo: q{i}" for i in range(6)]
        assert time.monotonic() - started < 4
    finally:
        rt.close()
    assert _llmclient_threads() == []


def test_close_aborts_hedged_calls_in_flight(fake_llm_server: FakeLLMServer, leaf: Make) -> None:
    rt = Runtime()
    fake_llm_server.enqueue(*[Fault.stall(10)] * 2)
    client = FallbackClient([leaf("a", rt=rt), leaf("b", rt=rt)], runtime=rt, hedge_after_ms=50)
    future = client.submit("x")
    assert eventually(lambda: len(fake_llm_server.requests) == 2)  # the call and its hedge, both stalled
    started = time.monotonic()
    rt.close()
    assert time.monotonic() - started < 3
    assert isinstance(future.exception(timeout=1), (AllClientsFailedError, CancelledError, LLMTimeoutError))
    assert _llmclient_threads() == []


def test_aborting_a_scope_spares_connections_already_back_in_the_pool(fake_llm_server: FakeLLMServer, leaf: Make,
                                                                     runtime: Runtime) -> None:
    from llmclient.abort import AbortScope

    client = leaf("pooled")
    with AbortScope() as scope:
        assert client.complete("one").text == "Echo: one"
    scope.abort()
    assert client.complete("two").text == "Echo: two"
    assert fake_llm_server.connections_opened == 1  # the pooled connection was reused, not shut down


def test_an_aborted_scope_interrupts_a_read_in_another_thread(fake_llm_server: FakeLLMServer, leaf: Make,
                                                              runtime: Runtime) -> None:
    from llmclient.abort import AbortScope
    from llmclient.errors import TransportError

    fake_llm_server.enqueue(Fault.stall(5))
    client = leaf("stalled")
    scope = AbortScope()
    errors: list[Exception] = []

    def call() -> None:
        with scope:
            try:
                client.complete("x")
            except TransportError as err:
                errors.append(err)

    thread = threading.Thread(target=call)
    thread.start()
    assert eventually(lambda: len(fake_llm_server.requests) == 1)  # the read is blocked on the stall
    started = time.monotonic()
    scope.abort()
    thread.join(3)
    assert not thread.is_alive() and time.monotonic() - started < 1
    assert len(errors) == 1


def test_abandoning_a_branch_stops_the_hedges_nested_inside_it(
        fake_llm_server: FakeLLMServer, leaf: Make, runtime: Runtime, open_sockets: Callable[[int], int]) -> None:
    fake_llm_server.enqueue(Fault.stall(5), Fault.stall(5), match="model-slow")
    inner = FallbackClient([leaf("slow1"), leaf("slow2")], name="inner", runtime=runtime, hedge_after_ms=50)
    outer = FallbackClient([inner, leaf("fast")], runtime=runtime, hedge_after_ms=300)
    started = time.monotonic()
    reply = outer.complete("x")
    assert time.monotonic() - started < 2
    assert reply.client_name == "fast"
    assert [a.client_name for a in reply.attempts][-1] == "fast"
    assert {a.client_name for a in reply.attempts[:-1]} == {"slow1", "slow2"}
    assert all(a.error is not None for a in reply.attempts[:-1])
    assert len(fake_llm_server.requests) == 3
    assert open_sockets(fake_llm_server.port) == 1  # only fast's, back in the pool
