"""Gemini's generateContent wire format: bodies, answers, errors and ``alt=sse`` streams.

Pure translation, shared by every endpoint that speaks it: Google AI (``google.py``) today,
Vertex AI later, which differ only in address and credentials. Nothing here reads options
or does I/O: callers pass the resolved option defaults and a :class:`RolePolicy`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..errors import AuthError, LLMError, ProviderError, RateLimitError
from ..models import (
    UNKNOWN_USAGE,
    ChatRequest,
    Chunk,
    Completion,
    HttpResponse,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolCallDelta,
    Usage,
    to_tools,
)
from ..redaction import redact_text
from ..structured import output_format
from ..wire.sse import SSEDecoder
from .base import JsonEventDecoder
from .gemini_messages import checks_signatures, gemini_contents, native_thinking_config, read_candidate, thinking_config
from .plain_body import PlainBody
from .reasoning import REASONING_PARAMS, reasoning_of
from .roles import RolePolicy
from .status import class_for_status, http_error, refine_class

__all__ = ["GeminiStreamDecoder", "gemini_body", "gemini_contents", "gemini_completion", "gemini_error",
           "gemini_usage", "FINISH_REASONS", "GENERATION_PARAMS"]

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter",
                  "RECITATION": "content_filter", "BLOCKLIST": "content_filter",
                  "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
                  "IMAGE_SAFETY": "content_filter"}

#: Call parameters that live in ``generationConfig``, with their Gemini names.
GENERATION_PARAMS = {"temperature": "temperature", "top_p": "topP", "top_k": "topK", "max_tokens": "maxOutputTokens",
                     "max_output_tokens": "maxOutputTokens", "stop": "stopSequences", "n": "candidateCount",
                     "candidate_count": "candidateCount", "seed": "seed", "presence_penalty": "presencePenalty",
                     "frequency_penalty": "frequencyPenalty"}

_RPC_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400, "UNAUTHENTICATED": 401,
               "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ABORTED": 409, "ALREADY_EXISTS": 409,
               "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499, "INTERNAL": 500, "UNKNOWN": 500,
               "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}
#: A ``GenerateContentResponse`` has at least one of these.
_ANSWER_KEYS = frozenset({"candidates", "promptFeedback", "usageMetadata", "modelVersion", "responseId"})
_DELAY = re.compile(r"^\s*(\d+(?:\.\d*)?)s\s*$")


# -- request ------------------------------------------------------------------------------
def gemini_body(request: ChatRequest, defaults: Mapping[str, Any], roles: RolePolicy, *, model: str = "",
                state_source: str = "google-ai") -> dict[str, Any]:
    """The ``generateContent`` body for ``request``; ``defaults`` are the client's resolved options.

    Known call parameters go into ``generationConfig`` (over the option's own
    ``generationConfig``), tools into ``functionDeclarations``; other keys are top-level
    body fields (``safetySettings``, ``cachedContent``...), None removing one. A caller's
    ``thinking_config`` goes into ``generationConfig.thinkingConfig``, and so does the one
    reasoning control (``reasoning_effort`` / ``reasoning_budget_tokens``) when the caller gave none.
    ``model`` and ``state_source`` (who replayed reasoning state must come from) shape the contents.
    """
    body: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for source in (defaults, request.params):
        for key, value in source.items():
            if key == "generationConfig" or key == "generation_config":
                config.update(value or {})
            elif key in ("safety_settings", "safetySettings"):
                body["safetySettings"] = safety_settings(value)
            elif key in GENERATION_PARAMS:
                name = GENERATION_PARAMS[key]
                config[name] = [value] if name == "stopSequences" and isinstance(value, str) else value
            elif key == "response_format":
                for name in ("responseMimeType", "responseSchema", "responseJsonSchema"):
                    config.pop(name, None)
                config.update(_response_format(value))
            elif key == "tools":
                body["tools"] = None if not value else [{"functionDeclarations": [
                    {"name": t.name, **({"description": t.description} if t.description else {}),
                     "parametersJsonSchema": dict(t.parameters)} for t in to_tools(value)]}]
            elif key == "tool_choice":
                body["toolConfig"] = None if value is None else {"functionCallingConfig": _tool_choice(value)}
            elif key in ("thinking_config", "thinkingConfig"):
                config["thinkingConfig"] = None if value is None else native_thinking_config(value)
            elif key in REASONING_PARAMS:
                continue
            else:
                body[key] = value
    reasoning = reasoning_of({**defaults, **request.params}, provider=state_source)
    if "thinkingConfig" not in config:
        mapped = thinking_config(reasoning, model)
        if mapped is not None:
            config["thinkingConfig"] = mapped
    system, contents = gemini_contents(request.messages, roles, source=state_source, foreign=reasoning.foreign,
                                       signatures=checks_signatures(model, config))
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    config = {k: v for k, v in config.items() if v is not None}
    if config:
        out["generationConfig"] = config
    out.update({k: v for k, v in body.items() if v is not None})
    return out


def safety_settings(value: Any) -> Any:
    """Gemini's ``safetySettings`` list from any form a config writes it in.

    BAML's docs and integ tests write a map, ``safetySettings { HARM_CATEGORY_HATE_SPEECH BLOCK_NONE }``,
    which becomes ``[{"category": ..., "threshold": ...}]``; one setting written as an object
    (``{category, threshold[, method]}``) becomes a one-item list; a list (or None) is sent as it is.
    """
    if not isinstance(value, Mapping):
        return value
    if "category" in value:
        return [dict(value)]
    return [{"category": str(category), "threshold": threshold} for category, threshold in value.items()]


def _tool_choice(value: Any) -> dict[str, Any]:
    if value == "auto":
        return {"mode": "AUTO"}
    if value == "none":
        return {"mode": "NONE"}
    if value in ("any", "required"):
        return {"mode": "ANY"}
    if isinstance(value, Mapping) and value.get("type") == "function":
        value = (value.get("function") or {}).get("name")
    if isinstance(value, str):
        return {"mode": "ANY", "allowedFunctionNames": [value]}
    return dict(value)


def _response_format(value: Any) -> dict[str, Any]:
    """``generationConfig`` fields for ``response_format``: JSON mode, and the schema as ``responseJsonSchema``.

    ``responseJsonSchema`` takes plain JSON Schema (``responseSchema`` is Google's OpenAPI subset, with
    upper-case types, which a JSON Schema is not); a native ``responseSchema`` in ``generationConfig`` still
    passes through as given.
    """
    fmt = output_format(value)
    if fmt is None:
        return {}
    out: dict[str, Any] = {"responseMimeType": "application/json"}
    if fmt.schema is not None:
        out["responseJsonSchema"] = fmt.schema
    return out


# -- response -----------------------------------------------------------------------------
def gemini_usage(usage: Mapping[str, Any] | None) -> Usage:
    """Usage from ``usageMetadata``; output and reasoning both count the thinking tokens (as OpenAI's do)."""
    if not usage or not isinstance(usage, Mapping):
        return UNKNOWN_USAGE
    prompt = usage.get("promptTokenCount") or 0
    thoughts = usage.get("thoughtsTokenCount") or 0
    output = (usage.get("candidatesTokenCount") or 0) + thoughts
    return Usage(input_tokens=prompt, output_tokens=output,
                 total_tokens=usage.get("totalTokenCount") or prompt + output,
                 cached_input_tokens=usage.get("cachedContentTokenCount") or 0, reasoning_tokens=thoughts,
                 extra={k: v for k, v in usage.items() if k not in _USAGE_FIELDS})


#: Fields of ``usageMetadata`` read into :class:`Usage`; others (``promptTokensDetails``...) go to ``extra``.
_USAGE_FIELDS = frozenset({"promptTokenCount", "thoughtsTokenCount", "candidatesTokenCount", "totalTokenCount",
                           "cachedContentTokenCount"})


def _finish(raw: str | None, has_calls: bool) -> str | None:
    if not raw:
        return None
    if raw == "STOP" and has_calls:
        return "tool_calls"
    return FINISH_REASONS.get(raw, "other")


def gemini_completion(data: Mapping[str, Any], source: str = "google-ai") -> Completion:
    """The completion in a ``GenerateContentResponse`` (first candidate only).

    A prompt blocked by ``promptFeedback.blockReason`` (no candidates) is a completion with
    empty text, ``finish_reason`` ``content_filter`` and ``raw_finish_reason`` the block
    reason. A ``STOP`` with function calls is normalised to ``tool_calls``. Function calls
    without an ``id`` get ``call_<n>``. Thought signatures stay on their call (``ToolCall.signature``)
    or text part (``Completion.parts``), labelled with ``source``.
    """
    candidate, text, thinking, found, parts = read_candidate(data, source)
    calls = [_tool_call(part, f"call_{n}", source) for n, part in enumerate(found)]
    raw = candidate.get("finishReason")
    if not data.get("candidates"):
        raw = ((data.get("promptFeedback") or {}).get("blockReason")) or raw
        finish = "content_filter" if raw else None
    else:
        finish = _finish(raw, bool(calls))
    response_id = data.get("responseId")
    state = any(isinstance(p, ThinkingPart) or p.signature for p in parts if isinstance(p, (ThinkingPart, TextPart)))
    return Completion(text=text, finish_reason=finish, raw_finish_reason=raw, tool_calls=tuple(calls),
                      usage=gemini_usage(data.get("usageMetadata")), model=data.get("modelVersion"),
                      thinking=thinking or None, raw=data,
                      response_id=response_id if isinstance(response_id, str) else None,
                      parts=tuple(parts) if state else ())


def _tool_call(part: Mapping[str, Any], default_id: str, source: str) -> ToolCall:
    """The call in a ``functionCall`` part, with the part's ``thoughtSignature``."""
    call = part.get("functionCall") or {}
    signature = part.get("thoughtSignature") if isinstance(part.get("thoughtSignature"), str) else None
    return ToolCall(id=call.get("id") or default_id, name=call.get("name", ""), arguments=call.get("args") or {},
                    raw_arguments=json.dumps(call.get("args") or {}), signature=signature,
                    source=source if signature else None)


def _retry_delay(details: Any) -> float | None:
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _reasons(details: Any) -> set[str]:
    return {str(d.get("reason")) for d in details if isinstance(d, dict) and d.get("reason")} \
        if isinstance(details, list) else set()


def gemini_error(error: Mapping[str, Any], *, provider: str, response: HttpResponse | None,
                 secrets: tuple[str, ...] = ()) -> LLMError:
    """The typed error for a Google ``{"code", "message", "status", "details"}`` object.

    ``RetryInfo.retryDelay`` becomes ``retry_after``; ``API_KEY_INVALID`` (sent as a 400)
    and ``PERMISSION_DENIED`` are :class:`AuthError`. Without a response (an error inside
    a 200 stream) the class comes from ``code``, else from ``status``.
    """
    rpc_status = str(error.get("status") or "") or None
    message = str(error.get("message") or rpc_status or "unknown error")
    details = error.get("details")
    reasons = _reasons(details)
    code_value = error.get("code")
    status = code_value if isinstance(code_value, int) and code_value >= 400 else _RPC_STATUS.get(rpc_status or "", 500)
    if response is not None:
        status = response.status_code
    cls: type[LLMError] | None = None
    if "API_KEY_INVALID" in reasons or rpc_status in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        cls = AuthError
    elif rpc_status == "RESOURCE_EXHAUSTED" or status == 429:
        cls = RateLimitError
    code = "API_KEY_INVALID" if "API_KEY_INVALID" in reasons else rpc_status
    retry_after = _retry_delay(details)
    if response is not None:
        return http_error(response, message, provider=provider, secrets=secrets, cls=cls, code=code,
                          retry_after=retry_after)
    error_cls = refine_class(cls or class_for_status(status), message)
    return error_cls(redact_text(message, secrets), provider=provider, status_code=status, code=code,
                     retry_after=retry_after)


# -- stream -------------------------------------------------------------------------------
class GeminiStreamDecoder(JsonEventDecoder):
    """``alt=sse`` events, each a whole ``GenerateContentResponse`` holding only new text, to chunks.

    No ``[DONE]``: the last chunk is the one whose candidates carry a ``finishReason`` (its
    ``usageMetadata`` is the final one), so ``done`` turns True there (or at a blocked
    prompt's ``promptFeedback``); a body that ends earlier must have produced content.
    Usage is cumulative (each chunk replaces it), function calls arrive whole. An error may
    come as a ``data:`` event or as a bare JSON object spread over lines outside the SSE
    framing; both raise the class their code names. A body of bare JSON that is an answer
    (a ``GenerateContentResponse``, or the JSON array ``streamGenerateContent`` sends without
    ``alt=sse``) is decoded like the events it stands for.
    """

    def __init__(self, provider: str, secrets: tuple[str, ...], source: str | None = None) -> None:
        super().__init__(provider, secrets)
        self._source = source or provider
        self._sse = SSEDecoder(keep_stray_lines=True)
        self._plain = PlainBody(provider, secrets)
        self._calls = 0
        self._produced = False
        self._usage_seen = False

    def feed(self, data: bytes) -> list[Chunk]:
        return self._chunks(self._sse.feed(data))

    def finish(self) -> list[Chunk]:
        out = self._chunks(self._sse.finish())
        if self._plain.lines:
            if not self._produced:
                raise self._plain.not_a_stream()
            text = redact_text(self._plain.text()[:120], self._secrets)
            raise ProviderError(f"unreadable text in the stream: {text!r}", provider=self.provider)
        if not self._produced:
            raise ProviderError("the stream ended without any content or finish reason", provider=self.provider)
        if not self._usage_seen:
            self._usage_seen = True
            out.append(Chunk(usage=UNKNOWN_USAGE))  # the server sent none: unknown, not zero
        return out

    def _chunks(self, events: list[Any]) -> list[Chunk]:
        out = self._decode(events, lambda event: self._chunk(self.event_json(event.data)))
        if self._error is None and self._sse.stray_lines:
            try:
                bare = self._bare_json()  # JSON sent outside the SSE framing
            except LLMError as err:
                if not out:
                    raise
                self._error = err
                return out
            if bare:
                out.extend(self._decode(bare, self._chunk))
        return out

    def _bare_json(self) -> list[Any]:
        """Collect lines sent outside SSE framing; once they form one JSON value, the objects it
        holds (an array's items), to decode as events. Raises for an error object."""
        last = self._sse.stray_lines[-1].rstrip()
        self._plain.take(self._sse.stray_lines)
        lines = self._plain.lines
        # Only a line at column 0 can close a top-level value: skip parsing on the others.
        if not last or last[0] in " \t" or last[-1] not in ("]" if lines[0].lstrip()[:1] == "[" else "}"):
            return []
        obj = self._plain.json()
        if obj is None:
            return []
        items = obj if isinstance(obj, list) else [obj]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("error"), dict):
                raise gemini_error(item["error"], provider=self.provider, response=None, secrets=self._secrets)
        if not self._produced and not any(isinstance(i, dict) and _ANSWER_KEYS & i.keys() for i in items):
            raise self._plain.not_a_stream()  # JSON, but neither an answer nor an error
        self._plain.lines, self._plain.size = [], 0
        return items

    def _chunk(self, obj: Any) -> Chunk | None:
        if not isinstance(obj, dict):
            raise ProviderError("a stream event is not a JSON object", provider=self.provider)
        if isinstance(obj.get("error"), dict):
            raise gemini_error(obj["error"], provider=self.provider, response=None, secrets=self._secrets)
        self.model = obj.get("modelVersion") or self.model
        self.response_id = obj.get("responseId") or self.response_id
        candidate, text, thinking, found, parts = read_candidate(obj, self._source)
        calls = []
        for n, part in enumerate(found):
            call = _tool_call(part, f"call_{self._calls + n}", self._source)
            calls.append(ToolCallDelta(self._calls + n, call.id, call.name, call.raw_arguments, call.signature,
                                       call.source))
        self._calls += len(calls)
        raw = candidate.get("finishReason")
        finish = _finish(raw, self._calls > 0)
        candidates = obj.get("candidates")
        if not candidates and (obj.get("promptFeedback") or {}).get("blockReason"):
            raw, finish = obj["promptFeedback"]["blockReason"], "content_filter"
            self.done = True
        elif candidates and all(isinstance(c, dict) and c.get("finishReason") for c in candidates):
            self.done = True  # the last chunk: every candidate has finished
        usage = obj.get("usageMetadata")
        if usage:
            self._usage_seen = True
        chunk = Chunk(text=text, finish_reason=finish, raw_finish_reason=raw, tool_calls=tuple(calls),
                      usage=gemini_usage(usage) if usage else None, thinking=thinking,
                      parts=_stream_parts(parts))
        if chunk.text or chunk.tool_calls or chunk.thinking or chunk.parts or raw:
            self._produced = True
        elif usage is None:
            return None
        return chunk


def _stream_parts(parts: list[Any]) -> tuple[Any, ...]:
    """A stream event's reasoning state for ``Chunk.parts``: signed thoughts, and a text signature
    as an empty signed text part (the text itself rides in ``Chunk.text``)."""
    out: list[Any] = []
    for part in parts:
        if isinstance(part, ThinkingPart) and part.signature:
            out.append(part)
        elif isinstance(part, TextPart) and part.signature:
            out.append(TextPart("", signature=part.signature, source=part.source))
    return tuple(out)
