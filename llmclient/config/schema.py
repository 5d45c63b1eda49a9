"""Schema validation of configs: every problem at once, each at its JSON path, no secret echoed.

``config.json`` checks the top level and the retry policies; each client's ``options`` is
then checked against its provider's schema, the one its row in the provider table
(:mod:`llmclient.providers.table`) names: a built-in file under ``schemas/``, or a plug-in's
own (:func:`llmclient.register_provider`). Cross-references (retry policy names, strategy
members) are checked here too, and reference cycles among composite clients
(:mod:`llmclient.config.cycles`), so that one ``ConfigError`` lists every problem.

The schema files and compiled validators are handled by :mod:`~llmclient.config.schema_files`
and the wording of each problem (which never quotes a value at a secret-bearing path) by
:mod:`~llmclient.config.schema_messages`; the names they define that callers used to import
from here still are. ``jsonschema`` is imported on first use, so that ``import llmclient``
stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from ..errors import ConfigError
from ..providers.table import ProviderSpec, add_provider, is_composite, provider_spec, spellings
from ..providers.table import unknown_provider_message as _unknown_provider_message
from .canonical import plain
from .cycles import cycle_problems
from .schema_files import SCHEMA_BASE_URI, builtin_validator, prepare_schema, provider_validator
from .schema_messages import NAME as _NAME
from .schema_messages import SECRET_KEYS, JsonPath, Problem, describe, did_you_mean, format_path, kind_of, sort_key

__all__ = ["SCHEMA_BASE_URI", "SECRET_KEYS", "config_problems", "format_path", "known_providers",
           "provider_schema_name", "raise_problems", "reference_warnings", "register_schema", "validate_config"]


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
    raise_problems(config_problems(config, check_references=check_references), source)


def config_problems(config: Mapping[str, Any], *, check_references: bool = True) -> list[Problem]:
    """Every problem of ``config`` as ``(json path, message)``, sorted by path (see :func:`validate_config`)."""
    return sorted(set(_config_problems(plain(config), check_references)), key=sort_key)


def raise_problems(problems: list[Problem], source: str | None) -> None:
    """Raise the ConfigError listing ``problems`` (``validate_config``'s), if there are any."""
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
        if isinstance(provider, str) and is_composite(provider):
            found += [p for p in _member_problems(client["options"], ("clients", name, "options"), set(clients))
                      if "is not defined" in p[1]]
    return [f"{format_path(path)}: {message}" for path, message in sorted(found, key=sort_key)]


def provider_schema_name(provider: str) -> str | None:
    """Return the name of the schema for ``provider``'s options, or None if it is unknown.

    ``"openai/azure"`` gives ``"azure-openai"``, ``"ollama"`` gives ``"openai"`` (the built-in
    schema file, without ``.json``); a plug-in provider gives its own name.
    """
    spec = provider_spec(provider)
    if spec is None:
        return None
    return spec.schema_file.removesuffix(".json") if spec.schema_file else spec.name


def known_providers() -> list[str]:
    """Every accepted provider name: built-in names, then their aliases, then plug-ins' names and aliases."""
    return spellings()


def register_schema(provider: str, schema: Mapping[str, Any]) -> None:
    """Accept ``provider`` in configs, validating its options with ``schema``.

    Prefer :func:`llmclient.register_provider`, which also says how to build the client. This
    sets the schema of an existing plug-in row, or adds a row that validates but cannot be
    built. The schema is Draft 2020-12; it may refer to the shared definitions as
    ``"common.json#/$defs/..."``. Registering a name again replaces its schema.

    Raises:
        ValueError: ``provider`` is a built-in name or alias, or the schema reuses a
            built-in schema's ``$id``.
        ConfigError: ``schema`` is not a valid JSON Schema.
    """
    contents = prepare_schema(provider, schema)
    row = provider_spec(provider)
    add_provider(replace(row, schema=contents) if row is not None and row.name == provider
                 else ProviderSpec(provider, schema=contents))


# -- checks ---------------------------------------------------------------------------------


def _config_problems(config: Any, check_references: bool) -> Iterator[Problem]:
    """Yield the problems of a whole (plain) config."""
    if not isinstance(config, dict):
        yield (), f"a config must be an object (got {kind_of(config)})"
        return
    yield from _schema_problems(builtin_validator("config"), config, ())
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
        hint = did_you_mean(policy, policy_names)
        yield (*where, "retry_policy"), f"retry policy {policy!r} is not defined{hint}"
    provider = client.get("provider")
    if not isinstance(provider, str) or not provider:
        return
    spec = provider_spec(provider)
    if spec is None:
        yield (*where, "provider"), _unknown_provider_message(provider)
        return
    options = client.get("options", {})
    if not isinstance(options, dict):
        return
    yield from _schema_problems(provider_validator(spec), options, (*where, "options"))
    if spec.composite:
        yield from _member_problems(options, (*where, "options"), None)
    else:
        yield from _role_problems(options, (*where, "options"))


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
            hint = did_you_mean(member, clients)
            yield (*where, *path), f"client {member!r} is not defined{hint}"
    weights = options.get("weights")
    if isinstance(weights, list) and isinstance(strategy, list) and len(weights) != len(strategy):
        yield (*where, "weights"), f"has {len(weights)} entries but strategy has {len(strategy)}: one per client"


def _role_problems(options: dict[str, Any], where: JsonPath) -> Iterator[Problem]:
    """What BAML rejects at load about roles: a ``remap_roles`` key or a ``default_role`` that the
    client's ``allowed_roles`` leaves out (checked when ``allowed_roles`` is given)."""
    allowed = options.get("allowed_roles")
    if not isinstance(allowed, list) or not all(isinstance(role, str) for role in allowed):
        return
    listed = ", ".join(map(repr, allowed))
    remap = options.get("remap_roles")
    for role in remap if isinstance(remap, dict) else ():
        if role not in allowed:
            yield (*where, "remap_roles", role), (f"remaps role {role!r}, which allowed_roles ({listed}) leaves out: "
                                                  "add it to allowed_roles or drop the remap")
    default = options.get("default_role")
    if isinstance(default, str) and default not in allowed:
        yield (*where, "default_role"), f"{default!r} must be one of allowed_roles ({listed})"


def _schema_problems(validator: Any, instance: Any, prefix: JsonPath) -> Iterator[Problem]:
    """Yield every schema violation of ``instance``, described at ``prefix`` + its path."""
    for error in validator.iter_errors(instance):
        yield from describe(error, prefix)
