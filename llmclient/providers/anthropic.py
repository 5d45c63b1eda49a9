"""Anthropic Messages API (provider ``anthropic``): requests, answers, streams and errors.

``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version: 2023-06-01``
(the documented pair; a user's ``headers`` option overrides either and carries
``anthropic-beta``). System turns are hoisted into the top-level ``system``, consecutive
same-role turns merged, tool results sent as ``tool_result`` blocks in user turns, and
``max_tokens`` (required by the API) defaults to 4096. Any other option is a body field.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from ..auth.api_key import ApiKeyAuth
from ..auth.base import AuthProvider
from ..errors import ConfigError, LLMError, ProviderError, RateLimitError
from ..models import (
    UNKNOWN_USAGE,
    ChatRequest,
    Chunk,
    Completion,
    HttpRequest,
    HttpResponse,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
    to_tools,
)
from ..redaction import redact_text
from ..retry import RetryPolicy
from ..runtime import Runtime
from ..secrets import resolve, to_ref
from ..wire.sse import SSEDecoder
from .base import COMMON_OPTIONS, DeferredErrors, LeafClient, ProviderAdapter, RolePolicy, given_options
from .plain_body import PlainBody, completion_chunks
from .status import class_for_status, describe_unexpected_body, http_error, unexpected_success_body

__all__ = ["AnthropicAdapter", "AnthropicStreamDecoder", "AnthropicClient", "anthropic_usage",
           "DEFAULT_ANTHROPIC_BASE_URL", "ANTHROPIC_VERSION", "DEFAULT_MAX_TOKENS"]

DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"
#: The documented API version; a user's ``headers`` may set another.
ANTHROPIC_VERSION = "2023-06-01"
#: Sent when neither the options nor the call give ``max_tokens`` (the API requires it).
DEFAULT_MAX_TOKENS = 4096

_ADAPTER_OPTIONS = frozenset({"base_url", "api_key", "headers", "query_params", "allowed_roles", "default_role",
                              "remap_roles", "allowed_role_metadata"}) | COMMON_OPTIONS

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                "refusal": "content_filter", "model_context_window_exceeded": "length"}

#: error.type -> the HTTP status it stands for (used for error events inside a 200 stream).
ERROR_TYPE_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
                     "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
                     "rate_limit_error": 429, "api_error": 500, "timeout_error": 504, "overloaded_error": 529}

_SECRET_HEADERS = ("authorization", "x-api-key")


class AnthropicAdapter(ProviderAdapter):
    """Messages API requests and answers.

    Args:
        options: The client's options (env references allowed in string values).
    """

    provider = "anthropic"
    request_id_header = "request-id"
    default_allowed_roles = ("system", "user", "assistant", "tool")

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.base_url = to_ref(options.get("base_url", DEFAULT_ANTHROPIC_BASE_URL))
        self.headers = {k: to_ref(v) for k, v in (options.get("headers") or {}).items()}
        self.query_params = {k: to_ref(v) for k, v in (options.get("query_params") or {}).items()}
        self.roles = RolePolicy(options, self.default_allowed_roles)
        self.body_defaults = {k: to_ref(v) for k, v in options.items() if k not in _ADAPTER_OPTIONS}

    # -- request --------------------------------------------------------------------
    def url(self) -> str:
        """``{base_url}/v1/messages`` with any ``query_params``."""
        from urllib.parse import urlencode

        base = str(resolve(self.base_url, what="base_url of provider anthropic")).rstrip("/")
        params = {k: str(resolve(v, what=f"query_params.{k}")) for k, v in self.query_params.items()}
        return base + "/v1/messages" + ("?" + urlencode(params) if params else "")

    def build_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        body: dict[str, Any] = {}
        defaults = {k: resolve(v, what=f"option {k}") for k, v in self.body_defaults.items()}
        self.apply_params(body, defaults)
        self.apply_params(body, request.params)
        system, messages = self.render_messages(request.messages)
        if system is not None:
            body["system"] = system
        body["messages"] = messages
        if body.get("max_tokens") is None:
            body["max_tokens"] = DEFAULT_MAX_TOKENS
        if stream:
            body["stream"] = True
        body = {k: v for k, v in body.items() if v is not None}
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
        secrets = []
        user_keys = {k.lower() for k in self.headers}
        if "anthropic-version" not in user_keys:
            headers["anthropic-version"] = ANTHROPIC_VERSION
        for key, value in self.headers.items():
            headers[key] = resolved = str(resolve(value, what=f"header {key}"))
            if key.lower() in _SECRET_HEADERS:
                secrets.append(resolved)
        return HttpRequest("POST", self.url(), headers,
                           json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(), stream,
                           tuple(secrets))

    def apply_params(self, body: dict[str, Any], params: Mapping[str, Any]) -> None:
        """Put call parameters (or option defaults) into ``body`` in Anthropic's form."""
        for key, value in params.items():
            if key == "tools":
                body["tools"] = None if value is None else [_render_tool(t) for t in to_tools(value)]
            elif key == "tool_choice":
                body["tool_choice"] = anthropic_tool_choice(value)
            elif key in ("stop", "stop_sequences"):
                body["stop_sequences"] = [value] if isinstance(value, str) else value
            else:
                body[key] = value

    def render_messages(self, messages: tuple[Message, ...]) -> tuple[Any, list[dict[str, Any]]]:
        """``(system, messages)``: system turns hoisted, tool turns as user turns, same roles merged.

        ``system`` is a string (several system turns joined by blank lines), or a list of
        text blocks when a system turn forwards metadata such as ``cache_control``; None
        when there is no system turn.
        """
        system_blocks: list[dict[str, Any]] = []
        out: list[dict[str, Any]] = []
        for message in messages:
            role = "tool" if message.role == "tool" else self.roles.role(message.role)
            metadata = self.roles.metadata(message.metadata)
            if role == "system":
                system_blocks.append({"type": "text", "text": message.text, **metadata})
                continue
            blocks = self.render_blocks(message, role)
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

    def render_blocks(self, message: Message, role: str) -> list[dict[str, Any]]:
        """The content blocks of one non-system turn."""
        if role == "tool":
            parts = [_render_part(p) for p in message.parts]
            content: Any = message.text if all(isinstance(p, TextPart) for p in message.parts) else parts
            return [{"type": "tool_result", "tool_use_id": message.tool_call_id or "", "content": content}]
        blocks = [_render_part(p) for p in message.parts if not (isinstance(p, TextPart) and not p.text)]
        blocks.extend({"type": "tool_use", "id": c.id, "name": c.name, "input": dict(c.arguments)}
                      for c in message.tool_calls)
        return blocks

    # -- response -------------------------------------------------------------------
    def parse_response(self, response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        try:
            data = response.json()
        except ValueError:
            raise unexpected_success_body(response, provider=self.provider, what="a Messages API JSON",
                                          secrets=secrets) from None
        if not isinstance(data, dict):
            raise unexpected_success_body(response, provider=self.provider, what="a JSON object", secrets=secrets)
        if data.get("type") == "error" or isinstance(data.get("error"), dict):
            raise self.error_from_object(data.get("error") or {}, response=response, secrets=secrets)
        if not isinstance(data.get("content"), list):
            raise unexpected_success_body(response, provider=self.provider, what="a message with content",
                                          secrets=secrets)
        texts, thinking, calls = [], [], []
        for block in data["content"]:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                texts.append(block.get("text") or "")
            elif kind == "thinking":
                thinking.append(block.get("thinking") or "")
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
        )

    def parse_error(self, response: HttpResponse, secrets: tuple[str, ...]) -> LLMError:
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return self.error_from_object(data["error"], response=response, secrets=secrets)
        return http_error(response, describe_unexpected_body(response, "an Anthropic error JSON"),
                          provider=self.provider, secrets=secrets, request_id_header=self.request_id_header)

    def error_from_object(self, error: Mapping[str, Any], *, response: HttpResponse | None,
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
        cls = RateLimitError if status == 429 else class_for_status(status)
        return cls(redact_text(message, secrets), provider=self.provider, status_code=status, code=code,
                   retryable=False if spend_limit else None)

    def stream_decoder(self, secrets: tuple[str, ...]) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(self, secrets)


class AnthropicStreamDecoder(DeferredErrors):
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

    def __init__(self, adapter: AnthropicAdapter, secrets: tuple[str, ...]) -> None:
        self._adapter = adapter
        self._secrets = secrets
        self._sse = SSEDecoder(keep_stray_lines=True)
        self._plain = PlainBody(adapter.provider, secrets)
        self._seen_events = False
        self.model: str | None = None
        self.response_id: str | None = None
        self.done = False
        self._stopped = False
        self._start_usage: dict[str, Any] = {}
        self._error: LLMError | None = None

    def response_id_of(self, headers: Mapping[str, str]) -> str | None:
        return self.response_id

    def feed(self, data: bytes) -> list[Chunk]:
        return self._chunks(self._sse.feed(data))

    def finish(self) -> list[Chunk]:
        out = self._chunks(self._sse.flush())
        if not self.done and not self._stopped:
            plain = self._plain_body()
            if plain is not None:
                return out + plain
            raise ProviderError("the stream ended before message_stop: the connection was closed early",
                                provider=self._adapter.provider)
        return out

    def _plain_body(self) -> list[Chunk] | None:
        """The chunks of a body that held no event (a ``message`` JSON); raises for an error JSON
        or any other text; None when there was nothing but events."""
        if self._seen_events or not self._plain.lines:
            return None
        completion = self._plain.answer(self._adapter, "content")
        self.model, self.response_id = completion.model, completion.response_id
        return completion_chunks(completion)

    def _chunks(self, events: list[Any]) -> list[Chunk]:
        if self._sse.stray_lines:
            if self._seen_events:
                self._sse.stray_lines.clear()
            else:
                self._plain.take(self._sse.stray_lines)
        if events:
            self._seen_events = True
        return self._decode(events, lambda event: self._chunk(event.event, event.data))

    def _chunk(self, name: str, data: str) -> Chunk | None:
        try:
            obj = json.loads(data)
        except ValueError:
            raise ProviderError(f"malformed JSON in a stream event: {redact_text(data[:120], self._secrets)!r}",
                                provider=self._adapter.provider) from None
        if not isinstance(obj, dict):
            raise ProviderError("a stream event is not a JSON object", provider=self._adapter.provider)
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
            raise self._adapter.error_from_object(error if isinstance(error, dict) else {"message": str(error)},
                                                  response=None, secrets=self._secrets)
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


def _render_part(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        if part.data is not None:
            return {"type": "image", "source": {"type": "base64", "media_type": part.media_type or "image/png",
                                                "data": part.data}}
        url = part.url or ""
        if url.startswith("data:") and ";base64," in url:
            media_type, data = url[5:].split(";base64,", 1)
            return {"type": "image", "source": {"type": "base64", "media_type": media_type or "image/png",
                                                "data": data}}
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise ConfigError(f"cannot send a {type(part).__name__} to the Anthropic API")


class AnthropicClient(LeafClient):
    """A client for Anthropic's Messages API (provider ``anthropic``).

    Example::

        client = llmclient.AnthropicClient(model="claude-sonnet-4-5")   # key from ANTHROPIC_API_KEY
        print(client.complete("Name three primes.", max_tokens=200).text)

    Args:
        model: The model name.
        api_key: The key, or ``llmclient.env("NAME")``; default ``ANTHROPIC_API_KEY``.
        base_url: Another address speaking the same API (default ``https://api.anthropic.com``).
        name: The client's name in errors and completions.
        retry_policy: Retries; none when omitted.
        runtime: Share pools with other clients.
        auth: Replace the ``x-api-key`` auth with your own :class:`AuthProvider`.
        **options: Any other option (``headers``, ``http``, ``max_tokens``, ``temperature``...).
    """

    provider_name = "anthropic"

    def __init__(self, model: Any = None, *, api_key: Any = None, base_url: Any = None, name: str | None = None,
                 retry_policy: RetryPolicy | None = None, runtime: Runtime | None = None,
                 auth: AuthProvider | None = None, **options: Any) -> None:
        name = name or self.provider_name
        opts = given_options({"model": model, "api_key": api_key, "base_url": base_url, **options}, _ADAPTER_OPTIONS)
        default_auth = ApiKeyAuth(opts.get("api_key"), header="x-api-key", prefix="",
                                  default_env="ANTHROPIC_API_KEY", client_name=name)
        super().__init__(AnthropicAdapter(opts), name=name, options=opts, auth=auth or default_auth,
                         runtime=runtime, retry_policy=retry_policy)
