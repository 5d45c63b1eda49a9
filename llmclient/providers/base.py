"""The provider contract: the adapter template and the stream-decoder contract.

A provider is a pure :class:`ProviderAdapter` (a ``ChatRequest`` to an ``HttpRequest``; an
``HttpResponse`` or a byte stream to a ``Completion`` or a typed error), run by
:class:`~llmclient.providers.leaf.LeafClient` (sign, send, classify, retry).

:class:`ProviderAdapter` is a template: it reads once what every adapter reads (``headers``,
``query_params``, the role options, the body defaults), builds the headers with the one list
of credential header names (:data:`~llmclient.redaction.SENSITIVE_HEADERS`), collecting the
request's secrets as it goes, and reads every answer's JSON the same way (an empty body, a
proxy's HTML page, an error object inside a 2xx). A provider module supplies only what its
wire format says, as hooks: :meth:`~ProviderAdapter.url`, :meth:`~ProviderAdapter.body`,
:meth:`~ProviderAdapter.completion_from`, :meth:`~ProviderAdapter.error_from` (and
:meth:`~ProviderAdapter.error_object` where its error JSON is not ``{"error": {...}}``), and
:meth:`~ProviderAdapter.stream_decoder`. Its stream decoder usually extends
:class:`JsonEventDecoder`. Nothing here does I/O: credentials and lookups (a Vertex project,
an AWS region) happen in ``auth/`` or when the client is built. ``LeafClient`` and
``COMMON_OPTIONS`` are re-exported here: plug-ins import them from this module.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from ..errors import LLMError, ProviderError
from ..messages import split_data_url
from ..models import ChatRequest, Chunk, Completion, HttpRequest, HttpResponse, ImagePart
from ..redaction import SENSITIVE_HEADERS, redact_text
from ..secrets import resolve, to_ref
from .leaf import COMMON_OPTIONS, LeafClient
from .roles import RolePolicy
from .status import describe_unexpected_body, http_error, unexpected_success_body

__all__ = ["ProviderAdapter", "StreamDecoder", "JsonEventDecoder", "DeferredErrors", "LeafClient", "RolePolicy",
           "COMMON_OPTIONS", "ADAPTER_OPTIONS", "given_options", "inline_image", "json_body"]

_Item = TypeVar("_Item")

#: Options every template adapter reads itself (with the leaf's :data:`COMMON_OPTIONS`): never body fields.
ADAPTER_OPTIONS = frozenset({"base_url", "api_key", "headers", "query_params", "allowed_roles", "default_role",
                             "remap_roles", "allowed_role_metadata"}) | COMMON_OPTIONS


class StreamDecoder(Protocol):
    """Turns a provider's streamed body into chunks. Pure: bytes in, chunks out.

    The same verbs as the wire decoders (:class:`~llmclient.wire.sse.SSEDecoder`,
    :class:`~llmclient.wire.eventstream.EventStreamDecoder`): ``feed`` per network chunk,
    ``finish`` at the end of the body. A body that holds no event at all (a gateway answering
    a streamed request with one JSON) is read by ``finish`` as the provider's non-stream
    answer or error, never reported as a connection closed early.

    Attributes:
        model: The model the answer names, once decoded (None until then).
        done: True as soon as the protocol's end marker has been decoded (OpenAI's
            ``data: [DONE]``, Anthropic's ``message_stop``, Bedrock's ``metadata`` frame
            after ``messageStop``, Gemini's chunk whose candidates carry a finish reason).
            Nothing the answer needs follows it, so the caller may stop reading and
            release the connection without waiting for the server to close it (then
            ``finish`` still returns what is left). False until then.
    """

    model: str | None
    done: bool

    def feed(self, data: bytes) -> list[Chunk]:
        """Chunks completed by ``data``; raises the typed error of an in-stream error event."""

    def finish(self) -> list[Chunk]:
        """Chunks left at the end of the body; raises if the body ended too early."""

    def response_id_of(self, headers: Mapping[str, str]) -> str | None:
        """The provider's id of this answer (``chatcmpl-...``, ``msg_...``, Gemini's ``responseId``),
        from the decoded events, or from the response ``headers`` where the provider sends it
        only there (Bedrock's ``x-amzn-requestid``); None when there is none."""


def given_options(options: Mapping[str, Any], adapter_options: frozenset[str]) -> dict[str, Any]:
    """A typed constructor's options as the adapter reads them: the one rule every provider applies.

    ``None`` means "not given" for an option that configures the adapter (and for
    ``model``), but "remove this default" for a request body field, as ``null`` does in a
    config. (A provider without body fields, such as Bedrock, then names the option as unknown.)
    """
    return {k: v for k, v in options.items() if v is not None or k not in adapter_options and k != "model"}


def json_body(body: Mapping[str, Any]) -> bytes:
    """A request body as compact UTF-8 JSON (what every provider is sent)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def inline_image(part: ImagePart) -> tuple[str, str] | None:
    """``(media type, base64 data)`` of an image sent inline: its bytes, or a ``data:`` URL's.

    None for an image at a web address. The media type defaults to ``image/png``.
    """
    if part.data is not None:
        return part.media_type or "image/png", part.data
    inline = split_data_url(part.url or "")
    return None if inline is None else (inline[0] or "image/png", inline[1])


class DeferredErrors:
    """Stream-decoder mixin: an in-stream error that follows content in the same read is
    raised on the next call, so the content that arrived before it reaches the caller first
    (and the error then surfaces as a StreamError carrying it)."""

    _error: LLMError | None = None

    def _decode(self, items: Iterable[_Item], decode_one: Callable[[_Item], Chunk | None]) -> list[Chunk]:
        if self._error is not None:
            raise self._error
        out: list[Chunk] = []
        for item in items:
            try:
                chunk = decode_one(item)
            except LLMError as err:
                if not out:
                    raise
                self._error = err
                break
            if chunk is not None:
                out.append(chunk)
        return out


class JsonEventDecoder(DeferredErrors):
    """Base of a stream decoder whose events each carry one JSON object (every built-in one).

    Holds what such a decoder keeps (``model``, ``response_id``, ``done``) and the rules they
    share: an event that is not JSON is a :class:`ProviderError` quoting a redacted excerpt
    ("malformed JSON in a stream event"), and an in-stream error that follows content is
    deferred (:class:`DeferredErrors`). Subclasses write ``feed`` and ``finish``.

    Args:
        provider: The provider named in errors.
        secrets: Credentials the request carried, scrubbed from every excerpt.
    """

    def __init__(self, provider: str, secrets: tuple[str, ...]) -> None:
        self.provider = provider
        self._secrets = secrets
        self.model: str | None = None
        self.response_id: str | None = None
        self.done = False
        self._error: LLMError | None = None

    def response_id_of(self, headers: Mapping[str, str]) -> str | None:
        """The id found in the events (see :class:`StreamDecoder`)."""
        return self.response_id

    def event_json(self, data: str | bytes, what: str = "a stream event") -> Any:
        """``data`` parsed as JSON; raises "malformed JSON in ``what``" (redacted excerpt) otherwise."""
        try:
            return json.loads(data)
        except ValueError:
            text = data[:120] if isinstance(data, str) else data[:120].decode("utf-8", "replace")
            raise ProviderError(f"malformed JSON in {what}: {redact_text(text, self._secrets)!r}",
                                provider=self.provider) from None

    def event_object(self, data: str | bytes, what: str = "a stream event") -> dict[str, Any]:
        """``data`` parsed as a JSON object; raises for malformed JSON or another JSON value."""
        try:  # event_json's work, inlined: this runs once per stream event
            obj = json.loads(data)
        except ValueError:
            obj = self.event_json(data, what)  # raises the malformed-JSON error
        if type(obj) is not dict:
            raise ProviderError(f"{what} is not a JSON object", provider=self.provider)
        return obj


class ProviderAdapter(ABC):
    """Pure translation between llmclient's values and one provider's HTTP wire format: a template.

    The constructor reads the options every adapter reads; :meth:`build_request`,
    :meth:`parse_response` and :meth:`parse_error` are written here over the hooks a
    provider supplies. A plug-in adapter may still override those three whole (then it need
    not call this constructor); :meth:`stream_decoder` is always its own.

    Args:
        options: The client's options (env references allowed in string values): ``headers``
            and ``query_params`` (resolved per request), the role options (:class:`RolePolicy`),
            and every option not in :attr:`adapter_options`, kept as a body default.
    """

    provider: str = ""
    #: The response header carrying the provider's request id.
    request_id_header: str = "x-request-id"
    #: Option names that configure the adapter rather than the body.
    adapter_options: frozenset[str] = ADAPTER_OPTIONS
    #: The roles a model takes when the options do not say (``allowed_roles``).
    default_allowed_roles: tuple[str, ...] = ("system", "user", "assistant", "tool")
    #: What a 2xx answer should be, for "expected ..." errors.
    answer_kind: str = "a JSON answer"
    #: What an error answer should be, for "expected ..." errors.
    error_kind: str = "an error JSON"
    #: Ask for a fresh connection per request (``http { enable_connection_pooling false }``).
    fresh_connections: bool = False

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.headers = {k: to_ref(v) for k, v in (options.get("headers") or {}).items()}
        self.query_params = {k: to_ref(v) for k, v in (options.get("query_params") or {}).items()}
        self.roles = RolePolicy(options, self.default_allowed_roles)
        #: ``http { enable_connection_pooling false }``: every request asks for a fresh connection.
        self.fresh_connections = (options.get("http") or {}).get("enable_connection_pooling") is False
        self.body_defaults = {k: to_ref(v) for k, v in options.items() if k not in self.adapter_options}

    # -- the request ------------------------------------------------------------------
    def build_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        """The unsigned HTTP request for ``request`` (env references resolved now).

        A POST of :meth:`body` (None fields dropped) to :meth:`url`, with :meth:`request_headers`.
        """
        headers, secrets = self.request_headers(stream=stream)
        body = {k: v for k, v in self.body(request, stream=stream).items() if v is not None}
        return HttpRequest("POST", self.url(stream=stream), headers, json_body(body), stream, secrets)

    def url(self, *, stream: bool) -> str:
        """Hook: the full URL of one call (with :meth:`query_string`)."""
        raise NotImplementedError(f"{type(self).__name__} must define url() or build_request()")

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """Hook: the JSON body for ``request`` (fields that are None are dropped)."""
        raise NotImplementedError(f"{type(self).__name__} must define body() or build_request()")

    def default_headers(self, *, stream: bool) -> dict[str, str]:
        """Hook: the headers sent unless the ``headers`` option names them (JSON in, JSON or SSE out)."""
        return {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}

    def request_headers(self, *, stream: bool) -> tuple[dict[str, str], tuple[str, ...]]:
        """``(headers, secrets)``: :meth:`default_headers`, then the ``headers`` option (resolved now).

        With ``http { enable_connection_pooling false }``, ``Connection: close`` is added, so that
        no connection is reused. A header of the option replaces ours whatever its case. Every value under a name of
        :data:`~llmclient.redaction.SENSITIVE_HEADERS` is a secret (and so is the bare token
        of a ``Bearer <token>``), so that an echo of it is redacted.
        """
        if not self.headers and not self.fresh_connections:  # the common case, once per request
            return self.default_headers(stream=stream), ()
        given = {k.lower() for k in self.headers}
        headers = {k: v for k, v in self.default_headers(stream=stream).items() if k.lower() not in given}
        if self.fresh_connections and "connection" not in given:
            headers["Connection"] = "close"  # the server closes it after answering: never reused
        secrets: list[str] = []
        for key, value in self.headers.items():
            headers[key] = resolved = str(resolve(value, what=f"header {key}"))
            if key.lower() in SENSITIVE_HEADERS and resolved:
                secrets.append(resolved)
                token = resolved.partition(" ")[2].strip()
                if token:
                    secrets.append(token)
        return headers, tuple(secrets)

    def query_string(self, extra: Mapping[str, str] | None = None) -> str:
        """``?a=b`` from ``extra`` and the ``query_params`` option (resolved now; it wins); '' when empty."""
        given = {k: str(resolve(v, what=f"query_params.{k}")) for k, v in self.query_params.items()}
        params = {**(extra or {}), **given}
        return "?" + urlencode(params) if params else ""

    def resolved_defaults(self) -> dict[str, Any]:
        """The body defaults (options that are body fields), env references resolved now."""
        return {k: resolve(v, what=f"option {k}") for k, v in self.body_defaults.items()}

    # -- the answer -------------------------------------------------------------------
    def parse_response(self, response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        """The completion in a 2xx answer; raises a typed error when it holds none.

        A body that is not JSON (empty, a proxy's HTML page) or not an object is a
        ProviderError describing it; an error object (:meth:`error_object`) is its typed
        error; anything else goes to :meth:`completion_from`.
        """
        return self.completion_from(self.answer_object(response, secrets), response, secrets)

    def answer_object(self, response: HttpResponse, secrets: tuple[str, ...], *, what: str | None = None
                      ) -> dict[str, Any]:
        """The JSON object of a 2xx answer (any endpoint's: a completion, a token count), or its typed error.

        ``what`` names the JSON expected, for the message when the body is not JSON at all.
        """
        try:
            data = self.unwrap(response.json())
        except ValueError:
            raise unexpected_success_body(response, provider=self.provider, what=what or self.answer_kind,
                                          secrets=secrets) from None
        if not isinstance(data, dict):
            raise unexpected_success_body(response, provider=self.provider, what="a JSON object", secrets=secrets)
        error = self.error_object(data, response)
        if error is not None:
            raise self.error_from(error, response=response, secrets=secrets)
        return data

    def parse_error(self, response: HttpResponse, secrets: tuple[str, ...]) -> LLMError:
        """The typed error for a non-2xx answer: its error object's, else one describing the body."""
        try:
            data = self.unwrap(response.json())
        except ValueError:
            data = None
        error = self.error_object(data if isinstance(data, dict) else {}, response)
        if error is not None:
            return self.error_from(error, response=response, secrets=secrets)
        return http_error(response, describe_unexpected_body(response, self.error_kind), provider=self.provider,
                          secrets=secrets, request_id_header=self.request_id_header)

    def unwrap(self, data: Any) -> Any:
        """Hook: the answer inside a body's JSON (Gemini's may be a one-item array)."""
        return data

    def error_object(self, data: Mapping[str, Any], response: HttpResponse | None) -> Mapping[str, Any] | None:
        """Hook: the provider's error object in an answer's JSON, or None (default: ``{"error": {...}}``)."""
        error = data.get("error")
        return error if isinstance(error, Mapping) else None

    def error_from(self, error: Mapping[str, Any], *, response: HttpResponse | None,
                   secrets: tuple[str, ...]) -> LLMError:
        """Hook: the typed error for the provider's error object.

        ``response`` is the answer that carried it (the class follows its status), or None
        for an error event inside a 200 stream. The default reads only ``message``.
        """
        message = str(error.get("message") or "unknown error")
        if response is not None:
            return http_error(response, message, provider=self.provider, secrets=secrets,
                              request_id_header=self.request_id_header)
        return ProviderError(redact_text(message, secrets), provider=self.provider)

    def completion_from(self, data: dict[str, Any], response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        """Hook: the completion in a 2xx answer's JSON object (raise :meth:`lacks` when there is none)."""
        raise NotImplementedError(f"{type(self).__name__} must define completion_from() or parse_response()")

    def lacks(self, response: HttpResponse, what: str, secrets: tuple[str, ...]) -> ProviderError:
        """The error for a 2xx JSON answer without the answer (``what``: "no choices"...)."""
        return ProviderError(f"the answer has {what}", provider=self.provider, status_code=response.status_code,
                             body=redact_text(response.body[:2000].decode("utf-8", "replace"), secrets))

    @abstractmethod
    def stream_decoder(self, secrets: tuple[str, ...]) -> StreamDecoder:
        """A fresh decoder for one streamed answer."""
