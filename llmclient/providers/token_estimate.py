"""A rough token count of a call before it is made, for rate limiting: one rule for every caller.

The leaf client's rate limiter reserves this many tokens before a call (and settles with the
usage the answer reports); the batch runners reserve it per line. Prompt characters // 4,
plus the answer's budget: ``max_tokens`` (or ``max_completion_tokens``) when it is a positive
integer, else 256.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import Message

__all__ = ["estimate_tokens", "DEFAULT_ANSWER_BUDGET"]

#: The answer's budget when the call names none.
DEFAULT_ANSWER_BUDGET = 256


def estimate_tokens(messages: Any, params: Mapping[str, Any]) -> int:
    """The tokens a call is expected to use.

    Args:
        messages: :class:`~llmclient.models.Message` values, or a call's raw input (a string,
            or ``{"role", "content"}`` dicts whose content is a string or a list of parts).
        params: The call's parameters (``max_tokens``...).
    """
    chars = 0
    if isinstance(messages, str):
        chars = len(messages)
    else:
        for message in messages or ():
            if isinstance(message, Message):
                chars += len(message.text)
                continue
            content = message.get("content") if isinstance(message, Mapping) else None
            if isinstance(content, str):
                chars += len(content)
            elif isinstance(content, list):
                chars += sum(len(p["text"]) for p in content
                             if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    budget = params.get("max_tokens") or params.get("max_completion_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        budget = DEFAULT_ANSWER_BUDGET
    return chars // 4 + budget
