"""OpenAI's Responses API (``POST {base_url}/responses``), and every server that speaks it.

Provider ``openai-responses``. Azure OpenAI (``https://NAME.openai.azure.com/openai/v1``) and
OpenAI-compatible servers with a ``/responses`` route (vLLM, Ollama, LM Studio, OpenRouter...)
are reached through ``base_url``. Options follow BAML's names: ``base_url`` (default
``https://api.openai.com/v1``, trailing slash stripped), ``api_key`` (default
``OPENAI_API_KEY``), ``headers``, ``query_params``, ``model``, the role options; any other
option is a body field (``reasoning``, ``store``, ``include``, ``truncation``...; ``null``
removes one we would send).

How llmclient's values map (shapes from ``wire-formats-2026.md`` section 1): leading system and
developer turns become ``instructions`` (later ones stay ``input`` messages in place); user and
assistant turns are ``input`` messages (images as ``input_image`` parts); an assistant turn's
tool calls are ``function_call`` items and ``role: tool`` results ``function_call_output``
items; tools are flat (``{"type": "function", "name", "parameters"}``); ``response_format``
becomes ``text.format``; ``max_tokens`` is ``max_output_tokens``; ``reasoning_effort`` is
``reasoning.effort``. The answer's ``output`` items become the completion: ``output_text``
parts its text, ``function_call`` items its tool calls, ``reasoning`` summaries its
``thinking`` (the items themselves, with ``encrypted_content``, stay in ``Completion.raw``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..auth.api_key import ApiKeyAuth
from ..auth.base import AuthProvider
from ..errors import ConfigError, LLMError, ProviderError, RateLimitError
from ..messages import Tool
from ..models import (
    AudioPart,
    ChatRequest,
    Completion,
    DocumentPart,
    HttpResponse,
    ImagePart,
    Message,
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
from .openai import chat_tool_choice
from .openai_responses_stream import (
    SOURCE,
    ResponsesStreamDecoder,
    finish_of,
    reasoning_item,
    reasoning_part,
    reasoning_texts,
    responses_usage,
)
from .openai_stream import ERROR_TYPE_STATUS, openai_error_object
from .parts import document_inline, refuse
from .reasoning import REASONING_PARAMS, reasoning_of, replay_parts
from .status import class_for_status, http_error, refine_class

__all__ = ["OpenAIResponsesAdapter", "OpenAIResponsesClient", "ResponsesStreamDecoder", "DEFAULT_BASE_URL",
           "RESPONSES_ERROR_STATUS"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: Options read by the adapter itself; everything else is a body field. (``client_response_type``
#: is BAML's own option: for this provider it can only say "openai-responses".)
ADAPTER_OPTIONS = TEMPLATE_OPTIONS | {"client_response_type"}

#: Error codes of Responses answers and events (``response.failed``'s ``error.code``, ``error``
#: events) -> the HTTP status they stand for, beside Chat Completions' types and codes.
RESPONSES_ERROR_STATUS = {**ERROR_TYPE_STATUS, "context_length_exceeded": 400, "invalid_prompt": 400,
                          "vector_store_timeout": 504, "rate_limit_exceeded": 429, "server_error": 500}

_INSTRUCTION_ROLES = frozenset({"system", "developer"})


class OpenAIResponsesAdapter(ProviderAdapter):
    """Responses API requests and answers.

    Args:
        options: The client's options (env references allowed in string values).
    """

    provider = "openai-responses"
    adapter_options = ADAPTER_OPTIONS
    default_allowed_roles = ("system", "developer", "user", "assistant", "tool")
    answer_kind = "a Responses API JSON"
    error_kind = "an OpenAI error JSON"

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        self.base_url = to_ref(options.get("base_url") or DEFAULT_BASE_URL)
        kind = options.get("client_response_type")
        if kind is not None and kind != "openai-responses":
            raise ConfigError(f"provider openai-responses: client_response_type must be 'openai-responses' "
                              f"(got {kind!r})")

    # -- request --------------------------------------------------------------------
    def url(self, *, stream: bool = False) -> str:
        """The responses URL, with query parameters (Azure's preview route takes ``api-version``)."""
        base = str(resolve(self.base_url, what="base_url of provider openai-responses")).rstrip("/")
        return base + "/responses" + self.query_string()

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {}
        defaults = self.resolved_defaults()
        reasoning = reasoning_of({**defaults, **request.params}, provider=self.provider)
        self.apply_params(body, defaults)
        self.apply_params(body, request.params)
        if reasoning.budget_tokens is not None and reasoning.effort is None:  # the one control: nearest effort
            body["reasoning"] = {**(body.get("reasoning") or {}), "effort": reasoning.level()}
        instructions, items = self.render_input(request.messages, foreign=reasoning.foreign)
        if instructions:
            given = body.get("instructions")
            body["instructions"] = "\n\n".join([given, *instructions] if isinstance(given, str) and given
                                               else instructions)
        body["input"] = items
        if stream:
            body["stream"] = True
        return body

    def apply_params(self, body: dict[str, Any], params: Mapping[str, Any]) -> None:
        """Put call parameters (or option defaults) into ``body`` in the Responses form."""
        for key, value in params.items():
            if key == "tools":
                body["tools"] = None if value is None else [_render_tool(t) for t in value]
            elif key == "tool_choice":
                body["tool_choice"] = _tool_choice(value)
            elif key == "response_format":
                text = dict(body.get("text") or {})
                text["format"] = _text_format(value)
                body["text"] = {k: v for k, v in text.items() if v is not None} or None
            elif key in ("max_tokens", "max_completion_tokens"):
                body["max_output_tokens"] = value
            elif key == "reasoning_effort":
                if value is not None:
                    body["reasoning"] = {**(body.get("reasoning") or {}), "effort": value}
            elif key in REASONING_PARAMS:
                continue  # read in body(): never a body field
            elif key == "text" and isinstance(value, Mapping) and isinstance(body.get("text"), Mapping):
                body["text"] = {**body["text"], **value}
            else:
                body[key] = value

    def render_input(self, messages: tuple[Message, ...], *,
                     foreign: str = "drop") -> tuple[list[str], list[dict[str, Any]]]:
        """``(instructions, input items)``: the leading system/developer turns' texts, then the items.

        An assistant turn's own reasoning (a :class:`ThinkingPart` this provider made, from
        ``Completion.message``) goes back first, as the ``reasoning`` item it came as (with its
        ``encrypted_content``, which ``store: false`` needs); other providers' reasoning is
        dropped, or sent as text when ``foreign`` is ``"text"``.
        """
        instructions: list[str] = []
        items: list[dict[str, Any]] = []
        for message in messages:
            if message.role == "tool":
                items.append(self.render_tool_result(message))
                continue
            role = self.roles.role(message.role)
            if role in _INSTRUCTION_ROLES and not items and not self.roles.metadata(message.metadata):
                if message.text:
                    instructions.append(message.text)
                continue
            if role == "assistant" and not isinstance(message.content, str):
                parts = replay_parts(message.content, SOURCE, foreign)
                items.extend(item for item in (reasoning_item(p) for p in parts if isinstance(p, ThinkingPart))
                             if item is not None)
                message = replace(message, content=tuple(p for p in parts if isinstance(p, (TextPart, ImagePart))))
            if message.parts or not message.tool_calls:
                items.append(self.render_message(message, role))
            items.extend({"type": "function_call", "call_id": c.id, "name": c.name,
                          "arguments": c.raw_arguments or json.dumps(dict(c.arguments))} for c in message.tool_calls)
        return instructions, items

    def render_message(self, message: Message, role: str) -> dict[str, Any]:
        """One message item: text as a string, or ``input_text``/``input_image`` parts."""
        content: Any
        if role == "assistant" or all(isinstance(p, TextPart) for p in message.parts):
            content = message.text  # an assistant turn replays as text (input parts are refused there)
        else:
            content = [_render_part(p) for p in message.parts]
        return {"role": role, "content": content, **self.roles.metadata(message.metadata)}

    def render_tool_result(self, message: Message) -> dict[str, Any]:
        """A ``role: tool`` turn as the ``function_call_output`` of its ``tool_call_id``."""
        if not message.tool_call_id:
            raise ConfigError("a tool result for the Responses API needs its tool_call_id (the call's call_id)")
        output: Any = message.text
        if not all(isinstance(p, TextPart) for p in message.parts):
            output = [_render_part(p) for p in message.parts]
        return {"type": "function_call_output", "call_id": message.tool_call_id, "output": output}

    # -- response -------------------------------------------------------------------
    def error_object(self, data: Mapping[str, Any], response: HttpResponse | None) -> Mapping[str, Any] | None:
        return openai_error_object(data)  # an error answer, or a failed response's error

    def completion_from(self, data: dict[str, Any], response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        output = data.get("output")
        if not isinstance(output, list):
            raise self.lacks(response, "no output", secrets)
        if data.get("status") == "failed":
            raise ProviderError("the response failed and gives no error", provider=self.provider,
                                status_code=response.status_code)
        texts: list[str] = []
        refusals: list[str] = []
        thinking: list[str] = []
        calls: list[ToolCall] = []
        state: list[ThinkingPart] = []
        for item in output:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "message":
                for part in item.get("content") or ():
                    if not isinstance(part, dict):
                        continue
                    if part.get("type") == "output_text":
                        texts.append(part.get("text") or "")
                    elif part.get("type") == "refusal":
                        refusals.append(part.get("refusal") or "")
            elif kind == "function_call":
                calls.append(ToolCall.from_json_text(item.get("call_id") or item.get("id") or "",
                                                     item.get("name") or "", item.get("arguments") or ""))
            elif kind == "reasoning":
                thinking.extend(reasoning_texts(item))
                part = reasoning_part(item)
                if part is not None:
                    state.append(part)
        finish, raw = finish_of(data, bool(calls))
        text = "".join(texts)
        return Completion(
            text=text, finish_reason=finish, raw_finish_reason=raw, tool_calls=tuple(calls),
            usage=responses_usage(data.get("usage")), model=data.get("model"), refusal="".join(refusals) or None,
            thinking="\n\n".join(thinking) or None,
            response_id=data.get("id") if isinstance(data.get("id"), str) else None, raw=data,
            parts=(*state, TextPart(text)) if state and text else tuple(state))

    def error_from(self, error: Mapping[str, Any], *, response: HttpResponse | None,
                   secrets: tuple[str, ...]) -> LLMError:
        """The typed error for an OpenAI ``{"message", "type", "code", "param"}`` object.

        An error answer's class follows its HTTP status (refined: an exhausted quota is a
        RateLimitError that is not retried). An error inside a 200 (an ``error`` or
        ``response.failed`` event, a failed response) gets the status its code or type stands
        for: ``rate_limit_exceeded`` 429, ``server_error`` 500, ``invalid_*`` and
        ``context_length_exceeded`` 400 (a ContextWindowExceededError)...; an unknown code is a
        retryable 500.
        """
        kind = str(error.get("type") or "")
        code = str(error.get("code") or "") or None
        message = str(error.get("message") or code or kind or "unknown error")
        quota = "insufficient_quota" in (kind, code)
        if response is not None and not 200 <= response.status_code < 300:
            return http_error(response, message, provider=self.provider, secrets=secrets, code=code or kind or None,
                              cls=RateLimitError if quota else None, retryable=False if quota else None)
        status = _status_of(code, kind)
        return refine_class(class_for_status(status), message, code or kind)(
            redact_text(message, secrets), provider=self.provider, status_code=status,
            code=redact_text(code or kind, secrets) or None, retryable=False if quota else None,
            request_id=None if response is None else response.headers.get(self.request_id_header),
            body=None if response is None else redact_text(response.body[:4000].decode("utf-8", "replace"), secrets))

    def stream_decoder(self, secrets: tuple[str, ...]) -> ResponsesStreamDecoder:
        return ResponsesStreamDecoder(self, secrets)


def _status_of(code: str | None, kind: str) -> int:
    """The HTTP status an in-band error's code (else type) stands for."""
    for word in (code, kind):
        if not word:
            continue
        if word in RESPONSES_ERROR_STATUS:
            return RESPONSES_ERROR_STATUS[word]
        if word.startswith("invalid_") or word.startswith("image_"):
            return 400
    return 500


def _render_part(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImagePart):
        return {"type": "input_image", "image_url": part.data_url, "detail": part.detail or "auto"}
    if isinstance(part, DocumentPart):  # input_file: file_data (a data URL, with filename), file_id or file_url
        if part.file_id is not None:
            return {"type": "input_file", "file_id": part.file_id}
        inline = document_inline(part)
        if inline is None:
            return {"type": "input_file", "file_url": part.url}
        return {"type": "input_file", "filename": part.filename or "document.pdf",
                "file_data": f"data:{inline[0]};base64,{inline[1]}"}
    if isinstance(part, AudioPart):
        raise refuse(part, "the OpenAI Responses API", "it takes no audio input (use provider openai, Chat "
                     "Completions' input_audio)")
    raise ConfigError(f"cannot send a {type(part).__name__} to the OpenAI Responses API")


def _render_tool(tool: Any) -> dict[str, Any]:
    """A tool in the Responses form: flat ``function`` tools; built-in tools (``web_search``...) as given."""
    if isinstance(tool, Mapping):
        kind = tool.get("type")
        if kind not in (None, "function"):
            return dict(tool)  # web_search, file_search, mcp...: the API's own tools
        nested = tool.get("function")
        spec = nested if isinstance(nested, Mapping) else tool
        out = _flat_function(to_tools([tool])[0])
        if "strict" in spec:
            out["strict"] = spec["strict"]
        return out
    return _flat_function(to_tools([tool])[0])


def _flat_function(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "function", "name": tool.name, "parameters": dict(tool.parameters)}
    if tool.description:
        out["description"] = tool.description
    return out


def _tool_choice(value: Any) -> Any:
    """``tool_choice`` in the Responses form: Chat's ``{"type": "function", "function": {"name"}}`` flattened."""
    chat = chat_tool_choice(value)
    if isinstance(chat, Mapping) and isinstance(chat.get("function"), Mapping):
        return {"type": "function", "name": chat["function"].get("name")}
    return chat


def _text_format(value: Any) -> Any:
    """``response_format`` (Chat's forms, the flat form, a bare schema, a Pydantic-style class) as ``text.format``."""
    if value is None or isinstance(value, Mapping) and (
            value.get("type") in ("json_object", "text")
            or value.get("type") == "json_schema" and "json_schema" not in value):
        return None if value is None else dict(value)
    fmt = output_format(value)
    return {"type": "text"} if fmt is None else fmt.responses_text_format()


class OpenAIResponsesClient(ApiKeyClient):
    """A client for OpenAI's Responses API (provider ``openai-responses``).

    Example::

        client = llmclient.OpenAIResponsesClient(model="gpt-5.2", reasoning={"effort": "low"})
        reply = client.complete("Name three primes.")   # key from OPENAI_API_KEY
        print(reply.text, reply.thinking, reply.response_id)

    Takes :class:`~llmclient.providers.api_key_client.ApiKeyClient`'s arguments: ``api_key``
    defaults to ``OPENAI_API_KEY`` (required for api.openai.com; with another ``base_url`` a
    server without auth needs none); ``base_url`` is another address speaking the Responses
    API (Azure's ``https://NAME.openai.azure.com/openai/v1``, a vLLM or Ollama ``/v1``).
    """

    provider_name = "openai-responses"
    adapter_options = ADAPTER_OPTIONS
    key_env = "OPENAI_API_KEY"
    _own_server = True

    def make_adapter(self, options: Mapping[str, Any]) -> OpenAIResponsesAdapter:
        self._own_server = options.get("base_url") is None
        return OpenAIResponsesAdapter(options)

    def default_auth(self, api_key: Any, name: str) -> AuthProvider:
        """A bearer key from ``api_key`` or ``OPENAI_API_KEY`` (required only for OpenAI's own server)."""
        return ApiKeyAuth(api_key, default_env=self.key_env, required=self._own_server, client_name=name)
