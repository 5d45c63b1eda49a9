"""AWS Bedrock Runtime's Converse API (provider ``aws-bedrock``): requests, answers, streams, errors.

``POST {endpoint}/model/{modelId}/converse`` and ``/converse-stream`` on
``https://bedrock-runtime.{region}.amazonaws.com`` (or ``endpoint_url``), the model id
percent-encoded in the path so that ARNs and inference-profile ids work. Signed by
:class:`~llmclient.auth.aws.BedrockAuth` (SigV4, or a Bedrock API key as a bearer token).
The stream is the binary AWS event stream, framed by :mod:`llmclient.wire.eventstream`.
Options follow BAML: ``model`` (or ``model_id``), ``region``, keys flat or under
``credentials``, ``profile``, ``endpoint_url``, ``inference_configuration``,
``additional_model_request_fields``; any other option is a :class:`ConfigError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..auth.aws import AwsCredentialSource, BedrockAuth
from ..auth.base import AuthProvider
from ..errors import ConfigError, InvalidRequestError, LLMError
from ..models import (
    ChatRequest,
    Completion,
    HttpRequest,
    HttpResponse,
    Message,
    Part,
    TextPart,
    ThinkingPart,
    ToolCall,
    to_tools,
)
from ..retry import RetryPolicy
from ..runtime import Runtime
from ..secrets import resolve, to_ref
from .anthropic import DEFAULT_MAX_TOKENS, thinking_off_for_replay
from .base import COMMON_OPTIONS, LeafClient, ProviderAdapter, given_options
from .bedrock_fields import CONVERSE_FIELDS, cache_point, output_config
from .bedrock_messages import render_part as _render_part
from .bedrock_messages import tool_choice as _tool_choice
from .bedrock_messages import tool_result as _tool_result
from .bedrock_stream import (
    REASONING_SOURCE,
    STOP_REASONS,
    BedrockStreamDecoder,
    bedrock_error,
    bedrock_error_class,
    bedrock_error_object,
    bedrock_usage,
    reasoning_part,
)
from .reasoning import REASONING_PARAMS, reasoning_of, replay_call, replay_parts

__all__ = ["BedrockAdapter", "BedrockStreamDecoder", "BedrockClient", "bedrock_usage", "bedrock_error_class",
           "STOP_REASONS", "BEDROCK_OPTIONS"]

PROVIDER = "aws-bedrock"

#: Every option the provider accepts (after ``credentials`` is flattened and ``model_id`` renamed).
BEDROCK_OPTIONS = frozenset({"model", "region", "access_key_id", "secret_access_key", "session_token", "profile",
                             "endpoint_url", "api_key", "inference_configuration", "additional_model_request_fields",
                             "headers", "allowed_roles", "default_role", "remap_roles",
                             "allowed_role_metadata"}) | COMMON_OPTIONS

#: inference_configuration / call parameter -> inferenceConfig field.
INFERENCE_FIELDS = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP",
                    "stop_sequences": "stopSequences", "stop": "stopSequences"}



class BedrockAdapter(ProviderAdapter):
    """Converse requests and answers.

    Args:
        options: Canonical options (``credentials`` flattened, ``model_id`` renamed ``model``).
        source: Region and credentials (the region is part of the default endpoint).
    """

    provider = PROVIDER
    #: Who made the reasoning state this adapter reads (``reasoningContent``); only it is sent back.
    reasoning_source = REASONING_SOURCE
    request_id_header = "x-amzn-requestid"
    adapter_options = BEDROCK_OPTIONS
    answer_kind = "Converse JSON"
    error_kind = "a Bedrock error JSON"

    def __init__(self, options: Mapping[str, Any], source: AwsCredentialSource) -> None:
        unknown = sorted(set(options) - BEDROCK_OPTIONS)
        if unknown:
            raise ConfigError(f"unknown option {unknown[0]!r} for provider aws-bedrock: request fields go in "
                              "inference_configuration or additional_model_request_fields")
        if options.get("model") is None:
            raise ConfigError("provider aws-bedrock needs options.model (or model_id), e.g. "
                              "anthropic.claude-3-5-sonnet-20240620-v1:0")
        super().__init__(options)
        self.model = to_ref(options["model"])
        self.source = source
        self.endpoint_url = to_ref(options.get("endpoint_url"))
        self.inference = dict(options.get("inference_configuration") or {})
        unknown = sorted(set(self.inference) - set(INFERENCE_FIELDS))
        if unknown:
            raise ConfigError(f"unknown inference_configuration key {unknown[0]!r} (known: max_tokens, temperature, "
                              "top_p, stop_sequences)")
        self.additional = dict(options.get("additional_model_request_fields") or {})

    # -- request --------------------------------------------------------------------
    def model_id(self) -> str:
        """The model id, ARN or inference-profile id, as configured."""
        return str(resolve(self.model, what="model"))

    def url(self, *, stream: bool) -> str:
        """``{endpoint}/model/{percent-encoded id}/converse[-stream]``."""
        if self.endpoint_url is not None:
            base = str(resolve(self.endpoint_url, what="endpoint_url")).rstrip("/")
        else:
            base = f"https://bedrock-runtime.{self.source.region()}.amazonaws.com"
        return f"{base}/model/{quote(self.model_id(), safe='')}/{'converse-stream' if stream else 'converse'}"

    def default_headers(self, *, stream: bool) -> dict[str, str]:
        """JSON in; the answer's type is the API's own (JSON, or an AWS event stream)."""
        return {"Content-Type": "application/json"}

    def body(self, request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
        """The Converse JSON body for ``request``."""
        inference: dict[str, Any] = {}
        additional: dict[str, Any] = {}
        for key, value in self.inference.items():
            inference[INFERENCE_FIELDS[key]] = resolve(value, what=f"inference_configuration.{key}")
        additional.update(self.additional)
        tools: Any = None
        choice: Any = None
        top: dict[str, Any] = {}  # top-level Converse fields (guardrailConfig, outputConfig...): bedrock_fields
        reasoning = reasoning_of(request.params, provider=self.provider)
        for key, value in request.params.items():
            if key in REASONING_PARAMS:
                continue
            if key in CONVERSE_FIELDS:
                top[CONVERSE_FIELDS[key]] = value
            elif key == "response_format":
                top["outputConfig"] = output_config(top.get("outputConfig"), value)
            elif key in INFERENCE_FIELDS:
                name = INFERENCE_FIELDS[key]
                inference[name] = [value] if name == "stopSequences" and isinstance(value, str) else value
            elif key == "tools":
                tools = value
            elif key == "tool_choice":
                choice = value
            elif key in ("additional_model_request_fields", "additionalModelRequestFields"):
                additional.update(value or {})
            else:
                additional[key] = value
        if reasoning.requested and additional.get("thinking") is None:
            self.claude_only("reasoning_effort / reasoning_budget_tokens")
            # Claude's own thinking field; thinking tokens count toward maxTokens.
            additional["thinking"] = {"type": "enabled", "budget_tokens": reasoning.budget()}
            inference["maxTokens"] = (inference.get("maxTokens") or DEFAULT_MAX_TOKENS) + reasoning.budget()
        thinking_off_for_replay(additional, request.messages, self.reasoning_source, self.provider)
        system, messages = self.render_messages(request.messages, foreign=reasoning.foreign)
        body: dict[str, Any] = {}
        if system:
            body["system"] = system
        body["messages"] = messages
        inference = {k: v for k, v in inference.items() if v is not None}
        if inference:
            body["inferenceConfig"] = inference
        if tools:
            config: dict[str, Any] = {"tools": [
                {"toolSpec": {"name": t.name, **({"description": t.description} if t.description else {}),
                              "inputSchema": {"json": dict(t.parameters)}}} for t in to_tools(tools)]}
            rendered = _tool_choice(choice)
            if rendered is not None:
                config["toolChoice"] = rendered
            body["toolConfig"] = config
        additional = {k: v for k, v in additional.items() if v is not None}
        if additional:
            body["additionalModelRequestFields"] = additional
        body.update({k: v for k, v in top.items() if v is not None})
        return body

    def claude_only(self, what: str) -> None:
        """Refuse (before sending) a control mapped for Claude models only, naming the model."""
        model = self.model_id().lower()
        if "anthropic." not in model and "claude" not in model:
            raise InvalidRequestError(f"{what} is mapped for Claude models on aws-bedrock only, not "
                                      f"{self.model_id()!r}: pass the model's own field in "
                                      "additional_model_request_fields",
                                      provider=self.provider)

    def render_messages(self, messages: tuple[Message, ...], *,
                        foreign: str = "drop") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(system blocks, messages)``: tool results in user turns, consecutive same roles merged.

        Reasoning parts made by Bedrock go back as ``reasoningContent`` blocks, first and
        unchanged; another provider's are dropped (``foreign="text"``: their thinking as text).
        """
        system: list[dict[str, Any]] = []
        out: list[dict[str, Any]] = []
        for message in messages:
            role = "tool" if message.role == "tool" else self.roles.role(message.role)
            point = cache_point(self.roles.metadata(message.metadata))
            if role == "system":
                system.extend({"text": p.text} for p in message.parts if isinstance(p, TextPart) and p.text)
                system.extend([point] if point else [])
                continue
            if role == "tool":
                blocks = [_tool_result(message)]
                role = "user"
            else:
                parts = replay_parts(message.parts, self.reasoning_source, foreign)
                blocks = [b for b in (_render_part(p) for p in parts if not (isinstance(p, TextPart) and not p.text))
                          if b is not None]
                blocks.sort(key=lambda b: "reasoningContent" not in b)  # stable: reasoning first, order kept
                blocks.extend({"toolUse": {"toolUseId": c.id, "name": c.name, "input": dict(c.arguments)}}
                              for c in (replay_call(call, self.reasoning_source) for call in message.tool_calls))
                role = "assistant" if role == "assistant" else "user"
            blocks.extend([point] if point else [])
            if out and out[-1]["role"] == role:
                out[-1]["content"].extend(blocks)
            else:
                out.append({"role": role, "content": blocks})
        return system, out

    # -- response -------------------------------------------------------------------
    def completion_from(self, data: dict[str, Any], response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        message = (data.get("output") or {}).get("message") if isinstance(data.get("output"), dict) else None
        if not isinstance(message, dict):
            raise self.lacks(response, "no output.message", secrets)
        texts: list[str] = []
        thinking: list[str] = []
        calls: list[ToolCall] = []
        parts: list[Part] = []
        for block in message.get("content") or ():
            if not isinstance(block, dict):
                continue
            if isinstance(block.get("text"), str):
                texts.append(block["text"])
                parts.append(TextPart(block["text"]))
            elif isinstance(block.get("toolUse"), dict):
                use = block["toolUse"]
                args = use.get("input") if isinstance(use.get("input"), dict) else {}
                calls.append(ToolCall(id=str(use.get("toolUseId") or f"call_{len(calls)}"),
                                      name=str(use.get("name") or ""), arguments=args, raw_arguments=json.dumps(args)))
            elif isinstance(block.get("reasoningContent"), dict):
                part = reasoning_part(block["reasoningContent"])
                if part is not None:
                    parts.append(part)
                    if isinstance(part, ThinkingPart):
                        thinking.append(part.text)
        raw = data.get("stopReason")
        return Completion(text="".join(texts), finish_reason=STOP_REASONS.get(raw, "other") if raw else None,
                          raw_finish_reason=raw, tool_calls=tuple(calls), usage=bedrock_usage(data.get("usage")),
                          model=self.model_id(), thinking="".join(thinking) or None, raw=data, trace=data.get("trace"),
                          response_id=response.headers.get(self.request_id_header),
                          parts=tuple(parts) if any(not isinstance(p, TextPart) for p in parts) else ())

    def error_object(self, data: Mapping[str, Any], response: HttpResponse | None) -> Mapping[str, Any] | None:
        """``{"code", "message"}`` from the ``x-amzn-ErrorType`` header and the body (``__type``...)."""
        return bedrock_error_object(data, {} if response is None else response.headers)

    def error_from(self, error: Mapping[str, Any], *, response: HttpResponse | None,
                   secrets: tuple[str, ...]) -> LLMError:
        return bedrock_error(str(error.get("code") or ""), str(error.get("message") or ""), response=response,
                             secrets=secrets)

    def stream_decoder(self, secrets: tuple[str, ...]) -> BedrockStreamDecoder:
        return BedrockStreamDecoder(self.model_id(), secrets, parse=self.parse_response)

    #: ``count_tokens``: the field of ``CountTokens``'s answer.
    count_field = "inputTokens"

    def count_request(self, request: ChatRequest) -> HttpRequest:
        """``POST {endpoint}/model/{id}/count-tokens`` with ``{"input": {"converse": ...}}``: the Converse
        body's messages, system, toolConfig and additionalModelRequestFields (no inferenceConfig)."""
        from .token_count import count_post

        body = self.body(request)
        converse = {k: body[k] for k in ("messages", "system", "toolConfig", "additionalModelRequestFields")
                    if k in body}
        return count_post(self, self.url(stream=False).rsplit("/", 1)[0] + "/count-tokens",
                          {"input": {"converse": converse}})


def bedrock_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical options: nested ``credentials`` flattened, ``model_id`` renamed ``model``.

    The one implementation, for typed constructors and configs alike (``None`` values are
    the caller's business: see :func:`~llmclient.providers.base.given_options`).

    Raises:
        ConfigError: ``credentials`` is not an object, or a key is given both flat and inside it
            (or both ``model`` and ``model_id``).
    """
    opts = {k: v for k, v in options.items() if k not in ("credentials", "model_id")}
    credentials = options.get("credentials")
    if credentials is not None:
        if not isinstance(credentials, Mapping):
            raise ConfigError("options.credentials of aws-bedrock must be an object (access_key_id, "
                              "secret_access_key, session_token, profile)")
        for key, value in credentials.items():
            if opts.get(key) is not None:
                raise ConfigError(f"give {key} flat or inside credentials, not both")
            opts[key] = value
    if options.get("model_id") is not None:
        if options.get("model") is not None:
            raise ConfigError("give model or model_id, not both")
        opts["model"] = options["model_id"]
    return opts


class BedrockClient(LeafClient):
    """A client for AWS Bedrock's Converse API (provider ``aws-bedrock``).

    Example::

        client = llmclient.BedrockClient(model="anthropic.claude-3-5-sonnet-20240620-v1:0",
                                         region="us-east-1")     # credentials: botocore's chain
        print(client.complete("Name three primes.").text)

    Args:
        model: The model id, ARN or inference-profile id (``model_id`` is accepted too).
        region: The region; default ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's.
        name: The client's name in errors and completions.
        retry_policy: Retries; none when omitted.
        runtime: Share pools with other clients.
        auth: Replace SigV4 / API-key auth with your own :class:`AuthProvider`.
        **options: ``access_key_id``/``secret_access_key``/``session_token`` (flat or under
            ``credentials``), ``profile``, ``api_key``, ``endpoint_url``,
            ``inference_configuration``, ``additional_model_request_fields``, ``headers``, ``http``...
    """

    provider_name = PROVIDER

    def __init__(self, model: Any = None, *, region: Any = None, name: str | None = None,
                 retry_policy: RetryPolicy | None = None, runtime: Runtime | None = None,
                 auth: AuthProvider | None = None, **options: Any) -> None:
        name = name or self.provider_name
        opts = bedrock_options(given_options({"model": model, "region": region, **options},
                                             BEDROCK_OPTIONS | {"credentials", "model_id"}))
        if opts.get("api_key") is not None and any(k in opts for k in ("access_key_id", "profile")):
            raise ConfigError("api_key (a Bedrock API key) replaces AWS credentials: give one or the other",
                              client_name=name)
        source = AwsCredentialSource(region=opts.get("region"), access_key_id=opts.get("access_key_id"),
                                     secret_access_key=opts.get("secret_access_key"),
                                     session_token=opts.get("session_token"), profile=opts.get("profile"),
                                     client_name=name)
        if auth is None or opts.get("endpoint_url") is None:
            source.settle_region()  # now, so that building a request reads no environment or file
        adapter = BedrockAdapter(opts, source)
        default_auth = BedrockAuth(source, api_key=opts.get("api_key"),
                                   uses_chain=not source.explicit and opts.get("profile") is None)
        super().__init__(adapter, name=name, options=opts, auth=auth or default_auth, runtime=runtime,
                         retry_policy=retry_policy)
