"""One attempt of a leaf client on the wire: what was sent, its answer, its stream, its report.

:class:`~llmclient.providers.leaf.LeafClient` sends every attempt, complete or streamed,
through one path (``LeafClient._send``); the objects here carry an attempt from there to
its caller: :class:`Sent` (the answer as it came off the transport), :class:`OpenedStream`
(a streamed answer whose first content has arrived), :class:`Report` (what the call's
hooks are told) and :func:`cancel_scope` (how the call's cancel token aborts the attempt).
Kept apart from ``leaf.py`` so that the client reads as its loop, and this as the wire.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from time import monotonic
from typing import TYPE_CHECKING, Any

from ..abort import AbortScope
from ..errors import LLMError
from ..hooks import emit
from ..models import Chunk, HttpRequest, HttpResponse
from ..redaction import redact_headers, redact_text, redact_url
from ..transport import StreamingResponse

if TYPE_CHECKING:  # leaf imports this module: the client's types are for typing only
    from ..client import CallContext
    from .base import StreamDecoder
    from .leaf import LeafClient

__all__ = ["Sent", "OpenedStream", "Report", "cancel_scope"]


class Sent:
    """An attempt's answer as the transport gave it, its status 2xx.

    Attributes:
        secrets: The signed request's secrets (the adapter redacts them from errors).
        response: The transport's response; for a stream, its body is still to be read.
        answer: The whole answer once read (a complete call); a stream's head, its body empty.
    """

    def __init__(self, secrets: tuple[str, ...], response: StreamingResponse, answer: HttpResponse,
                 report: Report | None, unregister: Callable[[], None]) -> None:
        self.secrets, self.response, self.answer = secrets, response, answer
        self.report = report
        self.unregister = unregister

    def report_head(self) -> None:
        """Tell the hooks a stream's answer has come (its body is reported by no one: it streams)."""
        if self.report is not None:
            self.report.response(self.answer.status_code, self.answer.headers, None)

    def close(self) -> None:
        """Give up the answer: release its connection and the cancel token's hold on it."""
        self.response.close()
        self.unregister()


class OpenedStream:
    """A streamed answer whose first content has arrived (or which ended without any)."""

    def __init__(self, response: StreamingResponse, decoder: StreamDecoder, unregister: Callable[[], None]) -> None:
        self.response = response
        self.decoder = decoder
        self.buffered: list[Chunk] = []
        self._unregister = unregister
        self._body = iter(response)
        self._ended = False

    def read_until_content(self) -> None:
        decoder = self.decoder
        for data in self._body:
            chunks = decoder.feed(data)
            if getattr(decoder, "done", False):  # the whole answer came before (or with) its first content
                self.response.finish_early()
                self.buffered.extend(chunks)
                break
            if chunks:
                self.buffered.extend(chunks)
                if any(_has_content(c) for c in chunks):
                    return
        self._ended = True
        self.buffered.extend(decoder.finish())

    def chunks(self, client: LeafClient) -> Iterator[Chunk]:
        yield from self.buffered
        self.buffered = []
        if self._ended:
            return
        try:
            decoder = self.decoder
            for data in self._body:
                chunks = decoder.feed(data)
                if getattr(decoder, "done", False):  # the protocol's end: release the connection now
                    self.response.finish_early()
                    yield from chunks
                    break
                yield from chunks
            yield from decoder.finish()
        except LLMError as err:
            err.with_context(client_name=client.name, provider=client.provider)
            raise

    def response_id(self) -> str | None:
        """The provider's id of this answer (a plug-in's decoder may not know how to find one)."""
        find = getattr(self.decoder, "response_id_of", None)
        return find(self.response.headers) if find is not None else None

    def close(self) -> None:
        self._unregister()
        self.response.close()


class Report:
    """Tells a call's hooks about one attempt's request and response (redacted).

    Every time it reports is on the events' clock, from the RequestSent event: so that the
    time to the answer never exceeds the attempt's total (the transport's own timer starts
    later and stops earlier).
    """

    def __init__(self, client: LeafClient, context: CallContext, request: HttpRequest, number: int) -> None:
        self.client, self.context, self.number = client, context, number
        self.secrets = request.secrets
        self.sent_at = monotonic()
        from ..events import RequestSent

        emit(context.hooks, RequestSent(client.name, client.provider, self.sent_at, context.call_id, request.method,
                                        redact_url(request.url), redact_headers(request.headers),
                                        redact_text(request.body.decode("utf-8", "replace"), request.secrets),
                                        request.stream, number))

    def response(self, status: int, headers: Mapping[str, str], body: bytes | None) -> None:
        """Report the answer: its status, headers and (unless it streams) body."""
        client = self.client
        text = None if body is None else redact_text(body[:64_000].decode("utf-8", "replace"), self.secrets)
        now = monotonic()
        from ..events import ResponseReceived

        emit(self.context.hooks, ResponseReceived(
            client.name, client.provider, now, self.context.call_id, status, redact_headers(headers), text,
            now - self.sent_at, headers.get(client.adapter.request_id_header), self.number))


def cancel_scope(context: CallContext) -> tuple[Callable[[], None], Any]:
    """An AbortScope that the call's cancel token aborts, and how to unregister it."""
    if context.cancel is None:
        return noop, contextlib.nullcontext()
    scope = AbortScope(parent=AbortScope.current())
    return context.cancel.on_cancel(scope.abort), scope


def noop() -> None:
    """Nothing to undo (an attempt without a cancel token)."""
    return None


def _has_content(chunk: Chunk) -> bool:
    return bool(chunk.text or chunk.tool_calls or chunk.refusal or chunk.thinking or chunk.raw_finish_reason)
