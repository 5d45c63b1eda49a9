"""Anthropic Messages API (provider ``anthropic``): requests, answers, streams and errors.

``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version: 2023-06-01``
(the documented pair; a user's ``headers`` option overrides either and carries
``anthropic-beta``). System turns are hoisted into the top-level ``system``, consecutive
same-role turns merged, tool results sent as ``tool_result`` blocks in user turns, and
``max_tokens`` (required by the API) defaults to 4096. Any other option is a body field.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, LLMError, RateLimitError
from ..models import (
    AudioPart,
    ChatRequest,
    Completion,
    DocumentPart,
    HttpRequest,
    HttpResponse,
    ImagePart,
    Message,
    Part,
    RedactedThinkingPart,
    TextPart,
    ThinkingPart,
    ToolCall,
    to_tools,
)
from ..redaction import redact_text
from ..secrets import resolve, to_ref
from ..structured import output_format
from .anthropic_stream import ERROR_TYPE_STATUS, STOP_REASONS, AnthropicStreamDecoder, anthropic_usage
from .api_key_client import ApiKeyClient
from .base import ProviderAdapter, inline_image
from .parts import document_inline, refuse
from .reasoning import REASONING_PARAMS, has_own_thinking, open_tool_turn, reasoning_of, replay_call, replay_parts
from .status import class_for_status, http_error, refine_class, unexpected_success_body

__all__ = ["AnthropicAdapter", "AnthropicStreamDecoder", "AnthropicClient", "anthropic_usage",
           "DEFAULT_ANTHROPIC_BASE_URL", "ANTHROPIC_VERSION", "DEFAULT_MAX_TOKENS"]

DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"
#: The documented API version; a user's ``headers`` may set another.
ANTHROPIC_VERSION = "2023-06-01"
#: Sent when neither the options nor the call give ``max_tokens`` (the API requires it).
DEFAULT_MAX_TOKENS = 4096

logger = logging.getLogger(__name__)


class AnthropicAdapter(ProviderAdapter):
    """Messages API requests and answers.

    Args:
        options: The client's options (env references allowed in string values).
    """

    provider = "anthropic"
    #: Who made the reasoning state this adapter reads (``ThinkingPart.source``); only it is sent back.
    reasoning_source = "anthropic"
    request_id_header = "request-id"
    answer_kind = "a Messages API JSON"
    error_kind = "an Anthropic error JSON"

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        self.base_url = to_ref(options.get("base_url", DEFAULT_ANTHROPIC_BASE_URL))

    # -- request --------------------------------------------------------------------
    def url(self, *, stream: bool = False) -> str:
        """``{base_url}/v1/messages`` with any ``query_params``."""
        base = str(resolve(self.base_url, what="base_url of provider anthropic")).rstrip("/")
        return base + "/v1/messages" + self.query_string()

    def default_headers(self, *, stream: bool) -> dict[str, str]:
        return {**super().default_headers(stream=stream), "anthropic-version": ANTHROPIC_VERSION}

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {}
        defaults = self.resolved_defaults()
        self.apply_params(body, defaults)
        self.apply_params(body, request.params)
        reasoning = reasoning_of({**defaults, **request.params}, provider=self.provider)
        system, messages = self.render_messages(request.messages, foreign=reasoning.foreign)
        if system is not None:
            body["system"] = system
        body["messages"] = messages
        answer = body.get("max_tokens") or DEFAULT_MAX_TOKENS
        if body.get("thinking") is None and reasoning.requested:
            # Thinking tokens count toward max_tokens: room for the budget and the answer.
            body["thinking"] = {"type": "enabled", "budget_tokens": reasoning.budget()}
            body["max_tokens"] = answer + reasoning.budget()
        thinking_off_for_replay(body, request.messages, self.reasoning_source, self.provider)
        if body.get("max_tokens") is None:
            body["max_tokens"] = DEFAULT_MAX_TOKENS
        if stream:
            body["stream"] = True
        return body

    def apply_params(self, body: dict[str, Any], params: Mapping[str, Any]) -> None:
        """Put call parameters (or option defaults) into ``body`` in Anthropic's form."""
        for key, value in params.items():
            if key in REASONING_PARAMS:
                continue  # mapped by body()
            if key == "tools":
                body["tools"] = None if value is None else [_render_tool(t) for t in to_tools(value)]
            elif key == "tool_choice":
                body["tool_choice"] = anthropic_tool_choice(value)
            elif key in ("stop", "stop_sequences"):
                body["stop_sequences"] = [value] if isinstance(value, str) else value
            elif key == "response_format":
                _output_format(body, value)
            else:
                body[key] = value

    def render_messages(self, messages: tuple[Message, ...], *,
                        foreign: str = "drop") -> tuple[Any, list[dict[str, Any]]]:
        """``(system, messages)``: system turns hoisted, tool turns as user turns, same roles merged.

        ``system`` is a string (several system turns joined by blank lines), or a list of
        text blocks when a system turn forwards metadata such as ``cache_control``; None
        when there is no system turn. Reasoning parts of this provider go back as
        ``thinking`` / ``redacted_thinking`` blocks, unchanged; another provider's are dropped
        (``foreign="text"``: their thinking becomes text).
        """
        system_blocks: list[dict[str, Any]] = []
        out: list[dict[str, Any]] = []
        for message in messages:
            role = "tool" if message.role == "tool" else self.roles.role(message.role)
            metadata = self.roles.metadata(message.metadata)
            if role == "system":
                system_blocks.append({"type": "text", "text": message.text, **metadata})
                continue
            blocks = self.render_blocks(message, role, foreign=foreign)
            if not blocks:
                continue  # an empty turn: the API refuses empty content
            if metadata:
                blocks[-1] = {**blocks[-1], **metadata}
            wire_role = "user" if role == "tool" else role
            if out and out[-1]["role"] == wire_role:
                out[-1]["content"].extend(blocks)
            else:
                out.append({"role": wire_role, "content": blocks})
        for turn in out:
            content = turn["content"]
            if len(content) == 1 and content[0].keys() == {"type", "text"} and content[0]["type"] == "text":
                turn["content"] = content[0]["text"]
        system: Any = None
        if system_blocks:
            if all(b.keys() == {"type", "text"} for b in system_blocks):
                system = "\n\n".join(b["text"] for b in system_blocks)
            else:
                system = system_blocks
        return system, out

    def render_blocks(self, message: Message, role: str, *, foreign: str = "drop") -> list[dict[str, Any]]:
        """The content blocks of one non-system turn (reasoning blocks first, as the API requires)."""
        parts = replay_parts(message.parts, self.reasoning_source, foreign)
        if role == "tool":
            rendered = [b for b in (_render_part(p) for p in parts) if b is not None]
            content: Any = message.text if all(isinstance(p, TextPart) for p in parts) else rendered
            return [{"type": "tool_result", "tool_use_id": message.tool_call_id or "", "content": content}]
        blocks = [b for b in (_render_part(p) for p in parts if not (isinstance(p, TextPart) and not p.text))
                  if b is not None]
        blocks.sort(key=lambda b: b["type"] not in ("thinking", "redacted_thinking"))  # stable: order kept
        blocks.extend({"type": "tool_use", "id": c.id, "name": c.name, "input": dict(c.arguments)}
                      for c in (replay_call(call, self.reasoning_source) for call in message.tool_calls))
        return blocks

    # -- response -------------------------------------------------------------------
    def error_object(self, data: Mapping[str, Any], response: HttpResponse | None) -> Mapping[str, Any] | None:
        """``{"type": "error", "error": {...}}`` (or any ``{"error": {...}}``)."""
        error = data.get("error")
        if isinstance(error, Mapping):
            return error
        return {} if data.get("type") == "error" else None

    def completion_from(self, data: dict[str, Any], response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        if not isinstance(data.get("content"), list):
            raise unexpected_success_body(response, provider=self.provider, what="a message with content",
                                          secrets=secrets)
        texts, thinking, calls = [], [], []
        parts: list[Part] = []
        for block in data["content"]:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                texts.append(block.get("text") or "")
                parts.append(TextPart(block.get("text") or ""))
            elif kind == "thinking":
                thinking.append(block.get("thinking") or "")
                parts.append(ThinkingPart(str(block.get("thinking") or ""), signature=block.get("signature") or None,
                                          source=self.reasoning_source))
            elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
                parts.append(RedactedThinkingPart(block["data"], source=self.reasoning_source))
            elif kind == "tool_use":
                arguments = block.get("input") or {}
                calls.append(ToolCall(id=block.get("id", ""), name=block.get("name", ""),
                                      arguments=arguments, raw_arguments=json.dumps(arguments)))
        raw_reason = data.get("stop_reason")
        return Completion(
            text="".join(texts),
            finish_reason=STOP_REASONS.get(raw_reason, "other") if raw_reason else None,
            raw_finish_reason=raw_reason,
            tool_calls=tuple(calls),
            usage=anthropic_usage(data.get("usage")),
            model=data.get("model"),
            thinking="".join(thinking) or None,
            response_id=data.get("id") if isinstance(data.get("id"), str) else None,
            raw=data,
            parts=tuple(parts) if any(isinstance(p, (ThinkingPart, RedactedThinkingPart)) for p in parts) else (),
        )

    def error_from(self, error: Mapping[str, Any], *, response: HttpResponse | None,
                   secrets: tuple[str, ...]) -> LLMError:
        """The typed error for an ``{"type", "message"}`` error object.

        Used for error answers (class from the HTTP status) and for ``event: error``
        inside a 200 stream (class from the status ``error.type`` stands for). A 429
        saying the spend limit is reached is a RateLimitError that is not retryable.
        """
        kind = str(error.get("type") or "") or None
        message = str(error.get("message") or kind or "unknown error")
        details = error.get("details")
        detail_code = details.get("error_code") if isinstance(details, dict) else None
        status = response.status_code if response is not None else ERROR_TYPE_STATUS.get(kind or "", 500)
        spend_limit = status == 429 and (detail_code == "enforced_spend_limit_reached"
                                         or "spend limit" in message.lower())
        code = str(detail_code) if detail_code else kind
        if response is not None:
            return http_error(response, message, provider=self.provider, secrets=secrets, code=code,
                              retryable=False if spend_limit else None, request_id_header=self.request_id_header)
        cls = RateLimitError if status == 429 else refine_class(class_for_status(status), message, kind)
        return cls(redact_text(message, secrets), provider=self.provider, status_code=status, code=code,
                   retryable=False if spend_limit else None)

    def stream_decoder(self, secrets: tuple[str, ...]) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(self, secrets)

    #: ``count_tokens``: the field of ``POST /v1/messages/count_tokens``'s answer.
    count_field = "input_tokens"

    def count_request(self, request: ChatRequest) -> HttpRequest:
        """``POST {base_url}/v1/messages/count_tokens``: the Messages body without ``max_tokens``,
        ``stream``, ``stop_sequences``, ``metadata`` or sampling fields, which it refuses."""
        from .token_count import count_post

        body = {k: v for k, v in self.body(request, stream=False).items() if k in _COUNT_FIELDS}
        base = str(resolve(self.base_url, what="base_url of provider anthropic")).rstrip("/")
        return count_post(self, base + "/v1/messages/count_tokens" + self.query_string(), body)


#: The fields ``messages/count_tokens`` takes (anthropic 2.14's signature, wire-formats-2026 section 2).
_COUNT_FIELDS = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
                           "cache_control", "speed", "mcp_servers"})


def thinking_off_for_replay(body: dict[str, Any], messages: tuple[Message, ...], source: str, provider: str,
                            key: str = "thinking") -> None:
    """Turn thinking off for a request the API would refuse with it on.

    With thinking on, the assistant turn of an open tool cycle must start with its thinking
    (else: 400 "Expected `thinking` or `redacted_thinking`, but found `tool_use`"). A turn
    another provider made (a fallback mid-loop) has none this API can verify: then this
    request goes without thinking, which the API's own message recommends.
    """
    thinking = body.get(key)
    if not isinstance(thinking, Mapping) or thinking.get("type") in (None, "disabled"):
        return
    turn = open_tool_turn(messages)
    if turn is not None and not has_own_thinking(turn, source):
        logger.info("%s: thinking off for this request: the open tool turn carries no thinking of its own "
                    "(another provider made it)", provider)
        del body[key]


def _output_format(body: dict[str, Any], value: Any) -> None:
    """``response_format`` as structured outputs' ``output_config.format`` (GA form, no beta header).

    ``json_object`` has no Anthropic counterpart: nothing is sent and the text is decoded as JSON.
    """
    config = dict(body.get("output_config") or {})
    config.pop("format", None)
    fmt = output_format(value)
    if fmt is not None and fmt.schema is not None:
        config["format"] = {"type": "json_schema", "schema": fmt.closed_schema()}
    body["output_config"] = config or None


def anthropic_tool_choice(value: Any) -> Any:
    """``auto``/``any``/``required``/``none``/a tool name/OpenAI's dict form to Anthropic's object."""
    if value is None:
        return None
    if value in ("auto", "any", "none"):
        return {"type": value}
    if value == "required":
        return {"type": "any"}
    if isinstance(value, str):
        return {"type": "tool", "name": value}
    if isinstance(value, Mapping) and value.get("type") == "function":
        return {"type": "tool", "name": (value.get("function") or {}).get("name")}
    return value


def _render_tool(tool: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    out["input_schema"] = dict(tool.parameters)
    return out


def _render_part(part: Any) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ThinkingPart):  # own thinking (replay_parts dropped the rest); unsigned: refused
        return {"type": "thinking", "thinking": part.text, "signature": part.signature} if part.signature else None
    if isinstance(part, RedactedThinkingPart):
        return {"type": "redacted_thinking", "data": part.data}
    if isinstance(part, ImagePart):
        inline = inline_image(part)
        if inline is not None:
            return {"type": "image", "source": {"type": "base64", "media_type": inline[0], "data": inline[1]}}
        return {"type": "image", "source": {"type": "url", "url": part.url or ""}}
    if isinstance(part, DocumentPart):
        return _document_block(part)
    if isinstance(part, AudioPart):
        raise refuse(part, "the Anthropic API", "Claude takes no audio input")
    raise ConfigError(f"cannot send a {type(part).__name__} to the Anthropic API")


def _document_block(part: DocumentPart) -> dict[str, Any]:
    """A ``document`` block: ``source`` base64 (PDF), text (plain text), url or file (Files API)."""
    source: dict[str, Any]
    inline = document_inline(part)
    if part.file_id is not None:
        source = {"type": "file", "file_id": part.file_id}
    elif inline is None:
        source = {"type": "url", "url": part.url}
    elif inline[0] == "application/pdf":
        source = {"type": "base64", "media_type": "application/pdf", "data": inline[1]}
    elif inline[0].startswith("text/"):
        try:
            text = base64.b64decode(inline[1], validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise refuse(part, "the Anthropic API", "a text document must be UTF-8 text in base64") from None
        source = {"type": "text", "media_type": "text/plain", "data": text}
    else:
        raise refuse(part, "the Anthropic API", "documents are PDF or plain text")
    block: dict[str, Any] = {"type": "document", "source": source}
    if part.filename:
        block["title"] = part.filename
    return block


class AnthropicClient(ApiKeyClient):
    """A client for Anthropic's Messages API (provider ``anthropic``).

    Example::

        client = llmclient.AnthropicClient(model="claude-sonnet-4-5")   # key from ANTHROPIC_API_KEY
        print(client.complete("Name three primes.", max_tokens=200).text)

    Takes :class:`~llmclient.providers.api_key_client.ApiKeyClient`'s arguments: ``api_key``
    (sent as ``x-api-key``) defaults to ``ANTHROPIC_API_KEY``; ``base_url`` defaults to
    ``https://api.anthropic.com``; other options: ``headers``, ``http``, ``max_tokens``...
    """

    provider_name = "anthropic"
    key_header, key_prefix, key_env = "x-api-key", "", "ANTHROPIC_API_KEY"

    def make_adapter(self, options: Mapping[str, Any]) -> AnthropicAdapter:
        return AnthropicAdapter(options)
