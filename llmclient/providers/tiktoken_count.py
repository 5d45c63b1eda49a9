"""Counting an OpenAI Chat Completions body locally with tiktoken (the optional ``llmclient[tokens]`` extra).

OpenAI offers no count endpoint for Chat Completions, so ``count_tokens`` on an OpenAI-style
client encodes the request with the model's own tokenizer. The text is counted exactly; the
chat framing follows OpenAI's published rule (the openai-cookbook's "How to count tokens":
3 tokens per message, 1 more per ``name``, 3 to prime the reply). What that rule does not
cover (images, audio, files, tool definitions, assistant tool calls) is refused with
:class:`~llmclient.errors.TokenCountUnavailableError` rather than guessed.

tiktoken is imported on first use. It downloads an encoding's files the first time that
encoding is used, unless they are in ``TIKTOKEN_CACHE_DIR``; a failure to load them is
reported as TokenCountUnavailableError naming the encoding.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ..errors import TokenCountUnavailableError

__all__ = ["count_chat_body", "TOKENS_PER_MESSAGE", "TOKENS_PER_NAME", "REPLY_PRIMING_TOKENS"]

#: OpenAI's published framing cost of one message, of a ``name``, and of priming the reply.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3


def _encoding(model: str) -> Any:
    try:
        tiktoken = importlib.import_module("tiktoken")
    except ImportError:
        raise TokenCountUnavailableError(
            "count_tokens for OpenAI models counts locally with tiktoken, which is not installed: "
            "pip install 'llmclient[tokens]' (OpenAI offers no count endpoint)") from None
    try:
        name = tiktoken.encoding_name_for_model(model.removeprefix("openai/"))
    except KeyError:
        raise TokenCountUnavailableError(
            f"tiktoken does not know model {model!r}: pass model= naming an OpenAI model whose tokenizer "
            "this one uses (e.g. model='gpt-4o')") from None
    try:
        return tiktoken.get_encoding(name)
    except Exception as err:  # network, cache or file errors of tiktoken's loader
        raise TokenCountUnavailableError(
            f"tiktoken could not load encoding {name!r} ({type(err).__name__}); it downloads its files on "
            "first use: put them in TIKTOKEN_CACHE_DIR where there is no internet") from err


def _text_tokens(encoding: Any, text: str) -> int:
    return len(encoding.encode(text, disallowed_special=()))


def _content_tokens(encoding: Any, content: Any) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return _text_tokens(encoding, content)
    total = 0
    for part in content:
        if not (isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str)):
            kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
            raise TokenCountUnavailableError(f"cannot count a {kind!r} part locally (only text): OpenAI "
                                             "publishes no rule for it")
        total += _text_tokens(encoding, part["text"])
    return total


def count_chat_body(body: Mapping[str, Any]) -> tuple[int, str]:
    """``(input tokens, model)`` of a Chat Completions ``body`` (as the adapter would send it).

    Raises:
        TokenCountUnavailableError: tiktoken is missing, does not know the model, cannot load
            its encoding, or the body holds what the published rule does not count.
    """
    model = str(body.get("model") or "")
    if not model:
        raise TokenCountUnavailableError("count_tokens needs the model's name to pick its tokenizer: "
                                         "give the client a model, or pass model=")
    if body.get("tools") or body.get("functions"):
        raise TokenCountUnavailableError("cannot count tool definitions locally: OpenAI publishes no rule for "
                                         "them (count without tools=, or use a provider with a count endpoint)")
    encoding = _encoding(model)
    total = REPLY_PRIMING_TOKENS
    for message in body.get("messages") or ():
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if value is None:
                continue
            if key == "content":
                total += _content_tokens(encoding, value)
            elif key == "tool_calls":
                raise TokenCountUnavailableError("cannot count an assistant message's tool calls locally: "
                                                 "OpenAI publishes no rule for them")
            elif isinstance(value, str):
                total += _text_tokens(encoding, value) + (TOKENS_PER_NAME if key == "name" else 0)
            else:
                raise TokenCountUnavailableError(f"cannot count message field {key!r} locally (not text)")
    return total, model
