"""Secret and environment references, resolved when a request is made and never shown.

A config says ``{"env": "OPENAI_API_KEY"}`` (``env.OPENAI_API_KEY`` in ``.baml``) and code says
``llmclient.env("OPENAI_API_KEY")``. Either becomes an :class:`EnvRef`, read from ``os.environ``
on every request, so that a rotated key is picked up without rebuilding clients and a missing
variable fails the request that needs it (a :class:`ConfigError` naming the variable), not
the loading of a config that may never use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

__all__ = ["EnvRef", "env", "resolve", "resolve_optional", "is_env_ref"]


@dataclass(frozen=True, slots=True)
class EnvRef:
    """A reference to an environment variable, read at request time.

    The repr shows the variable's name, never its value.
    """

    name: str

    def __repr__(self) -> str:
        return f"env.{self.name}"


def env(name: str) -> EnvRef:
    """Refer to the environment variable ``name``; it is read when a request is made."""
    return EnvRef(name)


def is_env_ref(value: Any) -> bool:
    """True for an :class:`EnvRef` or its config spelling ``{"env": NAME}``."""
    return isinstance(value, EnvRef) or (
        isinstance(value, Mapping) and len(value) == 1 and isinstance(value.get("env"), str)
    )


def to_ref(value: Any) -> Any:
    """Turn the config spelling ``{"env": NAME}`` into an :class:`EnvRef`; other values pass."""
    if isinstance(value, Mapping) and len(value) == 1 and isinstance(value.get("env"), str):
        return EnvRef(value["env"])
    return value


def resolve(value: Any, *, what: str, environ: Mapping[str, str] | None = None) -> Any:
    """Return ``value``, reading it from the environment if it is a reference.

    Args:
        value: A plain value, an :class:`EnvRef` or ``{"env": NAME}``.
        what: What the value is for (``"api_key of client 'GPT4'"``), used in the error.
        environ: The environment to read (default ``os.environ``); tests inject one.

    Raises:
        ConfigError: The variable is not set. The message names it, never a value.
    """
    value = to_ref(value)
    if not isinstance(value, EnvRef):
        return value
    found = (os.environ if environ is None else environ).get(value.name)
    if found is None:
        raise ConfigError(f"environment variable {value.name} is not set (needed for {what})")
    return found


def resolve_optional(value: Any, *, environ: Mapping[str, str] | None = None) -> Any:
    """Like :func:`resolve`, but an unset variable gives ``None`` instead of an error."""
    value = to_ref(value)
    if not isinstance(value, EnvRef):
        return value
    return (os.environ if environ is None else environ).get(value.name)
