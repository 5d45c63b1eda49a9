"""OpenAI Responses API streams (typed SSE events ending at ``response.completed``), usage and finish reasons.

The adapter in :mod:`llmclient.providers.openai_responses` hands each streamed answer to
:class:`ResponsesStreamDecoder`; both read usage with :func:`responses_usage` and the end of an
answer with :func:`finish_of`. The event shapes are those of ``wire-formats-2026.md`` section 1
(observed with openai 3.57 and recorded API traffic): every event names its ``type`` (the
``event:`` line repeats it), there is no ``data: [DONE]``, and the stream ends after a terminal
event (``response.completed``, ``response.incomplete`` or ``response.failed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ProviderError
from ..models import UNKNOWN_USAGE, Chunk, ThinkingPart, ToolCallDelta, Usage
from ..wire.sse import ServerSentEvent
from .sse_json import SseJsonDecoder

if TYPE_CHECKING:
    from .openai_responses import OpenAIResponsesAdapter

__all__ = ["ResponsesStreamDecoder", "responses_usage", "finish_of", "reasoning_part", "reasoning_item",
           "FINISH_REASONS", "SOURCE"]

#: ``ThinkingPart.source`` of the reasoning state this provider makes (and is sent back).
SOURCE = "openai-responses"

#: A response's ``status`` or ``incomplete_details.reason`` -> the normalised finish reason.
FINISH_REASONS = {"completed": "stop", "max_output_tokens": "length", "content_filter": "content_filter",
                  "max_messages": "other", "steered": "other", "cancelled": "other", "incomplete": "other",
                  "failed": "other"}

_TERMINAL = frozenset({"response.completed", "response.incomplete"})
_THINKING_DELTAS = frozenset({"response.reasoning_summary_text.delta", "response.reasoning_text.delta"})


def reasoning_texts(item: Mapping[str, Any]) -> list[str]:
    """A reasoning item's summary texts (or, from open-weight models, its ``reasoning_text`` content)."""
    found = [str(p.get("text") or "") for p in item.get("summary") or () if isinstance(p, dict)]
    if not any(found):
        found = [str(p.get("text") or "") for p in item.get("content") or ()
                 if isinstance(p, dict) and p.get("type") == "reasoning_text"]
    return [text for text in found if text]


def reasoning_part(item: Mapping[str, Any]) -> ThinkingPart | None:
    """A ``reasoning`` output item as the :class:`ThinkingPart` that replays it (None without an id).

    The text is the summary (parts joined by a blank line); the signature holds what the next
    turn must send back, the item's ``id`` and, when present, its ``encrypted_content``
    (needed with ``store: false``), separated by a space (neither contains one).
    """
    rid = item.get("id")
    if not isinstance(rid, str) or not rid:
        return None
    encrypted = item.get("encrypted_content")
    signature = f"{rid} {encrypted}" if isinstance(encrypted, str) and encrypted else rid
    return ThinkingPart("\n\n".join(reasoning_texts(item)), signature=signature, source=SOURCE)


def reasoning_item(part: ThinkingPart) -> dict[str, Any] | None:
    """The ``reasoning`` input item a :class:`ThinkingPart` of :func:`reasoning_part` stands for."""
    if not part.signature:
        return None
    rid, _, encrypted = part.signature.partition(" ")
    item: dict[str, Any] = {"type": "reasoning", "id": rid,
                            "summary": [{"type": "summary_text", "text": part.text}] if part.text else []}
    if encrypted:
        item["encrypted_content"] = encrypted
    return item


def finish_of(response: Mapping[str, Any], called_tools: bool) -> tuple[str | None, str | None]:
    """``(finish_reason, raw_finish_reason)`` of a response object.

    ``completed`` is ``stop`` (``tool_calls`` when the answer calls functions); ``incomplete``
    is read from ``incomplete_details.reason`` (``max_output_tokens`` is ``length``,
    ``content_filter`` stays itself), which is then the raw reason. A response still
    ``queued`` or ``in_progress`` (background mode) has no finish reason.
    """
    status = response.get("status")
    if not isinstance(status, str) or status in ("queued", "in_progress"):
        return None, status if isinstance(status, str) else None
    raw = status
    if status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        raw = reason if isinstance(reason, str) and reason else status
    if status == "completed" and called_tools:
        return "tool_calls", raw
    return FINISH_REASONS.get(raw, "other"), raw


#: Fields of the Responses ``usage`` read into :class:`Usage`; any other goes to ``extra``.
_USAGE_FIELDS = frozenset({"input_tokens", "output_tokens", "total_tokens", "input_tokens_details",
                           "output_tokens_details"})


def responses_usage(usage: Mapping[str, Any] | None) -> Usage:
    """Usage from a response's ``usage`` object, with cached, cache-write and reasoning tokens.

    ``input_tokens`` includes the cached ones (``input_tokens_details.cached_tokens``), as in
    Chat Completions; ``output_tokens`` includes the reasoning ones
    (``output_tokens_details.reasoning_tokens``). No usage object is
    :data:`~llmclient.models.UNKNOWN_USAGE`.
    """
    if not usage or not isinstance(usage, Mapping):
        return UNKNOWN_USAGE
    prompt = usage.get("input_tokens") or 0
    output = usage.get("output_tokens") or 0
    inputs = usage.get("input_tokens_details") or {}
    outputs = usage.get("output_tokens_details") or {}
    return Usage(input_tokens=prompt, output_tokens=output, total_tokens=usage.get("total_tokens") or prompt + output,
                 cached_input_tokens=inputs.get("cached_tokens") or 0,
                 cache_creation_input_tokens=inputs.get("cache_write_tokens") or 0,
                 reasoning_tokens=outputs.get("reasoning_tokens") or 0,
                 extra={k: v for k, v in usage.items() if k not in _USAGE_FIELDS})


class ResponsesStreamDecoder(SseJsonDecoder):
    """Responses API events to :class:`Chunk`, dispatched on each event's ``type``.

    ``response.output_text.delta`` is text, ``response.refusal.delta`` a refusal,
    ``response.reasoning_summary_text.delta`` thinking (summary parts joined by a blank line).
    A ``function_call`` item announced by ``response.output_item.added`` gives the call's id
    (its ``call_id``) and name, keyed by the call's position among the answer's calls; its
    ``response.function_call_arguments.delta`` fragments (which carry neither) follow under
    the same key. ``response.completed`` / ``response.incomplete`` end the answer with its
    finish reason and usage (``done`` turns True); ``response.failed`` and ``error`` events
    raise the typed error their code names (a rate limit is a RateLimitError, a server error a
    retryable ProviderError...). Other events (``response.in_progress``, ``*.done``, ones
    added later) are ignored. A body with no event at all is read as a non-stream answer.
    """

    end_marker = "response.completed (or response.incomplete)"
    answer_field = "output"

    def __init__(self, adapter: OpenAIResponsesAdapter, secrets: tuple[str, ...]) -> None:
        super().__init__(adapter, secrets)
        #: output_index -> the call's position among the function calls; item id -> the same.
        self._calls: dict[int, int] = {}
        self._call_ids: dict[str, int] = {}
        self._has_arguments: set[int] = set()
        self._thinking_at: tuple[Any, Any] | None = None

    def finished(self) -> bool:
        return self.done

    def decode_event(self, event: ServerSentEvent) -> Chunk | None:
        obj = self.event_object(event.data)
        kind = obj.get("type") or event.event
        if kind == "response.output_text.delta":  # by far the most frequent event
            delta = obj.get("delta")
            return Chunk(delta) if delta else None
        if kind == "response.function_call_arguments.delta":
            index = self._call_index(obj)
            fragment = obj.get("delta") or ""
            if index is None or not fragment:
                return None
            self._has_arguments.add(index)
            return Chunk(tool_calls=(ToolCallDelta(index, arguments=fragment),))
        if kind in _THINKING_DELTAS:
            return self._thinking(obj)
        if kind == "response.refusal.delta":
            delta = obj.get("delta")
            return Chunk(refusal=delta) if delta else None
        if kind == "response.output_item.added" or kind == "response.output_item.done":
            return self._item(obj, added=kind == "response.output_item.added")
        if kind == "response.function_call_arguments.done":
            index = self._call_index(obj)
            return self._whole_arguments(index, obj.get("arguments"))
        if kind == "response.created" or kind == "response.in_progress":
            self._started(obj.get("response"))
            return None
        if kind in _TERMINAL:
            return self._terminal(obj.get("response"))
        if kind == "response.failed":
            self.done = True
            response = obj.get("response")
            self._started(response)
            error = response.get("error") if isinstance(response, Mapping) else None
            raise self.event_error(error if isinstance(error, Mapping) else
                                   {"code": "server_error", "message": "the response failed (no error given)"})
        if kind == "error":
            nested = obj.get("error")
            raise self.event_error(nested if isinstance(nested, Mapping) else
                                   {k: obj.get(k) for k in ("code", "message", "param")})
        return None

    # -- the pieces ---------------------------------------------------------------------------
    def _started(self, response: Any) -> None:
        if isinstance(response, Mapping):
            self.model = response.get("model") or self.model
            rid = response.get("id")
            if isinstance(rid, str) and rid:
                self.response_id = rid

    def _call_index(self, obj: Mapping[str, Any]) -> int | None:
        output_index, item_id = obj.get("output_index"), obj.get("item_id")
        index = self._calls.get(output_index) if isinstance(output_index, int) else None
        if index is None and isinstance(item_id, str):
            index = self._call_ids.get(item_id)
        return index

    def _item(self, obj: Mapping[str, Any], *, added: bool) -> Chunk | None:
        item = obj.get("item")
        if not isinstance(item, Mapping):
            return None
        if item.get("type") == "reasoning" and not added:  # the whole item, encrypted_content included
            part = reasoning_part(item)
            return None if part is None else Chunk(parts=(part,))
        if item.get("type") != "function_call":
            return None
        output_index = obj.get("output_index")
        index = self._calls.get(output_index) if isinstance(output_index, int) else None
        if index is None and isinstance(item.get("id"), str):
            index = self._call_ids.get(item["id"])
        if index is None:
            index = len(set(self._calls.values()) | set(self._call_ids.values()))
            if isinstance(output_index, int):
                self._calls[output_index] = index
            if isinstance(item.get("id"), str):
                self._call_ids[item["id"]] = index
            arguments = item.get("arguments") or ""
            if arguments:
                self._has_arguments.add(index)
            return Chunk(tool_calls=(ToolCallDelta(index, item.get("call_id") or item.get("id"), item.get("name"),
                                                   arguments),))
        return None if added else self._whole_arguments(index, item.get("arguments"))

    def _whole_arguments(self, index: int | None, arguments: Any) -> Chunk | None:
        """The whole arguments of a call whose fragments never came (some compatible servers)."""
        if index is None or index in self._has_arguments or not isinstance(arguments, str) or not arguments:
            return None
        self._has_arguments.add(index)
        return Chunk(tool_calls=(ToolCallDelta(index, arguments=arguments),))

    def _thinking(self, obj: Mapping[str, Any]) -> Chunk | None:
        delta = obj.get("delta")
        if not delta:
            return None
        where = (obj.get("item_id"), obj.get("summary_index", obj.get("content_index")))
        if self._thinking_at is not None and where != self._thinking_at:
            delta = "\n\n" + delta
        self._thinking_at = where
        return Chunk(thinking=delta)

    def _terminal(self, response: Any) -> Chunk:
        self.done = True
        if not isinstance(response, Mapping):
            raise ProviderError("a terminal Responses event carries no response object", provider=self.provider)
        self._started(response)
        finish, raw = finish_of(response, bool(self._calls or self._call_ids))
        return Chunk(finish_reason=finish, raw_finish_reason=raw, usage=responses_usage(response.get("usage")))
