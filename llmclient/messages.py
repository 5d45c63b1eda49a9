"""Messages in: the parts, turns and tools a caller sends, and how loose input becomes them.

``to_messages`` accepts what callers write (a prompt string, OpenAI-style dicts, ``Message``
objects) and ``to_tools`` the tool specs; both raise a typed error naming the bad item.
Besides content (text, images, documents, audio), parts carry provider reasoning state (thinking with its
signature, redacted thinking, Gemini's signatures), labelled with the provider that made it,
so that an assistant turn can be replayed to that provider and left out for the others.
Everything here is a frozen dataclass; nothing does I/O. Re-exported by ``llmclient.models``,
where most code imports these names from.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from .errors import InvalidRequestError
from .file_parts import AudioPart, DocumentPart

__all__ = [
    "TextPart",
    "ImagePart",
    "DocumentPart",
    "AudioPart",
    "ThinkingPart",
    "RedactedThinkingPart",
    "Part",
    "ToolCall",
    "Message",
    "Tool",
    "ChatRequest",
    "to_messages",
    "to_tools",
    "MessagesInput",
]


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of text inside a message.

    ``signature`` is provider state riding on the text (Gemini's ``thoughtSignature`` on a
    text part), made by ``source`` (see :class:`ThinkingPart`); sent back only to that source.
    """

    text: str
    signature: str | None = field(default=None, repr=False)
    source: str | None = None


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image inside a message: a URL, or base64 ``data`` with its ``media_type``.

    ``detail`` is OpenAI's ``low``/``high``/``auto`` hint; other providers ignore it.
    """

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise InvalidRequestError("an image needs exactly one of url or data")

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str, detail: str | None = None) -> ImagePart:
        """Build an image part from raw bytes (base64-encoded here)."""
        return cls(data=base64.b64encode(raw).decode("ascii"), media_type=media_type, detail=detail)

    @property
    def data_url(self) -> str:
        """The image as a URL: the URL itself, or a ``data:`` URL built from the bytes."""
        if self.url is not None:
            return self.url
        return f"data:{self.media_type or 'image/png'};base64,{self.data}"


@dataclass(frozen=True, slots=True)
class ThinkingPart:
    """Reasoning a model showed (or summarised), with the signature that vouches for it.

    Kept on the assistant message (:attr:`Completion.message <llmclient.models.Completion.message>`)
    so that the next turn can send it back: Anthropic's ``thinking`` block, Bedrock's
    ``reasoningContent.reasoningText``, Gemini's ``thought`` part. ``source`` names the provider
    and wire family that made it (``anthropic``, ``vertex-ai:claude``, ``aws-bedrock``,
    ``google-ai``, ``vertex-ai:gemini``...); a provider other than ``source`` cannot verify the
    signature, so its adapter drops the part (or sends the text as plain text, when the call
    says ``foreign_reasoning="text"``). The signature is never shown in the repr.
    """

    text: str
    signature: str | None = field(default=None, repr=False)
    source: str | None = None


@dataclass(frozen=True, slots=True)
class RedactedThinkingPart:
    """Reasoning the provider encrypted: opaque ``data`` (base64) to send back unchanged.

    Anthropic's ``redacted_thinking.data``, Bedrock's ``reasoningContent.redactedContent``.
    Only ``source`` can read it; every other provider's adapter drops it.
    """

    data: str = field(repr=False)
    source: str | None = None


Part = Union[TextPart, ImagePart, DocumentPart, AudioPart, ThinkingPart, RedactedThinkingPart]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool (function) call the model asked for.

    ``arguments`` is the parsed object; ``raw_arguments`` the JSON text as the provider
    sent it (OpenAI sends text, which a truncated answer can leave unparseable: then
    ``arguments`` is empty and ``raw_arguments`` keeps what arrived). ``signature`` is
    Gemini's ``thoughtSignature`` on the ``functionCall`` part, made by ``source``: sent back
    on the same call, and only to that source (Gemini 3 refuses a replayed call without it).
    """

    id: str
    name: str
    arguments: Mapping[str, Any]
    raw_arguments: str = ""
    signature: str | None = field(default=None, repr=False)
    source: str | None = None

    @classmethod
    def from_json_text(cls, id: str, name: str, text: str) -> ToolCall:
        """Parse OpenAI-style string arguments, tolerating empty or broken JSON."""
        try:
            parsed = json.loads(text) if text.strip() else {}
        except ValueError:
            parsed = {}
        return cls(id=id, name=name, arguments=parsed if isinstance(parsed, dict) else {"value": parsed},
                   raw_arguments=text)


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation turn.

    ``content`` is a string or a tuple of parts. An assistant turn that called tools has
    ``tool_calls``; a tool-result turn has role ``tool`` and ``tool_call_id``.
    ``metadata`` carries provider hints such as Anthropic's ``cache_control``; it is
    forwarded only when the client's ``allowed_role_metadata`` allows the key.
    """

    role: str
    content: str | tuple[Part, ...] = ""
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The message's text parts joined (images and reasoning left out)."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def parts(self) -> tuple[Part, ...]:
        """The content as parts, a string content becoming one text part."""
        if isinstance(self.content, str):
            return (TextPart(self.content),) if self.content else ()
        return self.content


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call: a name, a description and a JSON Schema for its input."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What a caller asked for, before any provider's translation.

    ``params`` holds the call's keyword arguments (temperature, max_tokens, top_p, stop,
    tools, tool_choice, response_format, seed, and anything else, passed through).
    """

    messages: tuple[Message, ...]
    params: Mapping[str, Any] = field(default_factory=dict)


MessagesInput = Union[str, Message, Mapping[str, Any], Sequence[Union[Message, Mapping[str, Any]]]]


def to_messages(messages: MessagesInput) -> tuple[Message, ...]:
    """Normalise what a caller passed into messages.

    Accepts a string (one user turn), a :class:`Message`, an OpenAI-style dict, or a
    list of those. OpenAI content parts (``text``, ``image_url`` with a URL or a
    ``data:`` URL, ``file`` with ``file_data`` or ``file_id``, ``input_audio``) and tool turns
    (``tool_calls``, ``role: tool``) are understood.

    Raises:
        InvalidRequestError: A message has no role, an unknown part type, or no messages.
    """
    if isinstance(messages, str):
        return (Message("user", messages),)
    if isinstance(messages, Message):
        return (messages,)
    if isinstance(messages, Mapping):
        return (_message_from_dict(messages, 0),)
    if not isinstance(messages, Iterable):
        raise InvalidRequestError(f"messages must be a string, a Message, a dict or a list of them, "
                                  f"not {type(messages).__name__}")
    out = tuple(m if isinstance(m, Message) else _message_from_dict(m, i) for i, m in enumerate(messages))
    if not out:
        raise InvalidRequestError("messages is empty: give a prompt or at least one message")
    return out


def _message_from_dict(d: Mapping[str, Any], index: int) -> Message:
    if not isinstance(d, Mapping):
        raise InvalidRequestError(f"messages[{index}] must be a Message or a dict, not {type(d).__name__}")
    role = d.get("role")
    if not isinstance(role, str):
        raise InvalidRequestError(f"messages[{index}] has no 'role'")
    content = d.get("content")
    parts: str | tuple[Part, ...]
    if content is None:
        parts = ""
    elif isinstance(content, str):
        parts = content
    elif isinstance(content, Sequence):
        parts = tuple(_part_from_dict(p, index, j) for j, p in enumerate(content))
    else:
        raise InvalidRequestError(f"messages[{index}].content must be a string or a list of parts")
    try:
        calls = tuple(
            ToolCall.from_json_text(c.get("id", ""), c["function"]["name"], c["function"].get("arguments") or "")
            if isinstance(c.get("function"), Mapping)
            else ToolCall(id=c.get("id", ""), name=c["name"], arguments=c.get("arguments") or {})
            for c in d.get("tool_calls") or ()
        )
    except (KeyError, TypeError, AttributeError):
        raise InvalidRequestError(f"messages[{index}].tool_calls: each call needs an id and a function "
                                  "with a name (OpenAI form) or a name and arguments") from None
    known = {"role", "content", "name", "tool_calls", "tool_call_id"}
    metadata = {k: v for k, v in d.items() if k not in known}
    return Message(role=role, content=parts, name=d.get("name"), tool_calls=calls,
                   tool_call_id=d.get("tool_call_id"), metadata=metadata)


def _part_from_dict(p: Any, index: int, j: int) -> Part:
    if isinstance(p, (TextPart, ImagePart, DocumentPart, AudioPart, ThinkingPart, RedactedThinkingPart)):
        return p
    if isinstance(p, str):
        return TextPart(p)
    kind = p.get("type") if isinstance(p, Mapping) else None
    try:
        return _known_part(p, kind)
    except (KeyError, TypeError, AttributeError):
        raise InvalidRequestError(f"messages[{index}].content[{j}]: a {kind!r} part is missing a field "
                                  "(text parts need 'text', image_url parts need 'image_url.url', file parts "
                                  "'file.file_data' or 'file.file_id', input_audio parts 'input_audio.data', "
                                  "thinking parts 'thinking', redacted_thinking parts 'data')") from None
    except _UnknownPart:
        raise InvalidRequestError(f"messages[{index}].content[{j}] has unknown part type {kind!r}") from None


class _UnknownPart(Exception):
    """A content part of a type llmclient does not know (turned into an InvalidRequestError)."""


def split_data_url(url: str) -> tuple[str | None, str] | None:
    """``(media type or None, base64 data)`` of a ``data:...;base64,`` URL; None for any other URL.

    The one data-URL reader: messages given as dicts and every provider that sends images inline.
    """
    if url.startswith("data:") and ";base64," in url:
        head, data = url[5:].split(";base64,", 1)
        return head or None, data
    return None


def _known_part(p: Any, kind: Any) -> Part:
    """One content part of a known ``type``; a missing field raises KeyError/TypeError."""
    if kind == "text":
        return TextPart(p["text"])
    if kind == "image_url":
        image = p["image_url"]
        url = image if isinstance(image, str) else image["url"]
        detail = None if isinstance(image, str) else image.get("detail")
        inline = split_data_url(url)
        if inline is not None:
            return ImagePart(data=inline[1], media_type=inline[0], detail=detail)
        return ImagePart(url=url, detail=detail)
    if kind == "image":
        return ImagePart(url=p.get("url"), data=p.get("data"), media_type=p.get("media_type"), detail=p.get("detail"))
    if kind == "file":  # OpenAI Chat: {"file": {"file_data": "data:...;base64,...", "filename"} | {"file_id"}}
        return _document_from_dict(p["file"])
    if kind == "input_audio":  # OpenAI Chat: bare base64 plus its format
        audio = p["input_audio"]
        return AudioPart(data=_string(audio["data"]), format=audio.get("format"))
    if kind == "thinking":  # Anthropic's block form; "source" is llmclient's own key
        return ThinkingPart(_string(p["thinking"]), signature=p.get("signature") or None, source=p.get("source"))
    if kind == "redacted_thinking":
        return RedactedThinkingPart(_string(p["data"]), source=p.get("source"))
    raise _UnknownPart


def _document_from_dict(f: Mapping[str, Any]) -> DocumentPart:
    filename = f.get("filename")
    if f.get("file_id") is not None:
        return DocumentPart(file_id=_string(f["file_id"]), filename=filename)
    data = _string(f["file_data"])
    inline = split_data_url(data)
    if inline is not None:
        return DocumentPart(data=inline[1], media_type=inline[0], filename=filename)
    if data.startswith(("http://", "https://")):
        return DocumentPart(url=data, filename=filename)
    return DocumentPart(data=data, filename=filename)  # bare base64: a PDF unless said otherwise


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def to_tools(tools: Iterable[Any]) -> tuple[Tool, ...]:
    """Normalise tools given as :class:`Tool`, OpenAI ``{"type": "function", ...}`` or flat dicts."""
    out = []
    for t in tools:
        if isinstance(t, Tool):
            out.append(t)
            continue
        spec = t.get("function", t) if isinstance(t, Mapping) else None
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise InvalidRequestError("each tool needs a name (OpenAI form or {name, description, parameters})")
        params = spec.get("parameters", spec.get("input_schema"))
        out.append(Tool(name=spec["name"], description=spec.get("description", ""),
                        parameters=params if params is not None else {"type": "object", "properties": {}}))
    return tuple(out)
