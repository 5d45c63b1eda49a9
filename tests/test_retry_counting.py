"""Attempts are counted once, in one RetryState: the leaf loop, the fallback chain and round-robin.

A 401 cured by a credential refresh does not use up a retry of the client's policy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import responses

import llmclient
from llmclient.client import CallContext
from llmclient.errors import AuthError, ProviderError
from llmclient.events import Event, RetryScheduled
from llmclient.models import HttpRequest
from llmclient.retry import RetryPolicy, RetryState
from llmclient.runtime import Runtime
from llmclient.strategies.fallback import FallbackClient, _ChainPlan
from llmclient.strategies.round_robin import RoundRobinClient, _TurnPlan
from llmclient.testing import FakeLLMServer, Fault

URL = "https://gateway.example/v1/chat/completions"
ANSWER = {"id": "c1", "object": "chat.completion", "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


class RotatingToken(llmclient.AuthProvider):
    """A gateway token that a refresh replaces (and says so)."""

    def __init__(self) -> None:
        self.generation = 0
        self.refreshes = 0
        self._lock = threading.Lock()

    def apply(self, request: HttpRequest) -> HttpRequest:
        token = f"gw-token-{self.generation}-secret"
        return request.with_headers({"Authorization": f"Bearer {token}"}, secrets=[token])

    def refresh(self) -> bool:
        with self._lock:
            self.refreshes += 1
            self.generation += 1
        return True


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rs:
        yield rs


def _client(auth: llmclient.AuthProvider, max_retries: int, sleeps: list[float]) -> llmclient.Client:
    return llmclient.OpenAIGenericClient(
        model="m", base_url="https://gateway.example/v1", auth=auth,
        retry_policy=RetryPolicy(max_retries=max_retries, delay_ms=10), runtime=Runtime(sleep=sleeps.append))


def test_a_refreshed_401_does_not_use_up_the_retry(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, URL, status=401, json={"error": {"message": "expired", "type": "invalid_token"}})
    mock.add(responses.POST, URL, status=500, json={"error": {"message": "boom", "type": "server_error"}})
    mock.add(responses.POST, URL, status=200, json=ANSWER)
    auth, sleeps, events = RotatingToken(), list[float](), list[Event]()
    with _client(auth, 1, sleeps) as client:
        reply = client.complete("hi", on_event=events.append)
    assert reply.text == "fine"
    assert [a.status_code for a in reply.attempts] == [401, 500, 200]
    assert auth.refreshes == 1
    assert [c.request.headers["Authorization"] for c in mock.calls] == [
        "Bearer gw-token-0-secret", "Bearer gw-token-1-secret", "Bearer gw-token-1-secret"]
    assert sleeps == [0.01]  # the refresh waits for nothing; the one retry waits its delay
    assert [e.retry_number for e in events if isinstance(e, RetryScheduled)] == [1]


def test_after_the_refresh_the_policy_still_bounds_the_call(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, URL, status=401, json={"error": {"message": "expired"}})
    mock.add(responses.POST, URL, status=500, json={"error": {"message": "boom"}})
    mock.add(responses.POST, URL, status=503, json={"error": {"message": "still down"}})
    auth, sleeps = RotatingToken(), list[float]()
    with _client(auth, 1, sleeps) as client, pytest.raises(ProviderError) as info:
        client.complete("hi")
    assert info.value.status_code == 503 and len(mock.calls) == 3


def test_a_second_401_after_a_refresh_is_raised_not_refreshed_again(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, URL, status=401, json={"error": {"message": "expired"}})
    mock.add(responses.POST, URL, status=401, json={"error": {"message": "still expired"}})
    auth, sleeps = RotatingToken(), list[float]()
    with _client(auth, 3, sleeps) as client, pytest.raises(AuthError):
        client.complete("hi")
    assert auth.refreshes == 1 and len(mock.calls) == 2 and sleeps == []


def test_the_refresh_rule_holds_over_real_sockets() -> None:
    with FakeLLMServer() as server:
        server.enqueue(Fault.status(401), Fault.server_error(500))
        auth, sleeps = RotatingToken(), list[float]()
        client = llmclient.OpenAIGenericClient(model="m", base_url=server.openai_base_url, auth=auth,
                                               retry_policy=RetryPolicy(max_retries=1, delay_ms=1),
                                               runtime=Runtime(sleep=sleeps.append))
        with client:
            reply = client.complete("over the wire")
    assert reply.text == "Echo: over the wire" and [a.status_code for a in reply.attempts] == [401, 500, 200]


# -- the strategies count with the same state ------------------------------------------------------------


class _Failing(llmclient.Client):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, provider="scripted")

    def invoke(self, request: Any, context: CallContext) -> Any:
        raise ProviderError(f"{self.name} down", status_code=500)

    def open_stream(self, request: Any, context: CallContext) -> Any:
        raise ProviderError(f"{self.name} down", status_code=500)


def test_the_fallback_chain_counts_its_rounds_in_a_retry_state() -> None:
    sleeps: list[float] = []
    runtime = Runtime(sleep=sleeps.append, random=lambda: 0.5)
    policy = RetryPolicy(max_retries=2, delay_ms=100, jitter="full")
    chain = FallbackClient([_Failing("A"), _Failing("B")], runtime=runtime, retry_policy=policy)
    plan = chain._planner(CallContext())
    assert isinstance(plan, _ChainPlan) and plan.state == RetryState(policy)
    error = ProviderError("down", status_code=500)
    assert [plan(None, hedge=False), plan(error, hedge=False)] == [0, 1]
    assert plan(error, hedge=False) == 0 and (plan.state.retries, plan.state.error) == (1, error)
    assert plan(error, hedge=False) == 1 and plan(error, hedge=False) == 0 and plan.state.retries == 2
    assert plan(error, hedge=False) == 1 and plan(error, hedge=False) is None  # retries used up
    assert sleeps == [0.05, 0.05]
    with pytest.raises(llmclient.AllClientsFailedError) as info:
        chain.complete("x")
    assert len(info.value.attempts) == 6


def test_round_robin_counts_the_members_it_moves_on_to_in_a_retry_state() -> None:
    sleeps: list[float] = []
    runtime = Runtime(sleep=sleeps.append)
    policy = RetryPolicy(max_retries=2, delay_ms=20)
    rr = RoundRobinClient([_Failing("A"), _Failing("B"), _Failing("C")], runtime=runtime, retry_policy=policy)
    plan = rr._planner(CallContext())
    assert isinstance(plan, _TurnPlan) and plan.state == RetryState(policy)
    error = ProviderError("down", status_code=500)
    assert [plan(None, hedge=False), plan(error, hedge=False), plan(error, hedge=False)] == [0, 1, 2]
    assert plan.state.retries == 2 and plan(error, hedge=False) is None
    assert sleeps == [0.02, 0.02]


def test_events_number_retries_from_the_state() -> None:
    events: list[Event] = []
    with FakeLLMServer() as server:
        server.enqueue(Fault.server_error(500), Fault.server_error(502))
        client = llmclient.OpenAIGenericClient(model="m", base_url=server.openai_base_url,
                                               retry_policy=RetryPolicy(max_retries=2, delay_ms=1))
        with client:
            client.complete("x", on_event=events.append)
    assert [e.retry_number for e in events if isinstance(e, RetryScheduled)] == [1, 2]
