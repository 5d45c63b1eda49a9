"""Schema validation of configs: every problem at once, each at its JSON path, no secret echoed.

The JSON Schemas (Draft 2020-12) live in the top-level ``schemas/`` folder, installed as the
package ``llmclient.schemas``. ``config.json`` checks the top level and the retry policies;
each client's ``options`` is then checked against its provider's schema, chosen here from the
provider name (aliases included) or registered by a plug-in with :func:`register_schema`.
Cross-references (retry policy names, strategy members) are checked here too, and reference
cycles among composite clients (:mod:`llmclient.config.cycles`), so that one ``ConfigError``
lists every problem.

Messages are written here rather than taken from jsonschema, for two reasons: jsonschema's
messages quote the offending value, which may be a credential, and they describe schema
keywords rather than what the user should change. A value is quoted only when it is a scalar
at a path that cannot hold a secret. ``jsonschema`` and ``referencing`` are imported on first
use, so that ``import llmclient`` stays cheap.
"""

from __future__ import annotations

import difflib
import importlib
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import ConfigError
from .canonical import CANONICAL_PROVIDERS, COMPOSITE_PROVIDERS, PROVIDER_ALIASES, canonical_provider_name, plain
from .cycles import cycle_problems

__all__ = ["SCHEMA_BASE_URI", "SECRET_KEYS", "format_path", "known_providers", "provider_schema_name",
           "reference_warnings", "register_schema", "validate_config"]

#: Base of every built-in schema's ``$id``; relative ``$ref``s resolve against it.
SCHEMA_BASE_URI = "https://llmclient.invalid/schemas/"

#: Option names whose values (and everything inside them) are never quoted in a message.
SECRET_KEYS: frozenset[str] = frozenset({"api_key", "authorization", "secret_access_key", "session_token",
                                          "access_key_id", "credentials_content", "credentials", "headers"})

#: Provider (canonical name) -> the schema file of its options; the OpenAI-compatible
#: providers share one. Aliases are mapped to canonical names first.
_PROVIDER_SCHEMAS: Mapping[str, str] = {**{name: name for name in CANONICAL_PROVIDERS},
                                         "ollama": "openai", "openrouter": "openai"}
_SCHEMA_NAMES = ("common", "config", "retry_policy", *dict.fromkeys(_PROVIDER_SCHEMAS.values()))
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_NAME_RULE = "use letters, digits, '_' and '-', starting with a letter or '_'"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_KINDS: Mapping[type, str] = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string",
                              dict: "object", list: "array"}
_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
_SIZES = {"minItems": "least {} item(s)", "maxItems": "most {} item(s)", "minLength": "least {} character(s)",
          "maxLength": "most {} character(s)", "minProperties": "least {} key(s)", "maxProperties": "most {} key(s)"}

JsonPath = tuple[str | int, ...]
Problem = tuple[JsonPath, str]

_lock = threading.Lock()
_registered: dict[str, dict[str, Any]] = {}
_validators: dict[tuple[str, str], Any] = {}


def validate_config(config: Mapping[str, Any], *, source: str | None = None, check_references: bool = True) -> None:
    """Check a whole config and report every problem in it at once.

    Call this before :func:`llmclient.config.canonical.canonicalize`, which trusts its input.

    Args:
        config: A config in any accepted spelling (from a dict, ``.json`` or ``.baml``).
        source: Where the config came from (a file name), for the error message.
        check_references: Whether a ``retry_policy`` must name a policy of this same
            config. Pass False for one file of several that are merged afterwards, and
            validate the merged config with True. (A composite member naming no client is
            not an error: see :func:`reference_warnings`.)

    Raises:
        ConfigError: With ``problems`` listing each problem as ``"$.json.path: message"``,
            sorted by path. No message quotes a value found at a secret-bearing path.
    """
    problems = sorted(set(_config_problems(plain(config), check_references)), key=_sort_key)
    if problems:
        lines = [f"{format_path(path)}: {message}" for path, message in problems]
        noun = "problem" if len(lines) == 1 else "problems"
        raise ConfigError(f"{source or 'config'}: {len(lines)} {noun} in config", problems=lines)


def reference_warnings(config: Mapping[str, Any]) -> list[str]:
    """Composite members that name no client of ``config``, as ``"$.path: message"`` lines.

    These are warnings, not errors: the original design's examples name a ``Claude``
    client they never define, and must still load. Such a member fails when the
    composite tries it (a ``ConfigError`` recorded as that member's attempt), and the
    composite moves on to the next one.
    """
    plain_config = plain(config)
    clients = plain_config.get("clients") if isinstance(plain_config, dict) else None
    if not isinstance(clients, dict):
        return []
    found: list[Problem] = []
    for name, client in clients.items():
        if not isinstance(client, dict) or not isinstance(client.get("options"), dict):
            continue
        provider = client.get("provider")
        if isinstance(provider, str) and canonical_provider_name(provider) in COMPOSITE_PROVIDERS:
            found += [p for p in _member_problems(client["options"], ("clients", name, "options"), set(clients))
                      if "is not defined" in p[1]]
    return [f"{format_path(path)}: {message}" for path, message in sorted(found, key=_sort_key)]


def provider_schema_name(provider: str) -> str | None:
    """Return the name of the schema for ``provider``'s options, or None if it is unknown.

    ``"openai/azure"`` gives ``"azure-openai"``, ``"ollama"`` gives ``"openai"``; a provider
    registered with :func:`register_schema` gives its own name.
    """
    if provider in _registered:
        return provider
    return _PROVIDER_SCHEMAS.get(canonical_provider_name(provider))


def known_providers() -> list[str]:
    """Every accepted provider name: canonical names, then aliases, then registered ones."""
    return [*CANONICAL_PROVIDERS, *PROVIDER_ALIASES, *_registered]


def register_schema(provider: str, schema: Mapping[str, Any]) -> None:
    """Accept ``provider`` in configs, validating its options with ``schema``.

    For plug-ins that add a provider. The schema is Draft 2020-12; it may refer to the
    shared definitions as ``"common.json#/$defs/..."``. Registering a name again replaces it.

    Raises:
        ValueError: ``provider`` is a built-in name or alias, or the schema reuses a
            built-in schema's ``$id``.
        ConfigError: ``schema`` is not a valid JSON Schema.
    """
    if provider in _PROVIDER_SCHEMAS or provider in PROVIDER_ALIASES:
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
    with _lock:
        _registered[provider] = contents
        _validators.pop(("provider", provider), None)


def format_path(path: Iterable[str | int]) -> str:
    """Write a path as JSONPath: ``$.clients.GPT4.options.strategy[0]``."""
    parts = ["$"]
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _NAME.match(part):
            parts.append(f".{part}")
        else:
            parts.append(f"[{json.dumps(part)}]")
    return "".join(parts)


# -- checks ---------------------------------------------------------------------------------


def _config_problems(config: Any, check_references: bool) -> Iterator[Problem]:
    """Yield the problems of a whole (plain) config."""
    if not isinstance(config, dict):
        yield (), f"a config must be an object (got {_kind(config)})"
        return
    yield from _schema_problems(_validator("builtin", "config"), config, ())
    clients = config.get("clients")
    policies = config.get("retry_policies")
    policy_names = set(policies) if isinstance(policies, dict) else set()
    if not isinstance(clients, dict):
        return
    for name, client in clients.items():
        if isinstance(client, dict):
            names = (set(clients), policy_names) if check_references else None
            yield from _client_problems(name, client, names)
    yield from cycle_problems(clients)


def _client_problems(name: str, client: dict[str, Any], names: tuple[set[str], set[str]] | None) -> Iterator[Problem]:
    """Yield the problems of one client: its provider, its options, and (unless ``names``, the
    config's client and policy names, is None) the names it refers to."""
    where: JsonPath = ("clients", name)
    client_names, policy_names = names or (set(), set())
    policy = client.get("retry_policy")
    if names and isinstance(policy, str) and _NAME.match(policy) and policy not in policy_names:
        hint = _did_you_mean(policy, policy_names)
        yield (*where, "retry_policy"), f"retry policy {policy!r} is not defined{hint}"
    provider = client.get("provider")
    if not isinstance(provider, str) or not provider:
        return
    schema_name = provider_schema_name(provider)
    if schema_name is None:
        known = known_providers()
        hint = _did_you_mean(provider, known)
        yield (*where, "provider"), f"unknown provider {provider!r}{hint or '.'} Known providers: {', '.join(known)}"
        return
    options = client.get("options", {})
    if not isinstance(options, dict):
        return
    kind = "provider" if provider in _registered else "builtin"
    yield from _schema_problems(_validator(kind, schema_name), options, (*where, "options"))
    if canonical_provider_name(provider) in COMPOSITE_PROVIDERS:
        yield from _member_problems(options, (*where, "options"), None)


def _member_problems(options: dict[str, Any], where: JsonPath, clients: set[str] | None) -> Iterator[Problem]:
    """Yield a problem for mismatched weights and (unless ``clients`` is None) for each
    member naming no client."""
    strategy, providers = options.get("strategy"), options.get("providers")
    members: list[tuple[JsonPath, Any]] = []
    if isinstance(strategy, list):
        members += [(("strategy", index), member) for index, member in enumerate(strategy)]
    if isinstance(providers, list):
        members += [(("providers", index, "client"), entry.get("client"))
                    for index, entry in enumerate(providers) if isinstance(entry, dict)]
    for path, member in members:
        if clients is None or not isinstance(member, str) or not _NAME.match(member):
            continue  # provider/model shorthand is built by the registry, not defined here
        if member not in clients:
            hint = _did_you_mean(member, clients)
            yield (*where, *path), f"client {member!r} is not defined{hint}"
    weights = options.get("weights")
    if isinstance(weights, list) and isinstance(strategy, list) and len(weights) != len(strategy):
        yield (*where, "weights"), f"has {len(weights)} entries but strategy has {len(strategy)}: one per client"


def _schema_problems(validator: Any, instance: Any, prefix: JsonPath) -> Iterator[Problem]:
    """Yield every schema violation of ``instance``, described at ``prefix`` + its path."""
    for error in validator.iter_errors(instance):
        yield from _describe(error, prefix)


# -- messages -------------------------------------------------------------------------------


def _describe(error: Any, prefix: JsonPath) -> Iterator[Problem]:
    """Turn one jsonschema error into problems a user can act on (and that hold no secret)."""
    path: JsonPath = (*prefix, *error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    custom = _custom_message(schema, error.validator)
    if error.validator == "additionalProperties":
        yield from _unknown_keys(error.instance, schema, path)
    elif error.validator in ("anyOf", "oneOf"):
        yield from _alternatives(error, schema, path, prefix, custom)
    elif custom:
        yield path, custom
    elif "propertyNames" in error.relative_schema_path:
        yield path, f"{error.instance!r} is not a valid name: {_NAME_RULE}"
    else:
        yield path, _message(error, _is_secret(path))


def _custom_message(schema: Mapping[str, Any], keyword: Any) -> str | None:
    """The schema's own ``errorMessage`` for ``keyword`` (a string, or a dict by keyword)."""
    message = schema.get("errorMessage")
    if isinstance(message, dict):
        message = message.get(keyword)
    return message if isinstance(message, str) else None


def _unknown_keys(instance: Any, schema: Mapping[str, Any], path: JsonPath) -> Iterator[Problem]:
    """One problem per unknown key, at the key's path, with a close match or a hint."""
    known = sorted(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    hints: Mapping[str, str] = schema.get("x-unknown-key-hints", {})
    for key in instance:
        if key in known or any(re.search(pattern, str(key)) for pattern in patterns):
            continue
        message = f"unknown key {key!r}" + _did_you_mean(str(key), known)
        hint = hints.get(str(key), hints.get("*"))
        yield (*path, key), f"{message} ({hint})" if hint else message


def _alternatives(
    error: Any, schema: Mapping[str, Any], path: JsonPath, prefix: JsonPath, custom: str | None
) -> Iterator[Problem]:
    """Describe an anyOf/oneOf failure by what the user most likely meant."""
    instance = error.instance
    groups = _required_groups(error.validator_value)
    if groups is not None and isinstance(instance, dict):
        head = custom or f"exactly one of {_join_groups(groups)} is needed"
        given = [group for group in groups if all(key in instance for key in group)]
        if given:
            yield path, f"{head} (given: {_join_groups(given, 'and')})"
            return
        partial = any(key in instance for group in groups for key in group)
        if not (partial and "dependentRequired" in schema):  # else the dependency error says it
            yield path, f"{head} (none given)"
        return
    branches: dict[Any, list[Any]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    plausible = [subs for subs in branches.values()
                 if not any(sub.validator == "type" and not sub.relative_path for sub in subs)]
    if len(plausible) == 1:  # the instance has the type of exactly one alternative: explain it
        for sub in plausible[0]:
            yield from _describe(sub, prefix)
    elif custom:
        yield path, custom + _enum_suggestion(error, path)
    elif error.validator == "oneOf" and not error.context:
        yield path, "matches more than one of the allowed forms"
    else:
        yield path, f"does not match any of the allowed forms{_got(instance, _is_secret(path))}"


def _enum_suggestion(error: Any, path: JsonPath) -> str:
    """A close match for a mistyped word among the enums of an anyOf's alternatives."""
    if not isinstance(error.instance, str) or _is_secret(path):
        return ""
    words = [str(word) for sub in error.context or () if sub.validator == "enum" for word in sub.validator_value]
    return _did_you_mean(error.instance, words)


def _required_groups(branches: Any) -> list[list[str]] | None:
    """The key groups of ``oneOf: [{required: [...]}, ...]``, or None for other shapes."""
    if not isinstance(branches, list) or not all(isinstance(b, dict) and list(b) == ["required"] for b in branches):
        return None
    return [list(branch["required"]) for branch in branches]


def _join_groups(groups: list[list[str]], word: str = "or") -> str:
    """``[[a, b], [c]]`` -> ``"a with b or c"``."""
    names = [" with ".join(group) for group in groups]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


def _message(error: Any, secret: bool) -> str:
    """A message for one failed keyword; quotes the value only when ``secret`` is false."""
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    show = not secret and _is_scalar(instance)
    got = _got(instance, secret)
    if keyword == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        return f"must be of type {' or '.join(types)}{got}"
    if keyword in ("enum", "const"):
        allowed = expected if keyword == "enum" else [expected]
        words = ", ".join(repr(value) for value in allowed)
        if not show:
            return f"must be one of {words}"
        suggestion = _did_you_mean(str(instance), [str(value) for value in allowed])
        return f"{instance!r} is not one of {words}{suggestion}"
    if keyword in _BOUNDS:
        return f"must be {_BOUNDS[keyword]} {expected}{got}"
    if keyword == "pattern":
        return f"must match {expected}{got}"
    if keyword in _SIZES:
        return "must have at " + _SIZES[keyword].format(expected)
    if keyword == "uniqueItems":
        return "must not contain duplicates"
    if keyword == "required":
        return re.sub(r" is a required property$", " is required", error.message)
    if keyword == "dependentRequired":
        found = re.match(r"^(.*) is a dependency of (.*)$", error.message)
        return f"{found[2]} also needs {found[1]}" if found else "a required key is missing"
    if keyword == "not":
        return "this combination is not allowed"
    return str(error.message) if show else f"is not valid ({keyword})"


def _got(instance: Any, secret: bool) -> str:
    """`` (got string 'x')``, or only the type when the value may be (or hold) a secret."""
    if not secret and _is_scalar(instance):
        return f" (got {_kind(instance)} {instance!r})"
    return f" (got {_kind(instance)})"


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'openai'?"`` when a choice is close to ``word`` (case ignored)."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""


def _is_secret(path: JsonPath) -> bool:
    """Whether a value at ``path`` may be (or contain) a credential."""
    return any(isinstance(part, str) and part in SECRET_KEYS for part in path)


def _is_scalar(value: Any) -> bool:
    """Whether ``value`` is a JSON scalar (which a message may quote, outside secret paths)."""
    return value is None or isinstance(value, (str, int, float, bool))


def _kind(value: Any) -> str:
    """The JSON type name of ``value`` (Python's for non-JSON values)."""
    return _KINDS.get(type(value), type(value).__name__)


def _sort_key(problem: Problem) -> tuple[tuple[tuple[int, str], ...], str]:
    """Sort by path (array indexes numerically), then message."""
    path, message = problem
    key = tuple((0, f"{part:012d}") if isinstance(part, int) else (1, part) for part in path)
    return key, message


# -- schema loading and validator cache -------------------------------------------------------


def _jsonschema() -> Any:
    """Import jsonschema on first use (it is slow to import and untyped)."""
    return importlib.import_module("jsonschema")


#: Where the schemas are in a source checkout (setup.py installs them as ``llmclient.schemas``).
_SOURCE_TREE_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


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


def _validator(kind: str, name: str) -> Any:
    """The compiled validator for a built-in schema or a registered provider (cached)."""
    key = (kind, name)
    with _lock:
        found = _validators.get(key)
        if found is None:
            registry = _builtin_registry()
            if kind == "builtin":
                schema = _builtin_schemas()[name]
            else:
                from referencing import Resource

                schema = _registered[name]
                registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
            found = _validators[key] = _jsonschema().Draft202012Validator(schema, registry=registry)
        return found
