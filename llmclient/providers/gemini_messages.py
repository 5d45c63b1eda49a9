"""Gemini's message parts both ways: ``contents`` written from messages, parts read from a candidate.

Split from :mod:`llmclient.providers.gemini` (bodies, answers, errors, streams), which uses it.
Gemini keeps reasoning state on parts: ``thought: true`` text parts (thought summaries) and a
``thoughtSignature`` on a ``functionCall`` or text part. A signature goes back on the same part
it came on, and only to the endpoint that made it (``source``: ``google-ai``, ``vertex-ai:gemini``).
Gemini 3 refuses a function call of the current turn (everything since the last user turn that
is not a function response) whose first call lacks a signature; a call another provider made has
none Gemini can verify, so it is sent with :data:`SKIP_SIGNATURE`, the value Google documents for
calls that did not come from Gemini (https://ai.google.dev/gemini-api/docs/thought-signatures).
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ..messages import AudioPart, DocumentPart, ImagePart, Message, Part, RedactedThinkingPart, TextPart, ThinkingPart
from .base import inline_image
from .parts import audio_inline, document_inline
from .reasoning import Reasoning, replay_call, replay_parts
from .roles import RolePolicy

__all__ = ["gemini_contents", "read_candidate", "thinking_config", "native_thinking_config", "checks_signatures",
           "SKIP_SIGNATURE"]

#: The documented placeholder signature for a function call Gemini did not make (another model's, a fallback's).
SKIP_SIGNATURE = "skip_thought_signature_validator"
_LEVELS = {"none": "MINIMAL", "minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH",
           "xhigh": "XHIGH", "max": "XHIGH"}
_SNAKE = {"include_thoughts": "includeThoughts", "thinking_budget": "thinkingBudget", "thinking_level": "thinkingLevel"}


def gemini_contents(messages: tuple[Message, ...], roles: RolePolicy, *, source: str = "google-ai",
                    foreign: str = "drop", signatures: bool = False
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system parts, contents)``: roles user/model, tool results as ``functionResponse`` parts.

    A tool result needs the function's name, which Gemini's wire form carries instead of
    an id: it is taken from the latest earlier assistant call with the same id (else the
    message's ``name``). Consecutive turns with the same role are merged. Reasoning state
    of ``source`` goes back on its part; another provider's is dropped (``foreign="text"``:
    its thinking becomes text). With ``signatures`` (a model that checks them: thinking on,
    or Gemini 3 and later), the first call of each model turn of the current turn that has
    no signature of ``source`` is sent with :data:`SKIP_SIGNATURE`.
    """
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    current = _current_turn_start(messages)
    for index, message in enumerate(messages):
        role = "tool" if message.role == "tool" else roles.role(message.role)
        if role == "system":
            system.extend({"text": p.text} for p in message.parts if isinstance(p, TextPart))
            continue
        if role == "tool":
            name = names.get(message.tool_call_id or "") or message.name or ""
            response: dict[str, Any] = {"name": name, "response": _tool_response(message.text)}
            parts = [{"functionResponse": response}]
            wire_role = "user"
        else:
            kept = replay_parts(message.parts, source, foreign)
            parts = [_render_part(p) for p in kept if not (isinstance(p, TextPart) and not p.text and not p.signature)
                     and not isinstance(p, RedactedThinkingPart)]
            wire_role = "model" if role in ("assistant", "model") else "user"
            for number, given in enumerate(message.tool_calls):
                call = replay_call(given, source)
                names[call.id] = call.name
                part: dict[str, Any] = {"functionCall": {"name": call.name, "args": dict(call.arguments)}}
                if call.signature:
                    part["thoughtSignature"] = call.signature
                elif signatures and number == 0 and index >= current and wire_role == "model":
                    part["thoughtSignature"] = SKIP_SIGNATURE  # a call Gemini did not make, in the current turn
                parts.append(part)
        if not parts:
            continue  # an empty turn: the API refuses empty parts
        if contents and contents[-1]["role"] == wire_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": wire_role, "parts": parts})
    return system, contents


def _current_turn_start(messages: tuple[Message, ...]) -> int:
    """The index after the last user turn that is not a tool result (where the current turn starts)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return index + 1
    return 0


def _tool_response(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def _render_part(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        out: dict[str, Any] = {"text": part.text}
        if part.signature:
            out["thoughtSignature"] = part.signature
        return out
    if isinstance(part, ThinkingPart):  # own thought summary (another provider's was dropped by replay_parts)
        thought: dict[str, Any] = {"text": part.text, "thought": True}
        if part.signature:
            thought["thoughtSignature"] = part.signature
        return thought
    if isinstance(part, ImagePart):
        inline = inline_image(part)
        if inline is not None:
            return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
        url = part.url or ""
        media_type = part.media_type or mimetypes.guess_type(url.split("?")[0])[0]
        return {"fileData": {**({"mimeType": media_type} if media_type else {}), "fileUri": url}}
    if isinstance(part, DocumentPart):  # inlineData, or fileData for a URL or an uploaded file's URI
        inline = document_inline(part)
        if inline is not None:
            return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
        return {"fileData": {"mimeType": part.mime_type, "fileUri": part.file_id or part.url}}
    if isinstance(part, AudioPart):
        sound = audio_inline(part)
        if sound is not None:
            return {"inlineData": {"mimeType": AudioPart(data="", format=sound[0]).media_type, "data": sound[1]}}
        guessed = part.media_type if part.format else mimetypes.guess_type((part.url or "").split("?")[0])[0]
        return {"fileData": {"mimeType": guessed or part.media_type, "fileUri": part.url}}
    raise ConfigError(f"cannot send a {type(part).__name__} to the Gemini API")


def read_candidate(data: Mapping[str, Any], source: str
                   ) -> tuple[Mapping[str, Any], str, str, list[Mapping[str, Any]], list[Part]]:
    """``(candidate, text, thinking, function-call parts, content parts)`` of a response's first candidate.

    Each function-call part is returned whole (its ``thoughtSignature`` beside the
    ``functionCall``). Content parts are the text and thought parts in order, signatures kept,
    labelled with ``source``.
    """
    candidates = data.get("candidates") or ()
    candidate = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[Mapping[str, Any]] = []
    parts: list[Part] = []
    for part in (candidate.get("content") or {}).get("parts") or ():
        if not isinstance(part, dict):
            continue
        signature = part.get("thoughtSignature") if isinstance(part.get("thoughtSignature"), str) else None
        if "functionCall" in part:
            calls.append(part)
        elif isinstance(part.get("text"), str):
            if part.get("thought"):
                thinking.append(part["text"])
                parts.append(ThinkingPart(part["text"], signature=signature, source=source))
            else:
                texts.append(part["text"])
                parts.append(TextPart(part["text"], signature=signature, source=source if signature else None))
        elif signature:  # a signature on a part of its own
            parts.append(TextPart("", signature=signature, source=source))
    return candidate, "".join(texts), "".join(thinking), calls, parts


def native_thinking_config(value: Any) -> dict[str, Any]:
    """A caller's own ``thinking_config`` / ``thinkingConfig``, its keys in the REST (camelCase) spelling."""
    if not isinstance(value, Mapping):
        raise ConfigError("thinking_config must be an object (thinkingBudget, thinkingLevel, includeThoughts)")
    return {_SNAKE.get(str(k), str(k)): v for k, v in value.items()}


def thinking_config(reasoning: Reasoning, model: str) -> dict[str, Any] | None:
    """``generationConfig.thinkingConfig`` for the one reasoning control, or None when not asked.

    A budget becomes ``thinkingBudget``; an effort becomes ``thinkingLevel`` (Gemini 3 and
    later), or the effort's budget for ``gemini-1``/``gemini-2`` models, which take only
    budgets. Thought summaries are asked for (``includeThoughts``) whenever reasoning is on.
    """
    if reasoning.disabled:
        return {"thinkingBudget": 0} if _budget_model(model) else {"thinkingLevel": "MINIMAL"}
    if not reasoning.requested:
        return None
    if reasoning.budget_tokens is not None or _budget_model(model):
        return {"includeThoughts": True, "thinkingBudget": reasoning.budget()}
    return {"includeThoughts": True, "thinkingLevel": _LEVELS.get(reasoning.level(), "MEDIUM")}


def checks_signatures(model: str, config: Mapping[str, Any]) -> bool:
    """Whether a request to ``model`` with ``generationConfig`` ``config`` has its signatures checked."""
    later = model.lower().removeprefix("models/").startswith("gemini-") and not _budget_model(model)
    return later or bool(config.get("thinkingConfig"))


def _budget_model(model: str) -> bool:
    name = model.lower().removeprefix("models/")
    return name.startswith(("gemini-1", "gemini-2"))

