"""Reference cycles among composite clients, found in a raw config before anything is built.

A fallback or round-robin names its members (``strategy: [names]`` or ``providers:
[{client}]``); members that are composites themselves may lead back to where they started.
Each cycle becomes one problem at the options of its first client (in config order), with the
cycle spelt out, so that :func:`~llmclient.config.schema.validate_config` reports it together
with every other problem of the config; :func:`check_cycles` raises the first one, for the
registry, whose clients can change at runtime. Members that name no client are not followed (they
are warnings, see :func:`~llmclient.config.schema.reference_warnings`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import ConfigError
from ..providers.table import is_composite

__all__ = ["check_cycles", "cycle_problems"]

JsonPath = tuple[str | int, ...]
Problem = tuple[JsonPath, str]


def cycle_problems(clients: dict[str, Any]) -> Iterator[Problem]:
    """Yield one problem per reference cycle among composite clients, at the first client of the cycle."""
    def members(name: str) -> list[str]:
        client = clients.get(name)
        if not isinstance(client, dict) or not isinstance(client.get("options"), dict):
            return []
        provider = client.get("provider")
        if not isinstance(provider, str) or not is_composite(provider):
            return []
        strategy, providers = client["options"].get("strategy"), client["options"].get("providers")
        found = list(strategy) if isinstance(strategy, list) else []
        if isinstance(providers, list):
            found += [entry.get("client") for entry in providers if isinstance(entry, dict)]
        return [m for m in found if isinstance(m, str) and m in clients]

    done: set[str] = set()
    seen_cycles: set[frozenset[str]] = set()

    def visit(name: str, path: list[str]) -> Iterator[Problem]:
        if name in path:
            cycle = path[path.index(name):]
            if frozenset(cycle) not in seen_cycles:
                seen_cycles.add(frozenset(cycle))
                yield ("clients", cycle[0], "options"), \
                    f"clients refer to each other in a cycle: {' -> '.join([*cycle, name])}"
            return
        if name in done:
            return
        for member in members(name):
            yield from visit(member, [*path, name])
        done.add(name)

    for name in clients:
        yield from visit(name, [])


def check_cycles(clients: dict[str, Any], source: str) -> None:
    """Raise a ConfigError naming the first reference cycle among ``clients``, if there is one.

    For configs that change after validation (:meth:`llmclient.Registry.add`) or that were
    never validated (a canonical dict given to :class:`llmclient.Registry` directly).
    """
    for _path, message in cycle_problems(clients):
        raise ConfigError(f"{source}: {message}")
