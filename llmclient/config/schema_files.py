"""The JSON Schemas themselves: reading the files, checking plug-ins' schemas, compiled validators.

The built-in schemas (Draft 2020-12) live in the top-level ``schemas/`` folder, installed as
the package ``llmclient.schemas``; which file checks which provider's options is a column of
the provider table (:mod:`llmclient.providers.table`). A plug-in's schema is checked and
given an ``$id`` here (:func:`prepare_schema`) before its row is added. Validators are
compiled once and cached. ``jsonschema`` and ``referencing`` are imported on first use, so
that ``import llmclient`` stays cheap.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import ConfigError
from ..providers.table import PROVIDERS, ProviderSpec, is_builtin
from .canonical import plain

__all__ = ["SCHEMA_BASE_URI", "builtin_validator", "prepare_schema", "provider_validator"]

#: Base of every built-in schema's ``$id``; relative ``$ref``s resolve against it.
SCHEMA_BASE_URI = "https://llmclient.invalid/schemas/"

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: Every built-in schema file, by name without ``.json``: the shared ones, then the providers'.
_SCHEMA_NAMES = ("common", "config", "retry_policy",
                 *dict.fromkeys(spec.schema_file.removesuffix(".json") for spec in PROVIDERS if spec.schema_file))
#: Where the schemas are in a source checkout (setup.py installs them as ``llmclient.schemas``).
_SOURCE_TREE_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

_ANY_OBJECT: Mapping[str, Any] = {"type": "object"}
_lock = threading.Lock()
_builtin_validators: dict[str, Any] = {}
#: provider name -> (the schema the validator was compiled from, the validator)
_provider_validators: dict[str, tuple[Any, Any]] = {}


def prepare_schema(provider: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """A plug-in's schema, checked and completed (``$schema``, a unique ``$id``), ready for its row.

    Raises:
        ValueError: ``provider`` is a built-in name or alias, or the schema reuses a
            built-in schema's ``$id``.
        ConfigError: ``schema`` is not a valid JSON Schema.
    """
    if is_builtin(provider):
        raise ValueError(f"{provider!r} is a built-in provider; register plug-ins under new names")
    contents: dict[str, Any] = plain(schema)
    contents.setdefault("$schema", _DRAFT)
    contents.setdefault("$id", f"{SCHEMA_BASE_URI}provider-{quote(provider, safe='')}.json")
    if contents["$id"] in {f"{SCHEMA_BASE_URI}{name}.json" for name in _SCHEMA_NAMES}:
        raise ValueError(f"the schema for {provider!r} reuses the $id of a built-in schema")
    jsonschema = _jsonschema()
    try:
        jsonschema.Draft202012Validator.check_schema(contents)
    except jsonschema.SchemaError as err:
        raise ConfigError(f"the schema for provider {provider!r} is not a valid JSON Schema: {err.message}") from None
    return contents


def builtin_validator(name: str) -> Any:
    """The compiled validator of the built-in schema ``name`` (``"config"``, ``"openai"``...), cached."""
    with _lock:
        found = _builtin_validators.get(name)
        if found is None:
            found = _builtin_validators[name] = _jsonschema().Draft202012Validator(
                _builtin_schemas()[name], registry=_builtin_registry())
        return found


def provider_validator(spec: ProviderSpec) -> Any:
    """The compiled validator of a row's options schema (built-in file or plug-in's own), cached.

    A plug-in row replaced by a new registration gets a new validator: the cache remembers
    which schema each validator was compiled from.
    """
    if spec.schema_file is not None:
        return builtin_validator(spec.schema_file.removesuffix(".json"))
    schema = spec.schema if isinstance(spec.schema, Mapping) else _ANY_OBJECT
    with _lock:
        cached = _provider_validators.get(spec.name)
        if cached is not None and cached[0] is schema:
            return cached[1]
        registry = _builtin_registry()
        if "$id" in schema:
            from referencing import Resource

            registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
        validator = _jsonschema().Draft202012Validator(schema, registry=registry)
        _provider_validators[spec.name] = (schema, validator)
        return validator


def _jsonschema() -> Any:
    """Import jsonschema on first use (it is slow to import and untyped)."""
    return importlib.import_module("jsonschema")


def _schema_text(filename: str) -> str:
    """Read a schema file from the installed package, or from the source tree."""
    try:
        package = resources.files("llmclient.schemas")
        return package.joinpath(filename).read_text(encoding="utf-8")
    except ModuleNotFoundError:
        return (_SOURCE_TREE_SCHEMAS / filename).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _builtin_schemas() -> dict[str, dict[str, Any]]:
    """Every built-in schema by file name (without ``.json``), read once."""
    return {name: json.loads(_schema_text(f"{name}.json")) for name in _SCHEMA_NAMES}


@lru_cache(maxsize=1)
def _builtin_registry() -> Any:
    """A ``referencing.Registry`` holding every built-in schema under its ``$id``."""
    from referencing import Registry, Resource

    return Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in _builtin_schemas().values())
