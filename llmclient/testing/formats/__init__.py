"""The registry of wire formats the fake server speaks; one module per provider format.

To add a provider, write ``formats/<provider>.py`` with a :class:`WireFormat` subclass and add an
instance to :data:`FORMATS` below (or call :func:`register` at runtime). The server asks each
format in order whether it serves a request's route; the first that says yes answers it.
"""

from __future__ import annotations

from llmclient.testing.formats.anthropic import AnthropicFormat
from llmclient.testing.formats.base import (
    CallError,
    FakeCall,
    RecordedRequest,
    Reply,
    WireFormat,
    make_reply,
    reply_text,
)
from llmclient.testing.formats.bedrock import BedrockFormat
from llmclient.testing.formats.entra import EntraTokenFormat
from llmclient.testing.formats.google import GoogleAIFormat
from llmclient.testing.formats.openai import AzureOpenAIFormat, OpenAIFormat
from llmclient.testing.formats.openai_responses import OpenAIResponsesFormat
from llmclient.testing.formats.vertex import GoogleTokenFormat, VertexClaudeFormat, VertexGeminiFormat

__all__ = [
    "FORMATS",
    "CallError",
    "FakeCall",
    "RecordedRequest",
    "Reply",
    "WireFormat",
    "find_format",
    "make_reply",
    "register",
    "reply_text",
]

#: Every registered format, asked in order; routes should not overlap.
FORMATS: list[WireFormat] = [
    AzureOpenAIFormat(), OpenAIFormat(), OpenAIResponsesFormat(), AnthropicFormat(), GoogleAIFormat(),
    BedrockFormat(), GoogleTokenFormat(), VertexGeminiFormat(), VertexClaudeFormat(), EntraTokenFormat(),
]


def register(wire_format: WireFormat, *, first: bool = False) -> None:
    """Add a format to :data:`FORMATS` (``first=True`` lets it claim routes before the others)."""
    if first:
        FORMATS.insert(0, wire_format)
    else:
        FORMATS.append(wire_format)


def find_format(method: str, path: str) -> WireFormat | None:
    """The first registered format that serves ``method`` on ``path``, or None (404)."""
    for wire_format in FORMATS:
        if wire_format.route(method, path):
            return wire_format
    return None
