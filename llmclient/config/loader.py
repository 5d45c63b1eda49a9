"""load_config: a dict, a ``.json`` file, or ``.baml`` files, to a validated :class:`Registry`.

Every front end produces the same canonical dict (see DESIGN.md), which is validated
against the JSON Schemas in ``schemas/`` before anything is built or sent.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

from ..errors import ConfigError
from .canonical import canonicalize
from .registry import Registry
from .schema import config_problems, raise_problems, reference_warnings, validate_config

__all__ = ["load_config", "read_config", "ConfigSource"]

log = logging.getLogger(__name__)

ConfigSource = Union[str, "os.PathLike[str]", Mapping[str, Any]]


def read_config(source: ConfigSource) -> tuple[dict[str, Any], str]:
    """Read ``source`` into a raw config dict and a name for messages (not yet validated)."""
    if isinstance(source, Mapping):
        return dict(source), "config"
    path = Path(source)
    if path.is_dir() or path.suffix == ".baml":
        from .baml import load_baml

        return load_baml(path), str(path)
    if path.suffix != ".json":
        raise ConfigError(f"{path}: a config is a .json file, a .baml file or a folder of .baml files")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a JSON object with a 'clients' key")
    return data, str(path)


def load_config(source: ConfigSource, *, max_workers: int | None = None, on_event: Any = None,
                auth: Mapping[str, Any] | None = None) -> Registry:
    """Load, validate and canonicalise a config, and return the registry of its clients.

    Args:
        source: A dict in the canonical form, a ``.json`` file, a ``.baml`` file, or a
            folder of ``.baml`` files.
        max_workers: Size of the shared thread and connection pools (overrides the
            config's ``settings.max_workers``; default 32).
        on_event: Event hooks (a callable, a list, or a ``Collector``) that see every
            call of every client of the registry.
        auth: ``{client name: AuthProvider}``: replaces those clients' built-in auth
            (a corporate gateway token, an Azure Entra ID token provider...).

    Raises:
        ConfigError: Listing every problem with its JSON path; never a secret's value.
    """
    raw, name = read_config(source)
    broken: dict[str, ConfigError] = {}
    if _is_baml(source):  # what BAML only reports when a client is used, or ignores: see as_baml.py
        from .as_baml import triage

        found = triage(raw, config_problems(raw), name)
        raise_problems(found.errors, name)
        for warning in found.warnings:
            log.warning("%s: %s", name, warning)
        broken = found.deferred
    else:
        validate_config(raw, source=name)
    for warning in reference_warnings(raw):
        log.warning("%s: %s (that member will be skipped when tried)", name, warning)
    usable = {**raw, "clients": {k: v for k, v in (raw.get("clients") or {}).items() if k not in broken}}
    config = canonicalize(usable)
    return Registry(config, max_workers=max_workers, source=name, on_event=on_event, auth=auth, broken=broken)


def _is_baml(source: ConfigSource) -> bool:
    if isinstance(source, Mapping):
        return False
    path = Path(source)
    return path.is_dir() or path.suffix == ".baml"
