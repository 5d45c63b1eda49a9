"""OpenAI Chat Completions, and every server that speaks it (vLLM, Ollama, OpenRouter...).

Providers ``openai``, ``openai-generic``, ``ollama`` and ``openrouter`` share this module;
Azure OpenAI subclasses the adapter in ``azure.py``. Options follow BAML's names:
``base_url`` (trailing slash stripped), ``api_key`` (default from the provider's
variable), ``headers`` (yours win over ours), ``query_params``, ``model``, role options,
and any other option becomes a body field (``null`` removes one we would send).
"""

from __future__ import annotations

import json
from typing import Any, Mapping
from urllib.parse import urlencode

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
from ..redaction import SENSITIVE_HEADERS, redact_text
from ..retry import RetryPolicy
from ..runtime import Runtime
from ..secrets import resolve, to_ref
from ..wire.sse import SSEDecoder
from .base import COMMON_OPTIONS, DeferredErrors, LeafClient, ProviderAdapter, RolePolicy, given_options
from .plain_body import PlainBody, completion_chunks
from .status import class_for_status, generic_error, http_error, unexpected_success_body

__all__ = ["OpenAIAdapter", "OpenAIStreamDecoder", "OpenAIClient", "OpenAIGenericClient", "openai_usage",
           "OPENAI_FAMILY"]

#: provider name -> (default base_url, default api key variable, sends stream_options)
OPENAI_FAMILY: dict[str, tuple[str | None, str | None, bool]] = {
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY", True),
    "openai-generic": (None, None, False),
    "ollama": ("http://localhost:11434/v1", None, False),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", False),
}

#: Options read by the adapter itself; everything else is a body field.
ADAPTER_OPTIONS = frozenset({"base_url", "api_key", "headers", "query_params", "choice_index", "allowed_roles",
                             "default_role",
                             "remap_roles", "allowed_role_metadata"}) | COMMON_OPTIONS

FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
                  "content_filter": "content_filter"}

#: In-stream error types and codes -> the HTTP status they stand for.
ERROR_TYPE_STATUS = {"server_error": 500, "api_error": 500, "rate_limit_exceeded": 429, "requests": 429,
                     "tokens": 429, "insufficient_quota": 429, "invalid_request_error": 400,
                     "authentication_error": 401, "invalid_api_key": 401, "permission_error": 403,
                     "not_found_error": 404, "model_not_found": 404, "content_filter": 400}

_PARAMS_RENAMED_FOR_OPENAI = {"max_tokens": "max_completion_tokens"}


class OpenAIAdapter(ProviderAdapter):
    """Chat Completions requests and answers for the OpenAI family.

    Args:
        provider: One of :data:`OPENAI_FAMILY`'s names (or ``azure-openai`` for the subclass).
        options: The client's options (env references allowed in string values).
    """

    default_allowed_roles = ("system", "developer", "user", "assistant", "tool")

    def __init__(self, provider: str, options: Mapping[str, Any]) -> None:
        self.provider = provider
        base_default, _, self.sends_stream_options = OPENAI_FAMILY.get(provider, (None, None, True))
        self.base_url = to_ref(options.get("base_url", base_default))
        if self.base_url is None and provider != "azure-openai":
            raise ConfigError(f"provider {provider} needs options.base_url (the server's /v1 address)")
        self.headers = {k: to_ref(v) for k, v in (options.get("headers") or {}).items()}
        self.query_params = {k: to_ref(v) for k, v in (options.get("query_params") or {}).items()}
        self.roles = RolePolicy(options, self.default_allowed_roles)
        #: Which choice becomes the completion when several come back (``n`` > 1); others are ignored.
        self.choice_index = int(options.get("choice_index") or 0)
        self.body_defaults = {k: to_ref(v) for k, v in options.items() if k not in self.adapter_options()}

    def adapter_options(self) -> frozenset[str]:
        """Option names that configure the adapter rather than the body."""
        return ADAPTER_OPTIONS

    # -- request --------------------------------------------------------------------
    def url(self) -> str:
        """The chat-completions URL, with query parameters."""
        base = str(resolve(self.base_url, what=f"base_url of provider {self.provider}")).rstrip("/")
        return base + "/chat/completions" + self.query_string({})

    def query_string(self, extra: Mapping[str, str]) -> str:
        """``?a=b`` from ``query_params`` (resolved now) and ``extra``; '' when empty."""
        params = {**extra, **{k: str(resolve(v, what=f"query_params.{k}")) for k, v in self.query_params.items()}}
        return "?" + urlencode(params) if params else ""

    def build_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        body: dict[str, Any] = {}
        for key, value in self.body_defaults.items():
            body[key] = resolve(value, what=f"option {key}")
        body["messages"] = [self.render_message(m) for m in request.messages]
        self.apply_params(body, request.params)
        if stream:
            body["stream"] = True
            if self.sends_stream_options and "stream_options" not in self.body_defaults:
                body.setdefault("stream_options", {"include_usage": True})
        body = {k: v for k, v in body.items() if v is not None}
        headers = {"Content-Type": "application/json",
                   "Accept": "text/event-stream" if stream else "application/json"}
        secrets = []
        for key, value in self.headers.items():
            headers[key] = resolved = str(resolve(value, what=f"header {key}"))
            if key.lower() in SENSITIVE_HEADERS:
                secrets.append(resolved)
                if " " in resolved:  # "Bearer <token>": an echo of the bare token is caught too
                    secrets.append(resolved.split(" ", 1)[1])
        return HttpRequest("POST", self.url(), headers,
                           json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(), stream,
                           tuple(secrets))

    def apply_params(self, body: dict[str, Any], params: Mapping[str, Any]) -> None:
        """Put the call's parameters into ``body`` in OpenAI's form."""
        for key, value in params.items():
            if key == "tools":
                body["tools"] = None if value is None else [
                    {"type": "function", "function": {"name": t.name, "description": t.description,
                                                      "parameters": dict(t.parameters)}} for t in to_tools(value)]
            elif key == "tool_choice":
                body["tool_choice"] = _tool_choice(value)
            elif key == "response_format":
                body["response_format"] = _response_format(value)
            else:
                body[self.param_name(key)] = value
        if self.provider == "openai" and "max_tokens" in body:
            # Current OpenAI models (reasoning ones included) take max_completion_tokens only.
            body.setdefault("max_completion_tokens", body["max_tokens"])
            del body["max_tokens"]

    def param_name(self, key: str) -> str:
        """The body field for call parameter ``key``."""
        return _PARAMS_RENAMED_FOR_OPENAI.get(key, key) if self.provider == "openai" else key

    def render_message(self, message: Message) -> dict[str, Any]:
        """One message in OpenAI's form."""
        out: dict[str, Any] = {"role": self.roles.role(message.role)}
        if isinstance(message.content, str):
            out["content"] = message.content
        else:
            out["content"] = [_render_part(p) for p in message.content]
        if message.name:
            out["name"] = message.name
        if message.tool_calls:
            out["tool_calls"] = [{"id": c.id, "type": "function", "function": {
                "name": c.name, "arguments": c.raw_arguments or json.dumps(dict(c.arguments))}}
                for c in message.tool_calls]
            if not message.content:
                out["content"] = None
        if message.tool_call_id:
            out["tool_call_id"] = message.tool_call_id
        out.update(self.roles.metadata(message.metadata))
        return out

    # -- response -------------------------------------------------------------------
    def parse_response(self, response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        try:
            data = response.json()
        except ValueError:
            raise unexpected_success_body(response, provider=self.provider, what="chat.completion JSON",
                                          secrets=secrets) from None
        if not isinstance(data, dict):
            raise unexpected_success_body(response, provider=self.provider, what="a JSON object", secrets=secrets)
        if data.get("error"):
            raise self.error_from_object(data["error"], response=response, secrets=secrets)
        choices = data.get("choices")
        choice = next((c for c in choices or () if isinstance(c, dict) and c.get("index", 0) == self.choice_index),
                      None)
        if choice is None:
            missing = "no choices" if not choices else f"no choice with index {self.choice_index}"
            raise ProviderError(f"the answer has {missing}", provider=self.provider,
                                status_code=response.status_code,
                                body=redact_text(response.body[:2000].decode("utf-8", "replace"), secrets))
        message = choice.get("message") or {}
        raw_reason = choice.get("finish_reason")
        return Completion(
            text=message.get("content") or "",
            finish_reason=FINISH_REASONS.get(raw_reason, "other") if raw_reason else None,
            raw_finish_reason=raw_reason,
            tool_calls=tuple(ToolCall.from_json_text(c.get("id", ""), (c.get("function") or {}).get("name", ""),
                                                     (c.get("function") or {}).get("arguments") or "")
                             for c in message.get("tool_calls") or ()),
            usage=openai_usage(data.get("usage")),
            model=data.get("model"),
            refusal=message.get("refusal") or None,
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
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            return http_error(response, data["error"], provider=self.provider, secrets=secrets)
        return generic_error(response, provider=self.provider, what="an OpenAI error JSON", secrets=secrets)

    def error_from_object(self, error: Mapping[str, Any], *, response: HttpResponse | None,
                          secrets: tuple[str, ...]) -> LLMError:
        """The typed error for an OpenAI ``{"message", "type", "code"}`` object.

        Used for error answers and for error events inside a 200 stream, which get
        the status their type stands for (never 200).
        """
        kind = str(error.get("type") or "")
        code = str(error.get("code") or "") or None
        message = str(error.get("message") or kind or "unknown error")
        quota = "insufficient_quota" in (kind, code)
        if response is not None and not 200 <= response.status_code < 300:
            return http_error(response, message, provider=self.provider, secrets=secrets, code=code or kind or None,
                              cls=RateLimitError if quota else None, retryable=False if quota else None)
        # An error inside a 200 (stream event or JSON body): the status its type stands for, never 200.
        status = ERROR_TYPE_STATUS.get(code or "", ERROR_TYPE_STATUS.get(kind, 500))
        safe_code = redact_text(code or kind, secrets) or None
        return class_for_status(status)(
            redact_text(message, secrets), provider=self.provider, status_code=status, code=safe_code,
            retryable=False if quota else None,
            request_id=None if response is None else response.headers.get(self.request_id_header),
            body=None if response is None else redact_text(response.body[:4000].decode("utf-8", "replace"), secrets))

    def stream_decoder(self, secrets: tuple[str, ...]) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder(self, secrets, self.choice_index)


class OpenAIStreamDecoder(DeferredErrors):
    """Chat-completion chunks (SSE ``data:`` events ending with ``[DONE]``) to :class:`Chunk`.

    Choices other than ``choice_index`` are ignored; usage comes in the last chunk when
    ``stream_options.include_usage`` was sent (or whenever the server adds it); an
    ``{"error": ...}`` event raises. ``done`` turns True at ``data: [DONE]``. A body with no
    event at all is read as a non-stream answer: a ``chat.completion`` JSON becomes the
    stream's chunks, an error JSON its typed error, anything else "expected an event stream".
    """

    def __init__(self, adapter: OpenAIAdapter, secrets: tuple[str, ...], choice_index: int = 0) -> None:
        self._adapter = adapter
        self._secrets = secrets
        self._sse = SSEDecoder(keep_stray_lines=True)
        self._plain = PlainBody(adapter.provider, secrets)
        self._seen_events = False
        self._choice_index = choice_index
        self.model: str | None = None
        self.response_id: str | None = None
        self.done = False
        self._finished = False
        self._usage_seen = False
        self._error: LLMError | None = None

    def response_id_of(self, headers: Mapping[str, str]) -> str | None:
        return self.response_id

    def feed(self, data: bytes) -> list[Chunk]:
        return self._chunks(self._sse.feed(data))

    def finish(self) -> list[Chunk]:
        out = self._chunks(self._sse.flush())
        if not self.done and not self._finished:
            plain = self._plain_body()
            if plain is not None:
                return out + plain
            raise ProviderError("the stream ended before [DONE]: the connection was closed early",
                                provider=self._adapter.provider)
        if not self._usage_seen:
            self._usage_seen = True
            out.append(Chunk(usage=UNKNOWN_USAGE))
        return out

    def _plain_body(self) -> list[Chunk] | None:
        """The chunks of a body that held no event at all (a ``chat.completion`` JSON); raises
        the typed error of an error JSON, or "expected an event stream" for anything else."""
        if self._seen_events or not self._plain.lines:
            return None
        completion = self._plain.answer(self._adapter, "choices")
        self.model, self.response_id = completion.model, completion.response_id
        return completion_chunks(completion)

    def _chunks(self, events: list[Any]) -> list[Chunk]:
        if self._sse.stray_lines and not self._seen_events:
            self._plain.take(self._sse.stray_lines)
        if events:
            self._seen_events = True
        return self._decode(events, lambda event: self._chunk(event.data))

    def _chunk(self, data: str) -> Chunk | None:
        if data == "[DONE]":
            self.done = True
            if self._usage_seen:
                return None
            self._usage_seen = True
            return Chunk(usage=UNKNOWN_USAGE)  # the server sent none: unknown, not zero
        try:
            obj = json.loads(data)
        except ValueError:
            raise ProviderError(f"malformed JSON in a stream event: {redact_text(data[:120], self._secrets)!r}",
                                provider=self._adapter.provider) from None
        if not isinstance(obj, dict):
            raise ProviderError("a stream event is not a JSON object", provider=self._adapter.provider)
        error = obj.get("error")
        if error:
            raise self._adapter.error_from_object(error if isinstance(error, dict) else {"message": str(error)},
                                                  response=None, secrets=self._secrets)
        if self.model is None:
            self.model = obj.get("model")
            self.response_id = obj.get("id")
        text = refusal = ""
        calls: tuple[ToolCallDelta, ...] = ()
        raw_reason = None
        for choice in obj.get("choices") or ():
            if choice.get("index", 0) != self._choice_index:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or ""
            refusal = delta.get("refusal") or ""
            deltas = delta.get("tool_calls")
            if deltas:
                calls = tuple(ToolCallDelta(d.get("index", 0), d.get("id"), (d.get("function") or {}).get("name"),
                                            (d.get("function") or {}).get("arguments") or "") for d in deltas)
            raw_reason = choice.get("finish_reason")
        usage = obj.get("usage")
        if not (text or calls or refusal or raw_reason or usage):
            return None
        if raw_reason:
            self._finished = True
        if usage:
            self._usage_seen = True
        return Chunk(text, FINISH_REASONS.get(raw_reason, "other") if raw_reason else None, raw_reason, calls,
                     openai_usage(usage) if usage else None, refusal)


#: Fields of OpenAI's ``usage`` read into :class:`Usage`; any other (a gateway's ``cost``) goes to ``extra``.
_USAGE_FIELDS = frozenset({"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
                           "completion_tokens_details"})


def openai_usage(usage: Mapping[str, Any] | None) -> Usage:
    """Usage from OpenAI's ``usage`` object (cached and reasoning tokens included).

    No usage object is :data:`~llmclient.models.UNKNOWN_USAGE`; fields OpenAI does not
    define (OpenRouter's or LiteLLM's ``cost``...) are kept in ``Usage.extra``.
    """
    if not usage or not isinstance(usage, Mapping):
        return UNKNOWN_USAGE
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    return Usage(input_tokens=prompt, output_tokens=completion,
                 total_tokens=usage.get("total_tokens") or prompt + completion,
                 cached_input_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
                 reasoning_tokens=(usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0,
                 extra={k: v for k, v in usage.items() if k not in _USAGE_FIELDS})


def _render_part(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        image: dict[str, Any] = {"url": part.data_url}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    raise ConfigError(f"cannot send a {type(part).__name__} to an OpenAI-style API")


def _tool_choice(value: Any) -> Any:
    if value in (None, "auto", "none", "required"):
        return value
    if value == "any":
        return "required"
    if isinstance(value, str):
        return {"type": "function", "function": {"name": value}}
    return value


def _response_format(value: Any) -> Any:
    if not isinstance(value, Mapping) or value.get("type") in ("json_schema", "json_object", "text"):
        return value
    # A bare JSON Schema: wrap it the way OpenAI's structured outputs expect.
    return {"type": "json_schema", "json_schema": {"name": str(value.get("title") or "response"),
                                                   "schema": dict(value)}}


def _openai_family_client(provider: str, name: str, kwargs: dict[str, Any]) -> tuple[dict[str, Any], AuthProvider]:
    options = given_options(kwargs, ADAPTER_OPTIONS)
    _, key_env, _ = OPENAI_FAMILY[provider]
    auth = ApiKeyAuth(options.get("api_key"), default_env=key_env, required=key_env is not None, client_name=name)
    return options, auth


class OpenAIClient(LeafClient):
    """A client for the OpenAI API (provider ``openai``).

    Example::

        client = llmclient.OpenAIClient(model="gpt-4o-mini")      # key from OPENAI_API_KEY
        print(client.complete("Name three primes.").text)

    Args:
        model: The model name.
        api_key: The key, or ``llmclient.env("NAME")``; default ``OPENAI_API_KEY``.
        base_url: Another address speaking the same API.
        name: The client's name in errors and completions.
        retry_policy: Retries; none when omitted.
        runtime: Share pools with other clients.
        auth: Replace the API-key auth with your own :class:`AuthProvider`.
        **options: Any other option (``headers``, ``http``, ``temperature``...).
    """

    provider_name = "openai"

    def __init__(self, model: Any = None, *, api_key: Any = None, base_url: Any = None, name: str | None = None,
                 retry_policy: RetryPolicy | None = None, runtime: Runtime | None = None,
                 auth: AuthProvider | None = None, **options: Any) -> None:
        name = name or self.provider_name
        opts, default_auth = _openai_family_client(
            self.provider_name, name, {"model": model, "api_key": api_key, "base_url": base_url, **options})
        super().__init__(OpenAIAdapter(self.provider_name, opts), name=name, options=opts,
                         auth=auth or default_auth, runtime=runtime, retry_policy=retry_policy)


class OpenAIGenericClient(OpenAIClient):
    """Any OpenAI-compatible server (vLLM, LM Studio, llama.cpp...): provider ``openai-generic``.

    ``base_url`` is required; no API key is sent unless you give one.
    """

    provider_name = "openai-generic"

    def __init__(self, model: Any = None, *, base_url: Any = None, provider: str = "openai-generic",
                 **kwargs: Any) -> None:
        self.provider_name = provider
        super().__init__(model, base_url=base_url, **kwargs)
