"""The built-in providers' builders, registered with the registry when it first needs one.

Kept apart from ``registry.py`` so that the registry does not import every provider
module, and so that a plug-in provider is registered exactly like these.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ..client import Client
from ..providers.anthropic import AnthropicClient
from ..providers.azure import AzureOpenAIClient
from ..providers.bedrock import BedrockClient
from ..providers.google import GoogleAIClient
from ..providers.openai import OpenAIClient, OpenAIGenericClient
from ..providers.vertex import VertexAIClient
from ..strategies.fallback import build_fallback
from ..strategies.round_robin import build_round_robin
from .registry import register_builder

__all__: list[str] = []


def _leaf(cls: Any, name: str, options: dict[str, Any], **kw: Any) -> Client:
    client: Client = cls(name=name, runtime=kw["runtime"], retry_policy=kw["retry_policy"], **options)
    return client


register_builder("openai", partial(_leaf, OpenAIClient))
register_builder("azure-openai", partial(_leaf, AzureOpenAIClient))
register_builder("anthropic", partial(_leaf, AnthropicClient))
register_builder("google-ai", partial(_leaf, GoogleAIClient))
register_builder("aws-bedrock", partial(_leaf, BedrockClient))
register_builder("vertex-ai", partial(_leaf, VertexAIClient))
for _provider in ("openai-generic", "ollama", "openrouter"):
    register_builder(_provider, partial(_leaf, partial(OpenAIGenericClient, provider=_provider)))
register_builder("fallback", build_fallback)
register_builder("round-robin", build_round_robin)
