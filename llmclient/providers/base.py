"""The contract every provider implements, and the pieces adapters share.

A provider is two things: a pure :class:`ProviderAdapter` (messages to an
``HttpRequest``, an ``HttpResponse`` or a byte stream to a ``Completion`` or a typed error)
and :class:`~llmclient.providers.leaf.LeafClient`, which runs it (sign, send, classify,
retry; see :mod:`llmclient.providers.leaf`). ``LeafClient`` and ``COMMON_OPTIONS`` are
re-exported here: plug-ins import them from this module.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence, TypeVar

from ..errors import LLMError
from ..models import ChatRequest, Chunk, Completion, HttpRequest, HttpResponse
from .leaf import COMMON_OPTIONS, LeafClient

__all__ = ["ProviderAdapter", "StreamDecoder", "DeferredErrors", "LeafClient", "RolePolicy", "COMMON_OPTIONS",
           "given_options"]

_Item = TypeVar("_Item")

log = logging.getLogger(__name__)


class StreamDecoder(Protocol):
    """Turns a provider's streamed body into chunks. Pure: bytes in, chunks out.

    A body that holds no event at all (a gateway answering a streamed request with one JSON)
    is read by ``finish`` as the provider's non-stream answer or error, never reported as a
    connection closed early.

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
    """A typed constructor's options as the adapter reads them.

    ``None`` means "not given" for an option that configures the adapter (and for
    ``model``), but "remove this default" for a request body field, as ``null`` does in a
    config.
    """
    return {k: v for k, v in options.items() if v is not None or k not in adapter_options and k != "model"}


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


def _estimate_tokens(request: ChatRequest) -> int:
    """A rough token estimate for rate limiting: prompt characters / 4 plus the answer's budget."""
    prompt = sum(len(m.text) for m in request.messages) // 4
    answer = request.params.get("max_tokens") or request.params.get("max_completion_tokens") or 256
    return int(prompt + answer)


