"""HTTP statuses, retry hints and non-JSON bodies to typed errors, shared by every provider.

Each provider adapter reads its own error JSON (type, code, message) and then calls
:func:`http_error`, which picks the class from the status (refined by the provider's
code), reads the server's retry hints (parsed in :mod:`llmclient.retry`) and redacts the
body. The same table serves error events inside a 200 stream: their type is mapped to the
status it stands for.
"""

from __future__ import annotations

import re

from ..errors import (
    AuthError,
    InvalidRequestError,
    LLMError,
    ProviderError,
    RateLimitError,
)
from ..models import HttpResponse
from ..redaction import redact_text
from ..retry import retry_after_from_headers, should_retry_header  # re-exported: they lived here

__all__ = ["class_for_status", "http_error", "retry_after_from_headers", "describe_unexpected_body",
           "should_retry_header"]


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
    error_cls = cls or class_for_status(response.status_code)
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
