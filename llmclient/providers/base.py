"""The single sign -> send -> classify -> retry loop, written once for every provider.

A provider is two things: a pure :class:`ProviderAdapter` (messages to an
``HttpRequest``, an ``HttpResponse`` or a byte stream to a ``Completion`` or a typed error)
and :class:`LeafClient`, which runs it: signs with the client's auth, sends on the shared
transport, classifies, and asks the retry policy whether to go again. Options that every
provider shares (timeouts, TLS, roles, finish-reason lists, streaming support) are read here.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any, Iterator, Mapping, Protocol, Sequence

from ..auth.base import AuthProvider
from ..client import CallContext, Client, Stream, StreamAccumulator, chunks_of
from ..errors import AuthError, ConfigError, FinishReasonError, LLMError
from ..models import Attempt, ChatRequest, Chunk, Completion, HttpRequest, HttpResponse
from ..retry import NO_RETRY, RetryPolicy
from ..runtime import Runtime
from ..transport import StreamingResponse, Timeouts

__all__ = ["ProviderAdapter", "StreamDecoder", "LeafClient", "RolePolicy", "COMMON_OPTIONS"]

log = logging.getLogger(__name__)

#: Options every leaf client reads itself; the rest belong to the provider's adapter.
COMMON_OPTIONS = frozenset({"http", "finish_reason_allow_list", "finish_reason_deny_list", "supports_streaming"})


class StreamDecoder(Protocol):
    """Turns a provider's streamed body into chunks. Pure: bytes in, chunks out."""

    model: str | None

    def feed(self, data: bytes) -> list[Chunk]:
        """Chunks completed by ``data``; raises the typed error of an in-stream error event."""

    def finish(self) -> list[Chunk]:
        """Chunks left at the end of the body; raises if the body ended too early."""


class ProviderAdapter(ABC):
    """Pure translation between llmclient's values and one provider's HTTP wire format."""

    provider: str = ""
    #: The response header carrying the provider's request id.
    request_id_header: str = "x-request-id"

    @abstractmethod
    def build_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        """The unsigned HTTP request for ``request`` (env references resolved now)."""

    @abstractmethod
    def parse_response(self, response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        """The completion in a 2xx answer; raises a typed error when it holds none."""

    @abstractmethod
    def parse_error(self, response: HttpResponse, secrets: tuple[str, ...]) -> LLMError:
        """The typed error for a non-2xx answer."""

    @abstractmethod
    def stream_decoder(self, secrets: tuple[str, ...]) -> StreamDecoder:
        """A fresh decoder for one streamed answer."""


class RolePolicy:
    """Which message roles a model takes, and what the others become.

    A role outside ``allowed_roles`` becomes ``default_role``; then ``remap_roles``
    renames roles to the provider's own words (e.g. ``{"system": "developer"}``).
    ``allowed_role_metadata`` lists the message metadata keys forwarded (``"all"``).
    """

    def __init__(self, options: Mapping[str, Any], default_allowed: Sequence[str]) -> None:
        self.allowed = tuple(options.get("allowed_roles") or default_allowed)
        default = options.get("default_role")
        self.default = default or ("user" if "user" in self.allowed else self.allowed[0])
        self.remap = dict(options.get("remap_roles") or {})
        metadata = options.get("allowed_role_metadata")
        self.metadata_all = metadata == "all"
        self.metadata_keys = frozenset(metadata) if isinstance(metadata, (list, tuple)) else frozenset()

    def role(self, role: str) -> str:
        """The role to send for a message written with ``role``."""
        if role not in self.allowed:
            role = self.default
        return str(self.remap.get(role, role))

    def metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """The message metadata that may be forwarded."""
        if not metadata:
            return {}
        if self.metadata_all:
            return dict(metadata)
        return {k: v for k, v in metadata.items() if k in self.metadata_keys}


class LeafClient(Client):
    """A client for one provider endpoint: the adapter plus auth, transport and retries.

    Args:
        adapter: The provider's pure translation.
        name: The client's name (used in errors, logs and ``Completion.client_name``).
        options: The client's options; the shared ones (``http``, finish-reason lists,
            ``supports_streaming``) are read here.
        auth: Signs each request; None for endpoints without auth.
        runtime: Shared pools; a private one is made when None.
        retry_policy: When and how to retry; a single attempt when None.
    """

    def __init__(self, adapter: ProviderAdapter, *, name: str, options: Mapping[str, Any],
                 auth: AuthProvider | None, runtime: Runtime | None = None,
                 retry_policy: RetryPolicy | None = None) -> None:
        super().__init__(name=name, provider=adapter.provider, runtime=runtime)
        self.adapter = adapter
        self.auth = auth
        self.retry_policy = retry_policy or NO_RETRY
        http = options.get("http") or {}
        self.timeouts = Timeouts.from_options(http)
        self.verify: bool | str | None = http.get("ca_bundle") or http.get("verify")
        self.supports_streaming = bool(options.get("supports_streaming", True))
        allow = options.get("finish_reason_allow_list")
        deny = options.get("finish_reason_deny_list")
        if allow is not None and deny is not None:
            raise ConfigError(f"client {name!r}: give finish_reason_allow_list or finish_reason_deny_list, not both")
        self.finish_allow = None if allow is None else frozenset(str(r).lower() for r in allow)
        self.finish_deny = frozenset(str(r).lower() for r in deny or ())

    # -- complete -------------------------------------------------------------------
    def invoke(self, request: ChatRequest, context: CallContext) -> Completion:
        completion: Completion = self._with_retries(context, lambda: self._complete_once(request, context))
        return completion.with_attempts(context.attempts)

    def _complete_once(self, request: ChatRequest, context: CallContext) -> Completion:
        signed = self._signed(request, stream=False)
        transport = self.runtime.transport
        response = transport.send(signed, self.timeouts.capped(context.remaining()), verify=self.verify)
        if not 200 <= response.status_code < 300:
            raise self.adapter.parse_error(response, signed.secrets)
        completion = self.adapter.parse_response(response, signed.secrets)
        completion = replace(completion, provider=self.provider, client_name=self.name,
                             request_id=response.headers.get(self.adapter.request_id_header))
        self._check_finish_reason(completion)
        return completion

    # -- stream ---------------------------------------------------------------------
    def open_stream(self, request: ChatRequest, context: CallContext) -> Stream:
        if not self.supports_streaming:
            completion = self.invoke(request, context)
            return Stream(iter(chunks_of(completion)), finish=lambda acc: completion, close=lambda: None)
        opened: _OpenedStream = self._with_retries(context, lambda: self._open_stream_once(request, context))

        def finish(acc: StreamAccumulator) -> Completion:
            completion = acc.completion(model=opened.decoder.model, provider=self.provider, client_name=self.name,
                                        request_id=opened.response.headers.get(self.adapter.request_id_header),
                                        attempts=tuple(context.attempts))
            self._check_finish_reason(completion)
            return completion

        return Stream(opened.chunks(self), finish=finish, close=opened.response.close)

    def _open_stream_once(self, request: ChatRequest, context: CallContext) -> _OpenedStream:
        signed = self._signed(request, stream=True)
        response = self.runtime.transport.open(signed, self.timeouts.capped(context.remaining()), verify=self.verify)
        try:
            if not 200 <= response.status_code < 300:
                body = response.read()
                raise self.adapter.parse_error(
                    HttpResponse(response.status_code, response.headers, body, response.url), signed.secrets)
            opened = _OpenedStream(response, self.adapter.stream_decoder(signed.secrets))
            opened.read_until_content()
            return opened
        except BaseException:
            response.close()
            raise

    # -- shared ---------------------------------------------------------------------
    def _signed(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        built = self.adapter.build_request(request, stream=stream)
        return self.auth.apply(built) if self.auth is not None else built

    def _with_retries(self, context: CallContext, attempt: Any) -> Any:
        runtime = self.runtime
        retry = 0
        refreshed = False
        while True:
            started = runtime.clock()
            try:
                result = attempt()
            except LLMError as err:
                err.with_context(client_name=self.name, provider=self.provider)
                context.attempts.append(Attempt(self.name, self.provider, runtime.clock() - started, err,
                                                err.status_code))
                if (isinstance(err, AuthError) and err.status_code == 401 and not refreshed
                        and self.auth is not None and self.auth.refresh()):
                    refreshed = True
                    log.debug("client %s: 401, credentials refreshed; trying once more", self.name)
                    continue
                delay = self.retry_policy.next_delay(retry + 1, err, runtime.random)
                remaining = context.remaining()
                if delay is None or (remaining is not None and delay >= remaining):
                    raise
                retry += 1
                log.debug("client %s: %s (%s); retry %d of %d in %.3f s", self.name, type(err).__name__,
                          err.status_code or err.message, retry, self.retry_policy.max_retries, delay)
                runtime.sleep(delay)
                continue
            context.attempts.append(Attempt(self.name, self.provider, runtime.clock() - started, None, 200))
            return result

    def _check_finish_reason(self, completion: Completion) -> None:
        raw = completion.raw_finish_reason
        if raw is None or (self.finish_allow is None and not self.finish_deny):
            return
        names = {raw.lower(), (completion.finish_reason or "").lower()}
        refused = (self.finish_allow is not None and not names & self.finish_allow) or bool(names & self.finish_deny)
        if refused:
            raise FinishReasonError(
                f"finish reason {raw!r} is refused by client {self.name!r}'s finish_reason "
                f"{'allow' if self.finish_allow is not None else 'deny'} list", finish_reason=raw,
                completion=completion, provider=self.provider, client_name=self.name, retryable=False)


class _OpenedStream:
    """A streamed answer whose first content has arrived (or which ended without any)."""

    def __init__(self, response: StreamingResponse, decoder: StreamDecoder) -> None:
        self.response = response
        self.decoder = decoder
        self.buffered: list[Chunk] = []
        self._body = iter(response)
        self._ended = False

    def read_until_content(self) -> None:
        for data in self._body:
            chunks = self.decoder.feed(data)
            if chunks:
                self.buffered.extend(chunks)
                if any(_has_content(c) for c in chunks):
                    return
        self._ended = True
        self.buffered.extend(self.decoder.finish())

    def chunks(self, client: LeafClient) -> Iterator[Chunk]:
        yield from self.buffered
        self.buffered = []
        if self._ended:
            return
        try:
            decoder = self.decoder
            for data in self._body:
                yield from decoder.feed(data)
            yield from decoder.finish()
        except LLMError as err:
            err.with_context(client_name=client.name, provider=client.provider)
            raise


def _has_content(chunk: Chunk) -> bool:
    return bool(chunk.text or chunk.tool_calls or chunk.refusal or chunk.thinking or chunk.raw_finish_reason)
