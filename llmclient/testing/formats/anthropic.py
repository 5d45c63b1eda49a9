"""Anthropic's Messages API, as the fake server speaks it.

Shapes follow ``wire-formats.md`` section 3: ``message`` JSON answers, SSE streams whose events
carry ``event:`` names (``message_start``, ``content_block_*``, ``ping``, ``message_delta``,
``message_stop``), ``{"type": "error", "error": {"type", "message"}}`` errors with a
``request-id`` header, and ``event: error`` inside a 200 stream.

With ``thinking`` on (``enabled`` or ``adaptive``), answers start with a signed ``thinking``
block and a ``redacted_thinking`` block (streamed as ``thinking_delta`` pieces, one
``signature_delta`` and a whole ``redacted_thinking`` start: ``wire-formats-2026.md`` section 2),
and a replay is checked as the API checks it: every thinking block's signature must be this
format's own, and the assistant turn of an open tool cycle must start with its thinking (400
``Expected `thinking` or `redacted_thinking`, but found `tool_use` ...`` otherwise).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from typing import Any, ClassVar

from llmclient.testing.formats.base import (
    CONTEXT_WINDOW,
    CallError,
    FakeCall,
    RecordedRequest,
    Reply,
    WireFormat,
    count_words,
    split_chunks,
)
from llmclient.testing.formats.signatures import (
    MISSING_THINKING,
    is_redacted_data,
    redacted_data,
    sign,
    thinking_text,
    verify,
)
from llmclient.testing.formats.structured import requested_schema

__all__ = ["AnthropicFormat"]

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}

#: (message, type) per status, for errors nobody spelled out.
_DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("Invalid request.", "invalid_request_error"),
    401: ("invalid x-api-key", "authentication_error"),
    402: ("Your credit balance is too low to access the Anthropic API.", "billing_error"),
    403: ("Your API key does not have permission to use the specified resource.", "permission_error"),
    404: ("model: {model}", "not_found_error"),
    413: ("Request exceeds the maximum allowed number of bytes.", "request_too_large"),
    429: ("Number of request tokens has exceeded your per-minute rate limit.", "rate_limit_error"),
    500: ("Internal server error", "api_error"),
    529: ("Overloaded", "overloaded_error"),
}
_SPEND_LIMIT = ("You have reached your specified API usage limits (spend limit).", "rate_limit_error",
                "enforced_spend_limit_reached")

#: The token count route, and the fields it takes (the Messages body without max_tokens, stream,
#: stop_sequences, metadata or sampling: wire-formats-2026 section 2).
_COUNT_PATH = "/v1/messages/count_tokens"
_COUNT_FIELDS = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
                           "cache_control", "speed", "mcp_servers"})

#: Anthropic's prompt-too-long error (wire-formats-2026 section 8, boldsoftware/exe.dev#62).
_CONTEXT_WINDOW = ("prompt is too long: 200251 tokens > 200000 maximum", "invalid_request_error")

#: OpenAI's vocabulary (the Fault defaults) -> Anthropic's error types.
_TYPE_ALIASES = {"server_error": "api_error", "rate_limit_exceeded": "rate_limit_error", "requests": "rate_limit_error",
                 "tokens": "rate_limit_error", "insufficient_quota": "rate_limit_error"}


def _text_of(content: Any) -> str:
    """The text of a ``content`` value: a string, or its text (and tool-result text) blocks joined."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_result":
            texts.append(_text_of(block.get("content")))
    return " ".join(t for t in texts if t)


def thinking_on(body: dict[str, Any]) -> bool:
    """Whether a Messages body turns thinking on."""
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def check_replay(messages: list[Any], issuer: str, thinking: bool) -> CallError | None:
    """The 400 the API answers a replay with: a thinking block not signed by ``issuer``, or (with
    thinking on) an open tool cycle whose assistant turn does not start with its thinking."""
    for index, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if message.get("role") != "assistant" or not isinstance(content, list):
            continue
        for number, block in enumerate(content):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "thinking" and not verify(issuer, str(block.get("thinking")), block.get("signature")):
                return CallError(400, f"messages.{index}.content.{number}: Invalid `signature` in `thinking` block",
                                 "invalid_request_error")
            if kind == "redacted_thinking" and not is_redacted_data(issuer, block.get("data")):
                return CallError(400, f"messages.{index}.content.{number}: Invalid `data` in `redacted_thinking` "
                                 "block", "invalid_request_error")
    if thinking and len(messages) >= 2 and _has(messages[-1], "tool_result") and _has(messages[-2], "tool_use"):
        content = messages[-2]["content"]
        first = content[0].get("type") if isinstance(content[0], dict) else None
        if first not in ("thinking", "redacted_thinking"):
            return CallError(400, MISSING_THINKING.format(index=len(messages) - 2, found=first),
                             "invalid_request_error")
    return None


def _has(message: Any, kind: str) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and bool(content) and any(
        isinstance(b, dict) and b.get("type") == kind for b in content)


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


class AnthropicFormat(WireFormat):
    """``POST <anything>/v1/messages`` with ``x-api-key: KEY`` (or ``Authorization: Bearer KEY``)."""

    name: ClassVar[str] = "anthropic"

    def route(self, method: str, path: str) -> bool:
        """Any path ending in ``/v1/messages`` (or ``/v1/messages/count_tokens``)."""
        return method == "POST" and (path.endswith("/v1/messages") or path.endswith(_COUNT_PATH))

    def authenticate(self, request: RecordedRequest, api_key: str) -> bool:
        """Require ``x-api-key: <api_key>`` (newer SDKs send a bearer token: accepted too)."""
        return hmac.compare_digest(request.headers.get("x-api-key", ""), api_key) or hmac.compare_digest(
            request.headers.get("authorization", ""), "Bearer " + api_key)

    def parse(self, request: RecordedRequest, seq: int) -> FakeCall:
        """Decode a Messages body; 400 for bad JSON, no ``messages`` or no ``max_tokens``."""
        try:
            body = json.loads(request.body)
        except ValueError:
            raise CallError(400, "There was an error parsing the body of your request.",
                            "invalid_request_error") from None
        if not isinstance(body, dict):
            raise CallError(400, "The request body must be a JSON object.", "invalid_request_error")
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise CallError(400, "messages: Field required", "invalid_request_error")
        counting = request.path.endswith(_COUNT_PATH)  # count_tokens: no max_tokens, stream...
        refused_fields = sorted(set(body) - _COUNT_FIELDS) if counting else []
        if refused_fields:
            raise CallError(400, f"{refused_fields[0]}: Extra inputs are not permitted", "invalid_request_error")
        max_tokens = body.get("max_tokens")
        if not counting and not isinstance(max_tokens, int):
            raise CallError(400, "max_tokens: Field required", "invalid_request_error")
        budget = (body.get("thinking") or {}).get("budget_tokens") if thinking_on(body) else None
        if isinstance(budget, int) and isinstance(max_tokens, int) and (budget < 1024 or budget >= max_tokens):
            raise CallError(400, "`max_tokens` must be greater than `thinking.budget_tokens`, which must be "
                            "at least 1024", "invalid_request_error")
        refused = check_replay(messages, self.name, thinking_on(body))
        if refused is not None:
            raise refused
        model = body.get("model") if isinstance(body.get("model"), str) else ""
        system = body.get("system")
        texts = [_text_of(system)] if system else []
        prompt = ""
        for message in messages:
            if isinstance(message, dict):
                text = _text_of(message.get("content"))
                texts.append(text)
                if message.get("role") == "user":
                    prompt = text
        tools = body.get("tools") or []
        if "response_format" in body:  # what the API says to a field it does not take
            raise CallError(400, "response_format: Extra inputs are not permitted", "invalid_request_error")
        json_mode, json_schema = requested_schema(body, "anthropic")
        choice = body.get("tool_choice")
        kind = choice.get("type") if isinstance(choice, dict) else None
        forced = choice.get("name") if isinstance(choice, dict) and kind == "tool" else None
        return FakeCall(
            seq=seq,
            model=str(model),
            stream=body.get("stream") is True,
            prompt=prompt,
            prompt_tokens=sum(count_words(t) for t in texts),
            messages=messages,
            max_tokens=max_tokens,
            tool_names=tuple(str(t.get("name", "")) for t in tools if isinstance(t, dict)),
            tool_choice={"auto": "auto", "any": "required", "tool": "required", "none": "none"}.get(str(kind))
            if kind else None,
            tool_choice_name=forced if isinstance(forced, str) else None,
            json_mode=json_mode, json_schema=json_schema,
            include_usage=True,
            body=body,
            models=(str(model),),
            received_at=request.received_at,
            operation="count_tokens" if counting else "chat",
        )

    def _headers(self, seq: int, content_type: str) -> dict[str, str]:
        return {"content-type": content_type, "request-id": f"req_fake{seq}",
                "anthropic-organization-id": "org-fake"}

    def _usage(self, reply: Reply, output: int) -> dict[str, int]:
        return {"input_tokens": reply.prompt_tokens, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0, "output_tokens": output}

    def thinking_blocks(self, call: FakeCall, reply: Reply) -> list[dict[str, Any]]:
        """A signed ``thinking`` block and a ``redacted_thinking`` block, when the request turned thinking on."""
        if not thinking_on(call.body):
            return []
        text = thinking_text(call.prompt, reply.tool_name)
        return [{"type": "thinking", "thinking": text, "signature": sign(self.name, text)},
                {"type": "redacted_thinking", "data": redacted_data(self.name, call.seq)}]

    def render_json(self, call: FakeCall, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        """A ``message`` object with one text block, or one ``tool_use`` block (after thinking blocks);
        ``{"input_tokens": N}`` for count_tokens."""
        if call.operation == "count_tokens":
            return 200, self._headers(call.seq, "application/json"), json.dumps(
                {"input_tokens": call.prompt_tokens}).encode()
        if reply.tool_name is not None:
            block: dict[str, Any] = {"type": "tool_use", "id": f"toolu_fake{call.seq}", "name": reply.tool_name,
                                     "input": json.loads(reply.tool_arguments)}
        else:
            block = {"type": "text", "text": reply.text}
        body = {"id": f"msg_fake{call.seq}", "type": "message", "role": "assistant", "model": call.model,
                "content": [*self.thinking_blocks(call, reply), block],
                "stop_reason": _STOP_REASONS[reply.finish_reason], "stop_sequence": None,
                "usage": self._usage(reply, reply.completion_tokens)}
        return 200, self._headers(call.seq, "application/json"), json.dumps(body).encode()

    def stream_headers(self, call: FakeCall) -> dict[str, str]:
        """SSE content type plus the request id."""
        headers = self._headers(call.seq, "text/event-stream; charset=utf-8")
        headers["cache-control"] = "no-cache"
        return headers

    def render_stream(self, call: FakeCall, reply: Reply) -> Iterator[bytes]:
        """message_start, a block (start, ping, deltas, stop), message_delta, message_stop."""
        message: dict[str, Any] = {"id": f"msg_fake{call.seq}", "type": "message", "role": "assistant",
                                   "model": call.model, "content": [], "stop_reason": None,
                                   "stop_sequence": None, "usage": self._usage(reply, 1)}
        yield _event("message_start", {"type": "message_start", "message": message})
        blocks = self.thinking_blocks(call, reply)
        for index, thought in enumerate(blocks):
            yield from self._stream_thinking(index, thought)
        main = len(blocks)
        if reply.tool_name is not None:
            block: dict[str, Any] = {"type": "tool_use", "id": f"toolu_fake{call.seq}", "name": reply.tool_name,
                                     "input": {}}
            delta_type, field = "input_json_delta", "partial_json"
        else:
            block, delta_type, field = {"type": "text", "text": ""}, "text_delta", "text"
        yield _event("content_block_start", {"type": "content_block_start", "index": main, "content_block": block})
        yield _event("ping", {"type": "ping"})
        for piece in reply.chunks:
            yield _event("content_block_delta", {"type": "content_block_delta", "index": main,
                                                 "delta": {"type": delta_type, field: piece}})
        yield _event("content_block_stop", {"type": "content_block_stop", "index": main})
        yield _event("message_delta", {"type": "message_delta",
                                       "delta": {"stop_reason": _STOP_REASONS[reply.finish_reason],
                                                 "stop_sequence": None},
                                       "usage": {"output_tokens": reply.completion_tokens}})
        yield _event("message_stop", {"type": "message_stop"})

    def _stream_thinking(self, index: int, block: dict[str, Any]) -> Iterator[bytes]:
        """A thinking block as the API streams it (deltas, then one signature_delta); a redacted one whole."""
        if block["type"] == "redacted_thinking":
            yield _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
        else:
            start = {"type": "thinking", "thinking": "", "signature": ""}
            yield _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
            for piece in split_chunks(block["thinking"]):
                yield _event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                     "delta": {"type": "thinking_delta", "thinking": piece}})
            yield _event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                 "delta": {"type": "signature_delta", "signature": block["signature"]}})
        yield _event("content_block_stop", {"type": "content_block_stop", "index": index})

    def default_error(self, status: int, *, model: str = "", quota: bool = False) -> tuple[str, str, str | None]:
        """Anthropic's error for ``status`` (``quota`` turns a 429 into the spend-limit error)."""
        if status == 429 and quota:
            return _SPEND_LIMIT
        message, kind = _DEFAULT_ERRORS.get(status, ("Internal server error", "api_error") if status >= 500
                                            else ("Invalid request.", "invalid_request_error"))
        return message.replace("{model}", model or "unknown"), kind, None

    def error(
        self, status: int, message: str, error_type: str, code: str | None, *, seq: int = 0
    ) -> tuple[dict[str, str], bytes]:
        """``{"type": "error", "error": {"type", "message"[, "details"]}, "request_id"}``."""
        if error_type == CONTEXT_WINDOW:
            message, error_type = _CONTEXT_WINDOW
        error: dict[str, Any] = {"type": _TYPE_ALIASES.get(error_type, error_type), "message": message}
        if code:
            error["details"] = {"error_code": code}
        body = {"type": "error", "error": error, "request_id": f"req_fake{seq}"}
        return self._headers(seq, "application/json"), json.dumps(body).encode()

    def error_event(self, error_type: str, message: str) -> bytes:
        """``event: error`` with the error object, as sent when a 200 stream fails."""
        if error_type == CONTEXT_WINDOW:
            message, error_type = _CONTEXT_WINDOW
        kind = _TYPE_ALIASES.get(error_type, error_type)
        return _event("error", {"type": "error", "error": {"type": kind, "message": message or kind}})

    def malformed_event(self, call: FakeCall) -> bytes:
        """A delta event whose JSON is cut off."""
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","ind\n\n'
