"""Structured output: one ``response_format`` read once, written in each provider's form, decoded once.

A caller asks for a structured answer with the call parameter ``response_format``, given as:

- a JSON Schema (a dict whose ``type`` is not a response-format type);
- OpenAI's Chat form ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"?}}``,
  or the Responses API's flat form ``{"type": "json_schema", "name", "schema", "strict"?}``;
- ``{"type": "json_object"}`` (any JSON, no schema) or ``{"type": "text"}`` (no structure);
- any object with ``model_json_schema()`` (a Pydantic model class), which is called: Pydantic is
  never imported here.

:func:`output_format` reads it into an :class:`OutputFormat`, which each provider module writes
in its own wire form (OpenAI ``response_format``, Responses ``text.format``, Anthropic
``output_config.format``, Gemini ``responseJsonSchema``, Bedrock ``outputConfig.textFormat``).
:func:`decoded` then sets ``Completion.parsed`` from the answer's text, raising
:class:`~llmclient.errors.StructuredOutputError` (with the raw text) when it is not JSON or, with
validation on (the default when a schema is given), not valid for the schema. Validation uses
``jsonschema``, imported on first use; the call parameter ``validate_output=False`` turns it off.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import InvalidRequestError, StructuredOutputError
from .models import ChatRequest, Completion

__all__ = ["OutputFormat", "output_format", "prepare", "decoded", "VALIDATE_PARAM"]

log = logging.getLogger(__name__)

#: The call parameter that turns schema validation of the answer off (``validate_output=False``); never sent.
VALIDATE_PARAM = "validate_output"

_FORMAT_TYPES = frozenset({"json_schema", "json_object", "text"})
_validators: dict[str, Any] = {}
_MAX_CACHED = 64


@dataclass(frozen=True)
class OutputFormat:
    """What a ``response_format`` asks for, provider-neutral.

    Attributes:
        name: The schema's name (``json_schema.name``, a model class's name, a schema's
            ``title``, else ``"response"``).
        schema: The JSON Schema, or None for plain JSON mode (``json_object``).
        strict: OpenAI's ``strict`` flag when the caller gave one, else None.
        description: The schema's description, when given.
        validate: Whether :func:`decoded` checks the answer against ``schema``.
        from_model: The schema came from a class's ``model_json_schema()`` (Pydantic): providers
            whose structured outputs need closed objects send :meth:`closed_schema`, as their SDKs do.
    """

    name: str
    schema: dict[str, Any] | None
    strict: bool | None = None
    description: str | None = None
    validate: bool = True
    from_model: bool = False

    def closed_schema(self) -> dict[str, Any] | None:
        """The schema as Anthropic's and Bedrock's structured outputs take a model's: every object
        with ``properties`` gets ``additionalProperties: false`` unless it says otherwise (what
        anthropic's ``messages.parse`` sends for a Pydantic model). A hand-written schema is sent as given."""
        return None if self.schema is None else _closed(self.schema) if self.from_model else self.schema

    def openai_chat(self) -> dict[str, Any]:
        """The Chat Completions ``response_format``."""
        if self.schema is None:
            return {"type": "json_object"}
        inner: dict[str, Any] = {"name": self.name, "schema": self.schema}
        if self.description:
            inner["description"] = self.description
        if self.strict is not None:
            inner["strict"] = self.strict
        return {"type": "json_schema", "json_schema": inner}

    def responses_text_format(self) -> dict[str, Any]:
        """The Responses API ``text.format`` (flat: no nested ``json_schema``)."""
        if self.schema is None:
            return {"type": "json_object"}
        out: dict[str, Any] = {"type": "json_schema", "name": self.name, "schema": self.schema}
        if self.description:
            out["description"] = self.description
        if self.strict is not None:
            out["strict"] = self.strict
        return out


def output_format(value: Any, *, validate: bool = True) -> OutputFormat | None:
    """The :class:`OutputFormat` of a ``response_format`` value; None for ``text``/None.

    Raises InvalidRequestError naming ``response_format`` for a value of no known form.
    """
    if value is None:
        return None
    maker = getattr(value, "model_json_schema", None)
    if callable(maker) and not isinstance(value, Mapping):
        schema = maker()
        if not isinstance(schema, Mapping):
            raise InvalidRequestError("response_format: model_json_schema() did not return a JSON Schema object")
        name = getattr(value, "__name__", None) or type(value).__name__
        return OutputFormat(_name(name), dict(schema), None, _text(schema.get("description")), validate, True)
    if not isinstance(value, Mapping):
        raise InvalidRequestError(f"response_format must be a JSON Schema, a response-format dict or a class with "
                                  f"model_json_schema(), not {type(value).__name__}")
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return OutputFormat("response", None, validate=False)
    if kind == "json_schema":
        nested = value.get("json_schema")
        inner: Mapping[str, Any] = nested if isinstance(nested, Mapping) else value
        schema = inner.get("schema")
        if not isinstance(schema, Mapping):
            raise InvalidRequestError("response_format.json_schema.schema must be a JSON Schema object")
        strict = inner.get("strict")
        return OutputFormat(_name(inner.get("name") or schema.get("title")), dict(schema),
                            strict if isinstance(strict, bool) else None,
                            _text(inner.get("description") or schema.get("description")), validate)
    return OutputFormat(_name(value.get("title")), dict(value), None, _text(value.get("description")), validate)


def prepare(request: ChatRequest, default: Any = None) -> tuple[ChatRequest, OutputFormat | None]:
    """The request without ``validate_output``, and its output format (schema checked now).

    ``default`` is the client's own ``response_format`` option, used when the call gives none
    (a call's ``response_format=None`` removes it, as for any option).

    A schema that is not a valid JSON Schema is an InvalidRequestError naming where, raised
    before anything is sent (checked only when validation is on).
    """
    params = request.params
    if "response_format" not in params and VALIDATE_PARAM not in params and default is None:
        return request, None
    validate = params.get(VALIDATE_PARAM, True) is not False
    if VALIDATE_PARAM in params:
        request = ChatRequest(request.messages, {k: v for k, v in params.items() if k != VALIDATE_PARAM})
    fmt = output_format(params["response_format"] if "response_format" in params else default, validate=validate)
    if fmt is not None and fmt.schema is not None and fmt.validate:
        _validator(fmt.schema)
    return request, fmt


def decoded(completion: Completion, fmt: OutputFormat | None) -> Completion:
    """``completion`` with ``parsed`` set from its text; raises StructuredOutputError when it is not the JSON asked for.

    An answer that called one of the caller's tools, or refused (no text), has no JSON
    answer: ``parsed`` stays None. A fenced answer (```` ```json ... ``` ````) is unwrapped first.
    """
    if fmt is None or (not completion.text and (completion.tool_calls or completion.refusal)):
        return completion
    text = completion.text
    try:
        value = json.loads(_unfenced(text))
    except ValueError as err:
        raise _error(completion, fmt, f"not valid JSON ({err})") from None
    if fmt.schema is not None and fmt.validate:
        problem = _violation(fmt.schema, value)
        if problem is not None:
            raise _error(completion, fmt, f"not valid for the schema: {problem}")
    return replace(completion, parsed=value)


def _error(completion: Completion, fmt: OutputFormat, problem: str) -> StructuredOutputError:
    cut = " (the answer was cut at the token limit)" if completion.finish_reason == "length" else ""
    return StructuredOutputError(f"the answer to response_format {fmt.name!r} is {problem}{cut}",
                                 text=completion.text, problem=problem, provider=completion.provider,
                                 client_name=completion.client_name, request_id=completion.request_id,
                                 retryable=False)


def _unfenced(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```") and len(stripped) >= 6:
        body = stripped[3:-3]
        first, _, rest = body.partition("\n")
        return rest if first.strip().isalpha() or not first.strip() else body
    return stripped


def _violation(schema: dict[str, Any], value: Any) -> str | None:
    validator = _validator(schema)
    error = _jsonschema("exceptions").best_match(validator.iter_errors(value))
    if error is None:
        return None
    return f"{error.message} at {error.json_path}"


def _validator(schema: dict[str, Any]) -> Any:
    """A compiled validator for ``schema`` (cached); InvalidRequestError when the schema is not one."""
    key = json.dumps(schema, sort_keys=True, default=str)
    validator = _validators.get(key)
    if validator is not None:
        return validator
    cls = _jsonschema("validators").validator_for(schema)
    try:
        cls.check_schema(schema)
    except _jsonschema("exceptions").SchemaError as err:
        where = "/".join(str(p) for p in err.path) or "(top)"
        raise InvalidRequestError(f"response_format: the schema is not a valid JSON Schema at {where}: "
                                  f"{err.message}") from None
    validator = cls(schema)
    if len(_validators) >= _MAX_CACHED:
        _validators.pop(next(iter(_validators)))
    _validators[key] = validator
    return validator


def _closed(node: Any) -> Any:
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out = {key: _closed(value) for key, value in node.items()}
    if isinstance(out.get("properties"), Mapping) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _jsonschema(module: str) -> Any:
    """A jsonschema module, imported on first use (it is slow to import and untyped)."""
    return importlib.import_module(f"jsonschema.{module}")


def _name(value: Any) -> str:
    text = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(value or "response"))[:64]
    return text or "response"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
