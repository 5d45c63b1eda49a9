"""Registry: the named clients of one config, built on demand and sharing one runtime.

A client is built the first time it is asked for, so a config can name clients whose
credentials this machine does not have; composite clients ask the registry for their
members by name. Every client of a registry shares its :class:`Runtime` (one connection
pool, one thread pool): close the registry to close them all.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping

from ..client import Client
from ..errors import ConfigError
from ..retry import RetryPolicy
from ..runtime import DEFAULT_MAX_WORKERS, Runtime

__all__ = ["Registry", "ClientBuilder", "builder_for", "register_builder"]

#: builder(name, options, runtime=..., retry_policy=..., registry=...) -> Client
ClientBuilder = Callable[..., Client]

_BUILDERS: dict[str, ClientBuilder] = {}


def register_builder(provider: str, builder: ClientBuilder) -> None:
    """Make ``provider`` buildable from configs (used for built-in and plug-in providers)."""
    _BUILDERS[provider] = builder


def builder_for(provider: str) -> ClientBuilder:
    """The builder for a canonical provider name."""
    if not _BUILDERS:
        from . import builtin  # noqa: F401  (registers the built-in providers)
    try:
        return _BUILDERS[provider]
    except KeyError:
        raise ConfigError(f"unknown provider {provider!r}; known: {', '.join(sorted(_BUILDERS))}") from None


class Registry:
    """The clients of a loaded config, by name.

    Args:
        config: A validated, canonical config dict.
        max_workers: Pool size; default ``settings.max_workers`` or 32.
        source: Where the config came from, for messages.
        runtime: Share an existing runtime instead of creating one.
    """

    def __init__(self, config: Mapping[str, Any], *, max_workers: int | None = None, source: str = "config",
                 runtime: Runtime | None = None) -> None:
        self._config = config
        self.source = source
        workers = max_workers or (config.get("settings") or {}).get("max_workers") or DEFAULT_MAX_WORKERS
        self.runtime = runtime or Runtime(max_workers=workers)
        self._policies = {name: RetryPolicy.from_config(p, name=name)
                          for name, p in (config.get("retry_policies") or {}).items()}
        self._clients: dict[str, Client] = {}
        self._building: list[str] = []
        self._lock = threading.RLock()

    def names(self) -> list[str]:
        """The configured client names, in config order."""
        return list(self._config.get("clients") or {})

    def retry_policy(self, name: str) -> RetryPolicy:
        """The retry policy called ``name``."""
        try:
            return self._policies[name]
        except KeyError:
            raise ConfigError(f"{self.source}: no retry policy named {name!r}") from None

    def client(self, name: str) -> Client:
        """The client called ``name``, built on first use (thread-safe).

        Raises:
            ConfigError: No such client, a reference cycle, or options it cannot use.
        """
        with self._lock:
            found = self._clients.get(name)
            if found is not None:
                return found
            spec = (self._config.get("clients") or {}).get(name)
            if spec is None:
                raise ConfigError(f"{self.source}: no client named {name!r} (known: {', '.join(self.names())})")
            if name in self._building:
                cycle = " -> ".join(self._building[self._building.index(name):] + [name])
                raise ConfigError(f"{self.source}: clients refer to each other in a cycle: {cycle}")
            self._building.append(name)
            try:
                policy_name = spec.get("retry_policy")
                built = builder_for(spec["provider"])(
                    name, dict(spec.get("options") or {}), runtime=self.runtime,
                    retry_policy=self.retry_policy(policy_name) if policy_name else None, registry=self)
            except ConfigError as err:
                if not err.client_name:
                    err.client_name = name
                raise
            finally:
                self._building.pop()
            self._clients[name] = built
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
