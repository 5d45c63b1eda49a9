"""The values that flow through llmclient: messages in, completions and chunks out.

Everything here is a frozen dataclass (``Chunk`` aside, which is built once per streamed
event and so is kept as light as possible). Providers translate these to and from their
wire formats; strategies pass them through untouched. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence, Union

from .errors import InvalidRequestError, LLMError
from .redaction import redact_headers, redact_url

__all__ = [
    "TextPart",
    "ImagePart",
    "Part",
    "ToolCall",
    "Message",
    "Tool",
    "ChatRequest",
    "Usage",
    "UNKNOWN_USAGE",
    "Attempt",
    "Completion",
    "ToolCallDelta",
    "Chunk",
    "HttpRequest",
    "HttpResponse",
    "to_messages",
    "to_tools",
    "MessagesInput",
]


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of text inside a message."""

    text: str


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


Part = Union[TextPart, ImagePart]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool (function) call the model asked for.

    ``arguments`` is the parsed object; ``raw_arguments`` the JSON text as the provider
    sent it (OpenAI sends text, which a truncated answer can leave unparseable: then
    ``arguments`` is empty and ``raw_arguments`` keeps what arrived).
    """

    id: str
    name: str
    arguments: Mapping[str, Any]
    raw_arguments: str = ""

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
        """The message's text parts joined (images left out)."""
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


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one call (or, summed with ``+``, of several).

    ``known`` is False when the server reported no usage at all (e.g. an OpenAI-compatible
    server streaming without ``stream_options.include_usage``): the counts are then zeros
    that mean "unknown", not "free" (:data:`UNKNOWN_USAGE`). A sum is known only if every
    part was. ``extra`` keeps the fields of the provider's usage object that have no
    counterpart here, as sent (e.g. a gateway's ``cost``); a sum adds the numeric ones.
    Neither takes part in ``==``.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_tokens: int = 0
    known: bool = field(default=True, compare=False)
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __add__(self, other: Usage) -> Usage:
        extra = dict(self.extra)
        for key, value in other.extra.items():
            mine = extra.get(key)
            summable = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (mine, value))
            extra[key] = mine + value if summable else value
        a, b = _usage_tuple(self), _usage_tuple(other)
        return Usage(a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5],
                     known=self.known and other.known, extra=extra)


#: The usage of an answer whose server reported none (``known`` is False, counts zero).
UNKNOWN_USAGE = Usage(known=False)


def _usage_tuple(u: Usage) -> tuple[int, ...]:
    return (u.input_tokens, u.output_tokens, u.total_tokens, u.cached_input_tokens,
            u.cache_creation_input_tokens, u.reasoning_tokens)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one client within a call: who, how it ended, and how long it took.

    ``error`` is None for the attempt that succeeded.
    """

    client_name: str
    provider: str
    latency_s: float
    error: LLMError | None = None
    status_code: int | None = None

    @property
    def outcome(self) -> str:
        """``"ok"`` or the error's class name."""
        return "ok" if self.error is None else type(self.error).__name__


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer, normalised across providers.

    ``finish_reason`` is one of ``stop``, ``length``, ``tool_calls``, ``content_filter``
    or ``other`` (``None`` when the provider gave none); ``raw_finish_reason`` keeps
    the provider's own word. ``attempts`` lists the tries that preceded this answer
    (failed ones first, then the one that succeeded). ``raw`` is the provider's JSON
    for a non-streamed call.

    ``request_id`` is the HTTP request-id header of the answer (``x-request-id``,
    ``request-id``, ``x-amzn-requestid``); ``response_id`` is the provider's own id of the
    answer, streamed calls included: OpenAI's ``chatcmpl-...``, Anthropic's ``msg_...``,
    Gemini's ``responseId``, and for Bedrock (whose answers carry none in the body) its
    ``x-amzn-requestid``. None when the provider sent none.
    """

    text: str
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    provider: str | None = None
    client_name: str | None = None
    request_id: str | None = None
    attempts: tuple[Attempt, ...] = ()
    refusal: str | None = None
    thinking: str | None = None
    response_id: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)

    def with_attempts(self, attempts: Sequence[Attempt]) -> Completion:
        """A copy carrying ``attempts``."""
        return replace(self, attempts=tuple(attempts))


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of a streamed tool call; fragments with the same ``index`` join up."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class Chunk:
    """One piece of a stream, as the caller sees it. Treat it as read-only.

    ``text`` is the new text (often the only field set). The last chunks carry
    ``finish_reason`` and ``usage``. ``tool_calls`` hold argument fragments.
    """

    text: str = ""
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()
    usage: Usage | None = None
    refusal: str = ""
    thinking: str = ""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """An HTTP request ready to sign or send. The repr never shows credentials.

    ``secrets`` lists the credential values the request carries, so that anything
    echoing them back (an error body, a log line) can be scrubbed.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""
    stream: bool = False
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def __repr__(self) -> str:
        return (f"HttpRequest(method={self.method!r}, url={redact_url(self.url)!r}, "
                f"headers={redact_headers(self.headers)!r}, body=<{len(self.body)} bytes>, "
                f"stream={self.stream!r})")

    def with_headers(self, headers: Mapping[str, str], *, secrets: Iterable[str] = ()) -> HttpRequest:
        """A copy with ``headers`` added (replacing same-named ones, case-insensitively)."""
        lowered = {k.lower() for k in headers}
        merged = {k: v for k, v in self.headers.items() if k.lower() not in lowered}
        merged.update(headers)
        return replace(self, headers=merged, secrets=self.secrets + tuple(s for s in secrets if s))

    def json(self) -> Any:
        """The body parsed as JSON (for tests and debugging)."""
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete HTTP response. ``headers`` keys are lower-cased."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes
    url: str = ""
    elapsed_s: float = 0.0

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body)


MessagesInput = Union[str, Message, Mapping[str, Any], Sequence[Union[Message, Mapping[str, Any]]]]


def to_messages(messages: MessagesInput) -> tuple[Message, ...]:
    """Normalise what a caller passed into messages.

    Accepts a string (one user turn), a :class:`Message`, an OpenAI-style dict, or a
    list of those. OpenAI content parts (``text``, ``image_url`` with a URL or a
    ``data:`` URL) and tool turns (``tool_calls``, ``role: tool``) are understood.

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
    if isinstance(p, (TextPart, ImagePart)):
        return p
    if isinstance(p, str):
        return TextPart(p)
    kind = p.get("type") if isinstance(p, Mapping) else None
    try:
        return _known_part(p, kind)
    except (KeyError, TypeError, AttributeError):
        raise InvalidRequestError(f"messages[{index}].content[{j}]: a {kind!r} part is missing a field "
                                  "(text parts need 'text', image_url parts need 'image_url.url')") from None
    except _UnknownPart:
        raise InvalidRequestError(f"messages[{index}].content[{j}] has unknown part type {kind!r}") from None


class _UnknownPart(Exception):
    """A content part of a type llmclient does not know (turned into an InvalidRequestError)."""


def _known_part(p: Any, kind: Any) -> Part:
    """One content part of a known ``type``; a missing field raises KeyError/TypeError."""
    if kind == "text":
        return TextPart(p["text"])
    if kind == "image_url":
        image = p["image_url"]
        url = image if isinstance(image, str) else image["url"]
        detail = None if isinstance(image, str) else image.get("detail")
        if url.startswith("data:") and ";base64," in url:
            head, data = url[5:].split(";base64,", 1)
            return ImagePart(data=data, media_type=head or None, detail=detail)
        return ImagePart(url=url, detail=detail)
    if kind == "image":
        return ImagePart(url=p.get("url"), data=p.get("data"), media_type=p.get("media_type"), detail=p.get("detail"))
    raise _UnknownPart


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
