"""Rate-limit headers: parsed into Attempt.rate_limit, and read by fallback/round-robin to skip a spent member.

Header shapes from shared/reference/wire-formats-2026.md section 7 (OpenAI: x-ratelimit-*, Go-style
durations such as ``6m0s``/``12ms``, Azure's ``-1``; Anthropic: anthropic-ratelimit-*, RFC 3339 resets).
"""

from __future__ import annotations

from typing import Iterator

import pytest

import llmclient
from llmclient.client import CallContext
from llmclient.errors import RateLimitError
from llmclient.models import Attempt, ChatRequest, Message
from llmclient.rate_limit_headers import RateLimit, parse_duration, parse_rate_limit
from llmclient.runtime import Runtime
from llmclient.strategies.cooldown import Cooldown
from llmclient.strategies.fallback import FallbackClient
from llmclient.strategies.round_robin import RoundRobinClient
from llmclient.testing import FakeLLMServer, Fault

OPENAI_TRACE = {"x-ratelimit-limit-requests": "5000", "x-ratelimit-limit-tokens": "160000",
                "x-ratelimit-remaining-requests": "4999", "x-ratelimit-remaining-tokens": "159976",
                "x-ratelimit-reset-requests": "12ms", "x-ratelimit-reset-tokens": "9ms"}
ANTHROPIC_TRACE = {
    "date": "Thu, 21 Aug 2025 12:40:58 GMT",
    "anthropic-ratelimit-requests-limit": "1000", "anthropic-ratelimit-requests-remaining": "999",
    "anthropic-ratelimit-requests-reset": "2025-08-21T12:40:59Z",
    "anthropic-ratelimit-tokens-limit": "96000", "anthropic-ratelimit-tokens-remaining": "96000",
    "anthropic-ratelimit-tokens-reset": "2025-08-21T12:40:59Z",
    "anthropic-ratelimit-input-tokens-remaining": "80000",
    "anthropic-ratelimit-input-tokens-reset": "2025-08-21T12:40:59Z",
    "anthropic-ratelimit-output-tokens-remaining": "0",
    "anthropic-ratelimit-output-tokens-reset": "2025-08-21T12:41:00Z",
}


@pytest.mark.parametrize("text, seconds", [("6m0s", 360.0), ("1s", 1.0), ("20ms", 0.02), ("1h2m3s", 3723.0),
                                           ("1.5s", 1.5), ("0", 0.0), ("2m30.5s", 150.5)])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5x", "1s 2s", "ms"])
def test_what_is_not_a_duration_is_none(text: str) -> None:
    assert parse_duration(text) is None


def test_openai_headers() -> None:
    limit = parse_rate_limit(OPENAI_TRACE)
    assert limit == RateLimit(requests_limit=5000, requests_remaining=4999, requests_reset_s=0.012,
                              tokens_limit=160000, tokens_remaining=159976, tokens_reset_s=0.009)
    assert limit.blocked_for_s is None


def test_azure_minus_one_is_not_reported() -> None:
    limit = parse_rate_limit({"x-ratelimit-limit-tokens": "-1", "x-ratelimit-remaining-tokens": "-1",
                              "x-ratelimit-reset-tokens": "0"})
    assert limit is not None and limit.tokens_remaining is None and limit.tokens_limit is None
    assert limit.blocked_for_s is None


def test_anthropic_headers_resets_are_seconds_after_the_answers_date() -> None:
    limit = parse_rate_limit(ANTHROPIC_TRACE)
    assert limit is not None
    assert (limit.requests_remaining, limit.tokens_remaining, limit.input_tokens_remaining,
            limit.output_tokens_remaining) == (999, 96000, 80000, 0)
    assert limit.requests_reset_s == pytest.approx(1.0)
    assert limit.output_tokens_reset_s == pytest.approx(2.0)
    assert limit.blocked_for_s == pytest.approx(2.0)  # the output budget is spent until 12:41:00


def test_no_rate_limit_headers_is_none() -> None:
    assert parse_rate_limit({"content-type": "application/json"}) is None


def test_zero_remaining_blocks_until_the_latest_of_the_spent_resets() -> None:
    spent = RateLimit(requests_remaining=0, requests_reset_s=3.0, tokens_remaining=0, tokens_reset_s=7.5)
    assert spent.blocked_for_s == 7.5
    assert RateLimit(requests_remaining=0).blocked_for_s is None  # no reset: nothing to wait for


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(rate_limit_headers=OPENAI_TRACE) as fake:
        yield fake


def test_the_attempt_record_carries_the_headers_of_its_answer(server: FakeLLMServer) -> None:
    with llmclient.OpenAIClient("gpt-4o", base_url=server.openai_base_url, api_key="sk-test-1234567890") as client:
        reply = client.complete("hi")
        assert reply.attempts[-1].rate_limit == parse_rate_limit(OPENAI_TRACE)
        with client.stream("hi") as stream:
            list(stream)
        assert stream.completion.attempts[-1].rate_limit is not None
        assert stream.completion.attempts[-1].rate_limit.requests_remaining == 4999


def test_a_429_attempt_carries_its_headers_too(server: FakeLLMServer) -> None:
    server.rate_limit_headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}
    server.enqueue(Fault.rate_limit())
    context = CallContext()
    with llmclient.OpenAIClient("gpt-4o", base_url=server.openai_base_url, api_key="sk-test-1234567890") as client:
        with pytest.raises(RateLimitError):
            client.invoke(ChatRequest((Message("user", "hi"),)), context)
    (attempt,) = context.attempts
    assert attempt.status_code == 429
    assert attempt.rate_limit == RateLimit(requests_remaining=0, requests_reset_s=360.0)


def test_an_answer_without_headers_has_none(server: FakeLLMServer) -> None:
    server.rate_limit_headers = None
    with llmclient.OpenAIClient("gpt-4o", base_url=server.openai_base_url, api_key="sk-test-1234567890") as client:
        assert client.complete("hi").attempts[-1].rate_limit is None


def test_anthropic_answers_are_read(server: FakeLLMServer) -> None:
    server.rate_limit_headers = {k: v for k, v in ANTHROPIC_TRACE.items() if k != "date"}
    with llmclient.AnthropicClient(model="claude-sonnet-4-5", base_url=server.url,
                                   api_key="sk-ant-test-1234567890") as client:
        limit = client.complete("hi", max_tokens=10).attempts[-1].rate_limit
    assert limit is not None and limit.output_tokens_remaining == 0 and limit.requests_remaining == 999


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _attempt(name: str, limit: RateLimit | None) -> Attempt:
    return Attempt(name, "openai", 0.1, None, 200, limit)


def test_cooldown_skips_a_member_with_nothing_left_until_its_reset() -> None:
    clock = Clock()
    cooldown = Cooldown(["A", "B"], clock=clock)
    cooldown.succeeded(0, [_attempt("A", RateLimit(requests_remaining=0, requests_reset_s=30.0))])
    assert cooldown.available([0, 1]) == [1]
    clock.now += 29.9
    assert cooldown.cooling(0)
    clock.now += 0.2
    assert cooldown.available([0, 1]) == [0, 1]


def test_a_newer_report_with_budget_left_ends_the_skip() -> None:
    clock = Clock()
    cooldown = Cooldown(["A", "B"], clock=clock)
    cooldown.succeeded(0, [_attempt("A", RateLimit(tokens_remaining=0, tokens_reset_s=60.0))])
    assert cooldown.cooling(0)
    cooldown.succeeded(0, [_attempt("A", RateLimit(tokens_remaining=0, tokens_reset_s=60.0)),
                           _attempt("A", RateLimit(tokens_remaining=500, tokens_reset_s=60.0))])
    assert not cooldown.cooling(0)


def test_a_429_with_nothing_left_skips_at_once_whatever_the_failure_count() -> None:
    clock = Clock()
    cooldown = Cooldown(["A", "B"], failures=3, clock=clock)
    err = RateLimitError("slow down", status_code=429)
    assert cooldown.failed(0, err, [Attempt("A", "openai", 0.1, err, 429,
                                            RateLimit(requests_remaining=0, requests_reset_s=5.0))])
    assert cooldown.available([0, 1]) == [1]


def test_other_members_reports_do_not_count() -> None:
    cooldown = Cooldown(["A", "B"], clock=Clock())
    cooldown.succeeded(0, [_attempt("B", RateLimit(requests_remaining=0, requests_reset_s=30.0))])
    assert not cooldown.cooling(0)


def _two_servers(spent: dict[str, str]) -> tuple[FakeLLMServer, FakeLLMServer]:
    return FakeLLMServer(rate_limit_headers=spent).start(), FakeLLMServer(rate_limit_headers=OPENAI_TRACE).start()


def test_round_robin_skips_the_member_that_said_it_has_nothing_left() -> None:
    clock = Clock()
    spent, fresh = _two_servers({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m0s",
                                 "x-ratelimit-remaining-tokens": "100"})
    runtime = Runtime(clock=clock)
    try:
        a = llmclient.OpenAIClient("gpt-4o", base_url=spent.openai_base_url, api_key="sk-a-1234567890",
                                   name="a", runtime=runtime)
        b = llmclient.OpenAIClient("gpt-4o", base_url=fresh.openai_base_url, api_key="sk-b-1234567890",
                                   name="b", runtime=runtime)
        rr = RoundRobinClient([a, b], name="rr", runtime=runtime)
        first = rr.complete("hi").client_name
        names = [rr.complete("hi").client_name for _ in range(4)]
        if first == "a":  # a answered and said it was spent: only b until the reset
            assert names == ["b"] * 4
        else:
            assert names[0] == "a" and names[1:] == ["b"] * 3
        clock.now += 61
        assert {rr.complete("hi").client_name for _ in range(2)} == {"a", "b"}
    finally:
        runtime.close()
        spent.close()
        fresh.close()


def test_fallback_moves_past_a_spent_first_member_until_its_reset() -> None:
    clock = Clock()
    spent, fresh = _two_servers({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "30s",
                                 "x-ratelimit-remaining-requests": "10"})
    runtime = Runtime(clock=clock)
    try:
        a = llmclient.OpenAIClient("gpt-4o", base_url=spent.openai_base_url, api_key="sk-a-1234567890",
                                   name="a", runtime=runtime)
        b = llmclient.OpenAIClient("gpt-4o", base_url=fresh.openai_base_url, api_key="sk-b-1234567890",
                                   name="b", runtime=runtime)
        chain = FallbackClient([a, b], name="chain", runtime=runtime)
        assert chain.complete("hi").client_name == "a"  # it answered, and said its tokens are spent
        assert [chain.complete("hi").client_name for _ in range(3)] == ["b", "b", "b"]
        assert len(spent.requests) == 1
        clock.now += 31
        assert chain.complete("hi").client_name == "a"
    finally:
        runtime.close()
        spent.close()
        fresh.close()
