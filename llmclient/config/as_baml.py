"""What BAML would accept at load: problems a ``.baml`` config reports later, or only warns about.

BAML checks a client's options when the client is first used, not when the files load, and
it ignores keys it does not know in a retry policy. A user's ``baml_src/`` folder that BAML
runs must load here too, so for a ``.baml`` source the problems found by validation are
sorted three ways:

* a key BAML reads past without a word (a retry policy's: a ``baml init`` template of BAML
  0.63 misspells ``multiplier`` as ``mutliplier``; Bedrock's ``inference_configuration``'s:
  BAML's docs write ``stop_sequence``): a warning with its close-match suggestion, and the key
  is dropped, as BAML drops it;
* a leaf client's bad options (an Azure client without its deployment): a warning now, and
  that client fails with the same message when it is built or called; every other client
  of the folder loads;
* everything BAML itself rejects at load (an unknown provider, an undefined retry policy, a
  cycle, a ``response_format`` of the wrong type...): a ConfigError, as for any config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..providers.table import is_composite
from .schema_messages import Problem, format_path

__all__ = ["BamlTriage", "triage"]

#: Client options whose problems BAML reports when the files load, not when the client is used.
_CHECKED_AT_LOAD = frozenset({"response_format", "baml_mode", "remap_roles", "allowed_roles", "default_role"})


@dataclass
class BamlTriage:
    """The problems of a ``.baml`` config, sorted (see the module docstring)."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Client name -> the ConfigError it raises when built.
    deferred: dict[str, ConfigError] = field(default_factory=dict)


def triage(raw: dict[str, Any], problems: list[Problem], source: str) -> BamlTriage:
    """Sort ``problems`` of ``raw`` (a ``.baml`` config) and drop what BAML ignores from ``raw``."""
    found = BamlTriage()
    per_client: dict[str, list[str]] = {}
    listed = raw.get("clients")
    clients: dict[str, Any] = listed if isinstance(listed, dict) else {}
    for path, message in problems:
        where = f"{format_path(path)}: {message}"
        if message.startswith("unknown key") and _ignored_by_baml(path):
            found.warnings.append(f"{where} (BAML ignores it; so does llmclient)")
            _drop(raw, path)
        elif (len(path) >= 3 and path[0] == "clients" and path[2] == "options" and _leaf(clients.get(str(path[1])))
              and (len(path) == 3 or path[3] not in _CHECKED_AT_LOAD)):
            per_client.setdefault(str(path[1]), []).append(where)
        else:
            found.errors.append((path, message))
    for name, lines in per_client.items():
        found.deferred[name] = ConfigError(f"{source}: client {name!r} cannot be used", problems=lines,
                                           client_name=name)
        found.warnings.append(f"client {name!r} will fail when used: " + "; ".join(lines))
    return found


def _ignored_by_baml(path: tuple[Any, ...]) -> bool:
    """Where BAML reads a block into a fixed set of fields and ignores any other key (serde's
    default): a retry policy, and Bedrock's ``inference_configuration`` (BAML's own docs spell
    ``stop_sequence`` there, which BAML ignores)."""
    if path[0] == "retry_policies":
        return len(path) >= 3
    return len(path) == 5 and path[0] == "clients" and path[2:4] == ("options", "inference_configuration")


def _leaf(client: Any) -> bool:
    provider = client.get("provider") if isinstance(client, dict) else None
    return isinstance(provider, str) and not is_composite(provider)


def _drop(raw: dict[str, Any], path: tuple[Any, ...]) -> None:
    node: Any = raw
    for step in path[:-1]:
        node = node.get(step) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)
