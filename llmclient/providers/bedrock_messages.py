"""Converse content blocks: message parts, tool results and the tool choice, as Bedrock takes them.

Kept apart from ``bedrock.py`` (the adapter: URL, body, answers) because it is the one place
that knows each part's Converse block: text, images as bytes, reasoning state replayed with
its signature, documents and audio (``parts.bedrock_block``), tool results as JSON or text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequestError
from ..models import AudioPart, DocumentPart, ImagePart, Message, RedactedThinkingPart, TextPart, ThinkingPart
from .base import inline_image
from .parts import bedrock_block

__all__ = ["render_part", "tool_choice", "tool_result"]

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}


def tool_choice(value: Any) -> dict[str, Any] | None:
    """``toolChoice`` for a ``tool_choice`` word, name or OpenAI-style dict (None: no tools allowed)."""
    if value is None or value == "auto":
        return {"auto": {}}
    if value == "none":
        return None
    if value in ("any", "required"):
        return {"any": {}}
    if isinstance(value, Mapping) and value.get("type") == "function":
        value = (value.get("function") or {}).get("name")
    if isinstance(value, str):
        return {"tool": {"name": value}}
    return dict(value)


def tool_result(message: Message) -> dict[str, Any]:
    """A ``toolResult`` block: the tool's answer as JSON when it is an object, else as text."""
    text = message.text
    content: list[dict[str, Any]]
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    content = [{"json": value}] if isinstance(value, dict) else [{"text": text}]
    status = "error" if (message.metadata or {}).get("is_error") else "success"
    return {"toolResult": {"toolUseId": message.tool_call_id or "", "content": content, "status": status}}


def render_part(part: Any) -> dict[str, Any] | None:
    """The Converse block of one part (None: nothing to send, e.g. unsigned reasoning)."""
    if isinstance(part, TextPart):
        return {"text": part.text}
    if isinstance(part, ThinkingPart):  # own reasoning (replay_parts dropped the rest); unsigned: not sent
        if not part.signature:
            return None
        return {"reasoningContent": {"reasoningText": {"text": part.text, "signature": part.signature}}}
    if isinstance(part, RedactedThinkingPart):
        return {"reasoningContent": {"redactedContent": part.data}}
    if isinstance(part, ImagePart):
        inline = inline_image(part)
        if inline is None:
            raise InvalidRequestError("aws-bedrock takes an ImagePart as bytes, not by URL: use "
                                      "ImagePart.from_bytes(...), a data: URL, or media_url_handler image "
                                      "send_base64 (the default) to have it downloaded", provider="aws-bedrock",
                                      retryable=False)
        media_type, data = inline
        fmt = _IMAGE_FORMATS.get(media_type.lower())
        if fmt is None:
            raise InvalidRequestError(f"aws-bedrock does not take an ImagePart of type {media_type!r} (png, jpeg, "
                                      "gif, webp)", provider="aws-bedrock", retryable=False)
        return {"image": {"format": fmt, "source": {"bytes": data}}}
    if isinstance(part, (DocumentPart, AudioPart)):
        return bedrock_block(part)
    raise InvalidRequestError(f"aws-bedrock cannot take a {type(part).__name__}", provider="aws-bedrock",
                              retryable=False)
