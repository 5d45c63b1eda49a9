"""The public surface of ``llmclient``: the pinned ``__all__``, the version and the library logger."""

from __future__ import annotations

import logging
import re

import llmclient
from llmclient import errors

#: The public names, pinned: adding or removing one is a deliberate, reviewed change.
EXPECTED_ALL = [
    "__version__",
    "load_config",
    "Registry",
    "env",
    "register_provider",
    "LeafClient",
    "ProviderAdapter",
    "OptionReader",
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


def test_all_is_pinned_exactly() -> None:
    assert llmclient.__all__ == EXPECTED_ALL
    assert len(set(llmclient.__all__)) == len(llmclient.__all__)


def test_every_public_name_resolves() -> None:
    for name in llmclient.__all__:
        assert getattr(llmclient, name) is not None, name


def test_every_error_class_is_exported_and_is_an_llm_error() -> None:
    for name in errors.__all__:
        assert name in llmclient.__all__
        cls = getattr(llmclient, name)
        assert issubclass(cls, llmclient.LLMError)


def test_version_is_a_version_string_and_matches_the_user_agent() -> None:
    from llmclient.transport import USER_AGENT

    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)?", llmclient.__version__)
    assert f"llmclient/{llmclient.__version__}" in USER_AGENT


def test_library_logger_has_a_null_handler() -> None:
    logger = logging.getLogger("llmclient")
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)
    # The library never configures levels or adds output handlers of its own.
    assert all(isinstance(h, logging.NullHandler) for h in logger.handlers)
