"""Document and audio parts for the provider adapters: their names in errors, and shared reads.

Every adapter renders :class:`~llmclient.messages.DocumentPart` and
:class:`~llmclient.messages.AudioPart` in its own wire form; a part a provider cannot take
(audio to Anthropic, a file id to Bedrock, a document URL to a server that cannot fetch it)
is refused here, while the body is built, so the refusal is an
:class:`~llmclient.errors.InvalidRequestError` naming the part and the provider and nothing
is sent.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidRequestError
from ..file_parts import AudioPart, DocumentPart, audio_format
from ..messages import split_data_url

__all__ = ["describe", "refuse", "audio_inline", "document_inline", "document_name"]


def describe(part: Any) -> str:
    """What ``part`` is, for an error message (never its data)."""
    if isinstance(part, DocumentPart):
        how = "file id" if part.file_id is not None else "URL" if part.url is not None else "base64 data"
        return f"a document part ({part.mime_type}, {how})"
    if isinstance(part, AudioPart):
        return "an audio part (URL)" if part.url is not None else f"an audio part ({part.format or 'no format'})"
    return f"a {type(part).__name__}"


def refuse(part: Any, provider: str, hint: str = "") -> InvalidRequestError:
    """The error for a part ``provider`` cannot take (raised before anything is sent)."""
    return InvalidRequestError(f"{provider} cannot take {describe(part)}" + (f": {hint}" if hint else ""),
                               retryable=False)


def audio_inline(part: AudioPart) -> tuple[str, str] | None:
    """``(format, bare base64)`` of an audio part sent inline; None for one at a web address.

    A ``data:`` URL counts as inline; the format comes from the part, else the URL's media
    type, else ``wav``.
    """
    if part.data is not None:
        return (part.format or "wav").lower(), part.data
    inline = split_data_url(part.url or "")
    if inline is None:
        return None
    return (part.format or audio_format(inline[0]) or "wav").lower(), inline[1]


def document_inline(part: DocumentPart) -> tuple[str, str] | None:
    """``(media type, base64)`` of a document sent inline (its data, or a ``data:`` URL)."""
    if part.data is not None:
        return part.mime_type, part.data
    inline = split_data_url(part.url or "")
    return None if inline is None else (part.media_type or inline[0] or "application/pdf", inline[1])


def document_name(part: DocumentPart) -> str:
    """A name Bedrock accepts (letters, digits, single spaces, hyphens, parentheses, brackets)."""
    stem = (part.filename or "").rsplit(".", 1)[0] if "." in (part.filename or "") else (part.filename or "")
    cleaned = re.sub(r"\s+", " ", re.sub(r"[^A-Za-z0-9\s\-()\[\]]", "-", stem)).strip()
    return cleaned[:200] or "document"


#: Bedrock Converse ``document.format`` per media type (pdf|csv|doc|docx|xls|xlsx|html|txt|md).
BEDROCK_DOCUMENT_FORMATS = {
    "application/pdf": "pdf", "text/csv": "csv", "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html", "text/plain": "txt", "text/markdown": "md",
}
#: Bedrock Converse ``audio.format`` words.
BEDROCK_AUDIO_FORMATS = frozenset({"mp3", "opus", "wav", "aac", "flac", "mp4", "ogg", "mkv", "mka", "x-aac", "m4a",
                                   "mpeg", "mpga", "pcm", "webm"})


def bedrock_block(part: DocumentPart | AudioPart) -> dict[str, Any]:
    """A Converse ``document`` (``format``, ``name``, ``source.bytes`` or ``s3Location``) or ``audio`` block.

    Bedrock fetches nothing from the web: a URL is downloaded and inlined before this (the
    ``aws-bedrock`` media defaults), so one still here, or a provider file id, is refused.
    """
    provider = "Bedrock (Converse)"
    if isinstance(part, AudioPart):
        sound = audio_inline(part)
        if sound is None:
            raise refuse(part, provider, "it takes audio as bytes (media_url_handler.audio: send_base64)")
        if sound[0] not in BEDROCK_AUDIO_FORMATS:
            raise refuse(part, provider, f"audio formats are {', '.join(sorted(BEDROCK_AUDIO_FORMATS))}")
        return {"audio": {"format": sound[0], "source": {"bytes": sound[1]}}}
    fmt = BEDROCK_DOCUMENT_FORMATS.get(part.mime_type.lower())
    if fmt is None:
        raise refuse(part, provider, f"document types are {', '.join(sorted(BEDROCK_DOCUMENT_FORMATS))}")
    if part.file_id is not None:
        raise refuse(part, provider, "it has no Files API: send the bytes (DocumentPart.from_bytes) instead")
    inline = document_inline(part)
    if inline is not None:
        source: dict[str, Any] = {"bytes": inline[1]}
    elif (part.url or "").startswith("s3://"):
        source = {"s3Location": {"uri": part.url}}
    else:
        raise refuse(part, provider, "it takes documents as bytes or s3:// (media_url_handler.pdf: send_base64)")
    return {"document": {"format": fmt, "name": document_name(part), "source": source}}
