"""Media URLs a provider cannot fetch itself: BAML's ``media_url_handler``, and the download it implies.

Some providers fetch an image URL themselves (OpenAI, Anthropic); others take only the
bytes (Bedrock), or want a MIME type with every URL (Vertex). BAML's ``media_url_handler``
option says, per media kind, what to send; the defaults below are BAML's own table. When a
mode asks for the bytes, llmclient downloads the URL once per call, before the first
attempt, and inlines it as base64.

A download is not a provider request, so it is kept apart from the client's: it carries
none of the client's headers or credentials, refuses every scheme but ``http``/``https``,
stops at a size cap and a time limit, never follows a redirect, and is never retried: a
failed download is an :class:`InvalidRequestError` naming the URL (redacted), raised before
anything is sent to the provider.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, InvalidRequestError, LLMError
from .file_parts import AudioPart, DocumentPart, audio_format
from .messages import ChatRequest, ImagePart, Message
from .redaction import redact_url

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ["MODES", "PROVIDER_DEFAULTS", "MediaPolicy", "download"]

#: BAML's modes: always inline; pass the URL; pass it with its MIME type; inline unless gs://.
MODES = ("send_base64", "send_url", "send_url_add_mime_type", "send_base64_unless_google_url")
KINDS = ("image", "audio", "pdf", "video")

#: BAML's defaults per provider and media kind (its media_url_handler docs), except that
#: OpenAI and Azure download a PDF URL: Chat Completions' ``file`` part has ``file_data`` and
#: ``file_id`` but no ``file_url`` (wire-formats-2026 section 5), so a URL cannot be passed on.
PROVIDER_DEFAULTS: Mapping[str, Mapping[str, str]] = {
    "openai": {"image": "send_url", "audio": "send_base64", "pdf": "send_base64", "video": "send_url"},
    "azure-openai": {"image": "send_url", "audio": "send_base64", "pdf": "send_base64", "video": "send_url"},
    "anthropic": {"image": "send_url", "audio": "send_url", "pdf": "send_base64", "video": "send_url"},
    "google-ai": {"image": "send_base64_unless_google_url", "audio": "send_url", "pdf": "send_url",
                  "video": "send_url"},
    "vertex-ai": {"image": "send_url_add_mime_type", "audio": "send_url_add_mime_type", "pdf": "send_url",
                  "video": "send_url"},
    "aws-bedrock": {"image": "send_base64", "audio": "send_base64", "pdf": "send_base64", "video": "send_url"},
}

#: A download's limits unless the option says otherwise.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class MediaPolicy:
    """What one client sends for a media URL, per kind, and the limits of a download.

    Build it with :meth:`for_client`; :meth:`resolve` applies it to a request.
    """

    modes: Mapping[str, str]
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def for_client(cls, provider: str, options: Mapping[str, Any], *, where: str) -> MediaPolicy | None:
        """The policy of a client of ``provider`` with these ``options``; None when it never downloads.

        ``options["media_url_handler"]`` overrides the provider's defaults per kind (``image``,
        ``audio``, ``pdf``, ``video``); its ``max_bytes`` and ``timeout_ms`` bound a download.
        """
        given = options.get("media_url_handler") or options.get("media_url_resolver") or {}
        if not isinstance(given, Mapping):
            raise ConfigError(f"{where}: media_url_handler must be a map of media kind to mode")
        modes = dict(PROVIDER_DEFAULTS.get(provider, {}))
        for kind, mode in given.items():
            if kind in ("max_bytes", "timeout_ms"):
                continue
            if kind not in KINDS or mode not in MODES:
                raise ConfigError(f"{where}: media_url_handler.{kind}: expected one of {', '.join(KINDS)} "
                                  f"mapped to one of {', '.join(MODES)} (got {mode!r})")
            modes[kind] = mode
        if not any(mode != "send_url" for mode in modes.values()):
            return None
        return cls(modes, max_bytes=int(given.get("max_bytes", DEFAULT_MAX_BYTES)),
                   timeout_s=float(given.get("timeout_ms", DEFAULT_TIMEOUT_S * 1000)) / 1000.0)

    def resolve(self, request: ChatRequest, fetch: Callable[[str], tuple[bytes, str | None]]) -> ChatRequest:
        """``request`` with each media URL its mode wants inlined (or typed) done so; others unchanged."""
        if all(isinstance(m.content, str) for m in request.messages):
            return request  # no part at all: nothing to look at (the common case)
        changed = False
        messages: list[Message] = []
        for message in request.messages:
            if isinstance(message.content, str):
                messages.append(message)
                continue
            parts = tuple(self._part(part, fetch) for part in message.content)
            if parts != message.content:
                changed = True
                message = replace(message, content=parts)
            messages.append(message)
        return replace(request, messages=tuple(messages)) if changed else request

    def _part(self, part: Any, fetch: Callable[[str], tuple[bytes, str | None]]) -> Any:
        """One part under its kind's mode: images as ``image``, documents as ``pdf``, audio as ``audio``."""
        if isinstance(part, DocumentPart):
            return self._document(part, fetch)
        if isinstance(part, AudioPart):
            return self._audio(part, fetch)
        if not isinstance(part, ImagePart) or part.url is None or part.url.startswith("data:"):
            return part
        mode = self.modes.get("image", "send_url")
        if mode == "send_url" or (mode == "send_base64_unless_google_url" and part.url.startswith("gs://")):
            return part
        if mode == "send_url_add_mime_type":
            if part.media_type:
                return part
            guessed = mimetypes.guess_type(part.url.split("?", 1)[0])[0]
            if guessed:
                return replace(part, media_type=guessed)
            _, found = fetch(part.url)  # the server says what it is
            return replace(part, media_type=found or "application/octet-stream")
        raw, found = fetch(part.url)
        media_type = part.media_type or found or mimetypes.guess_type(part.url.split("?", 1)[0])[0] or "image/png"
        return ImagePart.from_bytes(raw, media_type, detail=part.detail)

    def _wants_bytes(self, kind: str, url: str | None) -> bool:
        if url is None or url.startswith("data:"):
            return False
        mode = self.modes.get(kind, "send_url")
        return mode == "send_base64" or (mode == "send_base64_unless_google_url" and not url.startswith("gs://"))

    def _document(self, part: DocumentPart, fetch: Callable[[str], tuple[bytes, str | None]]) -> DocumentPart:
        if not self._wants_bytes("pdf", part.url) or part.url is None or part.url.startswith("s3://"):
            return part  # s3:// is Bedrock's own location, never downloaded
        raw, found = fetch(part.url)
        media_type = part.media_type or _useful(found) or _guess(part.url) or "application/pdf"
        name = part.filename or part.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or None
        return DocumentPart.from_bytes(raw, media_type, filename=name)

    def _audio(self, part: AudioPart, fetch: Callable[[str], tuple[bytes, str | None]]) -> AudioPart:
        if part.url is None or part.url.startswith("data:"):
            return part
        if self.modes.get("audio") == "send_url_add_mime_type":
            return part if part.format else replace(part, format=audio_format(_guess(part.url)) or part.format)
        if not self._wants_bytes("audio", part.url):
            return part
        raw, found = fetch(part.url)
        fmt = part.format or audio_format(found) or audio_format(_guess(part.url)) or "wav"
        return AudioPart.from_bytes(raw, fmt)


def _guess(url: str) -> str | None:
    return mimetypes.guess_type(url.split("?", 1)[0])[0]


def _useful(media_type: str | None) -> str | None:
    """A server's content type, unless it says nothing (``application/octet-stream``)."""
    return None if media_type in (None, "application/octet-stream") else media_type


def download(transport: Transport, url: str, *, max_bytes: int, timeout_s: float) -> tuple[bytes, str | None]:
    """GET ``url`` with no credentials, within ``max_bytes`` and ``timeout_s``; (bytes, media type).

    Raises:
        InvalidRequestError: Another scheme than http(s), a non-2xx answer, too large, too
            slow, or unreachable (never retried: the same URL would fail the same way).
    """
    from .models import HttpRequest
    from .transport import Timeouts

    shown = redact_url(url)
    if not url.startswith(("http://", "https://")):
        raise InvalidRequestError(f"media URL {shown!r}: only http and https URLs are downloaded", retryable=False)
    request = HttpRequest("GET", url, {"Accept": "*/*"}, b"", stream=True)
    limits = Timeouts(connect=min(10.0, timeout_s), request=timeout_s)
    try:
        response = transport.open(request, limits)
    except LLMError as err:
        raise InvalidRequestError(f"media URL {shown!r} could not be downloaded: {err.message}",
                                  retryable=False) from err
    try:
        if not 200 <= response.status_code < 300:
            raise InvalidRequestError(f"media URL {shown!r} answered HTTP {response.status_code}", retryable=False)
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise InvalidRequestError(f"media URL {shown!r} is {declared} bytes, over the {max_bytes}-byte cap "
                                      "(media_url_handler.max_bytes)", retryable=False)
        chunks, size = [], 0
        for data in response:
            size += len(data)
            if size > max_bytes:
                raise InvalidRequestError(f"media URL {shown!r} is over the {max_bytes}-byte cap "
                                          "(media_url_handler.max_bytes)", retryable=False)
            chunks.append(data)
    except LLMError as err:
        if isinstance(err, InvalidRequestError):
            raise
        raise InvalidRequestError(f"media URL {shown!r} could not be downloaded: {err.message}",
                                  retryable=False) from err
    finally:
        response.close()
    media_type = (response.headers.get("content-type") or "").split(";", 1)[0].strip() or None
    return b"".join(chunks), media_type

