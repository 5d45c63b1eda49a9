"""Document and audio parts of a message: a PDF (or other file) and an audio clip, with their wire words.

Kept apart from :mod:`llmclient.messages` (which re-exports them) so that each module stays
one size: here the two part types and the audio format table the adapters and the media
download share. Frozen dataclasses; nothing does I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import InvalidRequestError

__all__ = ["DocumentPart", "AudioPart", "AUDIO_MEDIA_TYPES", "audio_format"]


@dataclass(frozen=True, slots=True)
class DocumentPart:
    """A document (a PDF, or another file type) inside a message.

    Exactly one of base64 ``data`` (with its ``media_type``, PDF by default), a ``url``, or a
    provider's ``file_id`` (an uploaded file: OpenAI ``file-...``, Anthropic ``file_...``, a
    Gemini file URI). ``filename`` names it where the provider wants a name (OpenAI's
    ``filename``, Anthropic's ``title``, Bedrock's required ``name``). Providers that cannot
    fetch a URL get it downloaded and inlined (see :mod:`llmclient.media`); a provider that
    takes no such part refuses it with an :class:`InvalidRequestError` before sending.
    """

    data: str | None = field(default=None, repr=False)
    media_type: str | None = None
    url: str | None = None
    file_id: str | None = None
    filename: str | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.data, self.url, self.file_id)) != 1:
            raise InvalidRequestError("a document needs exactly one of data, url or file_id")

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str = "application/pdf", filename: str | None = None) -> DocumentPart:
        """Build a document part from raw bytes (base64-encoded here)."""
        return cls(data=base64.b64encode(raw).decode("ascii"), media_type=media_type, filename=filename)

    @property
    def mime_type(self) -> str:
        """The media type, ``application/pdf`` when none was given."""
        return self.media_type or "application/pdf"

    @property
    def data_url(self) -> str | None:
        """The bytes as a ``data:`` URL (None for a URL or file id)."""
        return None if self.data is None else f"data:{self.mime_type};base64,{self.data}"


#: Audio formats and their media types (the formats OpenAI, Gemini and Bedrock name).
AUDIO_MEDIA_TYPES: Mapping[str, str] = {
    "wav": "audio/wav", "mp3": "audio/mp3", "aac": "audio/aac", "flac": "audio/flac", "ogg": "audio/ogg",
    "opus": "audio/opus", "webm": "audio/webm", "m4a": "audio/mp4", "mp4": "audio/mp4", "pcm": "audio/pcm",
    "aiff": "audio/aiff",
}
_AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mpeg": "mp3",
                  "audio/mp3": "mp3", "audio/aac": "aac", "audio/flac": "flac", "audio/ogg": "ogg",
                  "audio/opus": "opus", "audio/webm": "webm", "audio/mp4": "m4a", "audio/x-m4a": "m4a",
                  "audio/pcm": "pcm", "audio/aiff": "aiff"}


def audio_format(media_type: str | None) -> str | None:
    """The audio ``format`` word (``wav``, ``mp3``...) of a media type; None when unknown."""
    return _AUDIO_FORMATS.get((media_type or "").split(";", 1)[0].strip().lower())


@dataclass(frozen=True, slots=True)
class AudioPart:
    """An audio clip inside a message: base64 ``data`` with its ``format`` (``wav``, ``mp3``...), or a ``url``.

    OpenAI's ``input_audio`` (bare base64 plus format), Gemini's ``inlineData`` and Bedrock's
    ``audio`` block. A URL is downloaded and inlined for providers that want the bytes (see
    :mod:`llmclient.media`); Anthropic and the Responses API take no audio and refuse it.
    """

    data: str | None = field(default=None, repr=False)
    format: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise InvalidRequestError("an audio part needs exactly one of url or data")

    @classmethod
    def from_bytes(cls, raw: bytes, format: str) -> AudioPart:
        """Build an audio part from raw bytes (base64-encoded here)."""
        return cls(data=base64.b64encode(raw).decode("ascii"), format=format)

    @property
    def media_type(self) -> str:
        """``audio/<format>`` (``audio/wav`` when no format was given)."""
        fmt = (self.format or "wav").lower()
        return AUDIO_MEDIA_TYPES.get(fmt, f"audio/{fmt}")

