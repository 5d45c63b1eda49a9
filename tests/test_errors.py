"""The error tree: classes, shared fields, retryable defaults, context filling and safe messages."""

from __future__ import annotations

import pytest

from llmclient import errors
from llmclient.errors import (
    MAX_BODY_CHARS,
    AllClientsFailedError,
    AuthError,
    CancelledError,
    ConfigError,
    FinishReasonError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    ProviderError,
    RateLimitError,
    StreamError,
    TransportError,
)

RETRYABLE_BY_DEFAULT = {TransportError, LLMTimeoutError, RateLimitError, ProviderError}


def _make(cls: type[LLMError], **kw: object) -> LLMError:
    if cls is LLMTimeoutError:
        return cls("boom", kind="request", **kw)
    if cls is FinishReasonError:
        return cls("boom", finish_reason="length", **kw)
    return cls("boom", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_an_llm_error_with_every_field(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, LLMError)
    err = _make(cls, provider="openai", client_name="GPT4", status_code=503, request_id="req_1",
                retry_after=1.5, body="{}", code="server_error")
    assert (err.provider, err.client_name, err.status_code, err.request_id) == ("openai", "GPT4", 503, "req_1")
    assert (err.retry_after, err.body, err.code) == (1.5, "{}", "server_error")
    assert err.should_retry is None
    assert err.retryable is (cls in RETRYABLE_BY_DEFAULT)


def test_retryable_can_be_overridden_both_ways() -> None:
    assert RateLimitError("quota", retryable=False).retryable is False
    assert InvalidRequestError("odd", retryable=True).retryable is True


def test_str_names_client_provider_status_and_request_id() -> None:
    err = RateLimitError("slow down", provider="openai", client_name="GPT4", status_code=429, request_id="req_9")
    assert str(err) == "slow down (client 'GPT4', provider openai, HTTP 429, request id req_9)"
    assert str(LLMError("plain")) == "plain"
    assert repr(err) == ("RateLimitError('slow down', provider='openai', client_name='GPT4', status_code=429, "
                         "retryable=True)")


def test_body_is_truncated() -> None:
    err = ProviderError("x", body="a" * (MAX_BODY_CHARS + 500))
    assert err.body is not None and len(err.body) == MAX_BODY_CHARS


def test_with_context_fills_only_what_is_missing_and_returns_self() -> None:
    err = ProviderError("x", provider="openai")
    same = err.with_context(client_name="A", provider="azure-openai")
    assert same is err
    assert (err.client_name, err.provider) == ("A", "openai")
    err.with_context(client_name="B")
    assert err.client_name == "A"


def test_config_error_lists_every_problem() -> None:
    err = ConfigError("2 problems", problems=["clients.a: bad", "clients.b: worse"])
    assert err.problems == ["clients.a: bad", "clients.b: worse"]
    assert str(err) == "2 problems\n  - clients.a: bad\n  - clients.b: worse"
    single = ConfigError("only one", problems=["only one"])
    assert str(single) == "only one"
    assert ConfigError("x").retryable is False


def test_specific_fields() -> None:
    assert LLMTimeoutError("t", kind="idle").kind == "idle"
    assert StreamError("s", partial_text="Hel").partial_text == "Hel"
    assert StreamError("s").partial_text == ""
    fr = FinishReasonError("f", finish_reason="length", completion="c")
    assert (fr.finish_reason, fr.completion) == ("length", "c")
    inner = [ProviderError("a"), RateLimitError("b")]
    agg = AllClientsFailedError("all failed", errors=inner, attempts=[1, 2])
    assert agg.errors == inner and agg.attempts == [1, 2]
    assert CancelledError("c").retryable is False
    assert AuthError("a").retryable is False


def test_errors_can_be_caught_as_exceptions() -> None:
    with pytest.raises(LLMError) as info:
        raise TransportError("refused")
    assert isinstance(info.value, Exception)
    assert info.value.message == "refused"
