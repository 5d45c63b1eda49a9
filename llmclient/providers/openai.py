"""OpenAI Chat Completions, and every server that speaks it (vLLM, Ollama, OpenRouter...).

Providers ``openai``, ``openai-generic``, ``ollama`` and ``openrouter`` share this module;
Azure OpenAI subclasses the adapter in ``azure.py``. Options follow BAML's names:
``base_url`` (trailing slash stripped), ``api_key`` (default from the provider's
variable), ``headers`` (yours win over ours), ``query_params``, ``model``, role options,
and any other option becomes a body field (``null`` removes one we would send).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..auth.api_key import ApiKeyAuth
from ..auth.base import AuthProvider
from ..errors import ConfigError, LLMError, RateLimitError
from ..models import (
    AudioPart,
    ChatRequest,
    Completion,
    DocumentPart,
    HttpResponse,
    ImagePart,
    Message,
    RedactedThinkingPart,
    TextPart,
    ThinkingPart,
    ToolCall,
    to_tools,
)
from ..redaction import redact_text
from ..secrets import resolve, to_ref
from ..structured import output_format
from .api_key_client import ApiKeyClient
from .base import ADAPTER_OPTIONS as TEMPLATE_OPTIONS
from .base import ProviderAdapter
from .openai_stream import (
    ERROR_TYPE_STATUS,
    FINISH_REASONS,
    OpenAIStreamDecoder,
    openai_error_object,
    openai_usage,
    reasoning_text,
)
from .parts import audio_inline, document_inline, refuse
from .reasoning import reasoning_of, replay_parts
from .status import class_for_status, http_error, refine_class

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
ADAPTER_OPTIONS = TEMPLATE_OPTIONS | {"choice_index"}

_PARAMS_RENAMED_FOR_OPENAI = {"max_tokens": "max_completion_tokens"}


class OpenAIAdapter(ProviderAdapter):
    """Chat Completions requests and answers for the OpenAI family.

    Args:
        provider: One of :data:`OPENAI_FAMILY`'s names (or ``azure-openai`` for the subclass).
        options: The client's options (env references allowed in string values).
    """

    adapter_options = ADAPTER_OPTIONS
    default_allowed_roles = ("system", "developer", "user", "assistant", "tool")
    answer_kind = "chat.completion JSON"
    error_kind = "an OpenAI error JSON"

    def __init__(self, provider: str, options: Mapping[str, Any]) -> None:
        self.provider = provider
        super().__init__(options)
        base_default, _, self.sends_stream_options = OPENAI_FAMILY.get(provider, (None, None, True))
        self.base_url = to_ref(options.get("base_url", base_default))
        if self.base_url is None and provider != "azure-openai":
            raise ConfigError(f"provider {provider} needs options.base_url (the server's /v1 address)")
        #: Which choice becomes the completion when several come back (``n`` > 1); others are ignored.
        self.choice_index = int(options.get("choice_index") or 0)

    # -- request --------------------------------------------------------------------
    def url(self, *, stream: bool = False) -> str:
        """The chat-completions URL, with query parameters."""
        base = str(resolve(self.base_url, what=f"base_url of provider {self.provider}")).rstrip("/")
        return base + "/chat/completions" + self.query_string()

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = self.resolved_defaults()
        reasoning = reasoning_of({**body, **request.params}, provider=self.provider)
        body["messages"] = [self.render_message(m, foreign=reasoning.foreign) for m in request.messages]
        self.apply_params(body, request.params)
        # The one reasoning control: reasoning_effort is OpenAI's own; a budget becomes the nearest effort.
        body.pop("foreign_reasoning", None)
        if body.pop("reasoning_budget_tokens", None) is not None and body.get("reasoning_effort") is None:
            body["reasoning_effort"] = reasoning.level()
        if stream:
            body["stream"] = True
            if self.sends_stream_options and "stream_options" not in self.body_defaults:
                body.setdefault("stream_options", {"include_usage": True})
        return body

    def apply_params(self, body: dict[str, Any], params: Mapping[str, Any]) -> None:
        """Put the call's parameters into ``body`` in OpenAI's form."""
        for key, value in params.items():
            if key == "tools":
                body["tools"] = None if value is None else [
                    {"type": "function", "function": {"name": t.name, "description": t.description,
                                                      "parameters": dict(t.parameters)}} for t in to_tools(value)]
            elif key == "tool_choice":
                body["tool_choice"] = chat_tool_choice(value)
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

    def render_message(self, message: Message, *, foreign: str = "drop") -> dict[str, Any]:
        """One message in OpenAI's form (reasoning state of other providers dropped, or as text)."""
        out: dict[str, Any] = {"role": self.roles.role(message.role)}
        if isinstance(message.content, str):
            out["content"] = message.content
        else:
            parts = replay_parts(message.content, self.provider, foreign)
            own = [p for p in parts if isinstance(p, ThinkingPart)]
            if own and message.tool_calls and self.provider not in ("openai", "azure-openai"):
                # DeepSeek's thinking mode wants reasoning_content back on the turns that called tools.
                out["reasoning_content"] = "".join(p.text for p in own)
            out["content"] = [_render_part(p) for p in parts if not isinstance(p, (ThinkingPart, RedactedThinkingPart))]
        if message.name:
            out["name"] = message.name
        if message.tool_calls:
            out["tool_calls"] = [{"id": c.id, "type": "function", "function": {
                "name": c.name, "arguments": c.raw_arguments or json.dumps(dict(c.arguments))}}
                for c in message.tool_calls]
            if not out["content"]:  # no content, or only reasoning state this provider is not sent
                out["content"] = None
        if message.tool_call_id:
            out["tool_call_id"] = message.tool_call_id
        out.update(self.roles.metadata(message.metadata))
        return out

    # -- response -------------------------------------------------------------------
    def error_object(self, data: Mapping[str, Any], response: HttpResponse | None) -> Mapping[str, Any] | None:
        return openai_error_object(data)

    def completion_from(self, data: dict[str, Any], response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        choices = data.get("choices")
        choice = next((c for c in choices or () if isinstance(c, dict) and c.get("index", 0) == self.choice_index),
                      None)
        if choice is None:
            raise self.lacks(response, "no choices" if not choices else f"no choice with index {self.choice_index}",
                             secrets)
        message = choice.get("message") or {}
        raw_reason = choice.get("finish_reason")
        thinking = reasoning_text(message)
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
            thinking=thinking or None,
            response_id=data.get("id") if isinstance(data.get("id"), str) else None,
            raw=data,
            parts=(ThinkingPart(thinking, source=self.provider), TextPart(message.get("content") or ""))
            if thinking else (),
        )

    def error_from(self, error: Mapping[str, Any], *, response: HttpResponse | None,
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
        return refine_class(class_for_status(status), message, code or kind)(
            redact_text(message, secrets), provider=self.provider, status_code=status, code=safe_code,
            retryable=False if quota else None,
            request_id=None if response is None else response.headers.get(self.request_id_header),
            body=None if response is None else redact_text(response.body[:4000].decode("utf-8", "replace"), secrets))

    def stream_decoder(self, secrets: tuple[str, ...]) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder(self, secrets, self.choice_index)

    def count_locally(self, request: ChatRequest) -> tuple[int, str]:
        """``count_tokens``: OpenAI has no count endpoint, so the body is counted with tiktoken."""
        from .tiktoken_count import count_chat_body

        return count_chat_body(self.body(request, stream=False))


def _render_part(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        image: dict[str, Any] = {"url": part.data_url}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if isinstance(part, DocumentPart):  # Chat has file_data (a data URL) and file_id, no file_url
        return {"type": "file", "file": _chat_file(part)}
    if isinstance(part, AudioPart):
        inline = audio_inline(part)
        if inline is None:
            raise refuse(part, "OpenAI Chat Completions", "it takes audio as base64 data, not a URL "
                         "(media_url_handler.audio: send_base64 downloads it)")
        return {"type": "input_audio", "input_audio": {"data": inline[1], "format": inline[0]}}
    raise ConfigError(f"cannot send a {type(part).__name__} to an OpenAI-style API")


def _chat_file(part: DocumentPart) -> dict[str, Any]:
    if part.file_id is not None:
        return {"file_id": part.file_id, **({"filename": part.filename} if part.filename else {})}
    inline = document_inline(part)
    if inline is None:
        raise refuse(part, "OpenAI Chat Completions", "it takes file_data or file_id, not a URL "
                     "(media_url_handler.pdf: send_base64 downloads it)")
    return {"filename": part.filename or "document.pdf", "file_data": f"data:{inline[0]};base64,{inline[1]}"}


def chat_tool_choice(value: Any) -> Any:
    """``tool_choice`` in Chat Completions' form: a word, or a function named by a bare string."""
    if value in (None, "auto", "none", "required"):
        return value
    if value == "any":
        return "required"
    if isinstance(value, str):
        return {"type": "function", "function": {"name": value}}
    return value


def _response_format(value: Any) -> Any:
    """Chat's ``response_format``: its own forms passed through as given (OpenAI-compatible servers too);
    a bare JSON Schema, the Responses API's flat form or a Pydantic-style class wrapped as ``json_schema``."""
    if value is None or isinstance(value, Mapping) and (
            value.get("type") in ("json_object", "text")
            or value.get("type") == "json_schema" and "json_schema" in value):
        return value
    fmt = output_format(value)
    return None if fmt is None else fmt.openai_chat()


class OpenAIClient(ApiKeyClient):
    """A client for the OpenAI API (provider ``openai``).

    Example::

        client = llmclient.OpenAIClient(model="gpt-4o-mini")      # key from OPENAI_API_KEY
        print(client.complete("Name three primes.").text)

    Takes :class:`~llmclient.providers.api_key_client.ApiKeyClient`'s arguments: ``api_key``
    defaults to ``OPENAI_API_KEY``; ``base_url`` is another address speaking the same API;
    any other option (``headers``, ``http``, ``temperature``...) is read as such.
    """

    provider_name = "openai"
    adapter_options = ADAPTER_OPTIONS

    def make_adapter(self, options: Mapping[str, Any]) -> OpenAIAdapter:
        return OpenAIAdapter(self.provider_name, options)

    def default_auth(self, api_key: Any, name: str) -> AuthProvider:
        """A bearer key from ``api_key`` or the provider's variable (none needed where it has none)."""
        key_env = OPENAI_FAMILY[self.provider_name][1]
        return ApiKeyAuth(api_key, default_env=key_env, required=key_env is not None, client_name=name)


class OpenAIGenericClient(OpenAIClient):
    """Any OpenAI-compatible server (vLLM, LM Studio, llama.cpp...): provider ``openai-generic``.

    ``base_url`` is required; no API key is sent unless you give one.
    """

    provider_name = "openai-generic"

    def __init__(self, model: Any = None, *, base_url: Any = None, provider: str = "openai-generic",
                 **kwargs: Any) -> None:
        self.provider_name = provider
        super().__init__(model, base_url=base_url, **kwargs)
