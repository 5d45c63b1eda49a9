"""Error kinds: what went wrong, in words a fallback chain can be configured with.

``fallback_on`` takes error class names (``"RateLimitError"``), HTTP statuses (``"503"``) and
these kinds (``"context_window"``), which cut across classes and providers: a prompt that is too
long is a ``ContextWindowExceededError`` on every provider, but also a refused finish reason
``model_context_window_exceeded``; a content filter is a refused finish reason
``content_filter`` on every provider, but also Azure's 400 with code ``content_filter``.
Kinds are lower-case words, class names are CamelCase, statuses are digits: the three never
collide, so one list can mix them.
"""

from __future__ import annotations

from .errors import (
    AuthError,
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

__all__ = ["ERROR_KINDS", "kinds_of", "is_kind_name"]

#: Every kind, with what it matches (the README's table).
ERROR_KINDS: dict[str, str] = {
    "context_window": "ContextWindowExceededError, or a refused finish reason model_context_window_exceeded",
    "content_filter": "a refused finish reason content_filter (safety, refusal, guardrail...), or an error "
                      "whose code is content_filter (Azure's filtered prompt)",
    "rate_limit": "RateLimitError: 429, throttling, an exhausted quota",
    "timeout": "LLMTimeoutError: any limit (connect, request, first_token, idle)",
    "transport": "TransportError: refused, reset, TLS, a redirect",
    "auth": "AuthError: 401/403",
    "server_error": "ProviderError: 5xx, overloaded, an answer that cannot be read",
    "invalid_request": "InvalidRequestError (context_window included): 400/404/413/422",
    "finish_reason": "FinishReasonError: any refused finish reason",
    "stream": "StreamError: a stream that broke after content arrived",
}

#: Raw finish reasons that say the prompt filled the context window (Anthropic, Bedrock).
_CONTEXT_WINDOW_REASONS = frozenset({"model_context_window_exceeded"})
#: Provider codes of an error answer that is a content filter (Azure OpenAI).
_CONTENT_FILTER_CODES = frozenset({"content_filter", "responsibleaipolicyviolation"})

_BY_CLASS: tuple[tuple[type[LLMError], str], ...] = (
    (ContextWindowExceededError, "context_window"), (RateLimitError, "rate_limit"), (LLMTimeoutError, "timeout"),
    (TransportError, "transport"), (AuthError, "auth"), (ProviderError, "server_error"),
    (InvalidRequestError, "invalid_request"), (FinishReasonError, "finish_reason"), (StreamError, "stream"),
)


def is_kind_name(name: str) -> bool:
    """Whether a ``fallback_on`` entry is written as a kind (lower case, not a status)."""
    return name == name.lower() and not name.isdigit()


def kinds_of(error: LLMError) -> frozenset[str]:
    """The kinds ``error`` is (empty for a ConfigError, a cancellation, a closed client...)."""
    kinds = {kind for cls, kind in _BY_CLASS if isinstance(error, cls)}
    if isinstance(error, FinishReasonError):
        raw = (error.finish_reason or "").lower()
        normalised = str(getattr(error.completion, "finish_reason", "") or "").lower()
        if raw in _CONTEXT_WINDOW_REASONS:
            kinds.add("context_window")
        if "content_filter" in (raw, normalised):
            kinds.add("content_filter")
    if (error.code or "").lower() in _CONTENT_FILTER_CODES:
        kinds.add("content_filter")
    return frozenset(kinds)
