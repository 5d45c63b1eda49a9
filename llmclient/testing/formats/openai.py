"""OpenAI Chat Completions and Azure OpenAI deployments, as the fake server speaks them.

Shapes follow ``wire-formats.md`` sections 1 and 2: ``chat.completion`` JSON, ``data:``-only
SSE ``chat.completion.chunk`` events ending in ``data: [DONE]``, and
``{"error": {"message", "type", "param", "code"}}`` errors. Stream events are built from string
templates rather than ``json.dumps`` per chunk, because benchmarks stream thousands of them.
"""

from __future__ import annotations

import hmac
import json
import re
import time
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
from llmclient.testing.formats.structured import requested_schema

__all__ = ["AzureOpenAIFormat", "OpenAIFormat"]

_AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")
_ROLE_DELTA = '{"role":"assistant","content":"","refusal":null}'
_DONE = b"data: [DONE]\n\n"

#: (message, type, code) per status, for errors nobody spelled out.
_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("Country, region, or territory not supported.", "invalid_request_error",
          "unsupported_country_region_territory"),
    404: ("The model `{model}` does not exist or you do not have access to it.",
          "invalid_request_error", "model_not_found"),
    408: ("Request timed out.", "invalid_request_error", None),
    409: ("Conflict: the request could not be completed.", "invalid_request_error", None),
    429: ("Rate limit reached for requests. Please try again later.", "requests",
          "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!",
          "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
#: OpenAI's prompt-too-long error (wire-formats-2026 section 8, as chathub-dev/chathub#126 recorded it).
_CONTEXT_WINDOW_ERROR = {
    "message": "This model's maximum context length is 4097 tokens. However, your messages resulted in 4294 "
               "tokens. Please reduce the length of the messages.",
    "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}
_QUOTA_ERROR = (
    "You exceeded your current quota, please check your plan and billing details.",
    "insufficient_quota",
    "insufficient_quota",
)


def _text_of(content: Any) -> str:
    """The text of a message ``content``: a string, or the ``text`` parts of a list joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"] for part in content
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        )
    return ""


def _usage_json(reply: Reply) -> str:
    """The ``usage`` object, already encoded (it goes into JSON answers and the usage chunk)."""
    return (
        f'{{"prompt_tokens":{reply.prompt_tokens},"completion_tokens":{reply.completion_tokens},'
        f'"total_tokens":{reply.prompt_tokens + reply.completion_tokens},'
        '"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
        '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
        '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}'
    )


class OpenAIFormat(WireFormat):
    """``POST <anything>/chat/completions`` with ``Authorization: Bearer KEY``."""

    name: ClassVar[str] = "openai"

    def route(self, method: str, path: str) -> bool:
        """Any path ending in ``/chat/completions`` that is not an Azure deployment path."""
        return method == "POST" and path.endswith("/chat/completions") and not _AZURE_PATH.match(path)

    def authenticate(self, request: RecordedRequest, api_key: str) -> bool:
        """Require ``Authorization: Bearer <api_key>``."""
        return hmac.compare_digest(request.headers.get("authorization", ""), "Bearer " + api_key)

    def path_model(self, request: RecordedRequest) -> str | None:
        """The model named by the path, which wins over the body's (None for plain OpenAI)."""
        return None

    def parse(self, request: RecordedRequest, seq: int) -> FakeCall:
        """Decode the chat-completions body; 400 for bad JSON or a missing ``messages`` list."""
        try:
            body = json.loads(request.body)
        except ValueError:
            raise CallError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
                "invalid_request_error",
            ) from None
        if not isinstance(body, dict):
            raise CallError(400, "The request body must be a JSON object.", "invalid_request_error")
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise CallError(400, "Missing required parameter: 'messages'.", "invalid_request_error")
        body_model = body.get("model")
        body_model = body_model if isinstance(body_model, str) else ""
        model = self.path_model(request) or body_model
        prompt, texts = "", []
        for message in messages:
            if isinstance(message, dict):
                text = _text_of(message.get("content"))
                texts.append(text)
                if message.get("role") == "user":
                    prompt = text
        tools = body.get("tools") or []
        tool_names = tuple(
            str(t.get("function", {}).get("name", "")) for t in tools if isinstance(t, dict)
        )
        choice = body.get("tool_choice")
        choice_name = None
        if isinstance(choice, dict):
            choice_name = (choice.get("function") or {}).get("name")
            choice = "required"
        json_mode, json_schema = requested_schema(body, "openai")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        stream_options = body.get("stream_options") or {}
        return FakeCall(
            seq=seq,
            model=model,
            stream=body.get("stream") is True,
            prompt=prompt,
            prompt_tokens=sum(count_words(t) for t in texts),
            messages=messages,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            tool_names=tool_names,
            tool_choice=choice if isinstance(choice, str) else None,
            tool_choice_name=choice_name if isinstance(choice_name, str) else None,
            json_mode=json_mode,
            json_schema=json_schema,
            n=max(1, body["n"]) if isinstance(body.get("n"), int) else 1,
            include_usage=isinstance(stream_options, dict) and stream_options.get("include_usage") is True,
            body=body,
            models=(model, body_model) if body_model and body_model != model else (model,),
            received_at=request.received_at,
        )

    def _headers(self, seq: int, received_at: float, content_type: str) -> dict[str, str]:
        """The response headers OpenAI sends with every answer."""
        elapsed = int((time.monotonic() - received_at) * 1000) if received_at else 0
        return {
            "content-type": content_type,
            "x-request-id": f"req_fake{seq}",
            "openai-processing-ms": str(max(1, elapsed)),
            "openai-version": "2020-10-01",
        }

    def render_json(self, call: FakeCall, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        """A ``chat.completion`` object with ``n`` identical choices."""
        if reply.tool_name is not None:
            call_json = json.dumps(
                [{"id": f"call_fake{call.seq}", "type": "function",
                  "function": {"name": reply.tool_name, "arguments": reply.tool_arguments}}]
            )
            message = f'{{"role":"assistant","content":null,"tool_calls":{call_json},"refusal":null,"annotations":[]}}'
        else:
            message = f'{{"role":"assistant","content":{json.dumps(reply.text)},"refusal":null,"annotations":[]}}'
        choices = ",".join(
            f'{{"index":{i},"message":{message},"logprobs":null,"finish_reason":"{reply.finish_reason}"}}'
            for i in range(call.n)
        )
        body = (
            f'{{"id":"chatcmpl-fake{call.seq}","object":"chat.completion","created":{int(time.time())},'
            f'"model":{json.dumps(call.model)},"system_fingerprint":"fp_fake","service_tier":"default",'
            f'"choices":[{choices}],"usage":{_usage_json(reply)}}}'
        )
        return 200, self._headers(call.seq, call.received_at, "application/json"), body.encode()

    def stream_headers(self, call: FakeCall) -> dict[str, str]:
        """SSE content type plus the usual OpenAI headers."""
        headers = self._headers(call.seq, call.received_at, "text/event-stream; charset=utf-8")
        headers["cache-control"] = "no-cache"
        return headers

    def render_stream(self, call: FakeCall, reply: Reply) -> Iterator[bytes]:
        """Role chunk, content (or tool-call) chunks, finish chunk, optional usage chunk, [DONE]."""
        head = (
            f'data: {{"id":"chatcmpl-fake{call.seq}","object":"chat.completion.chunk",'
            f'"created":{int(time.time())},"model":{json.dumps(call.model)},'
            '"system_fingerprint":"fp_fake","choices":['
        )
        tail = '],"usage":null}\n\n'
        dumps = json.dumps
        for i in range(call.n):
            open_choice = f'{head}{{"index":{i},"delta":'
            close_choice = ',"logprobs":null,"finish_reason":null}' + tail
            if reply.tool_name is None:
                yield f"{open_choice}{_ROLE_DELTA}{close_choice}".encode()
                for piece in reply.chunks:
                    yield f'{open_choice}{{"content":{dumps(piece)}}}{close_choice}'.encode()
            else:
                first = json.dumps(
                    {"role": "assistant", "content": None, "tool_calls": [
                        {"index": 0, "id": f"call_fake{call.seq}", "type": "function",
                         "function": {"name": reply.tool_name, "arguments": ""}}], "refusal": None},
                    separators=(",", ":"),
                )
                yield f"{open_choice}{first}{close_choice}".encode()
                for piece in reply.chunks:
                    yield (
                        f'{open_choice}{{"tool_calls":[{{"index":0,"function":{{"arguments":{dumps(piece)}}}}}]}}'
                        f"{close_choice}"
                    ).encode()
            yield f'{open_choice}{{}},"logprobs":null,"finish_reason":"{reply.finish_reason}"}}{tail}'.encode()
        if call.include_usage:
            yield f'{head}],"usage":{_usage_json(reply)}}}\n\n'.encode()
        yield _DONE

    def default_error(self, status: int, *, model: str = "", quota: bool = False) -> tuple[str, str, str | None]:
        """OpenAI's error for ``status`` (``quota`` turns a 429 into ``insufficient_quota``)."""
        if status == 429 and quota:
            return _QUOTA_ERROR
        known = _DEFAULT_ERRORS.get(status)
        if known is None:
            return super().default_error(status, model=model, quota=quota)
        message, error_type, code = known
        return message.replace("{model}", model or "unknown"), error_type, code

    def error(
        self, status: int, message: str, error_type: str, code: str | None, *, seq: int = 0
    ) -> tuple[dict[str, str], bytes]:
        """``{"error": {"message", "type", "param": null, "code"}}`` with the usual headers."""
        error = _CONTEXT_WINDOW_ERROR if error_type == CONTEXT_WINDOW else {
            "message": message, "type": error_type, "param": None, "code": code}
        body = json.dumps({"error": error})
        return self._headers(seq, 0.0, "application/json"), body.encode()

    def error_event(self, error_type: str, message: str) -> bytes:
        """A ``data: {"error": {...}}`` event, as OpenAI sends when a stream fails after its 200."""
        error = _CONTEXT_WINDOW_ERROR if error_type == CONTEXT_WINDOW else {
            "message": message, "type": error_type, "param": None, "code": None}
        body = json.dumps({"error": error})
        return f"data: {body}\n\n".encode()

    def malformed_event(self, call: FakeCall) -> bytes:
        """A chunk cut off right after its id prefix."""
        return b'data: {"id": "chatcmpl-\n\n'


class AzureOpenAIFormat(OpenAIFormat):
    """``POST /openai/deployments/{deployment}/chat/completions?api-version=...``, ``api-key`` auth."""

    name: ClassVar[str] = "azure"

    def route(self, method: str, path: str) -> bool:
        """Only the deployments path."""
        return method == "POST" and _AZURE_PATH.match(path) is not None

    def authenticate(self, request: RecordedRequest, api_key: str) -> bool:
        """Accept ``api-key: KEY`` or ``Authorization: Bearer KEY`` (Entra ID tokens)."""
        return hmac.compare_digest(request.headers.get("api-key", ""), api_key) or super().authenticate(
            request, api_key
        )

    def intercept(self, request: RecordedRequest, server: Any) -> tuple[int, dict[str, str], bytes] | None:
        """Once an Entra ID app is trusted (``formats.entra.trust_entra_app``), only its live tokens pass."""
        from llmclient.testing.formats.entra import entra_token_refused

        return entra_token_refused(server, request)

    def path_model(self, request: RecordedRequest) -> str | None:
        """The deployment name: Azure answers with it as ``model``."""
        match = _AZURE_PATH.match(request.path)
        return match.group(1) if match else None

    def parse(self, request: RecordedRequest, seq: int) -> FakeCall:
        """Like OpenAI, but a missing ``api-version`` query parameter is a 400."""
        if not request.query.get("api-version"):
            raise CallError(
                400,
                "Missing required query parameter: api-version.",
                "invalid_request_error",
                "missing_api_version",
            )
        return super().parse(request, seq)
