"""Structured output in the fake server: find the schema a request asks for, answer with an instance of it.

Each wire format reads its provider's field (OpenAI ``response_format``, Responses ``text.format``,
Anthropic ``output_config.format``, Gemini ``generationConfig.responseJsonSchema``/``responseSchema``,
Bedrock ``outputConfig.textFormat`` whose schema is a JSON string) with :func:`requested_schema`;
:func:`instance_of` builds the deterministic minimal instance the reply carries: required properties
only (all of them when none is required), strings hold the prompt, numbers are 0, booleans false,
arrays hold ``minItems`` items, ``enum``/``const``/``default`` and the first ``anyOf``/``oneOf``
branch win, local ``$ref``s are followed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["requested_schema", "instance_of"]


def requested_schema(body: Mapping[str, Any], provider: str) -> tuple[bool, Any]:
    """``(json_mode, schema or None)`` of a request body written in ``provider``'s form."""
    schema: Any = None
    mode = False
    if provider == "openai":
        fmt = _obj(body.get("response_format"))
        if fmt.get("type") in ("json_object", "json_schema"):
            mode, schema = True, _obj(fmt.get("json_schema")).get("schema")
    elif provider == "openai-responses":
        fmt = _obj(_obj(body.get("text")).get("format"))
        if fmt.get("type") in ("json_object", "json_schema"):
            mode, schema = True, fmt.get("schema")
    elif provider == "anthropic":
        fmt = _obj(_obj(body.get("output_config")).get("format") or body.get("output_format"))
        if fmt.get("type") == "json_schema":
            mode, schema = True, fmt.get("schema")
    elif provider == "google":
        config = _obj(body.get("generationConfig"))
        mode = config.get("responseMimeType") == "application/json"
        schema = config.get("responseJsonSchema") or config.get("responseSchema") if mode else None
    elif provider == "bedrock":
        fmt = _obj(_obj(body.get("outputConfig")).get("textFormat"))
        spec = _obj(_obj(fmt.get("structure")).get("jsonSchema")) if fmt.get("type") == "json_schema" else {}
        if isinstance(spec.get("schema"), str):
            mode, schema = True, json.loads(spec["schema"])
    return mode, schema if isinstance(schema, Mapping) else None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def instance_of(schema: Mapping[str, Any], prompt: str, *, root: Mapping[str, Any] | None = None,
                depth: int = 0) -> Any:
    """The minimal instance of ``schema`` (see the module docstring); ``prompt`` fills strings."""
    root = schema if root is None else root
    if depth > 20:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for key in ref[2:].split("/"):
            target = target.get(key, {}) if isinstance(target, Mapping) else {}
        return instance_of(target, prompt, root=root, depth=depth + 1)
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return instance_of(schema[key][0], prompt, root=root, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    kind = str(kind).lower() if kind is not None else ("object" if "properties" in schema else "string")
    if kind == "object":
        properties = _obj(schema.get("properties"))
        required = schema.get("required")
        names = list(required) if isinstance(required, list) and required else list(properties)
        return {str(n): instance_of(_obj(properties.get(n)), prompt, root=root, depth=depth + 1) for n in names}
    if kind == "array":
        items = _obj(schema.get("items"))
        minimum = schema.get("minItems")
        count = minimum if isinstance(minimum, int) else 0
        return [instance_of(items, prompt, root=root, depth=depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        low = schema.get("minimum")
        return low if isinstance(low, (int, float)) else 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return prompt
