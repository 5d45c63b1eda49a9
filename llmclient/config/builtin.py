"""Builders made from the provider table's rows: a row's dotted paths imported when first built.

Kept apart from ``registry.py`` so that the registry imports no provider or strategy module:
a row names its client class (or, for a composite, its builder in ``strategies/``) by dotted
path, and only the module of a provider that a config actually builds is imported, the first
time one of its clients is built. A plug-in row (:func:`llmclient.register_provider`) is built
exactly like a built-in one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from typing import Any

from ..errors import ConfigError
from ..providers.table import ProviderSpec

__all__ = ["builder_of", "resolve"]


def resolve(target: Any) -> Any:
    """The object a dotted path ``"package.module:Name"`` names; anything else is returned as it is.

    Raises:
        ConfigError: The path is malformed, or its module or name cannot be imported.
    """
    if not isinstance(target, str):
        return target
    module, colon, attribute = target.partition(":")
    if not colon or not module or not attribute:
        raise ConfigError(f"{target!r} is not a dotted path of the form 'package.module:Name'")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import {target!r}: {type(exc).__name__}: {exc}") from None


def builder_of(spec: ProviderSpec, leaf_builder: Callable[[Callable[..., Any]], Any]) -> Any:
    """The builder for ``spec``'s clients: its own builder, or ``leaf_builder`` over its client class.

    The client class is called with the row's fixed ``kwargs`` first (``provider="ollama"``),
    then the client's name, runtime, retry policy, auth and options.

    Raises:
        ConfigError: The row names neither a builder nor a client class (``baml-strategy``,
            which canonicalisation turns into ``fallback`` or ``round-robin``; or a name
            given only a schema with ``register_schema``).
    """
    if spec.builder is not None:
        return resolve(spec.builder)
    if spec.client is None:
        raise ConfigError(f"provider {spec.name!r} has no client class to build: "
                          "register one with llmclient.register_provider()")
    client_class = resolve(spec.client)
    return leaf_builder(partial(client_class, **spec.kwargs) if spec.kwargs else client_class)
