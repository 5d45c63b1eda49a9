"""The whole llmclient error tree, in one place so that callers can catch by meaning.

::

    LLMError                       root: every failure llmclient raises
    +-- ConfigError                a config that cannot be loaded, validated or built
    |   +-- TokenCountUnavailableError   count_tokens: no provider endpoint and no local tokenizer
    +-- TransportError             no usable HTTP answer: refused, reset, TLS, redirect
    +-- LLMTimeoutError            a time limit passed (``kind`` names which one)
    +-- AuthError                  401/403, bad or missing credentials
    +-- RateLimitError             429 and provider throttling, with ``retry_after``
    +-- InvalidRequestError        400/404/413/422: the request itself is wrong
    |   +-- ContextWindowExceededError   the prompt does not fit the model's context window
    +-- ProviderError              5xx, overloaded, an answer that cannot be parsed
    |   +-- StructuredOutputError    a structured answer that is not JSON (or not the schema's)
    +-- StreamError                a stream broke after chunks reached the caller
    +-- FinishReasonError          a finish reason the client's allow/deny list refuses
    +-- AllClientsFailedError      every child of a composite client failed
    +-- CancelledError             the caller cancelled the call
    +-- ClientClosedError          the client (or its registry) was closed

Every error carries the same fields (``provider``, ``client_name``, ``status_code``,
``request_id``, ``retryable``, ``retry_after``, ``body``), so that retry policies and
fallback chains can decide without knowing which provider raised it. ``body`` is always
redacted and truncated before it is stored; messages never contain credentials.

Every error pickles: a copy has the same class, message, ``str()`` and attributes, whatever
its constructor takes (Dask, ``multiprocessing`` and ``concurrent.futures.ProcessPoolExecutor``
ship errors between processes). Subclasses, in llmclient or in your code, inherit this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "LLMError",
    "ConfigError",
    "TokenCountUnavailableError",
    "TransportError",
    "LLMTimeoutError",
    "AuthError",
    "RateLimitError",
    "InvalidRequestError",
    "ContextWindowExceededError",
    "ProviderError",
    "StructuredOutputError",
    "StreamError",
    "FinishReasonError",
    "AllClientsFailedError",
    "CancelledError",
    "ClientClosedError",
]

#: How much of a response body an error keeps (characters).
MAX_BODY_CHARS = 2000


class LLMError(Exception):
    """Root of every error llmclient raises.

    Args:
        message: A human-readable explanation; must never contain a secret.
        provider: The provider name (``"openai"``, ``"anthropic"``, ...) when known.
        client_name: The configured client's name when known.
        status_code: The HTTP status, or the status an in-stream error stands for.
        request_id: The provider's request id, for support tickets.
        retryable: Whether a second identical attempt may succeed.
        retry_after: Seconds the server asked us to wait, when it said so.
        body: The (already redacted) response body or error payload, truncated.
        code: The provider's own error code or type (``"insufficient_quota"``...).
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        client_name: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        body: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.client_name = client_name
        self.status_code = status_code
        self.request_id = request_id
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.body = None if body is None else body[:MAX_BODY_CHARS]
        self.code = code
        #: The server's own ``x-should-retry`` verdict, which wins over every policy.
        self.should_retry: bool | None = None

    def __str__(self) -> str:
        where = []
        if self.client_name:
            where.append(f"client {self.client_name!r}")
        if self.provider:
            where.append(f"provider {self.provider}")
        if self.status_code is not None:
            where.append(f"HTTP {self.status_code}")
        if self.request_id:
            where.append(f"request id {self.request_id}")
        return f"{self.message} ({', '.join(where)})" if where else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as class + args + attributes, never by calling ``__init__`` again.

        The default for exceptions calls ``cls(*args)``, which fails for any subclass whose
        constructor takes required keyword arguments (``kind``, ``finish_reason``...) or
        builds its message from them (``ConfigError``'s problem list).
        """
        return _rebuild, (type(self), self.args, self.__dict__.copy())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"client_name={self.client_name!r}, status_code={self.status_code!r}, "
            f"retryable={self.retryable!r})"
        )

    def with_context(self, *, client_name: str | None = None, provider: str | None = None) -> LLMError:
        """Fill in ``client_name``/``provider`` where a lower layer did not know them.

        Returns the same object, so ``raise err.with_context(...)`` keeps the traceback.
        """
        if client_name and not self.client_name:
            self.client_name = client_name
        if provider and not self.provider:
            self.provider = provider
        return self


class ConfigError(LLMError):
    """A config that cannot be loaded, validated or built into clients.

    Args:
        message: What is wrong, naming where (file, JSON path, option); never a secret value.
        problems: Every problem found, one line each, when validation found several.
    """

    def __init__(self, message: str, *, problems: Sequence[str] = (), **context: Any) -> None:
        self.problems = list(problems)
        if self.problems and self.problems != [message]:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message, **context)


class TokenCountUnavailableError(ConfigError):
    """``count_tokens`` cannot count for this client: its provider offers no count endpoint
    that llmclient speaks, and no local tokenizer applies (for OpenAI models: the
    ``llmclient[tokens]`` extra, tiktoken, is not installed or does not know the model).

    Raised before anything is sent, never replaced by an estimate. A composite's
    ``count_tokens`` skips members that raise it.
    """


class TransportError(LLMError):
    """The request did not get a usable HTTP answer (refused, reset, TLS, redirect)."""

    default_retryable = True


class LLMTimeoutError(LLMError):
    """A time limit passed before the answer was complete.

    ``kind`` names the limit: ``connect``, ``request``, ``first_token``, ``idle`` or
    ``total`` (the deadline of a composite client).
    """

    default_retryable = True

    def __init__(self, message: str, *, kind: str, **context: Any) -> None:
        super().__init__(message, **context)
        self.kind = kind


class AuthError(LLMError):
    """Credentials are missing, invalid or not allowed to do this (401/403)."""


class RateLimitError(LLMError):
    """The provider is throttling (429); ``retry_after`` says how long it asked us to wait.

    A quota that is exhausted (OpenAI ``insufficient_quota``, an Anthropic spend limit)
    is a RateLimitError with ``retryable=False``.
    """

    default_retryable = True


class InvalidRequestError(LLMError):
    """The request is wrong and will fail again unchanged (400/404/413/422)."""


class ContextWindowExceededError(InvalidRequestError):
    """The prompt (with the answer's budget, where the provider counts it) is longer than the
    model's context window: OpenAI's ``context_length_exceeded``, Anthropic's "prompt is too
    long", Gemini's "input token count exceeds", Bedrock's "Input is too long".

    Not retryable: the same request fails again. A fallback with ``fallback_on:
    [context_window]`` moves on to the next (larger-context) model.
    """


class ProviderError(LLMError):
    """The provider failed (5xx, overloaded) or answered with something unparseable."""

    default_retryable = True


class StructuredOutputError(ProviderError):
    """An answer to a ``response_format`` call that is not JSON, or (when validated) not valid for the schema.

    ``text`` keeps the model's raw answer and ``problem`` says what is wrong with it (the JSON
    decoding error, or the first schema violation with its JSON path). Not retried by default
    (the same prompt tends to give the same answer); a fallback moves on to its next client.
    """

    default_retryable = False

    def __init__(self, message: str, *, text: str = "", problem: str = "", **context: Any) -> None:
        super().__init__(message, **context)
        self.text = text
        self.problem = problem


class StreamError(LLMError):
    """A stream failed after chunks reached the caller; ``partial_text`` keeps what arrived."""

    def __init__(self, message: str, *, partial_text: str = "", **context: Any) -> None:
        super().__init__(message, **context)
        self.partial_text = partial_text


class FinishReasonError(LLMError):
    """The model finished for a reason the client's allow/deny list refuses.

    ``finish_reason`` is the raw reason; ``completion`` the answer that was refused.
    """

    def __init__(
        self, message: str, *, finish_reason: str | None, completion: Any = None, **context: Any
    ) -> None:
        super().__init__(message, **context)
        self.finish_reason = finish_reason
        self.completion = completion


class AllClientsFailedError(LLMError):
    """Every client of a composite failed; ``errors`` lists each attempt's error in order."""

    def __init__(self, message: str, *, errors: Sequence[LLMError] = (), attempts: Sequence[Any] = (),
                 **context: Any) -> None:
        super().__init__(message, **context)
        self.errors = list(errors)
        self.attempts = list(attempts)


class CancelledError(LLMError):
    """The caller cancelled the call (through a cancel token); never retried or fallen back on."""


def _rebuild(cls: type[LLMError], args: tuple[Any, ...], state: dict[str, Any]) -> LLMError:
    """Unpickle an error made by :meth:`LLMError.__reduce__`: no constructor runs."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ClientClosedError(LLMError):
    """The client, or the registry or runtime it shares, was closed: build a new one.

    Raised by every call (``complete``, ``stream``, ``submit``, ``batch``) after ``close()``;
    never retried or fallen back on, since every member shares the closed pools.
    """
