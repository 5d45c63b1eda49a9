"""Reasoning across providers: the one reasoning control, and which reasoning state a provider is sent.

Every adapter that writes messages asks this module two things. First, what the call asked
for: ``reasoning_effort`` (``none``/``minimal``/``low``/``medium``/``high``/``xhigh``/``max``)
or ``reasoning_budget_tokens`` (a token budget), and ``foreign_reasoning`` (``drop``, the
default, or ``text``). These are call parameters, never body fields (:data:`REASONING_PARAMS`);
each adapter maps them to its provider's form. Second, which parts of a replayed assistant
turn it may send: state made by the same provider and wire family (``source``) goes back as
it came; state made elsewhere cannot be verified by this provider (a foreign signature is a
400), so it is dropped, or its thinking text sent as plain text with ``foreign_reasoning="text"``.
A part without a ``source`` (built by the caller) is trusted as given.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InvalidRequestError
from ..messages import Message, Part, RedactedThinkingPart, TextPart, ThinkingPart, ToolCall

__all__ = ["Reasoning", "REASONING_PARAMS", "EFFORT_BUDGETS", "reasoning_of", "replay_parts", "replay_call",
           "owns", "open_tool_turn"]

logger = logging.getLogger(__name__)

#: Call parameters read by the adapters themselves (never sent as body fields).
REASONING_PARAMS = frozenset({"reasoning_effort", "reasoning_budget_tokens", "foreign_reasoning"})
#: Token budget a provider that takes budgets (Anthropic, Claude on Bedrock and Vertex, Gemini 2.x) is sent per effort.
EFFORT_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768, "max": 32768}
_EFFORTS = ("none", *EFFORT_BUDGETS)
_FOREIGN = ("drop", "text")


@dataclass(frozen=True)
class Reasoning:
    """What one call asked for: an effort, a budget (either may be None) and the foreign-state rule."""

    effort: str | None = None
    budget_tokens: int | None = None
    foreign: str = "drop"

    @property
    def requested(self) -> bool:
        """Whether the call asked for reasoning (an effort other than ``none``, or a budget > 0)."""
        if self.budget_tokens is not None:
            return self.budget_tokens > 0
        return self.effort is not None and self.effort != "none"

    @property
    def disabled(self) -> bool:
        """Whether the call asked for no reasoning (``none``, or a budget of 0)."""
        return self.budget_tokens == 0 or (self.budget_tokens is None and self.effort == "none")

    def budget(self) -> int:
        """The token budget: the one given, else the effort's (:data:`EFFORT_BUDGETS`)."""
        if self.budget_tokens is not None:
            return self.budget_tokens
        return EFFORT_BUDGETS.get(self.effort or "medium", 4096)

    def level(self) -> str:
        """The effort: the one given, else the nearest to the budget (``low``/``medium``/``high``)."""
        if self.effort is not None:
            return self.effort
        budget = self.budget_tokens or 0
        return "low" if budget <= 2048 else "medium" if budget <= 8192 else "high"


def reasoning_of(params: Mapping[str, Any], *, provider: str = "") -> Reasoning:
    """The reasoning settings of a call's parameters.

    Raises:
        InvalidRequestError: An effort, budget or ``foreign_reasoning`` value that is not one of
            the documented ones (named, with what is accepted).
    """
    effort = params.get("reasoning_effort")
    budget = params.get("reasoning_budget_tokens")
    foreign = params.get("foreign_reasoning") or "drop"
    where = f" (provider {provider})" if provider else ""
    if effort is not None and effort not in _EFFORTS:
        raise InvalidRequestError(f"reasoning_effort {effort!r} is not one of {', '.join(_EFFORTS)}{where}",
                                  provider=provider or None)
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 0):
        raise InvalidRequestError(f"reasoning_budget_tokens must be a non-negative integer, not {budget!r}{where}",
                                  provider=provider or None)
    if foreign not in _FOREIGN:
        raise InvalidRequestError(f"foreign_reasoning {foreign!r} is not 'drop' or 'text'{where}",
                                  provider=provider or None)
    return Reasoning(effort=effort, budget_tokens=budget, foreign=foreign)


def owns(made_by: str | None, source: str) -> bool:
    """Whether state made by ``made_by`` may be sent to ``source`` (its own, or unlabelled)."""
    return made_by is None or made_by == source


def replay_parts(parts: Iterable[Part], source: str, foreign: str = "drop") -> list[Part]:
    """The parts of a turn as ``source`` may be sent them.

    Own reasoning parts are kept; another provider's are dropped, or their thinking becomes a
    :class:`TextPart` when ``foreign`` is ``"text"`` (redacted thinking has no text: always
    dropped). A text part keeps its signature only for its own source. Other parts pass.
    """
    out: list[Part] = []
    dropped = 0
    for part in parts:
        if isinstance(part, (ThinkingPart, RedactedThinkingPart)):
            if owns(part.source, source):
                out.append(part)
            elif foreign == "text" and isinstance(part, ThinkingPart) and part.text:
                out.append(TextPart(part.text))
            else:
                dropped += 1
        elif isinstance(part, TextPart) and part.signature and not owns(part.source, source):
            out.append(TextPart(part.text))
        else:
            out.append(part)
    if dropped:
        logger.debug("dropped %d reasoning part(s) %s cannot verify", dropped, source)
    return out


def replay_call(call: ToolCall, source: str) -> ToolCall:
    """``call`` as ``source`` may be sent it: another provider's signature removed."""
    if call.signature and not owns(call.source, source):
        return replace(call, signature=None, source=None)
    return call


def open_tool_turn(messages: tuple[Message, ...]) -> Message | None:
    """The assistant turn of a tool cycle still open at the end of ``messages`` (None if none).

    That is the last assistant turn with tool calls when only tool results follow it: the
    turn Anthropic (and Claude on Bedrock) require to start with its thinking when thinking is on.
    """
    for message in reversed(messages):
        if message.role == "tool":
            continue
        if message.role == "assistant" and message.tool_calls:
            return message
        return None
    return None


def has_own_thinking(message: Message, source: str) -> bool:
    """Whether ``message`` holds reasoning state ``source`` will be sent (with a signature, for thinking)."""
    return any(isinstance(p, RedactedThinkingPart) and owns(p.source, source)
               or isinstance(p, ThinkingPart) and bool(p.signature) and owns(p.source, source)
               for p in message.parts)
