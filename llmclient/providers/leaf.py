"""LeafClient: runs one provider's adapter -- sign, send, classify, retry.

The contract a provider implements (:class:`~llmclient.providers.base.ProviderAdapter`,
:class:`~llmclient.providers.base.StreamDecoder`) lives in :mod:`llmclient.providers.base`;
this module is what runs it: signs with the client's auth, sends on the shared transport,
classifies the answer and asks the retry policy whether to go again. Options every provider
shares (timeouts, TLS, finish-reason lists, streaming support, rate limits) are read here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from time import monotonic
from typing import TYPE_CHECKING, Any, TypeVar

from ..auth.base import AuthProvider
from ..client import CallContext, Client
from ..errors import ConfigError, FinishReasonError, LLMError, RateLimitError
from ..hooks import emit
from ..models import Attempt, ChatRequest, Completion, HttpRequest, HttpResponse, MessagesInput, to_messages
from ..rate_limit_headers import note as note_rate_limit
from ..rate_limit_headers import take as take_rate_limit
from ..ratelimit import RateLimiter
from ..retry import NO_RETRY, RetryPolicy, RetryState
from ..runtime import Runtime
from ..stream import Stream, StreamAccumulator, chunks_of
from ..structured import decoded as decoded_output
from ..structured import prepare as prepare_output
from ..transport import Timeouts
from .attempt import OpenedStream, Report, Sent, cancel_scope, noop
from .token_estimate import estimate_tokens  # one estimate, shared with the batch runners

if TYPE_CHECKING:  # base imports this module at load time: names from it are for typing only
    from ..token_count import TokenCount
    from .base import ProviderAdapter

__all__ = ["LeafClient", "COMMON_OPTIONS"]

log = logging.getLogger(__name__)

_Result = TypeVar("_Result")

#: Options BAML consumes itself on every provider (its docs' "BAML-specific" options): read by
#: llmclient where it acts on them (``media_url_handler``), otherwise accepted and ignored, and
#: never sent as request body fields. ``media_url_resolver`` is the older spelling of the handler.
BAML_CONSUMED_OPTIONS = frozenset({"client_response_type", "baml_mode", "media_url_handler", "media_url_resolver"})

#: Options every leaf client reads itself; the rest belong to the provider's adapter.
COMMON_OPTIONS = frozenset({"http", "finish_reason_allow_list", "finish_reason_deny_list", "supports_streaming",
                            "rate_limit"}) | BAML_CONSUMED_OPTIONS

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
        self._http = dict(http)
        self.timeouts = Timeouts.from_options(http)
        self.verify: bool | str | None = http.get("ca_bundle") or http.get("verify")
        self.supports_streaming = bool(options.get("supports_streaming", True))
        allow = options.get("finish_reason_allow_list")
        deny = options.get("finish_reason_deny_list")
        if allow is not None and deny is not None:
            raise ConfigError(f"client {name!r}: give finish_reason_allow_list or finish_reason_deny_list, not both")
        self.finish_allow = None if allow is None else frozenset(str(r).lower() for r in allow)
        self.finish_deny = frozenset(str(r).lower() for r in deny or ())
        from ..media import MediaPolicy

        #: What a media URL becomes (BAML's ``media_url_handler``); None when nothing is ever downloaded.
        self.media = MediaPolicy.for_client(adapter.provider, options, where=f"client {name!r}")
        limits = options.get("rate_limit") or {}
        #: The ``response_format`` option, decoded into ``Completion.parsed`` when a call gives none.
        self.output_default = options.get("response_format")
        self.rate_limiter = RateLimiter(limits.get("requests_per_minute"), limits.get("tokens_per_minute"),
                                        clock=self.runtime.clock) if limits else None

    # -- complete -------------------------------------------------------------------
    def invoke(self, request: ChatRequest, context: CallContext) -> Completion:
        completion, estimate = self._with_retries(request, context, self._complete_once)
        if self.rate_limiter is not None:
            self.rate_limiter.record(completion.usage.total_tokens, estimate=estimate)
        return completion.with_attempts(context.attempts)

    def _complete_once(self, request: ChatRequest, context: CallContext, number: int) -> Completion:
        request, output = prepare_output(request, self.output_default)  # Completion.parsed: llmclient.structured
        sent = self._send(request, context, number, stream=False)
        completed = self._completed(self.adapter.parse_response(sent.answer, sent.secrets), sent.answer.headers)
        return decoded_output(completed, output)

    def _completed(self, completion: Completion, headers: Mapping[str, str]) -> Completion:
        completion = replace(completion, provider=self.provider, client_name=self.name,
                             request_id=headers.get(self.adapter.request_id_header))
        self._check_finish_reason(completion)
        return completion

    # -- count ----------------------------------------------------------------------
    def count_request(self, request: ChatRequest, context: CallContext) -> TokenCount:
        """The provider's count of ``request``'s input tokens (see :mod:`llmclient.providers.token_count`)."""
        from .token_count import count_on_leaf

        return count_on_leaf(self, request, context)

    # -- stream ---------------------------------------------------------------------
    def open_stream(self, request: ChatRequest, context: CallContext) -> Stream:
        if not self.supports_streaming:
            completion = self.invoke(request, context)
            return Stream(iter(chunks_of(completion)), finish=lambda acc: completion, close=lambda: None)
        request, output = prepare_output(request, self.output_default)
        opened, estimate = self._with_retries(request, context, self._open_stream_once)

        def finish(acc: StreamAccumulator) -> Completion:
            completion = acc.completion(model=opened.decoder.model, provider=self.provider, client_name=self.name,
                                        request_id=opened.response.headers.get(self.adapter.request_id_header),
                                        response_id=opened.response_id(), trace=getattr(opened.decoder, "trace", None),
                                        attempts=tuple(context.attempts))
            self._check_finish_reason(completion)
            if self.rate_limiter is not None:
                self.rate_limiter.record(completion.usage.total_tokens, estimate=estimate)
            return decoded_output(completion, output)

        return Stream(opened.chunks(self), finish=finish, close=opened.close)

    def _open_stream_once(self, request: ChatRequest, context: CallContext, number: int) -> OpenedStream:
        sent = self._send(request, context, number, stream=True)
        try:
            opened = OpenedStream(sent.response, self.adapter.stream_decoder(sent.secrets), sent.unregister)
            opened.read_until_content()
        except BaseException:
            sent.close()
            raise
        sent.report_head()
        return opened

    # -- one attempt on the wire ------------------------------------------------------
    def _send(self, request: ChatRequest, context: CallContext, number: int, *, stream: bool,
              build: Callable[[ChatRequest], HttpRequest] | None = None) -> Sent:
        """Put attempt ``number`` on the wire: the one path of every attempt, complete or streamed.

        Signs ``request``, bounds it by the call's limits, tells the call's hooks and lets the
        call's cancel token abort it. A complete call's answer is read whole here (and the cancel
        token lets go of it); a stream's 2xx body is left to its decoder, and the token holds on
        until the stream is closed (``Sent.close``, ``OpenedStream.close``). An answer whose status
        is not 2xx is read and reported, then raises the adapter's typed error. ``build`` makes
        another request than the adapter's chat request (a token count) for the same path.
        """
        signed = self._signed(request, stream=stream, build=build)
        timeouts, verify = self._limits(context)
        report = Report(self, context, signed, number) if context.hooks else None
        unregister, scope = cancel_scope(context)
        started = monotonic()
        try:
            with scope:
                response = self.runtime.transport.open(signed, timeouts, verify=verify, started=started)
                ok = 200 <= response.status_code < 300
                body = response.read() if not (ok and stream) else b""
        except BaseException:
            unregister()
            raise
        note_rate_limit(response.headers)
        answer = HttpResponse(response.status_code, response.headers, body, response.url, monotonic() - started)
        if ok and stream:
            return Sent(signed.secrets, response, answer, report, unregister)
        unregister()
        if report is not None:
            report.response(answer.status_code, answer.headers, body)
        if not ok:
            raise self.adapter.parse_error(answer, signed.secrets)
        return Sent(signed.secrets, response, answer, report, noop)

    # -- building and parsing without sending -----------------------------------------
    def build_request(self, messages: MessagesInput, *, stream: bool = False, **params: Any) -> HttpRequest:
        """The exact request :meth:`complete` (or :meth:`stream`) would send now, signed.

        For provider batch APIs and debugging; its repr hides credentials. It sends nothing,
        so media URLs that a call would download first (``media_url_handler``) stay URLs.
        """
        return self._signed(prepare_output(ChatRequest(to_messages(messages), params))[0], stream=stream)

    def parse_response(self, status_code: int, headers: Mapping[str, str], body: bytes | str) -> Completion:
        """Turn a stored response into a :class:`Completion` (or raise its typed error)."""
        response = HttpResponse(status_code, {k.lower(): v for k, v in headers.items()},
                                body.encode() if isinstance(body, str) else body)
        if not 200 <= status_code < 300:
            raise self.adapter.parse_error(response, ()).with_context(client_name=self.name, provider=self.provider)
        return self._completed(self.adapter.parse_response(response, ()), response.headers)

    # -- shared ---------------------------------------------------------------------
    def _signed(self, request: ChatRequest, *, stream: bool,
                build: Callable[[ChatRequest], HttpRequest] | None = None) -> HttpRequest:
        built = build(request) if build is not None else self.adapter.build_request(request, stream=stream)
        return self.auth.apply(built) if self.auth is not None else built

    def _limits(self, context: CallContext) -> tuple[Timeouts, bool | str | None]:
        timeouts, verify = self.timeouts, self.verify
        if context.http:
            http = {**self._http, **context.http}
            timeouts = Timeouts.from_options(http)
            verify = http.get("ca_bundle") or http.get("verify")
        return timeouts.capped(context.remaining()), verify

    def _inline_media(self, request: ChatRequest) -> ChatRequest:
        """Download the media URLs the client's media policy wants sent as bytes (see media.py)."""
        for message in request.messages:
            if not isinstance(message.content, str):
                break
        else:
            return request  # text only: nothing to look at (the common case)
        from ..media import download

        media = self.media
        assert media is not None
        transport = self.runtime.transport
        return media.resolve(request, lambda url: download(transport, url, max_bytes=media.max_bytes,
                                                            timeout_s=media.timeout_s))

    def _with_retries(self, request: ChatRequest, context: CallContext,
                      attempt: Callable[[ChatRequest, CallContext, int], _Result]) -> tuple[_Result, int]:
        """Run ``attempt`` until it succeeds or the call's RetryState gives up (it counts every try).

        Returns what the attempt returned and the rate limiter's token estimate for the call,
        which the caller settles once the answer's usage is known (0 without a limiter).
        """
        runtime = self.runtime
        if self.media is not None:  # media URLs this provider cannot fetch: downloaded once, before any attempt
            request = self._inline_media(request)
        state = RetryState(self.retry_policy, random=runtime.random)
        estimate = estimate_tokens(request.messages, request.params) if self.rate_limiter is not None else 0
        while True:
            if context.cancel is not None:
                context.cancel.raise_if_cancelled()
            if self.rate_limiter is not None:
                self.rate_limiter.acquire(estimate, wait=lambda s: runtime.wait(s, context.cancel))
            started = runtime.clock()
            take_rate_limit()  # nothing left over from an answer this thread saw before
            try:
                result = attempt(request, context, state.attempt)
            except LLMError as caught:
                err = context.cancelled_error(caught) or caught
                err.with_context(client_name=self.name, provider=self.provider)
                elapsed = runtime.clock() - started
                context.attempts.append(Attempt(self.name, self.provider, elapsed, err, err.status_code,
                                                take_rate_limit()))
                if context.hooks:
                    from ..events import AttemptFailed  # event types load with the first hook

                    emit(context.hooks, AttemptFailed(self.name, self.provider, monotonic(), context.call_id, err,
                                                      elapsed, state.attempt))
                if err is not caught:
                    raise err from caught
                if self.rate_limiter is not None and isinstance(err, RateLimitError) and err.retry_after:
                    self.rate_limiter.penalize(err.retry_after)
                if state.may_refresh(err) and self.auth is not None and self.auth.refresh():
                    state = state.after_refresh(err)
                    log.debug("client %s: 401, credentials refreshed; trying again (no retry used)", self.name)
                    continue
                following = state.increment(err)
                remaining = context.remaining()
                if following is None or (remaining is not None and following.delay_s >= remaining):
                    raise
                state, delay = following, following.delay_s
                log.debug("client %s: %s (%s); retry %d of %d in %.3f s", self.name, type(err).__name__,
                          err.status_code or err.message, state.retries, self.retry_policy.max_retries, delay)
                if context.hooks:
                    from ..events import RetryScheduled, describe

                    emit(context.hooks, RetryScheduled(self.name, self.provider, monotonic(), context.call_id, delay,
                                                       state.retries, describe(err), err))
                runtime.wait(delay, context.cancel)
                continue
            context.attempts.append(Attempt(self.name, self.provider, runtime.clock() - started, None, 200,
                                            take_rate_limit()))
            return result, estimate

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
