"""The wire-format plug-in interface and the deterministic reply every format renders.

A wire format (OpenAI, Azure, later Anthropic, Gemini, Bedrock...) is a :class:`WireFormat`
subclass that recognises its routes, checks credentials, parses a :class:`RecordedRequest`
into a provider-neutral :class:`FakeCall`, and renders a :class:`Reply` as JSON, as a stream
of events, or as an error. The reply itself is computed here, once for all formats, so that
tests can predict it: ``"Echo: " + <last user message>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "CONTEXT_WINDOW",
    "CallError",
    "FakeCall",
    "RecordedRequest",
    "Reply",
    "WireFormat",
    "count_words",
    "make_reply",
    "reply_text",
    "split_chunks",
]

#: The error type of ``Fault.context_window()``: each format's :meth:`WireFormat.error` and
#: :meth:`WireFormat.error_event` answer it with its provider's own prompt-too-long error.
CONTEXT_WINDOW = "context_window"

_WORD = re.compile(r"\S+")
_CHUNK = re.compile(r"\s*\S+")


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the server received it, kept for assertions in tests.

    Attributes:
        method: The HTTP method (``"POST"``).
        path: The path without the query string.
        query: The query parameters (the last value wins for repeated names).
        headers: The request headers, names lower-cased.
        body: The raw request body.
        fault: The kind of fault applied to this request, or None.
        received_at: ``time.monotonic()`` when the request had been read.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    fault: str | None
    received_at: float

    def json(self) -> Any:
        """Decode the body as JSON (raises ``ValueError`` if it is not JSON)."""
        return json.loads(self.body)


class CallError(Exception):
    """Raised by :meth:`WireFormat.parse` when a request must be refused (e.g. bad JSON: 400).

    Attributes:
        status: The HTTP status to answer with.
        message: The provider-style error message.
        error_type: The provider error type.
        code: The provider error code, or None.
    """

    def __init__(self, status: int, message: str, error_type: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code


@dataclass(frozen=True)
class FakeCall:
    """A parsed, provider-neutral chat request: what the reply logic needs to answer it.

    Attributes:
        seq: The server-wide request number (1, 2, ...), used in ids such as ``chatcmpl-fake3``.
        model: The model the response names (for Azure: the deployment).
        stream: Whether the caller asked for a stream.
        prompt: The text of the last user message.
        prompt_tokens: Whitespace-separated words in all message texts.
        messages: The messages as sent, for formats and tests that need more.
        max_tokens: The output-token limit, or None.
        tool_names: The names of the declared tools, in order.
        tool_choice: ``"auto"``, ``"none"``, ``"required"`` or None (not given).
        tool_choice_name: The function the caller forced, if any.
        json_mode: Whether a JSON (object or schema) response was requested.
        json_schema: The JSON Schema the answer must follow, when one was given: the reply is
            its minimal instance (:func:`~llmclient.testing.formats.structured.instance_of`).
        n: How many choices to return.
        include_usage: Whether a stream should end with a usage event.
        body: The decoded JSON body.
        models: Every model name the request mentions, for fault ``match``.
        received_at: ``time.monotonic()`` when the request had been read.
        operation: ``"chat"``, or ``"count_tokens"`` for a token-count request (Anthropic
            ``messages/count_tokens``, Gemini ``:countTokens``, Bedrock ``count-tokens``),
            which the format answers with its count of ``prompt_tokens``.
    """

    seq: int
    model: str
    stream: bool = False
    prompt: str = ""
    prompt_tokens: int = 0
    messages: Sequence[Any] = ()
    max_tokens: int | None = None
    tool_names: tuple[str, ...] = ()
    tool_choice: str | None = None
    tool_choice_name: str | None = None
    json_mode: bool = False
    json_schema: Any = None
    n: int = 1
    include_usage: bool = False
    body: dict[str, Any] = field(default_factory=dict)
    models: tuple[str, ...] = ()
    received_at: float = 0.0
    operation: str = "chat"


@dataclass(frozen=True)
class Reply:
    """The deterministic answer to a :class:`FakeCall`, before any wire format touches it.

    Attributes:
        text: The assistant text, or None when the reply is a tool call.
        tool_name: The called function's name, or None.
        tool_arguments: The call's arguments as JSON text ("" when there is no call).
        finish_reason: ``"stop"``, ``"length"`` or ``"tool_calls"`` (OpenAI's vocabulary;
            formats translate it).
        prompt_tokens: Input token count.
        completion_tokens: Output token count, for all ``n`` choices together.
        chunks: The stream pieces: of ``text``, or of ``tool_arguments`` for a tool call.
    """

    text: str | None
    tool_name: str | None
    tool_arguments: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    chunks: tuple[str, ...]


def reply_text(prompt: str) -> str:
    """The fake model's answer to ``prompt``: ``"Echo: " + prompt``."""
    return "Echo: " + prompt


def count_words(text: str) -> int:
    """The fake tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def split_chunks(text: str) -> list[str]:
    """Split ``text`` into word-ish stream pieces: ``"Echo:"``, ``" hello"``, ``" world"``.

    Joining the pieces gives back ``text`` exactly (trailing whitespace rides on the last piece).
    """
    pieces = _CHUNK.findall(text)
    rest = len("".join(pieces))
    if rest < len(text):
        if pieces:
            pieces[-1] += text[rest:]
        else:
            pieces = [text]
    return pieces


def _fit_chunks(pieces: list[str], count: int) -> list[str]:
    """Make exactly ``count`` pieces: repeat the text cyclically, or merge neighbours."""
    if count <= 0:
        return []
    if not pieces:
        pieces = ["Echo:"]
    if len(pieces) >= count:
        size, extra = divmod(len(pieces), count)
        out, start = [], 0
        for i in range(count):
            stop = start + size + (1 if i < extra else 0)
            out.append("".join(pieces[start:stop]))
            start = stop
        return out
    spaced = [p if p[:1].isspace() else " " + p for p in pieces]
    return [pieces[i] if i < len(pieces) else spaced[i % len(pieces)] for i in range(count)]


def _cut_words(text: str, limit: int) -> str:
    """Keep the first ``limit`` words of ``text``, with their original spacing."""
    if limit <= 0:
        return ""
    for i, match in enumerate(_WORD.finditer(text)):
        if i == limit - 1:
            return text[: match.end()]
    return text


def make_reply(call: FakeCall, stream_chunks: int | None = None) -> Reply:
    """Compute the deterministic reply to ``call``.

    Rules: with tools (and ``tool_choice`` not ``"none"``) call the forced tool or the first
    one with ``{"prompt": <prompt>}``; otherwise answer ``reply_text(prompt)``, or the JSON
    text ``{"echo": <prompt>}`` in JSON mode, cut to ``max_tokens`` words (finish ``"length"``).

    Args:
        call: The parsed request.
        stream_chunks: For streams: the exact number of content pieces to produce; the text is
            repeated or merged to fit, and the token count follows the streamed text.
    """
    if call.tool_names and call.tool_choice != "none":
        name = call.tool_choice_name or call.tool_names[0]
        arguments = json.dumps({"prompt": call.prompt})
        return Reply(
            text=None,
            tool_name=name,
            tool_arguments=arguments,
            finish_reason="tool_calls",
            prompt_tokens=call.prompt_tokens,
            completion_tokens=count_words(arguments) * call.n,
            chunks=tuple(split_chunks(arguments)) if call.stream else (),
        )
    if call.json_schema is not None:
        from .structured import instance_of

        text = json.dumps(instance_of(call.json_schema, call.prompt))
    else:
        text = json.dumps({"echo": call.prompt}) if call.json_mode else reply_text(call.prompt)
    finish = "stop"
    if call.max_tokens is not None and call.max_tokens < count_words(text):
        text, finish = _cut_words(text, call.max_tokens), "length"
    chunks: list[str] = []
    if call.stream:
        chunks = split_chunks(text)
        if stream_chunks is not None and len(chunks) != stream_chunks:
            chunks = _fit_chunks(chunks, stream_chunks)
            text = "".join(chunks)
    return Reply(
        text=text,
        tool_name=None,
        tool_arguments="",
        finish_reason=finish,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=count_words(text) * call.n,
        chunks=tuple(chunks),
    )


class WireFormat:
    """One provider's wire format; subclass it and add an instance to ``formats.FORMATS``.

    The server calls, per request: :meth:`route` (first format that accepts wins),
    :meth:`authenticate` (only when the server has an ``api_key``), :meth:`parse`, then
    :meth:`render_json` or :meth:`render_stream`, or :meth:`error` / :meth:`error_event`
    when a fault or a bad request calls for it. Instances are shared by all servers and
    threads, so keep them stateless.

    Attributes:
        name: A short name for logs (``"openai"``).
        stream_content_type: The ``Content-Type`` of a streamed response.
    """

    name: ClassVar[str] = "base"
    stream_content_type: ClassVar[str] = "text/event-stream"

    def route(self, method: str, path: str) -> bool:
        """Whether this format serves ``method`` on ``path`` (path without the query)."""
        raise NotImplementedError

    def authenticate(self, request: RecordedRequest, api_key: str) -> bool:
        """Whether ``request`` carries ``api_key`` the way this provider expects it."""
        raise NotImplementedError

    def intercept(self, request: RecordedRequest, server: Any) -> tuple[int, dict[str, str], bytes] | None:
        """Answer ``request`` before auth, parsing and faults, or None to go on as usual.

        For formats that need the server's per-test state (``server.state``), such as an
        OAuth token endpoint, or a route that only accepts tokens that endpoint issued.
        """
        return None

    def parse(self, request: RecordedRequest, seq: int) -> FakeCall:
        """Turn a routed request into a :class:`FakeCall`; raise :class:`CallError` to refuse it."""
        raise NotImplementedError

    def render_json(self, call: FakeCall, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        """The non-stream response: ``(status, headers, body)``; ``content-length`` is added later."""
        raise NotImplementedError

    def stream_headers(self, call: FakeCall) -> dict[str, str]:
        """Headers of a streamed response (without framing headers); content type by default."""
        return {"content-type": self.stream_content_type}

    def render_stream(self, call: FakeCall, reply: Reply) -> Iterator[bytes]:
        """The streamed response body, one element per event (e.g. ``b"data: {...}\\n\\n"``)."""
        raise NotImplementedError

    def default_error(self, status: int, *, model: str = "", quota: bool = False) -> tuple[str, str, str | None]:
        """``(message, type, code)`` this provider sends with ``status`` when nothing else is said."""
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return f"HTTP {status}", kind, None

    def error(
        self, status: int, message: str, error_type: str, code: str | None, *, seq: int = 0
    ) -> tuple[dict[str, str], bytes]:
        """An error response in this provider's shape: ``(headers, body)``."""
        raise NotImplementedError

    def error_event(self, error_type: str, message: str) -> bytes:
        """The in-stream error event this provider sends after a 200 stream has started."""
        raise NotImplementedError

    def malformed_event(self, call: FakeCall) -> bytes:
        """A stream event whose payload is cut-off JSON (the ``malformed_json`` fault)."""
        return b'data: {"id": "\n\n'


def json_answer(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of a JSON answer (what token endpoints and refusals send)."""
    return status, {"content-type": "application/json; charset=utf-8"}, json.dumps(body).encode()
