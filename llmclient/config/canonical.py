"""Canonicalisation: turn a validated config, in any accepted spelling, into the one canonical dict.

Configs arrive in several spellings (BAML's ``baml-fallback``, ``openai/azure``,
``initial_delay``, Bedrock's nested ``credentials``, ``baml-strategy`` with weighted
``providers``...). Everything after loading (the registry, providers, strategies, the retry
policy) reads only the canonical form produced here, so that each spelling is handled once:

* provider aliases become canonical names, and ``baml-strategy`` becomes ``fallback`` or
  ``round-robin``;
* composite clients always list their members as ``strategy: [names]``; a round-robin gets
  ``weights: [ints]`` (same length, default 1) when any weight was given; BAML's
  ``http { total_timeout_ms }`` becomes ``total_timeout_ms`` (0, no limit, drops it);
* retry policies use ``delay_ms``/``max_delay_ms`` and have every default filled in;
* Bedrock credentials are flat and ``model_id`` is ``model``;
* ``settings`` and ``retry_policies`` are always present.

``{"env": NAME}`` references are left alone: they are read when a request is made.
The canonical form is itself a valid config, so canonicalising twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..providers.table import PROVIDERS, canonical_name, is_composite
from ..secrets import EnvRef

__all__ = [
    "CANONICAL_PROVIDERS",
    "COMPOSITE_PROVIDERS",
    "DEFAULT_SETTINGS",
    "PROVIDER_ALIASES",
    "canonical_provider_name",
    "canonicalize",
    "plain",
]

#: Built-in provider names, in the order documentation lists them (from the provider table).
CANONICAL_PROVIDERS: tuple[str, ...] = tuple(spec.name for spec in PROVIDERS)

#: Built-in alternative spellings (BAML's) and the canonical name each stands for (from the
#: provider table; plug-in aliases are read from the table by :func:`canonical_provider_name`).
PROVIDER_ALIASES: Mapping[str, str] = {alias: spec.name for spec in PROVIDERS for alias in spec.aliases}

#: Built-in providers whose clients are built from other clients rather than talking HTTP.
COMPOSITE_PROVIDERS: frozenset[str] = frozenset(spec.name for spec in PROVIDERS if spec.composite)

#: Settings used where a config says nothing.
DEFAULT_SETTINGS: Mapping[str, Any] = {"max_workers": 32}

_STRATEGY_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "constant_delay": {"delay_ms": 200},
    "exponential_backoff": {"delay_ms": 200, "multiplier": 1.5, "max_delay_ms": 10000},
}
_STRATEGY_ALIASES: Mapping[str, str] = {"initial_delay": "delay_ms", "max_delay": "max_delay_ms"}
_BAML_STRATEGY_WORDS: Mapping[str, str] = {"fallback": "fallback", "round_robin": "round-robin"}


def canonical_provider_name(provider: str) -> str:
    """Return the canonical name for ``provider`` (``"openai/azure"`` -> ``"azure-openai"``).

    Aliases come from the provider table (a plug-in's included); unknown names are returned
    unchanged. ``baml-strategy`` stays as it is here, because which composite it becomes
    depends on its options (see :func:`canonicalize`).
    """
    return canonical_name(provider)


def plain(value: Any) -> Any:
    """Deep-copy ``value`` into plain JSON-shaped data: dicts, lists and scalars.

    Called before validation and canonicalisation so that configs written in Python may use
    any ``Mapping``, tuples for lists, and ``llmclient.env("NAME")`` for ``{"env": NAME}``.
    """
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, EnvRef):
        return {"env": value.name}
    return value


def canonicalize(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return the canonical form of a config that has already passed validation.

    The input is not modified. Validation must come first: this function trusts the
    shapes the schemas guarantee and does not report problems itself.

    Args:
        config: A validated config (see ``llmclient.config.schema.validate_config``).

    Returns:
        A new dict with ``clients``, ``retry_policies`` and ``settings``, every spelling
        replaced by its canonical form and every default filled in.
    """
    source: dict[str, Any] = plain(config)
    clients = {name: _canonical_client(client) for name, client in source["clients"].items()}
    policies = {
        name: _canonical_policy(policy)
        for name, policy in source.get("retry_policies", {}).items()
    }
    settings = {**DEFAULT_SETTINGS, **source.get("settings", {})}
    return {"clients": clients, "retry_policies": policies, "settings": settings}


def _canonical_client(client: dict[str, Any]) -> dict[str, Any]:
    """Canonicalise one client: its provider name and the options that provider reads."""
    provider = canonical_provider_name(client["provider"])
    options: dict[str, Any] = client.get("options", {})
    if provider == "baml-strategy":
        provider = _BAML_STRATEGY_WORDS[options["strategy"]]
        options = {key: value for key, value in options.items() if key != "strategy"}
    if is_composite(provider):
        options = _canonical_total_timeout(_canonical_members(options, keep_weights=provider != "fallback"))
    elif provider == "aws-bedrock":
        options = _canonical_bedrock(options)
    result: dict[str, Any] = {"provider": provider, "options": options}
    if "retry_policy" in client:
        result["retry_policy"] = client["retry_policy"]
    return result


def _canonical_members(options: dict[str, Any], *, keep_weights: bool) -> dict[str, Any]:
    """Turn ``providers: [{client, weight}]`` into ``strategy: [names]`` (+ ``weights``).

    A fallback ignores weights; a round-robin (or a plug-in composite) keeps them, defaulting
    each to 1, but only when at least one was given (an unweighted round-robin has no
    ``weights`` key).
    """
    if "providers" not in options:
        return options
    providers: list[dict[str, Any]] = options["providers"]
    result = {key: value for key, value in options.items() if key != "providers"}
    result["strategy"] = [entry["client"] for entry in providers]
    if keep_weights and any("weight" in entry for entry in providers):
        result["weights"] = [entry.get("weight", 1) for entry in providers]
    return result


def _canonical_total_timeout(options: dict[str, Any]) -> dict[str, Any]:
    """A composite's ``http { total_timeout_ms }`` (BAML's spelling) becomes ``total_timeout_ms``.

    The schema allows it in one place only; 0 means no limit (as in BAML), so the key is dropped.
    An ``http`` block left empty is dropped too.
    """
    http = options.get("http")
    if "total_timeout_ms" not in options and not isinstance(http, dict):
        return options
    result = {key: value for key, value in options.items() if key != "http"}
    if isinstance(http, dict):
        rest = {key: value for key, value in http.items() if key != "total_timeout_ms"}
        if "total_timeout_ms" in http:
            result["total_timeout_ms"] = http["total_timeout_ms"]
        if rest:
            result["http"] = rest
    if result.get("total_timeout_ms") == 0:
        del result["total_timeout_ms"]
    return result


def _canonical_bedrock(options: dict[str, Any]) -> dict[str, Any]:
    """Flatten Bedrock's nested ``credentials`` and rename ``model_id`` to ``model``."""
    from ..providers.bedrock import bedrock_options  # the provider's one rule, loaded with the first Bedrock client

    return bedrock_options(options)


def _canonical_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """Rename retry-strategy aliases and fill in the defaults of its type."""
    given: dict[str, Any] = policy.get("strategy", {"type": "constant_delay"})
    strategy: dict[str, Any] = {"type": given["type"]}
    for key, value in given.items():
        strategy[_STRATEGY_ALIASES.get(key, key)] = value
    for key, value in _STRATEGY_DEFAULTS[strategy["type"]].items():
        strategy.setdefault(key, value)
    strategy.setdefault("jitter", "none")
    return {**policy, "strategy": strategy}
