"""Registry: the named clients of one config, built on demand and sharing one runtime.

A client is built the first time it is asked for, so a config can name clients whose
credentials this machine does not have; composite clients ask the registry for their
members by name. Every client of a registry shares its :class:`Runtime` (one connection
pool, one thread pool): close the registry to close them all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..auth.base import AuthProvider
from ..client import Client
from ..errors import ConfigError
from ..providers.table import (
    ProviderSpec,
    add_provider,
    canonical_name,
    is_builtin,
    is_composite,
    provider_spec,
    unknown_provider_message,
)
from ..retry import RetryPolicy
from ..runtime import DEFAULT_MAX_WORKERS, Runtime
from .cycles import check_cycles

__all__ = ["Registry", "ClientBuilder", "builder_for", "leaf_builder", "register_builder", "register_provider"]

#: builder(name, options, runtime=..., retry_policy=..., registry=...) -> Client
ClientBuilder = Callable[..., Client]

#: Builders given with :func:`register_builder`, by canonical name; they win over the table's.
_BUILDERS: dict[str, ClientBuilder] = {}
#: Builders made from table rows, by canonical name, with the row each was made from.
_FROM_ROWS: dict[str, tuple[ProviderSpec, ClientBuilder]] = {}

#: How many ``provider/model`` shorthand clients a registry keeps built (least recently used
#: ones are dropped beyond it and rebuilt when asked for again; they share the registry's pools,
#: so dropping one closes nothing).
SHORTHAND_CACHE_SIZE = 256


def register_builder(provider: str, builder: ClientBuilder) -> None:
    """Build ``provider``'s clients with ``builder`` instead of its row's client class.

    For a provider the table has no row for, a row is added whose options are any object;
    prefer :func:`register_provider`, which also gives the schema and aliases.
    """
    if provider_spec(provider) is None:
        add_provider(ProviderSpec(provider, builder=builder))
    _BUILDERS[canonical_name(provider)] = builder


def leaf_builder(client_class: Callable[..., Client]) -> ClientBuilder:
    """A builder that calls ``client_class(name=, runtime=, retry_policy=, [auth=,] **options)``."""
    def build(name: str, options: dict[str, Any], *, runtime: Runtime, retry_policy: RetryPolicy | None,
              registry: Registry, auth: AuthProvider | None = None) -> Client:
        extra = {"auth": auth} if auth is not None else {}
        return client_class(name=name, runtime=runtime, retry_policy=retry_policy, **extra, **options)

    return build


def register_provider(name: str, client_class: Callable[..., Client] | str,
                      schema: Mapping[str, Any] | None = None, *, aliases: Sequence[str] = (),
                      key_env: Sequence[str] = (), title: str = "") -> None:
    """Make provider ``name`` usable in every config front end (dict, .json, .baml).

    Adds a row to the provider table (:mod:`llmclient.providers.table`), so that a plug-in is
    a provider like the built-in ones: its aliases are accepted, its options are validated by
    its schema, it is suggested for a misspelt name, and ``provider/model`` shorthand works.
    Registering a name again replaces its row.

    Args:
        name: The provider name configs will use (not a built-in name or alias).
        client_class: Called as ``client_class(name=, runtime=, retry_policy=, [auth=,]
            **options)``; typically a :class:`~llmclient.providers.base.LeafClient` subclass
            that reads its options with :class:`~llmclient.providers.options.OptionReader`.
            A dotted path (``"package.module:Class"``) is imported when the first client is built.
        schema: A JSON Schema (2020-12) for its options; it may use the shared
            ``"common.json#/$defs/..."`` definitions. Default: any object.
        aliases: Other spellings configs may use for it.
        key_env: The environment variables its credentials come from by default (for
            documentation and tools; the client class reads them).
        title: What it talks to, in a few words.

    Raises:
        ValueError: ``name`` or an alias is a built-in provider's, or an alias is already
            another provider's name or alias.
        ConfigError: ``schema`` is not a valid JSON Schema.
    """
    from .schema_files import prepare_schema

    for word in aliases:
        if is_builtin(word):
            raise ValueError(f"{word!r} is a built-in provider; register plug-ins under new names")
    contents = prepare_schema(name, schema if schema is not None else {"type": "object"})
    add_provider(ProviderSpec(name, client_class, aliases=tuple(aliases), schema=contents, key_env=tuple(key_env),
                              title=title))
    _BUILDERS.pop(name, None)


def builder_for(provider: str) -> ClientBuilder:
    """The builder for a provider (any spelling): its row's client class, or a registered builder.

    Raises:
        ConfigError: The table has no row for it (the message suggests a close name), or its
            row names nothing to build.
    """
    name = canonical_name(provider)
    found = _BUILDERS.get(name)
    if found is not None:
        return found
    spec = provider_spec(name)
    if spec is None:
        raise ConfigError(unknown_provider_message(provider))
    made = _FROM_ROWS.get(name)
    if made is None or made[0] is not spec:
        from .builtin import builder_of

        made = _FROM_ROWS[name] = (spec, builder_of(spec, leaf_builder))
    return made[1]


class Registry:
    """The clients of a loaded config, by name.

    Args:
        config: A validated, canonical config dict.
        max_workers: Pool size; default ``settings.max_workers`` or 32. Connections kept per
            host: ``settings.max_connections`` (default 100, at least three per worker).
        source: Where the config came from, for messages.
        runtime: Share an existing runtime instead of creating one.
        on_event: Event hooks (or a ``Collector``) that see every call of every client.
        auth: ``{client name: AuthProvider}``: replaces those clients' built-in auth.
        broken: ``{client name: ConfigError}``: clients defined with options they cannot
            use; asking for one raises its error (see ``config/as_baml.py``).
    """

    def __init__(self, config: Mapping[str, Any], *, max_workers: int | None = None, source: str = "config",
                 runtime: Runtime | None = None, on_event: Any = None,
                 auth: Mapping[str, AuthProvider] | None = None,
                 broken: Mapping[str, ConfigError] | None = None) -> None:
        self._config: dict[str, Any] = {**config, "clients": dict(config.get("clients") or {})}
        #: Clients a .baml config defines with options BAML only checks on use: building one raises.
        self._broken: dict[str, ConfigError] = dict(broken or {})
        self.source = source
        workers = max_workers or (config.get("settings") or {}).get("max_workers") or DEFAULT_MAX_WORKERS
        self.runtime = runtime or Runtime(max_workers=workers, on_event=on_event,
                                          max_connections=(config.get("settings") or {}).get("max_connections"))
        self._policies = {name: RetryPolicy.from_config(p, name=name)
                          for name, p in (config.get("retry_policies") or {}).items()}
        self._clients: dict[str, Client] = {}
        self._shorthand_clients: OrderedDict[str, Client] = OrderedDict()
        self._building: list[str] = []
        self._lock = threading.RLock()
        self._primary: str | None = None
        self._auth: dict[str, AuthProvider] = dict(auth or {})
        check_cycles(self._config.get("clients") or {}, self.source)
        prices = (config.get("settings") or {}).get("prices")
        if prices:  # added to the process's price table (llmclient.pricing), read by Completion.cost
            from ..pricing import set_prices

            set_prices(prices, where=f"{source}: settings.prices")

    def names(self) -> list[str]:
        """The configured client names, in config order (clients added at runtime last), then
        those whose options cannot be used (asking for one raises its ConfigError)."""
        return list(self._config["clients"]) + [n for n in self._broken if n not in self._config["clients"]]

    def deferred_names(self) -> list[str]:
        """Clients of a ``.baml`` config whose options BAML only checks on use: each raises when asked for."""
        return list(self._broken)

    def add(self, name: str, *, provider: str, options: Mapping[str, Any] | None = None,
            retry_policy: str | None = None, auth: AuthProvider | None = None) -> Client:
        """Add a client at runtime, or replace (shadow) the one of that name; returns it built.

        The client is validated like a config entry. Clients already built are rebuilt on
        next use, so composites pick up the replacement.

        ``auth`` replaces the provider's built-in auth (see :class:`~llmclient.AuthProvider`).

        Raises:
            ConfigError: Invalid options, an unknown provider or retry policy, or a cycle.
        """
        from .canonical import canonicalize
        from .schema import validate_config

        spec: dict[str, Any] = {"provider": provider, "options": dict(options or {})}
        if retry_policy is not None:
            spec["retry_policy"] = retry_policy
        policies = self._config.get("retry_policies") or {}
        validate_config({"clients": {name: spec}, "retry_policies": policies}, source=f"{self.source} (add {name!r})")
        canonical = canonicalize({"clients": {name: spec}, "retry_policies": policies})["clients"][name]
        with self._lock:
            clients = {**self._config["clients"], name: canonical}
            check_cycles(clients, self.source)
            self._config["clients"] = clients
            self._clients.clear()
            self._shorthand_clients.clear()
            if auth is not None:
                self._auth[name] = auth
        return self.client(name)

    def set_primary(self, name: str) -> None:
        """Make ``name`` the client :attr:`primary` returns (it must exist or be buildable)."""
        self.client(name)
        self._primary = name

    @property
    def primary(self) -> Client:
        """The primary client: the one set with :meth:`set_primary`, else the first configured."""
        name = self._primary or next(iter(self._config["clients"]), None)
        if name is None:
            raise ConfigError(f"{self.source}: the config has no clients")
        return self.client(name)

    def _shorthand(self, name: str) -> dict[str, Any] | None:
        """BAML's ``provider/model`` shorthand (split at the first ``/``) as a client spec."""
        provider, slash, model = name.partition("/")
        if not slash or not model:
            return None
        row = provider_spec(provider)
        if row is None or row.composite:
            return None
        return {"provider": row.name, "options": {"model": model}}

    def retry_policy(self, name: str) -> RetryPolicy:
        """The retry policy called ``name``."""
        try:
            return self._policies[name]
        except KeyError:
            raise ConfigError(f"{self.source}: no retry policy named {name!r}") from None

    def client(self, name: str) -> Client:
        """The client called ``name``, built on first use (thread-safe).

        Configured clients are built once and kept. ``provider/model`` shorthand clients are
        kept in a least-recently-used cache of :data:`SHORTHAND_CACHE_SIZE`, so that a stream
        of distinct model names does not grow memory without bound.

        Raises:
            ConfigError: No such client, a reference cycle, or options it cannot use.
        """
        with self._lock:
            found = self._clients.get(name) or self._shorthand_clients.get(name)
            if found is not None:
                if name in self._shorthand_clients:
                    self._shorthand_clients.move_to_end(name)
                return found
            configured = self._config["clients"].get(name)
            if configured is None and name in self._broken:
                error = self._broken[name]
                raise ConfigError(error.message, client_name=name)
            spec = configured or self._shorthand(name)
            if spec is None:
                raise ConfigError(f"{self.source}: no client named {name!r} (known: {', '.join(self.names())})")
            if name in self._building:
                cycle = " -> ".join(self._building[self._building.index(name):] + [name])
                raise ConfigError(f"{self.source}: clients refer to each other in a cycle: {cycle}")
            self._building.append(name)
            try:
                policy_name = spec.get("retry_policy")
                extra: dict[str, Any] = {}
                if name in self._auth:
                    if is_composite(spec["provider"]):
                        raise ConfigError(f"{self.source}: auth is given for {name!r}, a {spec['provider']} client: "
                                          "give it for its members instead")
                    extra["auth"] = self._auth[name]
                built = builder_for(spec["provider"])(
                    name, dict(spec.get("options") or {}), runtime=self.runtime,
                    retry_policy=self.retry_policy(policy_name) if policy_name else None, registry=self, **extra)
            except ConfigError as err:
                if not err.client_name:
                    err.client_name = name
                raise
            finally:
                self._building.pop()
            if configured is not None:
                self._clients[name] = built
            else:
                self._shorthand_clients[name] = built
                while len(self._shorthand_clients) > SHORTHAND_CACHE_SIZE:
                    self._shorthand_clients.popitem(last=False)
            return built

    def close(self) -> None:
        """Close every client's connections and the shared thread pool."""
        self.runtime.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Registry {self.source!r} clients={self.names()!r}>"

