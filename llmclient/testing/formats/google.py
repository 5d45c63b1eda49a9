"""Google AI's Gemini API (generateContent), as the fake server speaks it.

Shapes follow ``wire-formats.md`` section 5: ``GenerateContentResponse`` JSON, ``alt=sse`` streams
of ``data:`` events separated by CRLF (no ``[DONE]``; cumulative ``usageMetadata``; function
calls whole in one event), and ``{"error": {"code", "message", "status", "details"}}`` errors.

Thinking (``generationConfig.thinkingConfig``, ``wire-formats-2026.md`` section 3): with it on,
answers carry a ``thought: true`` summary part (when ``includeThoughts``) and a
``thoughtSignature`` on the ``functionCall`` part, or on the text part (the last streamed piece,
signing the whole text). A request with thinking on, or to a ``gemini-3`` model, is checked as
Gemini 3 checks it: the first function call of each model turn in the current turn (since the
last user turn that is not a function response) must carry a signature, and every signature
must be this format's own or the documented ``skip_thought_signature_validator``
(400 ``INVALID_ARGUMENT`` otherwise; the wording for a bad signature is the fake's).
"""

from __future__ import annotations

import hmac
import json
import re
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
)
from llmclient.testing.formats.signatures import sign, thinking_text, verify
from llmclient.testing.formats.structured import requested_schema

__all__ = ["GoogleAIFormat"]

_PATH = re.compile(r"^(?:/[^/]+)?/models/([^/:]+):(generateContent|streamGenerateContent|countTokens)$")
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
                 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_CODES = {name: code for code, name in _STATUS_NAMES.items()}
_DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "API key not valid. Please pass a valid API key.",
    403: "Method doesn't allow unregistered callers (callers without established identity).",
    404: "models/{model} is not found for API version v1beta, or is not supported for generateContent.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "The request timed out. Please try again.",
}
#: Gemini's (and Vertex's) prompt-too-long error (wire-formats-2026 section 8, google-gemini/gemini-cli#4231).
_CONTEXT_WINDOW = ("The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).",
                   "INVALID_ARGUMENT")
#: OpenAI's and Anthropic's vocabularies (the Fault defaults) -> Google status names.
_TYPE_ALIASES = {"server_error": "INTERNAL", "api_error": "INTERNAL", "overloaded_error": "UNAVAILABLE",
                 "rate_limit_error": "RESOURCE_EXHAUSTED", "rate_limit_exceeded": "RESOURCE_EXHAUSTED",
                 "invalid_request_error": "INVALID_ARGUMENT"}


#: The signature Google documents for function calls Gemini did not make.
SKIP_SIGNATURE = "skip_thought_signature_validator"


def thinking_config(body: dict[str, Any]) -> dict[str, Any] | None:
    """The request's ``thinkingConfig`` when it turns thinking on (camelCase or snake_case keys), else None."""
    config = (body.get("generationConfig") or {}).get("thinkingConfig")
    if not isinstance(config, dict):
        return None
    budget = config.get("thinkingBudget", config.get("thinking_budget"))
    return None if budget == 0 else config


def call_content(call: dict[str, Any]) -> str:
    """What a ``functionCall``'s signature signs."""
    return "call:" + json.dumps({"name": call.get("name"), "args": call.get("args")}, sort_keys=True)


def check_signatures(contents: list[Any], issuer: str) -> CallError | None:
    """The 400 Gemini 3 answers a replay with: a current-turn call without a signature, or a bad signature."""
    current = 0
    for index, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(content, dict) and content.get("role", "user") == "user" and isinstance(parts, list) and any(
                isinstance(p, dict) and "functionResponse" not in p for p in parts):
            current = index + 1
    for index, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(content, dict) or content.get("role") != "model" or not isinstance(parts, list):
            continue
        first_call = True
        for part in parts:
            if not isinstance(part, dict):
                continue
            signature = part.get("thoughtSignature")
            call = part.get("functionCall")
            if isinstance(call, dict):
                if first_call and index >= current and signature is None:
                    return CallError(400, f"Function call `{call.get('name')}` in the `{index}.` content block is "
                                     "missing a `thought_signature`. Learn more: "
                                     "https://ai.google.dev/gemini-api/docs/thought-signatures", "INVALID_ARGUMENT")
                first_call = False
            signed = call_content(call) if isinstance(call, dict) else "text:" + str(part.get("text", ""))
            if signature is not None and signature != SKIP_SIGNATURE and not verify(issuer, signed, signature):
                return CallError(400, f"Corrupted thought signature in contents[{index}].", "INVALID_ARGUMENT")
    return None


def _text_of(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    return " ".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"])


class GoogleAIFormat(WireFormat):
    """``POST [/v1beta]/models/{model}:generateContent`` / ``:streamGenerateContent?alt=sse``."""

    name: ClassVar[str] = "google-ai"

    def route(self, method: str, path: str) -> bool:
        """The two generateContent routes, under any one-segment version prefix."""
        return method == "POST" and _PATH.match(path) is not None

    def authenticate(self, request: RecordedRequest, api_key: str) -> bool:
        """Require ``x-goog-api-key: <api_key>`` (the API also takes ``?key=``: accepted too)."""
        return hmac.compare_digest(request.headers.get("x-goog-api-key", ""), api_key) or hmac.compare_digest(
            request.query.get("key", ""), api_key)

    def parse(self, request: RecordedRequest, seq: int) -> FakeCall:
        """Decode a generateContent body; 400 for bad JSON, no ``contents``, or a stream without ``alt=sse``."""
        match = _PATH.match(request.path)
        model = match.group(1) if match else ""
        stream = bool(match and match.group(2) == "streamGenerateContent")
        if stream and request.query.get("alt") != "sse":
            raise CallError(400, "this fake server streams only with alt=sse", "INVALID_ARGUMENT")
        try:
            body = json.loads(request.body)
        except ValueError:
            raise CallError(400, "Invalid JSON payload received.", "INVALID_ARGUMENT") from None
        counting = bool(match and match.group(2) == "countTokens")
        if counting and isinstance(body, dict):
            body = self.count_request_body(body)
        if not isinstance(body, dict) or not isinstance(body.get("contents"), list):
            raise CallError(400, "* GenerateContentRequest.contents: contents is not specified", "INVALID_ARGUMENT")
        if thinking_config(body) is not None or model.startswith("gemini-3"):
            refused = check_signatures(body["contents"], self.name)
            if refused is not None:
                raise refused
        system = body.get("systemInstruction") or {}
        texts = [_text_of(system.get("parts"))] if isinstance(system, dict) else []
        prompt = ""
        for content in body["contents"]:
            if isinstance(content, dict):
                text = _text_of(content.get("parts"))
                texts.append(text)
                if content.get("role", "user") == "user" and text:
                    prompt = text
        config = body.get("generationConfig") or {}
        names = tuple(str(d.get("name", "")) for tool in body.get("tools") or () if isinstance(tool, dict)
                      for d in tool.get("functionDeclarations") or () if isinstance(d, dict))
        calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        mode = calling.get("mode")
        allowed = calling.get("allowedFunctionNames") or []
        max_tokens = config.get("maxOutputTokens")
        count = config.get("candidateCount")
        return FakeCall(
            seq=seq,
            model=model,
            stream=stream,
            prompt=prompt,
            prompt_tokens=sum(count_words(t) for t in texts),
            messages=body["contents"],
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            tool_names=names,
            tool_choice={"AUTO": "auto", "ANY": "required", "NONE": "none"}.get(str(mode)) if mode else None,
            tool_choice_name=allowed[0] if mode == "ANY" and len(allowed) == 1 else None,
            json_mode=config.get("responseMimeType") == "application/json",
            json_schema=requested_schema(body, "google")[1],
            n=max(1, count) if isinstance(count, int) else 1,
            include_usage=True,
            body=body,
            models=(model,),
            received_at=request.received_at,
            operation="count_tokens" if counting else "chat",
        )

    #: The top-level fields of a countTokens body (the Gemini API's: ``contents`` or, exclusive
    #: of it, ``generateContentRequest``; wire-formats-2026 section 3).
    count_fields: ClassVar[frozenset[str]] = frozenset({"contents", "generateContentRequest"})

    def count_request_body(self, body: dict[str, Any]) -> Any:
        """The generateContent-like body a countTokens body counts; 400 for an unknown or a doubled field."""
        unknown = sorted(set(body) - self.count_fields)
        if unknown:
            raise CallError(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.',
                            "INVALID_ARGUMENT")
        if "generateContentRequest" in body:
            if "contents" in body:
                raise CallError(400, "contents and generateContentRequest are mutually exclusive",
                                "INVALID_ARGUMENT")
            return body["generateContentRequest"]
        return body

    def _headers(self, content_type: str) -> dict[str, str]:
        return {"content-type": content_type, "server": "scaffolding on HTTPServer2", "vary": "Origin"}

    def _usage(self, reply: Reply, output: int) -> dict[str, int]:
        return {"promptTokenCount": reply.prompt_tokens, "candidatesTokenCount": output,
                "totalTokenCount": reply.prompt_tokens + output}

    def _parts(self, reply: Reply, text: str | None, call: FakeCall | None = None, *, first: bool = True,
               last: bool = True) -> list[dict[str, Any]]:
        """The parts of an answer (or of one streamed piece); with thinking on, a thought part first
        and signatures on the call or on the text's last piece."""
        config = thinking_config(call.body) if call is not None else None
        out: list[dict[str, Any]] = []
        if config is not None and first and config.get("includeThoughts", config.get("include_thoughts")):
            out.append({"text": thinking_text(call.prompt if call else "", reply.tool_name), "thought": True})
        if reply.tool_name is not None:
            function = {"name": reply.tool_name, "args": json.loads(reply.tool_arguments)}
            part: dict[str, Any] = {"functionCall": function}
            if config is not None:
                part["thoughtSignature"] = sign(self.name, call_content(function))
            return [*out, part]
        part = {"text": text if text is not None else reply.text}
        if config is not None and last:
            part["thoughtSignature"] = sign(self.name, "text:" + str(reply.text))
        return [*out, part]

    def render_json(self, call: FakeCall, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        """A ``GenerateContentResponse`` with ``candidateCount`` identical candidates (a count for countTokens)."""
        if call.operation == "count_tokens":
            count = {"totalTokens": call.prompt_tokens,
                     "promptTokensDetails": [{"modality": "TEXT", "tokenCount": call.prompt_tokens}]}
            return 200, self._headers("application/json; charset=UTF-8"), json.dumps(count).encode()
        candidates = [{"content": {"parts": self._parts(reply, None, call), "role": "model"},
                       "finishReason": _FINISH[reply.finish_reason], "index": i} for i in range(call.n)]
        body = {"candidates": candidates, "usageMetadata": self._usage(reply, reply.completion_tokens),
                "modelVersion": call.model, "responseId": f"fake{call.seq}"}
        return 200, self._headers("application/json; charset=UTF-8"), json.dumps(body).encode()

    def stream_headers(self, call: FakeCall) -> dict[str, str]:
        """SSE content type."""
        return self._headers("text/event-stream")

    def render_stream(self, call: FakeCall, reply: Reply) -> Iterator[bytes]:
        """One ``data:`` event per text piece (a function call whole in one), CRLF separated.

        The last event carries ``finishReason``; every event carries cumulative usage.
        """
        pieces: list[str | None] = [None] if reply.tool_name is not None else list(reply.chunks) or [""]
        sent = 0
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            sent = reply.completion_tokens if last else sent + count_words(piece or "")
            parts = self._parts(reply, piece, call, first=number == 0, last=last)
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if last:
                candidate["finishReason"] = _FINISH[reply.finish_reason]
            event = {"candidates": [candidate], "usageMetadata": self._usage(reply, sent),
                     "modelVersion": call.model, "responseId": f"fake{call.seq}"}
            yield b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\r\n\r\n"

    def default_error(self, status: int, *, model: str = "", quota: bool = False) -> tuple[str, str, str | None]:
        """Google's error for ``status``: ``(message, status name, reason)``."""
        name = _STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
        message = _DEFAULT_MESSAGES.get(status, f"HTTP {status}").replace("{model}", model or "unknown")
        return message, name, None

    def error(
        self, status: int, message: str, error_type: str, code: str | None, *, seq: int = 0
    ) -> tuple[dict[str, str], bytes]:
        """``{"error": {"code", "message", "status"[, "details"]}}``; ``code`` becomes an ErrorInfo reason."""
        if error_type == CONTEXT_WINDOW:
            message, error_type = _CONTEXT_WINDOW
        name = _TYPE_ALIASES.get(error_type, error_type)
        error: dict[str, Any] = {"code": status, "message": message, "status": name}
        if code:
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": code,
                                 "domain": "googleapis.com"}]
        return self._headers("application/json; charset=UTF-8"), json.dumps({"error": error}).encode()

    def error_event(self, error_type: str, message: str) -> bytes:
        """A ``data: {"error": {...}}`` event (Google may also send it as bare JSON lines)."""
        if error_type == CONTEXT_WINDOW:
            message, error_type = _CONTEXT_WINDOW
        status = _TYPE_ALIASES.get(error_type, error_type)
        error = {"code": _CODES.get(status, 500), "message": message or status, "status": status}
        return b"data: " + json.dumps({"error": error}).encode() + b"\r\n\r\n"

    def malformed_event(self, call: FakeCall) -> bytes:
        """An event whose JSON is cut off."""
        return b'data: {"candidates": [{"content\r\n\r\n'
