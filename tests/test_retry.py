"""RetryPolicy: the delay sequence, jitter, which errors are retried, and the server's word winning."""

from __future__ import annotations

import dataclasses
import email.utils

import pytest

from llmclient.errors import (
    AuthError,
    CancelledError,
    ConfigError,
    FinishReasonError,
    InvalidRequestError,
    LLMTimeoutError,
    ProviderError,
    RateLimitError,
    TransportError,
)
from llmclient.providers import status
from llmclient.retry import NO_RETRY, RetryPolicy, RetryState, retry_after_from_headers, should_retry_header


def _never() -> float:
    raise AssertionError("random must not be drawn without jitter")


def test_exponential_sequence_first_wait_is_delay_then_grows_and_caps() -> None:
    policy = RetryPolicy(max_retries=6, strategy="exponential_backoff", delay_ms=1000, multiplier=2,
                         max_delay_ms=10000)
    err = ProviderError("boom", status_code=500)
    waits = [policy.next_delay(n, err, _never) for n in range(1, 7)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert policy.next_delay(7, err, _never) is None


def test_constant_delay_sequence_and_total_attempts() -> None:
    policy = RetryPolicy(max_retries=3, strategy="constant_delay", delay_ms=250)
    err = TransportError("reset")
    assert [policy.next_delay(n, err, _never) for n in (1, 2, 3, 4)] == [0.25, 0.25, 0.25, None]


def test_from_config_reads_aliases_and_defaults() -> None:
    policy = RetryPolicy.from_config({"max_retries": 3, "strategy": {"type": "exponential_backoff",
                                                                     "initial_delay": 1000, "max_delay": 30000}},
                                     name="Resilient")
    assert (policy.max_retries, policy.delay_ms, policy.max_delay_ms, policy.multiplier) == (3, 1000, 30000, 1.5)
    assert policy.name == "Resilient"
    assert [policy.backoff_s(n) for n in (1, 2, 3)] == [1.0, 1.5, 2.25]
    default = RetryPolicy.from_config({"max_retries": 1})
    assert (default.strategy, default.delay_ms, default.jitter, default.max_retry_after_ms) == (
        "constant_delay", 200, "none", 60000)


@pytest.mark.parametrize("bad", [{"strategy": "linear"}, {"jitter": "some"}, {"max_retries": -1}])
def test_invalid_policy_is_a_config_error(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(**bad)  # type: ignore[arg-type]


def test_full_jitter_draws_uniformly_below_the_wait() -> None:
    policy = RetryPolicy(max_retries=2, strategy="constant_delay", delay_ms=1000, jitter="full")
    err = ProviderError("x", status_code=503)
    assert policy.next_delay(1, err, lambda: 0.0) == 0.0
    assert policy.next_delay(1, err, lambda: 0.25) == 0.25
    assert policy.next_delay(1, err, lambda: 0.999) == pytest.approx(0.999)


def test_equal_jitter_keeps_at_least_half_the_wait() -> None:
    policy = RetryPolicy(max_retries=2, strategy="exponential_backoff", delay_ms=1000, multiplier=2,
                         jitter="equal")
    err = ProviderError("x", status_code=503)
    assert policy.next_delay(2, err, lambda: 0.0) == 1.0
    assert policy.next_delay(2, err, lambda: 0.5) == 1.5
    assert policy.next_delay(2, err, lambda: 1.0) == 2.0


@pytest.mark.parametrize("error", [
    TransportError("refused"),
    LLMTimeoutError("slow", kind="request"),
    ProviderError("timeout", status_code=408),
    ProviderError("conflict", status_code=409),
    RateLimitError("slow down", status_code=429),
    ProviderError("boom", status_code=500),
    ProviderError("overloaded", status_code=529),
])
def test_retried_by_default(error: Exception) -> None:
    assert RetryPolicy(max_retries=1).should_retry(error)  # type: ignore[arg-type]


@pytest.mark.parametrize("error", [
    InvalidRequestError("bad", status_code=400),
    AuthError("who", status_code=401),
    AuthError("no", status_code=403),
    InvalidRequestError("where", status_code=404),
    InvalidRequestError("big", status_code=413),
    InvalidRequestError("shape", status_code=422),
    RateLimitError("quota", status_code=429, retryable=False, code="insufficient_quota"),
    FinishReasonError("filtered", finish_reason="content_filter"),
    CancelledError("caller"),
])
def test_not_retried_by_default(error: Exception) -> None:
    policy = RetryPolicy(max_retries=3)
    assert not policy.should_retry(error)  # type: ignore[arg-type]
    assert policy.next_delay(1, error, _never) is None  # type: ignore[arg-type]


def test_retry_on_widens_to_a_status_and_narrows_to_a_class() -> None:
    widened = RetryPolicy(max_retries=1, retry_on=frozenset({"400", "RateLimitError"}))
    assert widened.should_retry(InvalidRequestError("bad", status_code=400))
    assert widened.should_retry(RateLimitError("slow", status_code=429))
    assert not widened.should_retry(ProviderError("boom", status_code=500))
    narrowed = RetryPolicy.from_config({"max_retries": 1, "retry_on": ["TransportError"]})
    assert narrowed.should_retry(TransportError("reset"))
    assert not narrowed.should_retry(LLMTimeoutError("slow", kind="idle"))
    by_base = RetryPolicy(max_retries=1, retry_on=frozenset({"LLMError"}))
    assert by_base.should_retry(AuthError("x", status_code=401))
    assert not by_base.should_retry(CancelledError("caller"))


def test_x_should_retry_wins_both_ways() -> None:
    policy = RetryPolicy(max_retries=2, retry_on=frozenset({"500"}))
    told_no = ProviderError("boom", status_code=500)
    told_no.should_retry = False
    assert policy.next_delay(1, told_no, _never) is None
    told_yes = InvalidRequestError("bad", status_code=400)
    told_yes.should_retry = True
    assert policy.next_delay(1, told_yes, _never) == 0.2


def test_retry_after_wins_over_backoff_and_jitter() -> None:
    policy = RetryPolicy(max_retries=2, strategy="exponential_backoff", delay_ms=5000, jitter="full")
    err = RateLimitError("slow", status_code=429, retry_after=1.5)
    assert policy.next_delay(1, err, _never) == 1.5
    zero = RateLimitError("now", status_code=429, retry_after=0)
    assert policy.next_delay(2, zero, _never) == 0.0


def test_retry_after_past_the_cap_fails_fast() -> None:
    policy = RetryPolicy(max_retries=5, max_retry_after_ms=2000)
    assert policy.next_delay(1, RateLimitError("x", status_code=429, retry_after=2.0), _never) == 2.0
    assert policy.next_delay(1, RateLimitError("x", status_code=429, retry_after=2.5), _never) is None
    default_cap = RetryPolicy(max_retries=5)
    assert default_cap.next_delay(1, RateLimitError("x", status_code=429, retry_after=61), _never) is None


def test_each_delay_comes_from_the_current_error() -> None:
    policy = RetryPolicy(max_retries=3, strategy="constant_delay", delay_ms=300)
    first = RateLimitError("slow", status_code=429, retry_after=4)
    second = ProviderError("boom", status_code=500)
    third = RateLimitError("slower", status_code=429, retry_after=0.5)
    assert [policy.next_delay(1, first, _never), policy.next_delay(2, second, _never),
            policy.next_delay(3, third, _never)] == [4.0, 0.3, 0.5]


def test_no_retry_policy_never_retries() -> None:
    assert NO_RETRY.next_delay(1, TransportError("reset"), _never) is None


# -- RetryState: the one place attempts are counted ---------------------------------------------------------


def test_retry_state_increments_to_a_new_frozen_state_until_the_retries_are_used() -> None:
    policy = RetryPolicy(max_retries=2, strategy="exponential_backoff", delay_ms=100, multiplier=3)
    first = RetryState(policy, random=_never)
    err = ProviderError("boom", status_code=500)
    second = first.increment(err)
    assert second is not None and second is not first
    assert (first.attempt, first.retries, first.delay_s) == (1, 0, 0.0)  # unchanged: states are values
    assert (second.attempt, second.retries, second.delay_s, second.retries_left) == (2, 1, 0.1, 1)
    assert second.error is err
    third = second.increment(err)
    assert third is not None and (third.attempt, third.retries, third.delay_s) == (3, 2, pytest.approx(0.3))
    assert third.increment(err) is None  # max_retries used up: give up
    with pytest.raises(dataclasses.FrozenInstanceError):
        third.retries = 0  # type: ignore[misc]


def test_retry_state_gives_up_on_what_the_policy_or_the_server_refuses() -> None:
    state = RetryState(RetryPolicy(max_retries=3, max_retry_after_ms=1000), random=_never)
    assert state.increment(InvalidRequestError("bad", status_code=400)) is None
    assert state.increment(CancelledError("caller")) is None
    told_no = ProviderError("boom", status_code=500)
    told_no.should_retry = False
    assert state.increment(told_no) is None
    assert state.increment(RateLimitError("later", status_code=429, retry_after=1.5)) is None  # past the cap
    waited = state.increment(RateLimitError("soon", status_code=429, retry_after=0.75))
    assert waited is not None and waited.delay_s == 0.75


def test_retry_state_draws_jitter_from_the_injected_random() -> None:
    policy = RetryPolicy(max_retries=1, delay_ms=1000, jitter="full")
    following = RetryState(policy, random=lambda: 0.4).increment(TransportError("reset"))
    assert following is not None and following.delay_s == pytest.approx(0.4)


def test_a_refreshed_401_uses_no_retry_and_only_once_per_call() -> None:
    state = RetryState(RetryPolicy(max_retries=1), random=_never)
    unauthorized = AuthError("stale token", status_code=401)
    assert state.may_refresh(unauthorized)
    assert not state.may_refresh(AuthError("forbidden", status_code=403))
    refreshed = state.after_refresh(unauthorized)
    assert (refreshed.attempt, refreshed.retries, refreshed.retries_left, refreshed.delay_s) == (2, 0, 1, 0.0)
    assert not refreshed.may_refresh(unauthorized)
    retried = refreshed.increment(ProviderError("boom", status_code=500))
    assert retried is not None and (retried.attempt, retried.retries) == (3, 1)


def test_next_delay_is_the_retry_states_answer() -> None:
    policy = RetryPolicy(max_retries=4, strategy="exponential_backoff", delay_ms=100, multiplier=2, jitter="equal")
    err = ProviderError("boom", status_code=503)
    state = RetryState(policy, random=lambda: 0.5)
    for number in range(1, 5):
        following = state.increment(err)
        assert following is not None and policy.next_delay(number, err, lambda: 0.5) == following.delay_s
        state = following
    assert state.increment(err) is None and policy.next_delay(5, err, lambda: 0.5) is None


# -- the server's retry hints, parsed beside the state ---------------------------------------------------------


def test_retry_after_headers_seconds_milliseconds_and_dates() -> None:
    assert retry_after_from_headers({"retry-after": "3"}) == 3.0
    assert retry_after_from_headers({"retry-after": "0.5"}) == 0.5
    assert retry_after_from_headers({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_from_headers({"retry-after-ms": "soon", "retry-after": "9"}) == 9.0
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after_from_headers({"retry-after": date}, now=1_000_000) == pytest.approx(30.0)
    assert retry_after_from_headers({"retry-after": date}, now=2_000_000) == 0.0  # a date in the past: now
    for ignored in ("-1", "soon", "", "nan"):
        assert retry_after_from_headers({"retry-after": ignored}) is None
    assert retry_after_from_headers({}) is None


def test_x_should_retry_header_and_the_old_import_path() -> None:
    assert [should_retry_header({"x-should-retry": v}) for v in ("true", "false", "maybe")] == [True, False, None]
    assert status.retry_after_from_headers is retry_after_from_headers
    assert status.should_retry_header is should_retry_header
