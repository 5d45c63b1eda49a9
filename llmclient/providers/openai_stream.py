"""OpenAI Chat Completions streams (SSE chunks ending with ``[DONE]``), usage and finish reasons.

Shared by every OpenAI-style provider (``openai``, ``openai-generic``, ``azure-openai``...):
the adapter in :mod:`llmclient.providers.openai` hands each streamed answer to
:class:`OpenAIStreamDecoder`; both read usage with :func:`openai_usage`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..models import UNKNOWN_USAGE, Chunk, ToolCallDelta, Usage
from ..wire.sse import ServerSentEvent
from .sse_json import SseJsonDecoder

if TYPE_CHECKING:
    from .openai import OpenAIAdapter

__all__ = ["OpenAIStreamDecoder", "openai_usage", "reasoning_text", "openai_error_object", "FINISH_REASONS",
           "ERROR_TYPE_STATUS"]

FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
                  "content_filter": "content_filter"}

def openai_error_object(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The OpenAI family's error: ``{"error": {...}}``, or a gateway's ``{"error": "text"}`` (as its message)."""
    error = data.get("error")
    if isinstance(error, Mapping):
        return error
    return {"message": str(error)} if error else None


#: In-stream error types and codes -> the HTTP status they stand for.
ERROR_TYPE_STATUS = {"server_error": 500, "api_error": 500, "rate_limit_exceeded": 429, "requests": 429,
                     "tokens": 429, "insufficient_quota": 429, "invalid_request_error": 400,
                     "authentication_error": 401, "invalid_api_key": 401, "permission_error": 403,
                     "not_found_error": 404, "model_not_found": 404, "content_filter": 400}


class OpenAIStreamDecoder(SseJsonDecoder):
    """Chat-completion chunks (SSE ``data:`` events ending with ``[DONE]``) to :class:`Chunk`.

    Choices other than ``choice_index`` are ignored; usage comes in the last chunk when
    ``stream_options.include_usage`` was sent (or whenever the server adds it); an
    ``{"error": ...}`` event raises. ``done`` turns True at ``data: [DONE]``. A body with no
    event at all is read as a non-stream answer: a ``chat.completion`` JSON becomes the
    stream's chunks, an error JSON its typed error, anything else "expected an event stream".
    """

    end_marker = "[DONE]"
    answer_field = "choices"

    def __init__(self, adapter: OpenAIAdapter, secrets: tuple[str, ...], choice_index: int = 0) -> None:
        super().__init__(adapter, secrets)
        self._choice_index = choice_index
        self._finished = False
        self._usage_seen = False

    def finished(self) -> bool:
        return self._finished

    def tail(self) -> list[Chunk]:
        if self._usage_seen:
            return []
        self._usage_seen = True
        return [Chunk(usage=UNKNOWN_USAGE)]  # the server sent none: unknown, not zero

    def decode_event(self, event: ServerSentEvent) -> Chunk | None:
        data = event.data
        if data == "[DONE]":
            self.done = True
            tail = self.tail()
            return tail[0] if tail else None
        obj = self.event_object(data)
        error = obj.get("error")
        if error:
            raise self.event_error(error)
        if self.model is None:
            self.model = obj.get("model")
            self.response_id = obj.get("id")
        text = refusal = thinking = ""
        calls: tuple[ToolCallDelta, ...] = ()
        raw_reason = None
        for choice in obj.get("choices") or ():
            if choice.get("index", 0) != self._choice_index:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or ""
            refusal = delta.get("refusal") or ""
            thinking = delta.get("reasoning_content") or delta.get("reasoning") or ""  # (per chunk: inlined)
            if thinking and not isinstance(thinking, str):
                thinking = reasoning_text(delta)
            deltas = delta.get("tool_calls")
            if deltas:
                calls = tuple(ToolCallDelta(d.get("index", 0), d.get("id"), (d.get("function") or {}).get("name"),
                                            (d.get("function") or {}).get("arguments") or "") for d in deltas)
            raw_reason = choice.get("finish_reason")
        usage = obj.get("usage")
        if not (text or calls or refusal or thinking or raw_reason or usage):
            return None
        if raw_reason:
            self._finished = True
        if usage:
            self._usage_seen = True
        return Chunk(text, FINISH_REASONS.get(raw_reason, "other") if raw_reason else None, raw_reason, calls,
                     openai_usage(usage) if usage else None, refusal, thinking)


def reasoning_text(message: Mapping[str, Any]) -> str:
    """The reasoning an OpenAI-compatible server put beside ``content``: DeepSeek's and older vLLM's
    ``reasoning_content``, or vLLM's newer ``reasoning`` (a string). Thinking, never text."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


#: Fields of OpenAI's ``usage`` read into :class:`Usage`; any other (a gateway's ``cost``) goes to ``extra``.
_USAGE_FIELDS = frozenset({"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
                           "completion_tokens_details"})


def openai_usage(usage: Mapping[str, Any] | None) -> Usage:
    """Usage from OpenAI's ``usage`` object (cached and reasoning tokens included).

    No usage object is :data:`~llmclient.models.UNKNOWN_USAGE`; fields OpenAI does not
    define (OpenRouter's or LiteLLM's ``cost``...) are kept in ``Usage.extra``.
    """
    if not usage or not isinstance(usage, Mapping):
        return UNKNOWN_USAGE
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    return Usage(input_tokens=prompt, output_tokens=completion,
                 total_tokens=usage.get("total_tokens") or prompt + completion,
                 cached_input_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
                 reasoning_tokens=(usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0,
                 extra={k: v for k, v in usage.items() if k not in _USAGE_FIELDS})
