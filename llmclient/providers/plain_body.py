"""A streamed request answered with one plain body instead of an event stream: what it means.

Some gateways (a LiteLLM proxy's Anthropic route, for one) answer a streamed request with a
single JSON body and HTTP 200: the provider's non-stream answer, or an error object. Every
stream decoder collects the text it finds outside its framing with :class:`PlainBody` and, at
the end of a body that held no event at all, reads it as its provider reads a non-stream
answer: an error object becomes its typed error, a non-stream answer becomes the stream's
chunks, and anything else (a gateway's HTML page, another JSON) is reported as "expected an
event stream, got ..." -- never as a connection closed early.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Protocol

from ..errors import LLMError, ProviderError
from ..models import Chunk, Completion, HttpResponse
from ..redaction import redact_text
from ..stream import chunks_of

__all__ = ["PlainBody", "ReadsAnswers", "MAX_PLAIN_BODY", "not_an_event_stream", "completion_chunks"]

#: The most text kept from a body that is not an event stream (8 MiB); past it the body fails.
MAX_PLAIN_BODY = 8 * 1024 * 1024

_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class ReadsAnswers(Protocol):
    """What :meth:`PlainBody.answer` needs of a provider adapter (every template adapter has it)."""

    def parse_response(self, response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        """The completion in a 2xx answer."""

    def error_from(self, error: Mapping[str, Any], *, response: HttpResponse | None,
                   secrets: tuple[str, ...]) -> LLMError:
        """The typed error for the provider's error object."""


class PlainBody:
    """Lines of a streamed body that its framing did not recognise, kept in order (bounded).

    Args:
        provider: The provider named in errors.
        secrets: Credentials the request carried, scrubbed from any excerpt.
    """

    __slots__ = ("lines", "size", "_provider", "_secrets")

    def __init__(self, provider: str, secrets: tuple[str, ...]) -> None:
        self.lines: list[str] = []
        self.size = 0
        self._provider = provider
        self._secrets = secrets

    def take(self, stray: list[str]) -> None:
        """Move ``stray`` lines (an ``SSEDecoder.stray_lines`` list, emptied) into this body.

        Raises:
            ProviderError: The text outgrew :data:`MAX_PLAIN_BODY`.
        """
        for line in stray:
            self.size += len(line) + 1
        self.lines.extend(stray)
        stray.clear()
        if self.size > MAX_PLAIN_BODY:
            raise not_an_event_stream(self.text()[:2000], provider=self._provider, secrets=self._secrets)

    def text(self) -> str:
        """The lines joined by newlines, stripped."""
        return "\n".join(self.lines).strip()

    def json(self) -> Any:
        """The text parsed as JSON, or None when it is not JSON (or empty)."""
        text = self.text()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return None

    def answer(self, adapter: ReadsAnswers, answer_field: str) -> Completion:
        """The completion in a body holding the provider's non-stream answer (a JSON object whose
        ``answer_field`` is a list), read by ``adapter``.

        Raises:
            LLMError: The typed error of an error JSON (``{"error": ...}``, Anthropic's
                ``{"type": "error", ...}``), or "expected an event stream" for any other text.
        """
        obj = self.json()
        if isinstance(obj, dict) and (obj.get("error") or obj.get("type") == "error"):
            error = obj.get("error")
            raise adapter.error_from(error if isinstance(error, dict) else {"message": str(error or "")},
                                     response=None, secrets=self._secrets)
        if isinstance(obj, dict) and isinstance(obj.get(answer_field), list):
            return adapter.parse_response(HttpResponse(200, {}, self.text().encode()), self._secrets)
        raise self.not_a_stream()

    def not_a_stream(self) -> ProviderError:
        """The "expected an event stream, got ..." error for this text."""
        return not_an_event_stream(self.text(), provider=self._provider, secrets=self._secrets)


def not_an_event_stream(text: str, *, provider: str, secrets: tuple[str, ...]) -> ProviderError:
    """The error for a streamed answer whose body is not an event stream (not retryable).

    Names a short excerpt (an HTML page's title), so that a gateway's answer can be told from
    the provider's; the body kept on the error is redacted and truncated.
    """
    title = _TITLE.search(text[:4000])
    excerpt = " ".join((title.group(1) if title else text[:120]).split())[:120]
    return ProviderError(f"expected an event stream, got {redact_text(excerpt, secrets)!r}; a proxy or gateway may "
                         "have answered instead of the provider", provider=provider,
                         body=redact_text(text[:2000], secrets), retryable=False)


def completion_chunks(completion: Completion) -> list[Chunk]:
    """A non-stream answer found in a streamed body, as the chunks a stream of it would give."""
    return list(chunks_of(completion))
