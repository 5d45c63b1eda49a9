"""TokenCount: what ``client.count_tokens(messages)`` returns, and how sure it is.

Counting happens in :mod:`llmclient.providers.token_count` (a provider's count endpoint, or a
local tokenizer for OpenAI models); this module only holds the value, so that the
:class:`~llmclient.client.Client` contract can name it without importing any provider.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TokenCount"]


@dataclass(frozen=True, slots=True)
class TokenCount:
    """The input tokens a call would use, counted before it is made.

    ``int(count)`` is ``count.input_tokens``.

    Attributes:
        input_tokens: The tokens of the messages, system prompt and tools given.
        provider: The provider whose model counted them (a composite's counting member's).
        model: The model counted for, when known.
        exact: True when the provider counted them (its count endpoint: what the call's
            ``usage.input_tokens`` will say, up to what the provider adds at call time);
            False when counted here with the model's tokenizer (``source == "tiktoken"``):
            the text exactly, the chat framing by OpenAI's published rule.
        source: ``"provider"`` (Anthropic ``messages/count_tokens``, Gemini and Vertex
            ``countTokens``, Bedrock ``CountTokens``) or ``"tiktoken"``.
        client_name: The client that counted.
    """

    input_tokens: int
    provider: str
    model: str | None
    exact: bool
    source: str
    client_name: str = ""

    def __int__(self) -> int:
        return self.input_tokens
