"""AWS Bedrock Runtime's Converse and ConverseStream, as the fake server speaks them.

Shapes follow ``wire-formats.md`` section 4: Converse JSON answers, ConverseStream as real
binary event-stream frames (built by :func:`encode_frame`, CRC-32 via ``zlib``, each event
carrying the random-looking ``p`` padding member real frames have), errors as
``x-amzn-ErrorType`` plus ``{"message"}``, and mid-stream failures as exception frames
(``:message-type: exception``). With ``api_key`` set on the server a request must carry
``Authorization: Bearer KEY`` or a SigV4 ``Authorization`` whose access key id is ``KEY``
(the signature itself is checked by the tests, not here).

Reasoning (``wire-formats-2026.md`` section 4): with Claude's ``thinking`` on in
``additionalModelRequestFields``, answers start with a ``reasoningContent`` block (``reasoningText``
with ``text`` and ``signature``) and a ``redactedContent`` one, streamed as reasoning deltas (text
pieces, then the signature; the redacted data in one delta). A replay is checked as Bedrock
relays Anthropic's checks: each reasoning block must be this format's own, and the assistant turn
of an open tool cycle must start with its reasoning (400 ``ValidationException`` otherwise).
"""

from __future__ import annotations

import hmac
import json
import re
import struct
import time
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import unquote

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

__all__ = ["BedrockFormat", "encode_frame", "event_frame", "exception_frame"]

_PATH = re.compile(r"^/model/([^/]+)/(converse|converse-stream|count-tokens)$")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"

#: Exception name and message per status, for errors nobody spelled out.
_DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("ValidationException", "The provided request is not valid."),
    401: ("UnrecognizedClientException", "The security token included in the request is invalid."),
    403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
    404: ("ResourceNotFoundException", "Could not resolve the foundation model from the provided model identifier."),
    408: ("ModelTimeoutException", "Model has timed out in processing the request."),
    424: ("ModelErrorException", "The model returned an error."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "The server encountered an internal error."),
    503: ("ServiceUnavailableException", "Bedrock is unable to process your request."),
}
#: Bedrock's prompt-too-long errors (wire-formats-2026 section 8): Converse with Claude 4.x
#: (aaif-goose/goose#7504), and the older text, also sent in-stream (continuedev/continue#6005).
_CONTEXT_WINDOW = "The model returned the following errors: prompt is too long: 227255 tokens > 200000 maximum"
_CONTEXT_WINDOW_IN_STREAM = "Input is too long for requested model."
#: Fault error types (OpenAI's words) -> the stream exception they stand for.
_STREAM_EXCEPTIONS = {"server_error": "internalServerException", "rate_limit_exceeded": "throttlingException",
                      "requests": "throttlingException", "invalid_request_error": "validationException",
                      "overloaded": "serviceUnavailableException"}


def encode_frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude, string headers (type 7), payload, two CRC-32s.

    botocore has a decoder but no public encoder; this one is a dozen lines of ``struct``.
    """
    head = b"".join(
        struct.pack("!B", len(name.encode())) + name.encode() + struct.pack("!BH", 7, len(value.encode()))
        + value.encode() for name, value in headers.items()
    )
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + head + payload
    return message + struct.pack("!I", zlib.crc32(message) & 0xFFFFFFFF)


def event_frame(event_type: str, body: Mapping[str, Any], *, padding: bool = True) -> bytes:
    """A ConverseStream event frame (``:message-type: event``), with the ``p`` padding member."""
    payload = dict(body)
    if padding:
        payload["p"] = _PADDING[: 4 + len(event_type) % 20]
    return encode_frame({":event-type": event_type, ":content-type": "application/json",
                         ":message-type": "event"}, json.dumps(payload).encode())


def exception_frame(exception_type: str, message: str) -> bytes:
    """An in-stream exception frame, as Bedrock sends when a stream fails after its 200."""
    return encode_frame({":exception-type": exception_type, ":content-type": "application/json",
                         ":message-type": "exception"}, json.dumps({"message": message}).encode())


_RELAYED = "The model returned the following errors: "


def thinking_on(body: Mapping[str, Any]) -> bool:
    """Whether a Converse body turns Claude's thinking on (``additionalModelRequestFields.thinking``)."""
    thinking = (body.get("additionalModelRequestFields") or {}).get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def check_replay(messages: list[Any], issuer: str, thinking: bool) -> CallError | None:
    """The 400 for a reasoning block ``issuer`` did not make, or (thinking on) an open tool turn without one."""
    for index, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or message.get("role") != "assistant":
            continue
        for number, block in enumerate(content):
            reasoning = block.get("reasoningContent") if isinstance(block, dict) else None
            if not isinstance(reasoning, dict):
                continue
            text = reasoning.get("reasoningText")
            if isinstance(text, dict) and not verify(issuer, str(text.get("text")), text.get("signature")):
                return CallError(400, f"{_RELAYED}messages.{index}.content.{number}: Invalid `signature` in "
                                 "`thinking` block", "ValidationException")
            if "redactedContent" in reasoning and not is_redacted_data(issuer, reasoning["redactedContent"]):
                return CallError(400, f"{_RELAYED}messages.{index}.content.{number}: Invalid `data` in "
                                 "`redacted_thinking` block", "ValidationException")
    if thinking and len(messages) >= 2 and _has(messages[-1], "toolResult") and _has(messages[-2], "toolUse"):
        first = messages[-2]["content"][0]
        if not (isinstance(first, dict) and "reasoningContent" in first):
            found = "tool_use" if isinstance(first, dict) and "toolUse" in first else "text"
            return CallError(400, _RELAYED + MISSING_THINKING.format(index=len(messages) - 2, found=found),
                             "ValidationException")
    return None


def _has(message: Any, key: str) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(isinstance(b, dict) and key in b for b in content)


def _count_input(body: Any) -> Any:
    """The Converse-like body a CountTokens body counts (``input.converse``; wire-formats-2026 section 4)."""
    converse = ((body.get("input") or {}) if isinstance(body, dict) else {}).get("converse")
    if not isinstance(converse, dict):
        raise CallError(400, "this fake server counts input.converse only (not invokeModel)", "ValidationException")
    if "inferenceConfig" in converse:
        raise CallError(400, "1 validation error detected: inferenceConfig is not a member of the converse input",
                        "ValidationException")
    return converse


def _texts(content: Any) -> list[str]:
    if not isinstance(content, list):
        return []
    return [b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)]


#: Converse request fields a model refuses when they arrive inside additionalModelRequestFields.
_NOT_MODEL_FIELDS = frozenset({"response_format", "guardrailConfig", "guardrail_config", "outputConfig"})


class BedrockFormat(WireFormat):
    """``POST /model/{modelId}/converse`` and ``/converse-stream``."""

    name: ClassVar[str] = "aws-bedrock"
    stream_content_type: ClassVar[str] = "application/vnd.amazon.eventstream"

    def route(self, method: str, path: str) -> bool:
        """The two Converse paths (model id percent-encoded)."""
        return method == "POST" and _PATH.match(path) is not None

    def authenticate(self, request: RecordedRequest, api_key: str) -> bool:
        """A bearer ``api_key``, or a SigV4 header signed with access key id ``api_key``."""
        header = request.headers.get("authorization", "")
        if header.startswith("AWS4-HMAC-SHA256 "):
            found = _CREDENTIAL.search(header)
            return found is not None and hmac.compare_digest(found.group(1), api_key)
        return hmac.compare_digest(header, "Bearer " + api_key)

    def parse(self, request: RecordedRequest, seq: int) -> FakeCall:
        """Decode the Converse body; 400 ``ValidationException`` when it is not one."""
        match = _PATH.match(request.path)
        assert match is not None
        model = unquote(match.group(1))
        try:
            body = json.loads(request.body)
        except ValueError:
            raise CallError(400, "Malformed input request, please reformat your input and try again.",
                            "ValidationException") from None
        counting = match.group(2) == "count-tokens"
        if counting:
            body = _count_input(body)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise CallError(400, "1 validation error detected: Value null at 'messages' failed to satisfy "
                            "constraint: Member must not be null", "ValidationException")
        refused = check_replay(body["messages"], self.name, thinking_on(body))
        if refused is not None:
            raise refused
        prompt, words = "", 0
        for message in body["messages"]:
            texts = _texts(message.get("content")) if isinstance(message, dict) else []
            words += sum(count_words(t) for t in texts)
            if isinstance(message, dict) and message.get("role") == "user" and texts:
                prompt = " ".join(texts)
        words += sum(count_words(t) for t in _texts(body.get("system")))
        tool_config = body.get("toolConfig") or {}
        tool_names = tuple(str((t.get("toolSpec") or {}).get("name", "")) for t in tool_config.get("tools") or ()
                           if isinstance(t, dict))
        choice = tool_config.get("toolChoice") or {}
        forced = (choice.get("tool") or {}).get("name") if isinstance(choice, dict) else None
        max_tokens = (body.get("inferenceConfig") or {}).get("maxTokens")
        buried = sorted(set(body.get("additionalModelRequestFields") or {}) & _NOT_MODEL_FIELDS)
        if buried:  # passed on to the model, which refuses a Converse field
            raise CallError(400, f"The model returned the following errors: {buried[0]}: Extra inputs are not "
                            "permitted", "ValidationException")
        json_mode, json_schema = requested_schema(body, "bedrock")
        return FakeCall(
            seq=seq, model=model, stream=match.group(2) == "converse-stream", prompt=prompt, prompt_tokens=words,
            messages=body["messages"], max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            tool_names=tool_names, tool_choice="required" if forced or "any" in choice else None,
            tool_choice_name=forced if isinstance(forced, str) else None, include_usage=True, body=body,
            json_mode=json_mode, json_schema=json_schema,
            models=(model,), received_at=request.received_at,
            operation="count_tokens" if counting else "chat",
        )

    def _headers(self, seq: int, content_type: str) -> dict[str, str]:
        return {"content-type": content_type, "x-amzn-requestid": f"fake-bedrock-{seq:08d}"}

    def _usage(self, reply: Reply) -> dict[str, int]:
        return {"inputTokens": reply.prompt_tokens, "outputTokens": reply.completion_tokens,
                "totalTokens": reply.prompt_tokens + reply.completion_tokens}

    def reasoning_blocks(self, call: FakeCall, reply: Reply) -> list[dict[str, Any]]:
        """A signed ``reasoningText`` block and a ``redactedContent`` block, when thinking is on."""
        if not thinking_on(call.body):
            return []
        text = thinking_text(call.prompt, reply.tool_name)
        return [{"reasoningContent": {"reasoningText": {"text": text, "signature": sign(self.name, text)}}},
                {"reasoningContent": {"redactedContent": redacted_data(self.name, call.seq)}}]

    def render_json(self, call: FakeCall, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        """A Converse answer: reasoning blocks (thinking on), one text or toolUse block, stopReason, usage;
        ``{"inputTokens": N}`` for CountTokens."""
        if call.operation == "count_tokens":
            return 200, self._headers(call.seq, "application/json"), json.dumps(
                {"inputTokens": call.prompt_tokens}).encode()
        blocked, trace = guardrail(call)
        if blocked:
            block: dict[str, Any] = {"text": GUARDRAIL_TEXT}
        elif reply.tool_name is not None:
            block = {"toolUse": {"toolUseId": f"tooluse_fake{call.seq}", "name": reply.tool_name,
                                 "input": json.loads(reply.tool_arguments)}}
        else:
            block = {"text": reply.text}
        elapsed = int((time.monotonic() - call.received_at) * 1000) if call.received_at else 1
        body = {"output": {"message": {"role": "assistant", "content": [*self.reasoning_blocks(call, reply), block]}},
                "stopReason": "guardrail_intervened" if blocked else _STOP.get(reply.finish_reason, "end_turn"),
                "usage": self._usage(reply), "metrics": {"latencyMs": max(1, elapsed)}, **trace}
        return 200, self._headers(call.seq, "application/json"), json.dumps(body).encode()

    def stream_headers(self, call: FakeCall) -> dict[str, str]:
        """The event-stream content type and the request id."""
        return self._headers(call.seq, self.stream_content_type)

    def render_stream(self, call: FakeCall, reply: Reply) -> Iterator[bytes]:
        """messageStart, (contentBlockStart for a tool,) deltas, contentBlockStop, messageStop, metadata."""
        yield event_frame("messageStart", {"role": "assistant"})
        blocks = self.reasoning_blocks(call, reply)
        for index, block in enumerate(blocks):
            yield from _reasoning_frames(index, block["reasoningContent"])
        main = len(blocks)
        blocked, trace = guardrail(call)
        if blocked:
            yield event_frame("contentBlockDelta", {"contentBlockIndex": main, "delta": {"text": GUARDRAIL_TEXT}})
        elif reply.tool_name is not None:
            yield event_frame("contentBlockStart", {"contentBlockIndex": main, "start": {"toolUse": {
                "toolUseId": f"tooluse_fake{call.seq}", "name": reply.tool_name}}})
            for piece in reply.chunks:
                yield event_frame("contentBlockDelta", {"contentBlockIndex": main,
                                                        "delta": {"toolUse": {"input": piece}}})
        else:
            for piece in reply.chunks:
                yield event_frame("contentBlockDelta", {"contentBlockIndex": main, "delta": {"text": piece}})
        yield event_frame("contentBlockStop", {"contentBlockIndex": main})
        stop = "guardrail_intervened" if blocked else _STOP.get(reply.finish_reason, "end_turn")
        yield event_frame("messageStop", {"stopReason": stop})
        yield event_frame("metadata", {"usage": self._usage(reply), "metrics": {"latencyMs": 1}, **trace})

    def default_error(self, status: int, *, model: str = "", quota: bool = False) -> tuple[str, str, str | None]:
        """Bedrock's exception for ``status`` (``quota``: ``ServiceQuotaExceededException``)."""
        if quota:
            return "Your request exceeds the service quota for your account.", "ServiceQuotaExceededException", None
        name, message = _DEFAULT_ERRORS.get(status, _DEFAULT_ERRORS[500 if status >= 500 else 400])
        return message, name, None

    def error(
        self, status: int, message: str, error_type: str, code: str | None, *, seq: int = 0
    ) -> tuple[dict[str, str], bytes]:
        """``x-amzn-ErrorType: <Name>:<namespace>`` and ``{"message": ...}``."""
        if error_type == CONTEXT_WINDOW:
            message, error_type = _CONTEXT_WINDOW, "ValidationException"
        name = error_type if error_type[:1].isupper() else _DEFAULT_ERRORS.get(status, ("ValidationException",))[0]
        headers = self._headers(seq, "application/json")
        headers["x-amzn-errortype"] = name + _ERROR_TYPE_SUFFIX
        return headers, json.dumps({"message": message}).encode()

    def error_event(self, error_type: str, message: str) -> bytes:
        """An exception frame; OpenAI-style fault types are mapped to Bedrock's camel-case names."""
        if error_type == CONTEXT_WINDOW:
            message, error_type = _CONTEXT_WINDOW_IN_STREAM, "validationException"
        name = _STREAM_EXCEPTIONS.get(error_type, error_type)
        return exception_frame(name[:1].lower() + name[1:], message or "The stream failed.")

    def malformed_event(self, call: FakeCall) -> bytes:
        """A well-framed contentBlockDelta whose JSON payload is cut off."""
        return encode_frame({":event-type": "contentBlockDelta", ":content-type": "application/json",
                             ":message-type": "event"}, b'{"contentBlockIndex": 0, "delta": {"te')


#: What the fake answers when its guardrail intervenes (the guardrail's "blocked input messaging").
GUARDRAIL_TEXT = "Sorry, I can't help with that."


def guardrail(call: FakeCall) -> tuple[bool, dict[str, Any]]:
    """``(intervened, {"trace": ...} or {})`` for a request with a top-level ``guardrailConfig``.

    The fake guardrail blocks a prompt containing the word ``BLOCKED`` (a VIOLENCE content filter);
    with ``trace`` ``enabled``/``enabled_full`` the answer carries its ``trace.guardrail``, shaped as
    in the botocore model (wire-formats-2026 section 4).
    """
    config = call.body.get("guardrailConfig")
    if not isinstance(config, Mapping):
        return False, {}
    blocked = "BLOCKED" in call.prompt.split()
    if config.get("trace") not in ("enabled", "enabled_full"):
        return blocked, {}
    name = str(config.get("guardrailIdentifier") or "")
    filters = [{"type": "VIOLENCE", "confidence": "HIGH", "filterStrength": "HIGH", "action": "BLOCKED",
                "detected": True}] if blocked else []
    assessment = {name: {"contentPolicy": {"filters": filters}, "invocationMetrics": {
        "guardrailProcessingLatency": 1, "guardrailCoverage": {"textCharacters": {
            "guarded": len(call.prompt), "total": len(call.prompt)}}}}}
    trace: dict[str, Any] = {"inputAssessment": assessment}
    if blocked:
        trace["actionReason"] = "Guardrail blocked."
    return blocked, {"trace": {"guardrail": trace}}


def _reasoning_frames(index: int, reasoning: Mapping[str, Any]) -> Iterator[bytes]:
    """A reasoning block as ConverseStream sends it: text deltas then the signature, or the redacted data."""
    if "redactedContent" in reasoning:
        yield event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": {
            "redactedContent": reasoning["redactedContent"]}}})
    else:
        for piece in split_chunks(reasoning["reasoningText"]["text"]):
            yield event_frame("contentBlockDelta", {"contentBlockIndex": index,
                                                    "delta": {"reasoningContent": {"text": piece}}})
        yield event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": {
            "signature": reasoning["reasoningText"]["signature"]}}})
    yield event_frame("contentBlockStop", {"contentBlockIndex": index})
