"""The built-in providers' builders, registered with the registry when it first needs one.

Kept apart from ``registry.py`` so that the registry does not import every provider
module, and so that a plug-in provider is registered exactly like these.
"""

from __future__ import annotations

from functools import partial

from ..providers.anthropic import AnthropicClient
from ..providers.azure import AzureOpenAIClient
from ..providers.bedrock import BedrockClient
from ..providers.google import GoogleAIClient
from ..providers.openai import OpenAIClient, OpenAIGenericClient
from ..providers.vertex import VertexAIClient
from ..strategies.fallback import build_fallback
from ..strategies.round_robin import build_round_robin
from .registry import leaf_builder, register_builder

__all__: list[str] = []


register_builder("openai", leaf_builder(OpenAIClient))
register_builder("azure-openai", leaf_builder(AzureOpenAIClient))
register_builder("anthropic", leaf_builder(AnthropicClient))
register_builder("google-ai", leaf_builder(GoogleAIClient))
register_builder("aws-bedrock", leaf_builder(BedrockClient))
register_builder("vertex-ai", leaf_builder(VertexAIClient))
for _provider in ("openai-generic", "ollama", "openrouter"):
    register_builder(_provider, leaf_builder(partial(OpenAIGenericClient, provider=_provider)))
register_builder("fallback", build_fallback)
register_builder("round-robin", build_round_robin)
