"""Event hooks and the Collector: what a call did, redacted, per call."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import llmclient
from llmclient.events import (
    AttemptFailed,
    CallFinished,
    Collector,
    Event,
    FallbackTaken,
    HedgeStarted,
    RequestSent,
    ResponseReceived,
    RetryScheduled,
    StreamChunk,
)
from llmclient.testing import FakeLLMServer, Fault

KEY = "sk-event-test-key-0123456789"


def config(url: str) -> dict[str, Any]:
    return {
        "clients": {
            "A": {"provider": "openai-generic", "retry_policy": "Once",
                  "options": {"base_url": url + "/v1", "model": "a", "api_key": KEY}},
            "B": {"provider": "anthropic", "options": {"base_url": url, "model": "b", "api_key": KEY}},
            "F": {"provider": "fallback", "options": {"strategy": ["A", "B"]}},
            "H": {"provider": "fallback", "options": {"strategy": ["A", "B"], "hedge_after_ms": 100}},
        },
        "retry_policies": {"Once": {"max_retries": 1, "strategy": {"type": "constant_delay", "delay_ms": 1}}},
    }


def test_collector_keeps_each_attempt_of_a_retried_call(fake_llm_server: FakeLLMServer) -> None:
    collector = Collector()
    fake_llm_server.enqueue(Fault.server_error(500))
    with llmclient.load_config(config(fake_llm_server.url)) as registry:
        reply = registry.client("A").complete("hello", on_event=collector)
    [call] = collector.calls
    assert [a.status_code for a in call.attempts] == [500, 200]
    assert isinstance(call.attempts[0].error, llmclient.ProviderError)
    assert call.attempts[1].error is None and call.attempts[1].selected and not call.attempts[0].selected
    assert call.selected is call.attempts[1]
    assert call.attempts[1].url == fake_llm_server.url + "/v1/chat/completions"
    assert '"content":"hello"' in call.attempts[1].request_body
    assert "Echo: hello" in (call.attempts[1].response_body or "")
    assert call.attempts[1].time_to_first_token_s is not None and call.attempts[1].total_s is not None
    assert [r.retry_number for r in call.retries] == [1] and call.retries[0].delay_s == pytest.approx(0.001)
    assert call.completion == reply and call.usage == reply.usage and call.latency_s is not None
    assert collector.usage == reply.usage


def test_events_come_in_order_and_never_carry_the_key(fake_llm_server: FakeLLMServer) -> None:
    events: list[Event] = []
    fake_llm_server.enqueue(Fault.server_error(503))
    with llmclient.load_config(config(fake_llm_server.url)) as registry:
        registry.client("A").complete("hi", on_event=events.append)
    assert [type(e) for e in events] == [RequestSent, ResponseReceived, AttemptFailed, RetryScheduled,
                                         RequestSent, ResponseReceived, CallFinished]
    assert len({e.call_id for e in events}) == 1
    sent = events[0]
    assert isinstance(sent, RequestSent) and sent.headers["Authorization"] == "[REDACTED]"
    assert KEY not in repr(events)


def test_fallback_and_hedge_events(fake_llm_server: FakeLLMServer) -> None:
    events: list[Event] = []
    fake_llm_server.enqueue(Fault.server_error(500), Fault.server_error(500), match="chat/completions")
    with llmclient.load_config(config(fake_llm_server.url), on_event=events.append) as registry:
        assert registry.client("F").complete("x").client_name == "B"
        [taken] = [e for e in events if isinstance(e, FallbackTaken)]
        assert (taken.client_name, taken.from_client, taken.to_client) == ("F", "A", "B")
        assert taken.reason == "ProviderError (HTTP 500)"
        events.clear()
        fake_llm_server.enqueue(Fault.stall(1.0), match="chat/completions")
        assert registry.client("H").complete("y").client_name == "B"
        [hedge] = [e for e in events if isinstance(e, HedgeStarted)]
        assert (hedge.client_name, hedge.to_client, hedge.after_s) == ("H", "B", 0.1)


def test_stream_events_and_call_finished(fake_llm_server: FakeLLMServer) -> None:
    collector = Collector()
    chunks: list[StreamChunk] = []
    with llmclient.load_config(config(fake_llm_server.url)) as registry:
        client = registry.client("B").with_options(on_event=[collector, lambda e: isinstance(e, StreamChunk)
                                                            and chunks.append(e)])
        with client.stream("one two three") as stream:
            text = "".join(c.text for c in stream)
    assert text == "Echo: one two three"
    assert "".join(c.text for c in chunks) == text and [c.index for c in chunks] == list(range(len(chunks)))
    call = collector.last
    assert call is not None and call.completion is not None and call.completion.text == text
    assert call.attempts[0].selected and call.attempts[0].status_code == 200


def test_a_registry_wide_collector_sums_usage_over_calls(fake_llm_server: FakeLLMServer) -> None:
    collector = Collector()
    with llmclient.load_config(config(fake_llm_server.url), on_event=collector) as registry:
        first = registry.client("A").complete("a b c")
        second = registry.client("B").complete("d e")
    assert len(collector.calls) == 2
    assert collector.usage == first.usage + second.usage
    collector.clear()
    assert collector.calls == [] and collector.last is None


def test_a_failed_call_is_logged_with_its_error(fake_llm_server: FakeLLMServer) -> None:
    collector = Collector()
    fake_llm_server.enqueue(Fault.status(401))
    with llmclient.load_config(config(fake_llm_server.url)) as registry:
        with pytest.raises(llmclient.AuthError):
            registry.client("A").complete("x", on_event=collector)
    call = collector.last
    assert call is not None and isinstance(call.error, llmclient.AuthError) and call.completion is None
    assert call.attempts[0].error is call.error and call.selected is None


def test_a_hook_that_raises_is_logged_and_the_call_goes_on(fake_llm_server: FakeLLMServer,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("hook bug")

    seen: list[Event] = []
    with llmclient.load_config(config(fake_llm_server.url)) as registry, caplog.at_level(logging.ERROR):
        reply = registry.client("A").complete("still works", on_event=[broken, seen.append])
    assert reply.text == "Echo: still works"
    assert len(seen) == 3  # the second hook still saw every event
    assert any("event hook" in r.getMessage() and "raised" in r.getMessage() for r in caplog.records)


# -- events that tell the truth: failures after a 2xx, consistent times, named chunks ------------------------


def test_a_2xx_answer_that_cannot_be_parsed_is_logged_as_the_failure_it_was(fake_llm_server: FakeLLMServer) -> None:
    collector = Collector()
    fake_llm_server.enqueue(Fault.malformed_json(), match="chat/completions")
    with llmclient.load_config(config(fake_llm_server.url)) as registry:
        reply = registry.client("A").complete("parse me", on_event=collector)
    [call] = collector.calls
    first, second = call.attempts
    assert (first.attempt, second.attempt) == (1, 2)
    assert first.status_code == 200 and isinstance(first.error, llmclient.ProviderError)
    assert not first.ok and not first.selected and first.total_s is not None
    assert second.ok and second.selected and second.error is None
    assert [(a.status_code, a.error is None) for a in reply.attempts] == [(200, False), (200, True)]
    assert first.error is reply.attempts[0].error  # the log and Completion.attempts agree


def test_a_failed_2xx_attempt_that_ends_the_call_carries_the_calls_error(fake_llm_server: FakeLLMServer) -> None:
    collector = Collector()
    fake_llm_server.enqueue(Fault.malformed_json(), match="messages")
    with llmclient.load_config(config(fake_llm_server.url)) as registry:
        with pytest.raises(llmclient.ProviderError) as info:
            registry.client("B").complete("x", on_event=collector)
    [attempt] = collector.calls[0].attempts
    assert attempt.error is info.value and attempt.status_code == 200 and not attempt.ok
    assert collector.calls[0].selected is None


def test_time_to_first_token_never_exceeds_total(fake_llm_server: FakeLLMServer) -> None:
    collector = Collector()
    events: list[Event] = []
    fake_llm_server.enqueue(Fault.server_error(500), match="chat/completions")
    with llmclient.load_config(config(fake_llm_server.url), on_event=[collector, events.append]) as registry:
        for _ in range(3):
            registry.client("A").complete("timing")
        registry.client("F").complete("fallback timing")
        with registry.client("B").stream("streamed timing") as stream:
            stream.completion  # noqa: B018
    attempts = [a for call in collector.calls for a in call.attempts]
    assert len(attempts) == 6  # A twice (a 500, then its retry), A, A, F's A, B's stream
    for a in attempts:
        assert a.time_to_first_token_s is not None and a.total_s is not None
        assert 0 <= a.time_to_first_token_s <= a.total_s
    sent = {(e.call_id, e.client_name, e.attempt): e.at for e in events if isinstance(e, RequestSent)}
    for e in events:
        if isinstance(e, ResponseReceived):  # on the events' clock, from the request
            assert e.elapsed_s == pytest.approx(e.at - sent[(e.call_id, e.client_name, e.attempt)])


def test_a_streams_total_is_its_duration() -> None:
    collector = Collector()
    with FakeLLMServer(stream_chunks=4) as server:
        server.enqueue(Fault.stall_mid_stream(0.3, after_chunks=2))  # the role chunk and one content chunk
        with llmclient.load_config(config(server.url)) as registry:
            with registry.client("A").stream("slow middle part", on_event=collector) as stream:
                text = "".join(c.text for c in stream)
    assert text == "Echo: slow middle part"
    call = collector.last
    assert call is not None and call.latency_s is not None
    [attempt] = call.attempts
    assert attempt.stream and attempt.ok and attempt.selected
    assert attempt.time_to_first_token_s is not None and attempt.total_s is not None
    assert attempt.total_s >= 0.3 > attempt.time_to_first_token_s  # the stall came after the first content
    assert attempt.total_s <= call.latency_s


def test_a_stream_cut_after_content_is_logged_as_failed() -> None:
    collector = Collector()
    with FakeLLMServer(stream_chunks=4) as server:
        server.enqueue(Fault.reset(after_chunks=3))  # the role chunk and two content chunks, then RST
        with llmclient.load_config(config(server.url)) as registry:
            with pytest.raises(llmclient.StreamError) as info:
                with registry.client("A").stream("one two three four", on_event=collector) as stream:
                    for _ in stream:
                        pass
    [attempt] = collector.calls[0].attempts
    assert attempt.status_code == 200 and attempt.error is info.value and not attempt.ok
    assert attempt.total_s is not None and attempt.time_to_first_token_s is not None
    assert attempt.time_to_first_token_s <= attempt.total_s


def test_stream_chunks_name_the_client_that_answered(fake_llm_server: FakeLLMServer) -> None:
    chunks: list[StreamChunk] = []

    def keep(event: Event) -> None:
        if isinstance(event, StreamChunk):
            chunks.append(event)

    with llmclient.load_config(config(fake_llm_server.url), on_event=keep) as registry:
        with registry.client("A").stream("direct") as stream:
            stream.completion  # noqa: B018
        assert chunks and {(c.client_name, c.provider) for c in chunks} == {("A", "openai-generic")}
        chunks.clear()
        fake_llm_server.enqueue(Fault.server_error(500), Fault.server_error(500), match="chat/completions")
        with registry.client("F").stream("after a fallback") as stream:  # A fails twice, B answers
            assert stream.completion.client_name == "B"
        assert chunks and {(c.client_name, c.provider) for c in chunks} == {("B", "anthropic")}
