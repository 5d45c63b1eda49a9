"""Anthropic Messages streams (``message_start`` ... ``message_stop``), usage and stop reasons.

Shared by the Anthropic API and Claude on Vertex AI: the adapters in
:mod:`llmclient.providers.anthropic` and :mod:`llmclient.providers.vertex` hand each
streamed answer to :class:`AnthropicStreamDecoder`; both read usage with :func:`anthropic_usage`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ..models import UNKNOWN_USAGE, Chunk, ToolCallDelta, Usage
from ..wire.sse import ServerSentEvent
from .sse_json import SseJsonDecoder

if TYPE_CHECKING:
    from .anthropic import AnthropicAdapter

__all__ = ["AnthropicStreamDecoder", "anthropic_usage", "STOP_REASONS", "ERROR_TYPE_STATUS"]

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                "refusal": "content_filter", "model_context_window_exceeded": "length"}

#: error.type -> the HTTP status it stands for (used for error events inside a 200 stream).
ERROR_TYPE_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
                     "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
                     "rate_limit_error": 429, "api_error": 500, "timeout_error": 504, "overloaded_error": 529}


class AnthropicStreamDecoder(SseJsonDecoder):
    """Messages API SSE events (``message_start`` ... ``message_stop``) to :class:`Chunk`.

    Text and thinking deltas become ``text``/``thinking``; a ``tool_use`` block becomes
    :class:`ToolCallDelta` values keyed by the block index (id and name first, then the
    ``input_json_delta`` fragments). Input usage comes from ``message_start``, output usage
    from the last ``message_delta``; ``ping`` and unknown events are ignored; an ``error``
    event raises the class its ``error.type`` names (after handing over content that
    arrived before it in the same read). ``done`` turns True at ``message_stop``.

    A body with no event at all (a gateway answering a streamed request with one JSON) is
    read as a non-stream answer: a ``message`` becomes the stream's chunks, an error object
    its typed error, anything else "expected an event stream".
    """

    end_marker = "message_stop"
    answer_field = "content"

    def __init__(self, adapter: AnthropicAdapter, secrets: tuple[str, ...]) -> None:
        super().__init__(adapter, secrets)
        self._stopped = False
        self._start_usage: dict[str, Any] = {}

    def finished(self) -> bool:
        return self._stopped

    def decode_event(self, event: ServerSentEvent) -> Chunk | None:
        name = event.event
        obj = self.event_object(event.data)
        kind = obj.get("type") or name
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                return Chunk(text=delta.get("text") or "") if delta.get("text") else None
            if dtype == "input_json_delta":
                fragment = delta.get("partial_json") or ""
                return Chunk(tool_calls=(ToolCallDelta(obj.get("index", 0), arguments=fragment),)) if fragment else None
            if dtype == "thinking_delta":
                return Chunk(thinking=delta.get("thinking") or "") if delta.get("thinking") else None
            return None  # signature, citations, compaction...: not part of the answer's text
        if kind == "content_block_start":
            block = obj.get("content_block") or {}
            btype = block.get("type")
            if btype == "tool_use":
                return Chunk(tool_calls=(ToolCallDelta(obj.get("index", 0), block.get("id"), block.get("name")),))
            if btype == "text" and block.get("text"):
                return Chunk(text=block["text"])
            if btype == "thinking" and block.get("thinking"):
                return Chunk(thinking=block["thinking"])
            return None
        if kind == "message_start":
            message = obj.get("message") or {}
            self.model = message.get("model") or self.model
            self.response_id = message.get("id") or self.response_id
            self._start_usage = dict(message.get("usage") or {})
            return Chunk(usage=anthropic_usage(self._start_usage))
        if kind == "message_delta":
            raw_reason = (obj.get("delta") or {}).get("stop_reason")
            usage = {**self._start_usage, **{k: v for k, v in (obj.get("usage") or {}).items() if v is not None}}
            if raw_reason:
                self._stopped = True
            return Chunk(finish_reason=STOP_REASONS.get(raw_reason, "other") if raw_reason else None,
                         raw_finish_reason=raw_reason, usage=anthropic_usage(usage))
        if kind == "message_stop":
            self.done = True
            return None
        if kind == "error" or name == "error":
            error = obj.get("error")
            raise self.event_error(error)
        return None  # ping, content_block_stop, and event types added later


def anthropic_usage(usage: Mapping[str, Any] | None) -> Usage:
    """Usage from Anthropic's ``usage`` object.

    ``input_tokens`` is the provider's (it excludes cache reads and writes, which are
    reported apart); ``total_tokens`` counts everything processed: input, cache reads,
    cache writes and output. No usage object is :data:`~llmclient.models.UNKNOWN_USAGE`.
    """
    if not usage or not isinstance(usage, Mapping):
        return UNKNOWN_USAGE
    prompt = usage.get("input_tokens") or 0
    output = usage.get("output_tokens") or 0
    read = usage.get("cache_read_input_tokens") or 0
    created = usage.get("cache_creation_input_tokens") or 0
    return Usage(input_tokens=prompt, output_tokens=output, total_tokens=prompt + output + read + created,
                 cached_input_tokens=read, cache_creation_input_tokens=created,
                 extra={k: v for k, v in usage.items() if k not in _USAGE_FIELDS})


#: Fields of Anthropic's ``usage`` read into :class:`Usage`; others (``service_tier``...) go to ``extra``.
_USAGE_FIELDS = frozenset({"input_tokens", "output_tokens", "cache_read_input_tokens",
                           "cache_creation_input_tokens"})
