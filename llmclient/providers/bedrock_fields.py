"""Converse request fields beyond messages and inference: structured output, cache points, guardrails.

Kept apart from :mod:`llmclient.providers.bedrock` (the adapter) so that each stays small. All of
it follows the botocore service model ``bedrock-runtime/2023-09-30`` (wire-formats-2026 section 4):

- ``response_format`` becomes the native ``outputConfig.textFormat``
  (``{"type": "json_schema", "structure": {"jsonSchema": {"name", "schema": <JSON string>}}}``);
  the schema is a JSON **string** there, not an object.
- The top-level ConverseRequest fields (``guardrailConfig``, ``performanceConfig``, ``serviceTier``,
  ``requestMetadata``, ``promptVariables``, ``additionalModelResponseFieldPaths``, ``outputConfig``)
  are sent at the top level, under their own name or in snake_case (``guardrail_config``), never
  inside ``additionalModelRequestFields`` where the model would refuse them.
- A message whose forwarded metadata has ``cache_control`` (Anthropic's hint, forwarded when the
  client's ``allowed_role_metadata`` allows it) is followed by a ``cachePoint`` block.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequestError
from ..structured import output_format

__all__ = ["CONVERSE_FIELDS", "output_config", "cache_point"]

#: Call parameter -> top-level ConverseRequest field.
CONVERSE_FIELDS = {name: name for name in (
    "guardrailConfig", "performanceConfig", "serviceTier", "requestMetadata", "promptVariables",
    "additionalModelResponseFieldPaths", "outputConfig")}
CONVERSE_FIELDS.update({"guardrail_config": "guardrailConfig", "performance_config": "performanceConfig",
                        "service_tier": "serviceTier", "request_metadata": "requestMetadata",
                        "prompt_variables": "promptVariables", "output_config": "outputConfig",
                        "additional_model_response_field_paths": "additionalModelResponseFieldPaths"})

_TTLS = ("5m", "1h")


def output_config(current: Any, response_format: Any) -> dict[str, Any] | None:
    """``outputConfig`` with ``response_format`` as its ``textFormat`` (``json_object``: nothing native)."""
    config = dict(current or {})
    fmt = output_format(response_format)
    if fmt is not None and fmt.schema is not None:
        spec: dict[str, Any] = {"name": fmt.name, "schema": json.dumps(fmt.closed_schema())}
        if fmt.description:
            spec["description"] = fmt.description
        config["textFormat"] = {"type": "json_schema", "structure": {"jsonSchema": spec}}
    return config or None


def cache_point(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``cachePoint`` block for a message's forwarded metadata, or None without ``cache_control``.

    ``cache_control`` may be ``True``, Anthropic's ``{"type": "ephemeral", "ttl"?: "5m"|"1h"}`` or
    Bedrock's own ``{"type": "default", "ttl"?}``; another ``ttl`` is an InvalidRequestError.
    """
    control = metadata.get("cache_control")
    if not control:
        return None
    point: dict[str, Any] = {"type": "default"}
    ttl = control.get("ttl") if isinstance(control, Mapping) else None
    if ttl is not None:
        if ttl not in _TTLS:
            raise InvalidRequestError(f"cache_control.ttl must be one of {', '.join(_TTLS)} on aws-bedrock, "
                                      f"not {ttl!r}", provider="aws-bedrock")
        point["ttl"] = ttl
    return {"cachePoint": point}
