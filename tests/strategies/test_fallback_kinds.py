"""``fallback_on`` error kinds: context_window, content_filter, rate_limit, timeout, transport, auth,
server_error...; mixed with class names and statuses; typos refused; the one-line config for
"fall back to a larger-context model" end to end over the fake server."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from llmclient import Completion
from llmclient.config.loader import load_config
from llmclient.error_kinds import ERROR_KINDS, kinds_of
from llmclient.errors import (
    AuthError,
    CancelledError,
    ConfigError,
    ContextWindowExceededError,
    FinishReasonError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    ProviderError,
    RateLimitError,
    StreamError,
    TransportError,
)
from llmclient.runtime import Runtime
from llmclient.strategies.fallback import FallbackClient
from llmclient.testing import FakeLLMServer, Fault

Make = Callable[..., Any]


def _refused(raw: str, normalised: str) -> FinishReasonError:
    return FinishReasonError("refused", finish_reason=raw, completion=Completion(text="", finish_reason=normalised,
                                                                                raw_finish_reason=raw))


@pytest.mark.parametrize("error, kinds", [
    (ContextWindowExceededError("too long", status_code=400), {"context_window", "invalid_request"}),
    (InvalidRequestError("bad", status_code=400), {"invalid_request"}),
    (RateLimitError("slow", status_code=429), {"rate_limit"}),
    (RateLimitError("quota", status_code=429, retryable=False), {"rate_limit"}),
    (LLMTimeoutError("slow", kind="first_token"), {"timeout"}),
    (TransportError("refused"), {"transport"}),
    (AuthError("no", status_code=401), {"auth"}),
    (ProviderError("boom", status_code=503), {"server_error"}),
    (StreamError("cut"), {"stream"}),
    (_refused("model_context_window_exceeded", "length"), {"finish_reason", "context_window"}),
    (_refused("SAFETY", "content_filter"), {"finish_reason", "content_filter"}),
    (_refused("refusal", "content_filter"), {"finish_reason", "content_filter"}),
    (_refused("length", "length"), {"finish_reason"}),
    (InvalidRequestError("The response was filtered due to the prompt triggering Azure OpenAI's content "
                         "management policy.", status_code=400, code="content_filter"),
     {"invalid_request", "content_filter"}),
    (ConfigError("missing key"), set()),
    (CancelledError("stop"), set()),
])
def test_kinds_of_each_error(error: LLMError, kinds: set[str]) -> None:
    assert kinds_of(error) == kinds
    assert kinds <= set(ERROR_KINDS)


def test_context_window_moves_on_and_other_bad_requests_do_not(scripted: Make, runtime: Runtime) -> None:
    small = scripted("small", ContextWindowExceededError("prompt is too long", status_code=400),
                     InvalidRequestError("bad temperature", status_code=400))
    large = scripted("large")
    chain = FallbackClient([small, large], runtime=runtime, fallback_on=["context_window"])
    reply = chain.complete("a long prompt")
    assert reply.text == "large ok"
    assert [a.outcome for a in reply.attempts] == ["ContextWindowExceededError", "ok"]
    with pytest.raises(InvalidRequestError) as info:
        chain.complete("a bad request")
    assert type(info.value) is InvalidRequestError and large.calls == 1


def test_kinds_mix_with_class_names_and_statuses(scripted: Make, runtime: Runtime) -> None:
    errors = [RateLimitError("slow", status_code=429), _refused("SAFETY", "content_filter"),
              LLMTimeoutError("slow", kind="request"), AuthError("no", status_code=401),
              TransportError("refused"), ProviderError("boom", status_code=502)]
    first = scripted("first", *errors)
    second = scripted("second")
    chain = FallbackClient([first, second], runtime=runtime,
                           fallback_on=["rate_limit", "content_filter", "timeout", "auth", "transport", "503",
                                        "ProviderError"])
    for _ in errors:
        assert chain.complete("x").client_name == "second"
    narrow = FallbackClient([scripted("a", ProviderError("boom", status_code=500)), scripted("b")],
                            runtime=runtime, fallback_on=["rate_limit"])
    with pytest.raises(ProviderError):
        narrow.complete("x")


@pytest.mark.parametrize("entry", ["context-window", "contextwindow", "5xx", "Rate_limit_"])
def test_a_misspelt_kind_is_refused_when_built(scripted: Make, runtime: Runtime, entry: str) -> None:
    if entry == "Rate_limit_":  # not lower case: read as a (user's own) class name, as before
        FallbackClient([scripted("a")], runtime=runtime, fallback_on=[entry])
        return
    with pytest.raises(ConfigError) as info:
        FallbackClient([scripted("a")], name="Chain", runtime=runtime, fallback_on=[entry])
    assert repr(entry) in str(info.value) and "context_window" in str(info.value) and "'Chain'" in str(info.value)


def _config(base: str, fallback_on: list[str]) -> dict[str, Any]:
    return {"clients": {
        "Small": {"provider": "openai-generic", "options": {"model": "model-small", "base_url": base}},
        "Large": {"provider": "openai-generic", "options": {"model": "model-large", "base_url": base}},
        "Chain": {"provider": "fallback", "options": {"strategy": ["Small", "Large"], "fallback_on": fallback_on}},
    }}


def test_fall_back_to_a_larger_context_model_is_one_line_of_config(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.context_window(), Fault.status(400), match="model-small")
    with load_config(_config(fake_llm_server.openai_base_url, ["context_window"])) as registry:
        chain = registry.client("Chain")
        reply = chain.complete("a prompt too long for the small model")
        assert reply.client_name == "Large" and reply.model == "model-large"
        assert [a.outcome for a in reply.attempts] == ["ContextWindowExceededError", "ok"]
        with pytest.raises(InvalidRequestError) as info:  # any other 400 is not fallen back on
            chain.complete("a bad request")
        assert type(info.value) is InvalidRequestError
    assert [r.json()["model"] for r in fake_llm_server.requests] == ["model-small", "model-large", "model-small"]


def test_a_streamed_call_falls_back_too(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.context_window(in_stream=True, after_chunks=1), match="model-small")
    with load_config(_config(fake_llm_server.openai_base_url, ["context_window"])) as registry:
        with registry.client("Chain").stream("hello there") as stream:
            assert "".join(chunk.text for chunk in stream) == "Echo: hello there"
        assert stream.completion.client_name == "Large"


def test_the_schema_takes_kinds_and_names_a_misspelt_one(fake_llm_server: FakeLLMServer) -> None:
    base = fake_llm_server.openai_base_url
    load_config(_config(base, ["context_window", "content_filter", "rate_limit", "timeout", "transport", "auth",
                               "server_error", "503", "ContextWindowExceededError"])).close()
    with pytest.raises(ConfigError) as info:
        load_config(_config(base, ["context-window"]))
    assert "fallback_on[0]" in str(info.value) and "'context-window' is not one of" in str(info.value)
