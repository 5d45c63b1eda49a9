"""Under load (a test, not a benchmark): 32 threads x 50 calls through a fallback of two round-robin pairs.

One in five requests is faulted at random (429 with Retry-After 0, 500, reset, a stall past
the idle or request timeout). Every call must end in a Completion or a typed LLMError, the
attempts recorded must match the requests the servers saw, the connection pool must never
overflow, and closing the registry must leave no thread and no socket behind.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from llmclient.client import CallContext
from llmclient.config.loader import load_config
from llmclient.errors import CancelledError, LLMError
from llmclient.models import ChatRequest, Completion, to_messages
from llmclient.testing import FakeLLMServer, Fault

pytestmark = pytest.mark.slow  # 32 threads x 50 calls, and hedges under load

THREADS = 32
CALLS = 50

FAULTS = [
    Fault.rate_limit(0),
    Fault.server_error(500),
    Fault.reset(),
    Fault.stall_mid_stream(0.5, after_chunks=1),  # a stream: stalls before content; else a stall
    Fault.stall_mid_stream(0.5, after_chunks=3),  # a stream: stalls after content arrived
]


@pytest.fixture
def servers() -> Iterator[tuple[FakeLLMServer, FakeLLMServer]]:
    with FakeLLMServer(stream_chunks=4) as one, FakeLLMServer(stream_chunks=4) as two:
        one.random_faults(0.2, FAULTS, seed=1)
        two.random_faults(0.2, FAULTS, seed=2)
        yield one, two


def _config(one: FakeLLMServer, two: FakeLLMServer) -> dict[str, Any]:
    http = {"connect_timeout_ms": 2000, "request_timeout_ms": 1500, "idle_timeout_ms": 150,
            "time_to_first_token_timeout_ms": 300}
    leaves = {f"L{i}": {"provider": "openai-generic", "retry_policy": "quick",
                        "options": {"model": f"m{i}", "base_url": server.openai_base_url, "http": http}}
              for i, server in ((1, one), (2, one), (3, two), (4, two))}
    return {
        "clients": {
            **leaves,
            "PairA": {"provider": "round-robin", "options": {"strategy": ["L1", "L2"]}},
            "PairB": {"provider": "round-robin", "options": {"strategy": ["L3", "L4"], "weights": [2, 1]}},
            "Top": {"provider": "fallback", "options": {"strategy": ["PairA", "PairB"], "total_timeout_ms": 20000}},
        },
        "retry_policies": {"quick": {"max_retries": 2, "strategy": {"type": "constant_delay", "delay_ms": 0}}},
        "settings": {"max_workers": THREADS},
    }


def test_32_threads_x_50_calls_with_one_request_in_five_faulted(
        servers: tuple[FakeLLMServer, FakeLLMServer], caplog: pytest.LogCaptureFixture,
        open_sockets: Callable[[int], int]) -> None:
    one, two = servers
    caplog.set_level(logging.WARNING, logger="urllib3")
    registry = load_config(_config(one, two))
    client = registry.client("Top")
    outcomes: list[str] = []
    attempts_seen = [0]
    lock = threading.Lock()

    def worker(number: int) -> None:
        for call in range(CALLS):
            context = CallContext()
            request = ChatRequest(to_messages(f"w{number} c{call} says hello"), {})
            try:
                if call % 3 == 0:
                    with client.open_stream(request, context) as stream:
                        for _ in stream:
                            pass
                    result: Completion | LLMError = stream.completion
                else:
                    result = client.invoke(request, context)
            except LLMError as err:
                result = err
            with lock:
                outcomes.append(type(result).__name__)
                attempts_seen[0] += len(context.attempts)

    threads = [threading.Thread(target=worker, args=(n,), name=f"load-{n}") for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not [t.name for t in threads if t.is_alive()], "a call hung"

    counts = Counter(outcomes)
    assert sum(counts.values()) == THREADS * CALLS, "a call was lost"
    assert counts["Completion"] > THREADS * CALLS * 0.8, counts
    assert set(counts) <= {"Completion", "AllClientsFailedError", "StreamError", "LLMTimeoutError"}, counts
    assert attempts_seen[0] == len(one.requests) + len(two.requests)
    assert sum(1 for r in one.requests + two.requests if r.fault) > THREADS * CALLS * 0.1
    assert not [r for r in caplog.records if "Connection pool is full" in r.getMessage()]

    registry.close()
    assert [t.name for t in threading.enumerate() if t.name.startswith("llmclient")] == []
    assert open_sockets(one.port) == 0 and open_sockets(two.port) == 0


def test_hedged_calls_under_load_never_overflow_the_pool(caplog: pytest.LogCaptureFixture,
                                                         open_sockets: Callable[[int], int]) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3")
    with FakeLLMServer() as server:
        server.random_faults(0.3, [Fault.stall(0.3)], seed=3)
        base = server.openai_base_url
        config = {"clients": {
            **{name: {"provider": "openai-generic", "options": {"model": f"model-{name}", "base_url": base}}
               for name in ("A", "B", "C")},
            "Hedged": {"provider": "fallback", "options": {"strategy": ["A", "B", "C"], "hedge_after_ms": 30,
                                                           "total_timeout_ms": 10000}},
        }, "settings": {"max_workers": THREADS}}
        registry = load_config(config)
        client = registry.client("Hedged")
        outcomes: Counter[str] = Counter()
        attempts = [0, 0]  # all, abandoned
        lock = threading.Lock()

        def worker() -> None:
            for call in range(20):
                context = CallContext()
                try:
                    result: Any = client.invoke(ChatRequest(to_messages(f"c{call}"), {}), context)
                except LLMError as err:
                    result = err
                with lock:
                    outcomes[type(result).__name__] += 1
                    attempts[0] += len(context.attempts)
                    attempts[1] += sum(1 for a in context.attempts if isinstance(a.error, CancelledError))

        threads = [threading.Thread(target=worker) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not [t for t in threads if t.is_alive()]
        assert outcomes == {"Completion": THREADS * 20}
        # A hedge abandoned before its request left is an attempt the server never saw.
        assert len(server.requests) <= attempts[0] <= len(server.requests) + attempts[1]
        assert attempts[1] > 0
        assert not [r for r in caplog.records if "Connection pool is full" in r.getMessage()]
        registry.close()
        assert [t.name for t in threading.enumerate() if t.name.startswith("llmclient")] == []
        assert open_sockets(server.port) == 0
