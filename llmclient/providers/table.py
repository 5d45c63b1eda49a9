"""The one table of providers: a :class:`ProviderSpec` row per provider, built-in or plug-in.

Everything that lists providers reads this table rather than keeping its own list: the
config spellings and aliases (:mod:`llmclient.config.canonical`), the schema of each
provider's options (:mod:`llmclient.config.schema`), the builders
(:mod:`llmclient.config.builtin`), which clients are composites (the registry, the cycle
check), the lazy imports of ``llmclient/__init__.py`` and the close-match suggestions for an
unknown provider. A new built-in provider is its module plus one row in :data:`PROVIDERS`;
a plug-in is one call to :func:`llmclient.register_provider`, which adds a row here.

The table is data only: client classes and builders are named by dotted path
(``"package.module:Name"``) and imported by whoever builds one (config, or the lazy
``llmclient.Name`` lookup), so that importing this module, and ``import llmclient``, stays
cheap and this package never imports ``strategies/`` itself.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["ProviderSpec", "PROVIDERS", "NOT_YET_SUPPORTED", "add_provider", "canonical_name", "is_builtin",
           "is_composite", "provider_spec", "provider_specs", "spellings", "unknown_provider_message"]


@dataclass(frozen=True)
class ProviderSpec:
    """One provider: its names, how to build its client, its options schema and key variables.

    Attributes:
        name: The canonical name configs use (``"openai"``).
        client: The client class, as a dotted path ``"module:Name"`` (imported when first
            needed) or the class itself (plug-ins). For a composite, its client class (for the
            lazy ``llmclient.FallbackClient`` import); None for a spelling that becomes another
            provider when canonicalised (``baml-strategy``).
        kwargs: Fixed keyword arguments for the client class (``{"provider": "ollama"}`` for the
            OpenAI-compatible rows that share :class:`~llmclient.OpenAIGenericClient`).
        aliases: Other spellings accepted for ``name`` (BAML's ``baml-openai-chat``...).
        schema: Its options' JSON Schema: a file name under ``schemas/`` (built-in rows) or the
            schema itself (plug-ins); None accepts any options object.
        key_env: The environment variables its credentials are read from when a config gives
            none, in the order the provider module tries them (documentation and tools read
            this; the provider module does the reading).
        composite: Built from other clients (fallback, round-robin) rather than talking HTTP.
        builder: For composites, their builder ``builder(name, options, *, runtime,
            retry_policy, registry)`` as a dotted path or callable; None for a leaf provider,
            built by calling ``client(name=, runtime=, retry_policy=, [auth=,] **kwargs,
            **options)``.
        title: What it talks to, in a few words, for messages and docs.
        wire: The wire format of its answers when every model of it uses one (``"openai-chat"``
            for every OpenAI-compatible row: the batch runner's OpenAI output keeps those bodies
            as they are); None when it depends on the model (Vertex AI) or for composites.
    """

    name: str
    client: Any = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    schema: str | Mapping[str, Any] | None = None
    key_env: tuple[str, ...] = ()
    composite: bool = False
    builder: Any = None
    title: str = ""
    wire: str | None = None

    @property
    def schema_file(self) -> str | None:
        """The schema's file name under ``schemas/`` for a built-in row, else None."""
        return self.schema if isinstance(self.schema, str) else None

    @property
    def client_name(self) -> str | None:
        """The public name of the client class (``"OpenAIClient"``), when given by dotted path."""
        return self.client.rpartition(":")[2] if isinstance(self.client, str) else None


_OPENAI_GENERIC = "llmclient.providers.openai:OpenAIGenericClient"
_CHAT = "openai-chat"

#: The built-in providers, in the order documentation lists them.
PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec("openai", "llmclient.providers.openai:OpenAIClient", aliases=("baml-openai-chat",),
                 schema="openai.json", key_env=("OPENAI_API_KEY",), title="OpenAI's Chat Completions API", wire=_CHAT),
    ProviderSpec("azure-openai", "llmclient.providers.azure:AzureOpenAIClient",
                 aliases=("openai/azure", "baml-azure-chat"), schema="azure-openai.json",
                 key_env=("AZURE_OPENAI_API_KEY",), title="Azure OpenAI", wire=_CHAT),
    ProviderSpec("openai-generic", _OPENAI_GENERIC, {"provider": "openai-generic"}, schema="openai-generic.json",
                 title="any OpenAI-compatible server", wire=_CHAT),
    ProviderSpec("ollama", _OPENAI_GENERIC, {"provider": "ollama"}, aliases=("baml-ollama-chat",),
                 schema="openai.json", title="Ollama's OpenAI-compatible API", wire=_CHAT),
    ProviderSpec("openrouter", _OPENAI_GENERIC, {"provider": "openrouter"}, schema="openai.json",
                 key_env=("OPENROUTER_API_KEY",), title="OpenRouter", wire=_CHAT),
    ProviderSpec("openai-responses", "llmclient.providers.openai_responses:OpenAIResponsesClient",
                 schema="openai-responses.json", key_env=("OPENAI_API_KEY",), title="OpenAI's Responses API",
                 wire="openai-responses"),
    ProviderSpec("anthropic", "llmclient.providers.anthropic:AnthropicClient", aliases=("baml-anthropic-chat",),
                 schema="anthropic.json", key_env=("ANTHROPIC_API_KEY",), title="Anthropic's Messages API",
                 wire="anthropic-messages"),
    ProviderSpec("google-ai", "llmclient.providers.google:GoogleAIClient", schema="google-ai.json",
                 key_env=("GOOGLE_API_KEY",), title="Google AI (Gemini API)", wire="gemini"),
    ProviderSpec("vertex-ai", "llmclient.providers.vertex:VertexAIClient", schema="vertex-ai.json",
                 key_env=("GOOGLE_APPLICATION_CREDENTIALS",), title="Google Cloud Vertex AI"),
    ProviderSpec("aws-bedrock", "llmclient.providers.bedrock:BedrockClient", schema="aws-bedrock.json",
                 key_env=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                          "AWS_BEARER_TOKEN_BEDROCK"), title="AWS Bedrock's Converse API", wire="bedrock-converse"),
    ProviderSpec("fallback", "llmclient.strategies.fallback:FallbackClient", aliases=("baml-fallback",),
                 schema="fallback.json", composite=True, builder="llmclient.strategies.fallback:build_fallback",
                 title="the first of its clients that answers"),
    ProviderSpec("round-robin", "llmclient.strategies.round_robin:RoundRobinClient", aliases=("baml-round-robin",),
                 schema="round-robin.json", composite=True,
                 builder="llmclient.strategies.round_robin:build_round_robin",
                 title="its clients in turn, by weight"),
    ProviderSpec("baml-strategy", schema="baml-strategy.json", composite=True,
                 title="BAML's fallback or round-robin, chosen by its 'strategy' option"),
)

#: Providers BAML knows that llmclient does not support yet, with what each talks to. A row in
#: the table wins over an entry here, so adding the provider needs no edit of this map.
NOT_YET_SUPPORTED: Mapping[str, str] = MappingProxyType({})

_lock = threading.Lock()
_rows: dict[str, ProviderSpec] = {spec.name: spec for spec in PROVIDERS}
_aliases: dict[str, str] = {alias: spec.name for spec in PROVIDERS for alias in spec.aliases}
_BUILTIN_NAMES = frozenset([*_rows, *_aliases])


def provider_spec(name: str) -> ProviderSpec | None:
    """The row for ``name`` (a canonical name or an alias, built-in or plug-in), or None."""
    return _rows.get(_aliases.get(name, name))


def canonical_name(name: str) -> str:
    """The canonical name for ``name`` (``"openai/azure"`` -> ``"azure-openai"``); unknown names unchanged."""
    return _aliases.get(name, name)


def is_composite(name: str) -> bool:
    """Whether ``name`` (any spelling) is a provider built from other clients."""
    spec = provider_spec(name)
    return spec is not None and spec.composite


def provider_specs() -> tuple[ProviderSpec, ...]:
    """Every row: the built-in ones in :data:`PROVIDERS` order, then plug-ins in registration order."""
    return tuple(_rows.values())


def spellings() -> list[str]:
    """Every accepted provider name: built-in names, built-in aliases, then each plug-in's name and aliases."""
    builtin = [spec.name for spec in PROVIDERS] + [alias for spec in PROVIDERS for alias in spec.aliases]
    plugins = [word for spec in _rows.values() if not is_builtin(spec.name) for word in (spec.name, *spec.aliases)]
    return builtin + plugins


def is_builtin(name: str) -> bool:
    """Whether ``name`` is a built-in provider's name or alias (which a plug-in may not take)."""
    return name in _BUILTIN_NAMES


def add_provider(spec: ProviderSpec) -> None:
    """Add a plug-in row, or replace an earlier plug-in row of the same name.

    Called by :func:`llmclient.register_provider` (which also checks the schema); use that.

    Raises:
        ValueError: The name or an alias is a built-in one, or an alias is already another
            provider's name or alias.
    """
    for word in (spec.name, *spec.aliases):
        if is_builtin(word):
            raise ValueError(f"{word!r} is a built-in provider; register plug-ins under new names")
    with _lock:
        previous = _rows.get(spec.name)
        for alias in spec.aliases:
            owner = _aliases.get(alias, alias if alias in _rows else None)
            if owner is not None and owner != spec.name:
                raise ValueError(f"{alias!r} is already a name of provider {owner!r}")
        if spec.name in _aliases:
            raise ValueError(f"{spec.name!r} is already an alias of provider {_aliases[spec.name]!r}")
        if previous is not None:
            for alias in previous.aliases:
                _aliases.pop(alias, None)
        _rows[spec.name] = spec
        _aliases.update({alias: spec.name for alias in spec.aliases})


def unknown_provider_message(name: str) -> str:
    """What to tell a user whose config names a provider that has no row.

    A provider BAML knows but llmclient does not support yet is said to be that
    (``provider 'openai-responses' (OpenAI's Responses API) is not supported yet``) rather
    than matched to a similar-looking one; otherwise the closest name or alias is suggested.
    Either way the accepted names follow.
    """
    known = spellings()
    listed = f"Known providers: {', '.join(known)}"
    if name in NOT_YET_SUPPORTED:
        return f"provider {name!r} ({NOT_YET_SUPPORTED[name]}) is not supported yet by llmclient. {listed}"
    by_lower = {word.lower(): word for word in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    hint = f"; did you mean {by_lower[close[0]]!r}?" if close else "."
    return f"unknown provider {name!r}{hint} {listed}"

