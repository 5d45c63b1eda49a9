"""The fake server's reasoning signatures: opaque to clients, checkable by the format that made them.

Real providers sign a model's thinking so that a replayed turn can be verified; a signature
made by another provider (or altered) is refused with a 400. The fake does the same with an
HMAC over the signed content, keyed by the wire format's name (``anthropic``,
``vertex-claude``, ``aws-bedrock``, ``google-ai``, ``vertex-gemini``): each format accepts only
its own signatures, so a test sees what a real switch between providers would cause.
Nothing here is a secret: the key is a fixed test value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["sign", "verify", "redacted_data", "is_redacted_data", "thinking_text", "MISSING_THINKING"]

_KEY = b"llmclient-fake-server-signatures"

#: Anthropic's 400 for an open tool turn that does not start with its thinking (Bedrock relays it).
MISSING_THINKING = (
    "messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When "
    "`thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost "
    "set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. "
    "To avoid this requirement, disable `thinking`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)


def sign(issuer: str, content: str) -> str:
    """A base64 signature of ``content`` made by the format ``issuer``."""
    mac = hmac.new(_KEY, f"{issuer}\x00{content}".encode(), hashlib.sha256).digest()
    return base64.b64encode(b"sig1" + mac[:24]).decode("ascii")


def verify(issuer: str, content: str, signature: object) -> bool:
    """Whether ``signature`` is the one ``issuer`` made for ``content``."""
    return isinstance(signature, str) and hmac.compare_digest(signature, sign(issuer, content))


def redacted_data(issuer: str, seq: int) -> str:
    """Opaque redacted-thinking data (base64) made by ``issuer`` for request ``seq``."""
    body = f"redacted:{seq}".encode()
    mac = hmac.new(_KEY, issuer.encode() + b"\x00" + body, hashlib.sha256).digest()[:16]
    return base64.b64encode(body + b"." + mac).decode("ascii")


def is_redacted_data(issuer: str, data: object) -> bool:
    """Whether ``data`` is redacted-thinking data ``issuer`` made."""
    if not isinstance(data, str):
        return False
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return False
    body, _, mac = raw.rpartition(b".")
    expected = hmac.new(_KEY, issuer.encode() + b"\x00" + body, hashlib.sha256).digest()[:16]
    return body.startswith(b"redacted:") and hmac.compare_digest(mac, expected)


def thinking_text(prompt: str, tool: str | None) -> str:
    """The fake model's (deterministic) reasoning before its answer."""
    plan = f"call {tool}" if tool else "answer"
    return f"The user said {prompt!r}; I will {plan}."
