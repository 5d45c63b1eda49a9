"""HTTP statuses, retry hints and non-JSON bodies to typed errors, shared by every provider.

Each provider adapter reads its own error JSON (type, code, message) and then calls
:func:`http_error`, which picks the class from the status (refined by the provider's
code), reads the server's retry hints (parsed in :mod:`llmclient.retry`) and redacts the
body. The same table serves error events inside a 200 stream: their type is mapped to the
status it stands for.

"The prompt is too long" is recognised here, once for every provider: an
:class:`InvalidRequestError` whose message or code says so (:func:`refine_class`) becomes a
:class:`ContextWindowExceededError`, on error answers (:func:`http_error`) and on in-stream
error events alike (each provider's hook calls :func:`refine_class`).
"""

from __future__ import annotations

import re

from ..errors import (
    AuthError,
    ContextWindowExceededError,
    InvalidRequestError,
    LLMError,
    ProviderError,
    RateLimitError,
)
from ..models import HttpResponse
from ..redaction import redact_text
from ..retry import retry_after_from_headers, should_retry_header  # re-exported: they lived here

__all__ = ["class_for_status", "http_error", "retry_after_from_headers", "describe_unexpected_body",
           "should_retry_header", "context_window_exceeded", "refine_class"]

#: What providers say when the prompt does not fit (wire-formats-2026 section 8): OpenAI's code
#: and messages (Chat, gpt-5, Responses), Anthropic's (and Bedrock's Claude) "prompt is too
#: long" and "input length and `max_tokens` exceed context limit", Gemini's and Vertex's
#: "The input token count (N) exceeds the maximum", Bedrock's "Input is too long for requested
#: model", "too many input tokens" and "too many total text bytes". Matched case-insensitively
#: as substrings: the wording changes between model generations, these fragments have not.
_CONTEXT_WINDOW = re.compile(
    r"context_length_exceeded|maximum context length|exceeds the context window|prompt is too long"
    r"|exceed context limit|input token count.{0,40}exceeds the maximum|input is too long"
    r"|too many input tokens|input tokens exceed the configured limit|too many total text bytes",
    re.IGNORECASE | re.DOTALL)


def context_window_exceeded(message: str | None, code: str | None = None) -> bool:
    """Whether a provider's error ``message`` or ``code`` says the prompt exceeds the context window."""
    return any(text and _CONTEXT_WINDOW.search(text) for text in (code, message))


def refine_class(cls: type[LLMError], message: str | None, code: str | None = None) -> type[LLMError]:
    """``cls``, or :class:`ContextWindowExceededError` when it is :class:`InvalidRequestError` and
    ``message``/``code`` say the prompt is too long (:func:`context_window_exceeded`)."""
    if cls is InvalidRequestError and context_window_exceeded(message, code):
        return ContextWindowExceededError
    return cls


def class_for_status(status: int) -> type[LLMError]:
    """The error class for an HTTP status (429 throttling, 401/403 auth, 5xx provider...)."""
    if status in (401, 403):
        return AuthError
    if status == 429:
        return RateLimitError
    if status in (408, 409) or status >= 500:
        return ProviderError
    return InvalidRequestError


def http_error(
    response: HttpResponse,
    message: str,
    *,
    provider: str,
    secrets: tuple[str, ...] = (),
    cls: type[LLMError] | None = None,
    code: str | None = None,
    retryable: bool | None = None,
    retry_after: float | None = None,
    request_id_header: str = "x-request-id",
) -> LLMError:
    """Build the typed error for a non-2xx response.

    Args:
        response: The answer.
        message: The provider's message (it is redacted here).
        provider: The provider's name.
        secrets: Credentials the request carried, removed from message and body.
        cls: The class when the provider's error code decides it (else: by status).
        code: The provider's error type/code.
        retryable: Override the class's default (e.g. an exhausted quota: False).
        retry_after: A delay found in the body (Google ``RetryInfo``); headers win.
        request_id_header: Where the provider puts its request id.
    """
    headers = response.headers
    error_cls = refine_class(cls or class_for_status(response.status_code), message, code)
    hinted = retry_after_from_headers(headers)
    error = error_cls(
        redact_text(message, secrets),
        provider=provider,
        status_code=response.status_code,
        request_id=headers.get(request_id_header),
        retryable=retryable,
        retry_after=hinted if hinted is not None else retry_after,
        body=redact_text(response.body[:4000].decode("utf-8", "replace"), secrets),
        code=None if code is None else redact_text(code, secrets),
    )
    error.should_retry = should_retry_header(headers)
    return error


_TITLE = re.compile(rb"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def describe_unexpected_body(response: HttpResponse, what: str) -> str:
    """A one-line account of a body that is not the provider's JSON (e.g. a proxy's HTML page).

    Names the content type and a short excerpt (the page title for HTML), so the user
    can tell a gateway's error from the provider's.
    """
    ctype = response.headers.get("content-type", "no content type").split(";")[0].strip()
    body = response.body
    if not body:
        excerpt = "an empty body"
    else:
        title = _TITLE.search(body[:4000])
        snippet = (title.group(1) if title else body[:120]).decode("utf-8", "replace")
        excerpt = repr(" ".join(snippet.split())[:120])
    return (f"HTTP {response.status_code}: expected {what}, got {ctype} ({excerpt}); "
            "a proxy or gateway may have answered instead of the provider")


def unexpected_success_body(response: HttpResponse, *, provider: str, what: str,
                            secrets: tuple[str, ...] = ()) -> ProviderError:
    """The error for a 2xx response whose body is not what the provider sends."""
    return ProviderError(redact_text(describe_unexpected_body(response, what), secrets), provider=provider,
                         status_code=response.status_code,
                         body=redact_text(response.body[:4000].decode("utf-8", "replace"), secrets))
