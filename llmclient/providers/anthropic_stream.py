"""Anthropic Messages streams (``message_start`` ... ``message_stop``), usage and stop reasons.

Shared by the Anthropic API and Claude on Vertex AI: the adapters in
:mod:`llmclient.providers.anthropic` and :mod:`llmclient.providers.vertex` hand each
streamed answer to :class:`AnthropicStreamDecoder`; both read usage with :func:`anthropic_usage`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..models import UNKNOWN_USAGE, Chunk, RedactedThinkingPart, ThinkingPart, ToolCallDelta, Usage
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

    Text and thinking deltas become ``text``/``thinking``; a ``thinking`` block's text and its
    ``signature_delta`` (a replace, not an append) become one :class:`ThinkingPart` in
    ``Chunk.parts`` at ``content_block_stop``, and a ``redacted_thinking`` block (whole in its
    ``content_block_start``) a :class:`RedactedThinkingPart`; a ``tool_use`` block becomes
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
        self._source = getattr(adapter, "reasoning_source", adapter.provider)
        #: block index -> [thinking text pieces, signature] of a thinking block still open.
        self._thinking: dict[int, list[Any]] = {}

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
                piece = delta.get("thinking") or ""
                self._open_thinking(obj)[0].append(piece)
                return Chunk(thinking=piece) if piece else None
            if dtype == "signature_delta":
                self._open_thinking(obj)[1] = delta.get("signature") or None
                return None
            return None  # citations, compaction...: not part of the answer's text
        if kind == "content_block_start":
            block = obj.get("content_block") or {}
            btype = block.get("type")
            if btype == "tool_use":
                return Chunk(tool_calls=(ToolCallDelta(obj.get("index", 0), block.get("id"), block.get("name")),))
            if btype == "text" and block.get("text"):
                return Chunk(text=block["text"])
            if btype == "thinking":
                self._thinking[obj.get("index", 0)] = [[block.get("thinking") or ""], block.get("signature") or None]
                return Chunk(thinking=block["thinking"]) if block.get("thinking") else None
            if btype == "redacted_thinking" and isinstance(block.get("data"), str):
                return Chunk(parts=(RedactedThinkingPart(block["data"], source=self._source),))
            return None
        if kind == "content_block_stop":
            open_block = self._thinking.pop(obj.get("index", 0), None)
            if open_block is None:
                return None
            return Chunk(parts=(ThinkingPart("".join(open_block[0]), signature=open_block[1], source=self._source),))
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
        return None  # ping, and event types added later

    def _open_thinking(self, obj: Mapping[str, Any]) -> list[Any]:
        """The open thinking block a delta belongs to (one opened now if its start was not seen)."""
        return self._thinking.setdefault(obj.get("index", 0), [[], None])


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
