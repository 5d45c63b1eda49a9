"""CancelToken: a call stops at once wherever it is, and nothing after it runs."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import pytest
from helpers import eventually, generic_client

import llmclient
from llmclient.cancel import CancelToken
from llmclient.events import RetryScheduled
from llmclient.testing import FakeLLMServer, Fault


def cancel_after(token: CancelToken, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, token.cancel)
    timer.start()
    return timer


def cancel_when(token: CancelToken, condition: Callable[[], bool]) -> threading.Thread:
    """Cancel ``token`` from another thread as soon as ``condition()`` holds (within 10 s)."""
    thread = threading.Thread(target=lambda: eventually(condition) and token.cancel(), daemon=True)
    thread.start()
    return thread


def test_cancel_ends_a_backoff_sleep_at_once(fake_llm_server: FakeLLMServer) -> None:
    token = CancelToken()
    fake_llm_server.enqueue(Fault.server_error(500))
    slow_retry = llmclient.RetryPolicy(max_retries=3, delay_ms=30_000)
    events: list[object] = []
    with generic_client(fake_llm_server, retry_policy=slow_retry) as c:
        cancel_when(token, lambda: any(isinstance(e, RetryScheduled) for e in events))  # the 30 s backoff began
        started = time.monotonic()
        with pytest.raises(llmclient.CancelledError):
            c.complete("x", cancel=token, on_event=events.append)
    assert time.monotonic() - started < 3
    assert len(fake_llm_server.requests) == 1  # no retry after the cancel


def test_cancel_abandons_the_request_in_flight(fake_llm_server: FakeLLMServer) -> None:
    token = CancelToken()
    fake_llm_server.enqueue(Fault.stall(10))
    with generic_client(fake_llm_server, retry_policy=llmclient.RetryPolicy(max_retries=2, delay_ms=0)) as c:
        cancel_when(token, lambda: len(fake_llm_server.requests) == 1)  # stalled at the server
        started = time.monotonic()
        with pytest.raises(llmclient.CancelledError) as info:
            c.complete("x", cancel=token)
    assert time.monotonic() - started < 3
    assert info.value.client_name == "openai-generic" and not info.value.retryable
    assert len(fake_llm_server.requests) == 1


def test_cancel_stops_a_stream(tmp_path: Any) -> None:
    token = CancelToken()
    with FakeLLMServer(chunk_delay=0.2, stream_chunks=50) as server, generic_client(server) as c:
        received = []
        with pytest.raises(llmclient.CancelledError):
            with c.stream("go", cancel=token) as stream:
                for chunk in stream:
                    received.append(chunk.text)
                    if len(received) == 2:
                        cancel_after(token, 0.05)
        assert 2 <= len(received) < 10


def test_a_fallback_does_not_move_on_after_cancel(fake_llm_server: FakeLLMServer) -> None:
    token = CancelToken()
    fake_llm_server.enqueue(Fault.stall(10), match="first")
    cfg = {"clients": {
        "First": {"provider": "openai-generic", "options": {"base_url": fake_llm_server.openai_base_url,
                                                            "model": "first"}},
        "Second": {"provider": "openai-generic", "options": {"base_url": fake_llm_server.openai_base_url,
                                                             "model": "second"}},
        "F": {"provider": "fallback", "options": {"strategy": ["First", "Second"]}}}}
    with llmclient.load_config(cfg) as registry:
        cancel_when(token, lambda: len(fake_llm_server.requests) == 1)  # First's request, stalled
        with pytest.raises(llmclient.CancelledError):
            registry.client("F").complete("x", cancel=token)
    assert [r.json()["model"] for r in fake_llm_server.requests] == ["first"]


def test_an_already_cancelled_token_sends_nothing(fake_llm_server: FakeLLMServer) -> None:
    token = CancelToken()
    token.cancel("the user left")
    with generic_client(fake_llm_server) as c:
        with pytest.raises(llmclient.CancelledError, match="the user left"):
            c.complete("x", cancel=token)
        with pytest.raises(llmclient.CancelledError):
            c.stream("x", cancel=token)
    assert fake_llm_server.requests == []


def test_one_token_cancels_every_call_sharing_it(fake_llm_server: FakeLLMServer) -> None:
    token = CancelToken()
    fake_llm_server.enqueue(Fault.stall(10), Fault.stall(10))
    with generic_client(fake_llm_server) as c:
        futures = [c.submit("x", cancel=token) for _ in range(2)]
        assert eventually(lambda: len(fake_llm_server.requests) == 2)  # both in flight, stalled
        token.cancel()
        errors = [f.exception(timeout=5) for f in futures]
    assert all(isinstance(e, llmclient.CancelledError) for e in errors)


def test_cancel_ends_a_rate_limit_wait(fake_llm_server: FakeLLMServer) -> None:
    token = CancelToken()
    with generic_client(fake_llm_server, rate_limit={"requests_per_minute": 1}) as c:
        c.complete("first")  # takes the only request of this minute
        cancel_after(token, 0.2)
        started = time.monotonic()
        with pytest.raises(llmclient.CancelledError):
            c.complete("second", cancel=token)
    assert time.monotonic() - started < 3
    assert len(fake_llm_server.requests) == 1


def test_token_callbacks() -> None:
    token = CancelToken()
    calls: list[str] = []
    unregister = token.on_cancel(lambda: calls.append("a"))
    token.on_cancel(lambda: calls.append("b"))
    unregister()
    token.cancel()
    token.cancel()
    assert calls == ["b"] and token.cancelled
    token.on_cancel(lambda: calls.append("late"))  # runs at once when already cancelled
    assert calls == ["b", "late"]


def test_a_callback_that_raises_is_logged_at_debug_without_its_text(caplog: pytest.LogCaptureFixture) -> None:
    token = CancelToken()
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("Authorization: Bearer sk-cancel-secret-0123456789")

    token.on_cancel(broken)
    token.on_cancel(lambda: ran.append("second"))
    with caplog.at_level(logging.DEBUG, logger="llmclient.cancel"):
        token.cancel()
    assert ran == ["second"]  # the other callbacks still ran
    [record] = [r for r in caplog.records if r.name == "llmclient.cancel"]
    assert record.levelno == logging.DEBUG
    assert "RuntimeError" in record.getMessage() and "broken" in record.getMessage()
    assert "sk-cancel-secret" not in caplog.text and record.exc_info is None
