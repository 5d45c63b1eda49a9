"""Helpers of the strategy tests: scripted in-memory members and OpenAI-generic leaves on FakeLLMServer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import generic_client, sockets_to

from llmclient.client import CallContext, Client
from llmclient.errors import LLMError
from llmclient.models import Attempt, ChatRequest, Completion
from llmclient.providers.openai import OpenAIGenericClient
from llmclient.retry import RetryPolicy
from llmclient.runtime import Runtime
from llmclient.stream import Stream, chunks_of
from llmclient.testing import FakeLLMServer


class ScriptedClient(Client):
    """A member that answers from a script: each call takes the next outcome (an error or a text).

    When the script runs out it answers ``"<name> ok"``. Every call records one attempt.
    ``gate`` (an Event) makes calls wait for it first, to hold a member "in flight".
    """

    def __init__(self, name: str, *outcomes: LLMError | str, runtime: Runtime | None = None,
                 gate: threading.Event | None = None) -> None:
        super().__init__(name=name, provider="scripted", runtime=runtime)
        self.outcomes = list(outcomes)
        self.calls = 0
        self.gate = gate
        self.contexts: list[CallContext] = []
        self._lock = threading.Lock()

    def _next(self, context: CallContext) -> Completion:
        with self._lock:
            self.calls += 1
            self.contexts.append(context)
            outcome = self.outcomes.pop(0) if self.outcomes else f"{self.name} ok"
        if self.gate is not None:
            self.gate.wait(5)
        if isinstance(outcome, LLMError):
            outcome.with_context(client_name=self.name, provider=self.provider)
            context.attempts.append(Attempt(self.name, self.provider, 0.0, outcome, outcome.status_code))
            raise outcome
        context.attempts.append(Attempt(self.name, self.provider, 0.0, None, 200))
        return Completion(text=outcome, client_name=self.name, provider=self.provider,
                          attempts=tuple(context.attempts))

    def invoke(self, request: ChatRequest, context: CallContext) -> Completion:
        return self._next(context)

    def open_stream(self, request: ChatRequest, context: CallContext) -> Stream:
        completion = self._next(context)
        return Stream(iter(chunks_of(completion)), finish=lambda acc: completion.with_attempts(context.attempts),
                      close=lambda: None)


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    """A runtime whose sleeps are recorded instead of waited, closed after the test."""
    sleeps: list[float] = []
    rt = Runtime(sleep=sleeps.append)
    rt.sleeps = sleeps  # type: ignore[attr-defined]
    yield rt
    rt.close()


@pytest.fixture
def scripted(runtime: Runtime) -> Callable[..., ScriptedClient]:
    """Make a ScriptedClient on the test's runtime."""
    def make(name: str, *outcomes: LLMError | str, gate: threading.Event | None = None) -> ScriptedClient:
        return ScriptedClient(name, *outcomes, runtime=runtime, gate=gate)
    return make


@pytest.fixture
def leaf(fake_llm_server: FakeLLMServer, runtime: Runtime) -> Callable[..., OpenAIGenericClient]:
    """Make an openai-generic client named ``name`` (model ``model-<name>``) on the fake server."""
    def make(name: str, *, retries: int = 0, server: FakeLLMServer | None = None, rt: Runtime | None = None,
             **options: Any) -> OpenAIGenericClient:
        policy = RetryPolicy(max_retries=retries, delay_ms=0) if retries else None
        return generic_client(server or fake_llm_server, model=f"model-{name}", name=name, runtime=rt or runtime,
                              retry_policy=policy, **options)
    return make


@pytest.fixture
def open_sockets() -> Callable[[int], int]:
    """``open_sockets(port)``: this process's TCP sockets to that port on 127.0.0.1."""
    return sockets_to
