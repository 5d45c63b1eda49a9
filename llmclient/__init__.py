"""llmclient: one blocking interface to every major LLM provider, with resilience built in.

Only public names live here (``__all__`` is pinned by a test). Importing llmclient is cheap:
requests is imported with the first client's transport; botocore, PyJWT, cryptography and
jsonschema only where they are used; each provider and strategy module when its name is
first used; the event types when the first hook is attached.
"""

import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .auth import AuthProvider
from .client import CallContext, Client
from .config.loader import load_config
from .config.registry import Registry, register_provider
from .errors import (
    AllClientsFailedError,
    AuthError,
    CancelledError,
    ClientClosedError,
    ConfigError,
    ContextWindowExceededError,
    FinishReasonError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    ProviderError,
    RateLimitError,
    StreamError,
    StructuredOutputError,
    TokenCountUnavailableError,
    TransportError,
)
from .models import (
    Attempt,
    AudioPart,
    ChatRequest,
    Chunk,
    Completion,
    DocumentPart,
    HttpRequest,
    HttpResponse,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)
from .providers.table import PROVIDERS as _PROVIDERS
from .retry import RetryPolicy
from .runtime import Runtime
from .secrets import env
from .stream import Stream

if TYPE_CHECKING:  # imported on first use below, so that `import llmclient` stays cheap
    from .providers.anthropic import AnthropicClient
    from .providers.azure import AzureOpenAIClient
    from .providers.base import ProviderAdapter
    from .providers.bedrock import BedrockClient
    from .providers.google import GoogleAIClient
    from .providers.leaf import LeafClient
    from .providers.openai import OpenAIClient, OpenAIGenericClient
    from .providers.openai_responses import OpenAIResponsesClient
    from .providers.options import OptionReader
    from .providers.vertex import VertexAIClient
    from .strategies.fallback import FallbackClient
    from .strategies.round_robin import RoundRobinClient
    from .token_count import TokenCount

#: Public names defined in submodules, imported only when first used, as ``"module:Name"``:
#: the client class of every row of the provider table, then the names for writing a provider.
#: A row's class is reachable as ``llmclient.Name`` as soon as its row exists; the public ones (in
#: ``__all__``) are also imported above under TYPE_CHECKING for type checkers, which cannot read
#: the table (tests/config/test_provider_table.py checks that both agree).
_LAZY: dict[str, str] = {
    **{spec.client_name: spec.client for spec in _PROVIDERS if spec.client_name},
    "LeafClient": "llmclient.providers.leaf:LeafClient",
    "ProviderAdapter": "llmclient.providers.base:ProviderAdapter",
    "OptionReader": "llmclient.providers.options:OptionReader",
    "TokenCount": "llmclient.token_count:TokenCount",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'llmclient' has no attribute {name!r}")
    import importlib

    module, _, attribute = target.partition(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value

__all__ = [
    "__version__",
    # loading configs
    "load_config",
    "Registry",
    "env",
    "register_provider",
    # writing a provider
    "LeafClient",
    "ProviderAdapter",
    "OptionReader",
    # clients
    "Client",
    "Stream",
    "CallContext",
    "OpenAIClient",
    "OpenAIGenericClient",
    "OpenAIResponsesClient",
    "AzureOpenAIClient",
    "AnthropicClient",
    "GoogleAIClient",
    "BedrockClient",
    "VertexAIClient",
    "FallbackClient",
    "RoundRobinClient",
    "AuthProvider",
    "RetryPolicy",
    "Runtime",
    # values
    "Message",
    "TextPart",
    "ImagePart",
    "DocumentPart",
    "AudioPart",
    "Tool",
    "ToolCall",
    "ChatRequest",
    "Completion",
    "Chunk",
    "Usage",
    "TokenCount",
    "Attempt",
    "HttpRequest",
    "HttpResponse",
    # errors
    "LLMError",
    "ConfigError",
    "TokenCountUnavailableError",
    "TransportError",
    "LLMTimeoutError",
    "AuthError",
    "RateLimitError",
    "InvalidRequestError",
    "ContextWindowExceededError",
    "ProviderError",
    "StructuredOutputError",
    "StreamError",
    "FinishReasonError",
    "AllClientsFailedError",
    "CancelledError",
    "ClientClosedError",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
