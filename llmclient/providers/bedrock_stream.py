"""Bedrock's ConverseStream decoding, and Bedrock's exception names mapped to llmclient's errors.

Shared by the HTTP error path (``x-amzn-ErrorType`` / body ``code``) and the stream's
exception frames (``:exception-type``), so that both name the same classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import AuthError, InvalidRequestError, LLMError, ProviderError, RateLimitError
from ..models import (
    UNKNOWN_USAGE,
    Chunk,
    Completion,
    HttpResponse,
    RedactedThinkingPart,
    ThinkingPart,
    ToolCallDelta,
    Usage,
)
from ..redaction import redact_text
from ..wire.eventstream import EventFrame, EventStreamDecoder
from .base import JsonEventDecoder
from .plain_body import MAX_PLAIN_BODY, PlainBody, completion_chunks, not_an_event_stream
from .status import class_for_status, http_error, refine_class

__all__ = ["BedrockStreamDecoder", "bedrock_error", "bedrock_error_class", "bedrock_error_object", "bedrock_usage",
           "STOP_REASONS", "REASONING_SOURCE", "reasoning_part"]

PROVIDER = "aws-bedrock"
#: ``source`` of the reasoning parts Converse answers carry (Claude on Bedrock: not assumed valid elsewhere).
REASONING_SOURCE = "aws-bedrock"

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                "guardrail_intervened": "content_filter", "content_filtered": "content_filter",
                "model_context_window_exceeded": "length"}

_AUTH_CODES = frozenset({"AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException",
                         "InvalidSignatureException", "IncompleteSignatureException", "MissingAuthenticationToken",
                         "InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied", "UnrecognizedClient",
                         "ExpiredToken"})
_THROTTLE_CODES = frozenset({"ThrottlingException", "ModelNotReadyException", "TooManyRequestsException"})
_PROVIDER_CODES = frozenset({"ModelTimeoutException", "InternalServerException", "ServiceUnavailableException",
                             "ModelErrorException", "ModelStreamErrorException"})
_INVALID_CODES = frozenset({"ValidationException", "ResourceNotFoundException", "ConflictException"})


def bedrock_error_class(code: str, status: int | None = None) -> tuple[type[LLMError], bool | None]:
    """``(class, retryable override)`` for a Bedrock exception name (``ThrottlingException``...).

    Case-insensitive, so the camel-case names of stream exception frames work too
    (``throttlingException``). Unknown names fall back to the HTTP status.
    """
    lowered = code[:1].upper() + code[1:]
    if lowered in _AUTH_CODES:
        return AuthError, None
    if lowered in _THROTTLE_CODES:
        return RateLimitError, True
    if lowered == "ServiceQuotaExceededException":
        return RateLimitError, False
    if lowered in ("ModelErrorException", "ModelStreamErrorException"):
        return ProviderError, False
    if lowered in _PROVIDER_CODES:
        return ProviderError, True
    if lowered in _INVALID_CODES:
        return InvalidRequestError, None
    return class_for_status(status or 500), None


def bedrock_usage(usage: Mapping[str, Any] | None) -> Usage:
    """Usage from a Converse ``usage`` object, cache read/write tokens included.

    No usage object is :data:`~llmclient.models.UNKNOWN_USAGE`.
    """
    if not usage or not isinstance(usage, Mapping):
        return UNKNOWN_USAGE
    inp, out = int(usage.get("inputTokens") or 0), int(usage.get("outputTokens") or 0)
    return Usage(input_tokens=inp, output_tokens=out, total_tokens=int(usage.get("totalTokens") or inp + out),
                 cached_input_tokens=int(usage.get("cacheReadInputTokens") or 0),
                 cache_creation_input_tokens=int(usage.get("cacheWriteInputTokens") or 0),
                 extra={k: v for k, v in usage.items() if k not in _USAGE_FIELDS})


#: Fields of a Converse ``usage`` read into :class:`Usage`; others (``cacheDetails``...) go to ``extra``.
_USAGE_FIELDS = frozenset({"inputTokens", "outputTokens", "totalTokens", "cacheReadInputTokens",
                           "cacheWriteInputTokens"})

#: Bedrock exception names -> the HTTP status the service answers them with (botocore's service model).
_CODE_STATUS = {"ValidationException": 400, "ServiceQuotaExceededException": 400, "ConflictException": 400,
                "AccessDeniedException": 403, "ResourceNotFoundException": 404, "ModelTimeoutException": 408,
                "ModelErrorException": 424, "ModelStreamErrorException": 424, "ThrottlingException": 429,
                "ModelNotReadyException": 429, "InternalServerException": 500,
                "ServiceUnavailableException": 503}
_STATUS_OF: dict[type[LLMError], int] = {AuthError: 403, RateLimitError: 429, InvalidRequestError: 400}


def bedrock_error_object(data: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, str] | None:
    """``{"code", "message"}`` of a Bedrock error: the exception name from the ``x-amzn-ErrorType``
    header, else the body's ``code``/``Code``/``__type``; the body's ``message``. None when neither."""
    code = headers.get("x-amzn-errortype", "").split(":", 1)[0].strip()
    if not code:
        code = str(data.get("code") or data.get("Code") or data.get("__type") or "").rsplit("#", 1)[-1]
    message = str(data.get("message") or data.get("Message") or "")
    return {"code": code, "message": message} if code or message else None


def bedrock_error(code: str, message: str, *, response: HttpResponse | None, secrets: tuple[str, ...],
                  body: str = "") -> LLMError:
    """The typed error for a Bedrock exception name and message.

    With ``response`` (an error answer) the class comes from the name, else from the status;
    without (an error JSON where a stream was expected) the status is the one the service
    answers that exception with. ``body`` is kept (redacted) on the latter.
    """
    if response is not None:
        cls, retryable = bedrock_error_class(code, response.status_code) if code else (None, None)
        return http_error(response, message or code, provider=PROVIDER, secrets=secrets, cls=cls,
                          code=code or None, retryable=retryable, request_id_header="x-amzn-requestid")
    name = code[:1].upper() + code[1:]
    error_cls, retry = bedrock_error_class(code, _CODE_STATUS.get(name, 500))
    error_cls = refine_class(error_cls, message)
    return error_cls(redact_text(message or code, secrets), provider=PROVIDER, code=redact_text(code, secrets) or None,
                     retryable=retry, status_code=_CODE_STATUS.get(name) or _STATUS_OF.get(error_cls, 500),
                     body=redact_text(body[:2000], secrets))


class BedrockStreamDecoder(JsonEventDecoder):
    """ConverseStream event frames to chunks; an exception frame raises the class it names.

    Text blocks have no start event; a tool block starts with ``contentBlockStart`` (id and
    name) and its input arrives as JSON fragments. ``reasoningContent`` deltas (text, then a
    signature; or ``redactedContent``) are merged per block into one :class:`ThinkingPart`
    (or :class:`RedactedThinkingPart`) in ``Chunk.parts`` at its ``contentBlockStop``.
    Unknown members (the ``p`` padding) and unknown events are ignored. The stream must reach
    ``messageStop``; ``done`` turns True once both it and the ``metadata`` frame (usage, sent
    last) have been decoded. The answer carries no id of its own: :meth:`response_id_of` is
    the ``x-amzn-requestid`` header.

    A body that is not an event stream (its first byte cannot start a frame: a gateway's
    JSON or HTML) is kept and read at the end as a non-stream answer: a Converse JSON becomes
    the stream's chunks (through ``parse``), an error JSON its typed error, anything else
    "expected an event stream".

    Args:
        model: The model id, reported as the stream's model.
        secrets: Credentials the request carried, scrubbed from messages.
        parse: Reads a non-stream Converse answer (the adapter's ``parse_response``).
    """

    def __init__(self, model: str | None, secrets: tuple[str, ...],
                 parse: Callable[[HttpResponse, tuple[str, ...]], Completion] | None = None) -> None:
        super().__init__(PROVIDER, secrets)
        self.model = model
        self._parse = parse
        self._frames = EventStreamDecoder(PROVIDER)
        self._plain: bytearray | None = None
        self._started = False
        self._tools: dict[int, int] = {}
        self._stopped = False
        self._metadata = False
        #: The ``metadata`` frame's ``trace`` (Bedrock guardrails), kept on the stream's completion.
        self.trace: Any = None
        #: block index -> [text pieces, signature, redacted data pieces] of a reasoning block still open.
        self._reasoning: dict[int, list[Any]] = {}

    def response_id_of(self, headers: Mapping[str, str]) -> str | None:
        """The ``x-amzn-requestid`` header: a Converse answer carries no id of its own."""
        return headers.get("x-amzn-requestid")

    def feed(self, data: bytes) -> list[Chunk]:
        if not self._started and data:
            self._started = True
            # A frame starts with its big-endian length, under 16 MiB: a first byte of 0x02 or
            # more ('{', '<', a letter, whitespace) is not an event stream.
            if data[0] >= 0x02:
                self._plain = bytearray()
        if self._plain is not None:
            self._plain += data
            if len(self._plain) > MAX_PLAIN_BODY:
                raise not_an_event_stream(self._plain[:2000].decode("utf-8", "replace"), provider=PROVIDER,
                                          secrets=self._secrets)
            return []
        return self._chunks(self._frames.feed(data))

    def finish(self) -> list[Chunk]:
        if self._plain is not None:
            return self._plain_body(self._plain)
        out = self._chunks(self._frames.finish())
        if not self._stopped:
            raise ProviderError("the event stream ended before messageStop: the connection was closed early",
                                provider=PROVIDER)
        return out

    def _plain_body(self, body: bytearray) -> list[Chunk]:
        """The chunks of a Converse JSON body; raises for an error JSON or any other text."""
        plain = PlainBody(PROVIDER, self._secrets)
        plain.take([body.decode("utf-8", "replace")])
        text = plain.text()
        obj = plain.json()
        if isinstance(obj, dict) and isinstance(obj.get("output"), dict) and self._parse is not None:
            completion = self._parse(HttpResponse(200, {}, text.encode()), self._secrets)
            return completion_chunks(completion)
        error = bedrock_error_object(obj, {}) if isinstance(obj, dict) else None
        if error is not None:
            raise bedrock_error(error["code"], error["message"], response=None, secrets=self._secrets, body=text)
        raise plain.not_a_stream()

    def _chunks(self, frames: list[EventFrame]) -> list[Chunk]:
        return self._decode(frames, self._chunk)

    def _payload(self, frame: EventFrame) -> dict[str, Any]:
        data = self.event_json(frame.payload or b"{}", what=f"a {frame.event_type or 'stream'} frame")
        return data if isinstance(data, dict) else {}

    def _chunk(self, frame: EventFrame) -> Chunk | None:
        kind = frame.message_type
        if kind in ("exception", "error"):
            payload = self._payload(frame) if frame.payload else {}
            code = str(frame.headers.get(":exception-type") or frame.headers.get(":error-code") or "")
            message = str(payload.get("message") or payload.get("Message") or frame.headers.get(":error-message")
                          or code or "stream error")
            cls, retryable = bedrock_error_class(code or "InternalServerException")
            cls = refine_class(cls, message)
            status = payload.get("originalStatusCode") if isinstance(payload.get("originalStatusCode"), int) else None
            return _raise(cls(redact_text(message, self._secrets), provider=PROVIDER, code=code or None,
                              retryable=retryable, status_code=status))
        event = frame.event_type
        data = self._payload(frame)
        if event == "contentBlockStart":
            start = (data.get("start") or {}).get("toolUse")
            if isinstance(start, dict):
                index = self._tool_index(data.get("contentBlockIndex"))
                return Chunk(tool_calls=(ToolCallDelta(index, start.get("toolUseId"), start.get("name")),))
        elif event == "contentBlockDelta":
            delta = data.get("delta") or {}
            if isinstance(delta.get("text"), str):
                return Chunk(text=delta["text"])
            if isinstance(delta.get("toolUse"), dict):
                index = self._tool_index(data.get("contentBlockIndex"))
                return Chunk(tool_calls=(ToolCallDelta(index, arguments=str(delta["toolUse"].get("input") or "")),))
            reasoning = delta.get("reasoningContent")
            if isinstance(reasoning, dict):
                return self._reasoning_delta(int(data.get("contentBlockIndex") or 0), reasoning)
        elif event == "contentBlockStop":
            return self._reasoning_part(int(data.get("contentBlockIndex") or 0))
        elif event == "messageStop":
            self._stopped = True
            self.done = self._metadata
            raw = data.get("stopReason")
            return Chunk(finish_reason=STOP_REASONS.get(raw, "other") if raw else None, raw_finish_reason=raw)
        elif event == "metadata":
            self._metadata = True
            self.done = self._stopped  # ConverseStream ends: messageStop, then metadata
            if isinstance(data.get("trace"), dict):
                self.trace = data["trace"]
            if isinstance(data.get("usage"), dict):
                return Chunk(usage=bedrock_usage(data["usage"]))
        return None

    def _reasoning_delta(self, index: int, delta: Mapping[str, Any]) -> Chunk | None:
        slot = self._reasoning.setdefault(index, [[], None, []])
        if isinstance(delta.get("signature"), str):
            slot[1] = delta["signature"]  # a replace, as for Anthropic's signature_delta
        if isinstance(delta.get("redactedContent"), str):
            slot[2].append(delta["redactedContent"])
        if isinstance(delta.get("text"), str):
            slot[0].append(delta["text"])
            return Chunk(thinking=delta["text"]) if delta["text"] else None
        return None

    def _reasoning_part(self, index: int) -> Chunk | None:
        slot = self._reasoning.pop(index, None)
        if slot is None:
            return None
        if slot[2] and not slot[0]:
            return Chunk(parts=(RedactedThinkingPart("".join(slot[2]), source=REASONING_SOURCE),))
        return Chunk(parts=(ThinkingPart("".join(slot[0]), signature=slot[1], source=REASONING_SOURCE),))

    def _tool_index(self, block: Any) -> int:
        return self._tools.setdefault(int(block or 0), len(self._tools))


def reasoning_part(content: Mapping[str, Any]) -> ThinkingPart | RedactedThinkingPart | None:
    """The part a ``reasoningContent`` block holds: ``reasoningText`` (text + signature) or ``redactedContent``."""
    redacted = content.get("redactedContent")
    if isinstance(redacted, str):
        return RedactedThinkingPart(redacted, source=REASONING_SOURCE)
    text = content.get("reasoningText")
    if isinstance(text, Mapping) and isinstance(text.get("text"), str):
        return ThinkingPart(text["text"], signature=text.get("signature") or None, source=REASONING_SOURCE)
    return None


def _raise(error: LLMError) -> Chunk:
    raise error
