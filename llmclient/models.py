"""The values that flow through llmclient: messages in, completions and chunks out.

Everything here is a frozen dataclass (``Chunk`` aside, which is built once per streamed
event and so is kept as light as possible). Providers translate these to and from their
wire formats; strategies pass them through untouched. Nothing here does I/O.

The message side (parts, ``Message``, ``Tool``, ``ChatRequest``, ``to_messages``) lives in
:mod:`llmclient.messages` and is re-exported here, so ``from llmclient.models import Message``
keeps working; this module holds what comes back (usage, attempts, completions, chunks) and
the HTTP values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .errors import LLMError
from .messages import (
    AudioPart,
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    MessagesInput,
    Part,
    RedactedThinkingPart,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCall,
    to_messages,
    to_tools,
)
from .redaction import redact_headers, redact_url

if TYPE_CHECKING:
    from decimal import Decimal

    from .rate_limit_headers import RateLimit

__all__ = [
    "TextPart",
    "ImagePart",
    "DocumentPart",
    "AudioPart",
    "ThinkingPart",
    "RedactedThinkingPart",
    "Part",
    "ToolCall",
    "Message",
    "Tool",
    "ChatRequest",
    "Usage",
    "UNKNOWN_USAGE",
    "Attempt",
    "Completion",
    "ToolCallDelta",
    "Chunk",
    "HttpRequest",
    "HttpResponse",
    "to_messages",
    "to_tools",
    "MessagesInput",
]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one call (or, summed with ``+``, of several).

    ``known`` is False when the server reported no usage at all (e.g. an OpenAI-compatible
    server streaming without ``stream_options.include_usage``): the counts are then zeros
    that mean "unknown", not "free" (:data:`UNKNOWN_USAGE`). A sum is known only if every
    part was. ``extra`` keeps the fields of the provider's usage object that have no
    counterpart here, as sent (e.g. a gateway's ``cost``); a sum adds the numeric ones.
    Neither takes part in ``==``.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_tokens: int = 0
    known: bool = field(default=True, compare=False)
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __add__(self, other: Usage) -> Usage:
        extra = dict(self.extra)
        for key, value in other.extra.items():
            mine = extra.get(key)
            summable = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (mine, value))
            extra[key] = mine + value if summable else value
        a, b = _usage_tuple(self), _usage_tuple(other)
        return Usage(a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5],
                     known=self.known and other.known, extra=extra)


#: The usage of an answer whose server reported none (``known`` is False, counts zero).
UNKNOWN_USAGE = Usage(known=False)


def _usage_tuple(u: Usage) -> tuple[int, ...]:
    return (u.input_tokens, u.output_tokens, u.total_tokens, u.cached_input_tokens,
            u.cache_creation_input_tokens, u.reasoning_tokens)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one client within a call: who, how it ended, and how long it took.

    ``error`` is None for the attempt that succeeded. ``rate_limit`` is what the answer's
    rate-limit headers said (OpenAI's ``x-ratelimit-*``, Anthropic's
    ``anthropic-ratelimit-*``), None when it sent none or no answer arrived.
    """

    client_name: str
    provider: str
    latency_s: float
    error: LLMError | None = None
    status_code: int | None = None
    rate_limit: RateLimit | None = None

    @property
    def outcome(self) -> str:
        """``"ok"`` or the error's class name."""
        return "ok" if self.error is None else type(self.error).__name__


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer, normalised across providers.

    ``finish_reason`` is one of ``stop``, ``length``, ``tool_calls``, ``content_filter``
    or ``other`` (``None`` when the provider gave none); ``raw_finish_reason`` keeps
    the provider's own word. ``attempts`` lists the tries that preceded this answer
    (failed ones first, then the one that succeeded). ``raw`` is the provider's JSON
    for a non-streamed call.

    ``request_id`` is the HTTP request-id header of the answer (``x-request-id``,
    ``request-id``, ``x-amzn-requestid``); ``response_id`` is the provider's own id of the
    answer, streamed calls included: OpenAI's ``chatcmpl-...``, Anthropic's ``msg_...``,
    Gemini's ``responseId``, and for Bedrock (whose answers carry none in the body) its
    ``x-amzn-requestid``. None when the provider sent none.

    ``parts`` is the answer's content in order when it carries reasoning state (thinking
    with its signature, redacted thinking, signed text), else empty; ``thinking`` stays the
    reasoning text joined. :attr:`message` is the assistant turn to append to the
    conversation.

    ``parsed`` is the answer decoded as JSON when the call asked for structured output
    (``response_format`` with a JSON Schema, ``json_object``, or a Pydantic-style class; see
    :mod:`llmclient.structured`), None otherwise. It is a plain ``dict``/``list`` value, never
    a model instance: ``MyModel.model_validate(completion.parsed)`` makes one.

    ``trace`` is the provider's trace of the answer as sent, streamed calls included: Bedrock's
    ``trace`` (``{"guardrail": {...}}`` when a ``guardrail_config`` asks for one); None otherwise.
    """

    text: str
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    provider: str | None = None
    client_name: str | None = None
    request_id: str | None = None
    attempts: tuple[Attempt, ...] = ()
    refusal: str | None = None
    thinking: str | None = None
    response_id: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)
    parts: tuple[Part, ...] = ()
    parsed: Any = field(default=None, compare=False)
    trace: Any = field(default=None, repr=False, compare=False)

    @property
    def message(self) -> Message:
        """The assistant message to append to the conversation before the next turn.

        It carries the provider's reasoning state (:class:`ThinkingPart` with its signature,
        :class:`RedactedThinkingPart`, Gemini's signatures on text and on each
        :class:`ToolCall`), which the same provider needs back on the next turn of a tool
        loop; an adapter of another provider drops that state (or sends the thinking as
        text: ``foreign_reasoning="text"``). Without reasoning state it is simply
        ``Message("assistant", text, tool_calls=...)``.
        """
        return Message("assistant", self.parts or self.text, tool_calls=self.tool_calls)

    @property
    def cost(self) -> Decimal | None:
        """What this answer cost in US dollars, from its usage and the price table; None if unknown.

        None when the model has no price (see :mod:`llmclient.pricing`, where prices are
        added or overridden) or the server reported no usage (``usage.known`` False): never
        a guess. Computed when read, so a call whose cost nobody reads pays nothing for it.
        """
        from .pricing import cost_of

        return cost_of(self)

    def with_attempts(self, attempts: Sequence[Attempt]) -> Completion:
        """A copy carrying ``attempts``."""
        return replace(self, attempts=tuple(attempts))


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of a streamed tool call; fragments with the same ``index`` join up."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    signature: str | None = None
    source: str | None = None


@dataclass(slots=True)
class Chunk:
    """One piece of a stream, as the caller sees it. Treat it as read-only.

    ``text`` is the new text (often the only field set). The last chunks carry
    ``finish_reason`` and ``usage``. ``tool_calls`` hold argument fragments. ``parts``
    holds whole reasoning parts a block completed (a :class:`ThinkingPart` once its
    signature arrived, a :class:`RedactedThinkingPart`; a :class:`TextPart` with empty text
    carries a signature for the streamed text), which the final message keeps.
    """

    text: str = ""
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()
    usage: Usage | None = None
    refusal: str = ""
    thinking: str = ""
    parts: tuple[Part, ...] = ()


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """An HTTP request ready to sign or send. The repr never shows credentials.

    ``secrets`` lists the credential values the request carries, so that anything
    echoing them back (an error body, a log line) can be scrubbed.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""
    stream: bool = False
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def __repr__(self) -> str:
        return (f"HttpRequest(method={self.method!r}, url={redact_url(self.url)!r}, "
                f"headers={redact_headers(self.headers)!r}, body=<{len(self.body)} bytes>, "
                f"stream={self.stream!r})")

    def with_headers(self, headers: Mapping[str, str], *, secrets: Iterable[str] = ()) -> HttpRequest:
        """A copy with ``headers`` added (replacing same-named ones, case-insensitively)."""
        lowered = {k.lower() for k in headers}
        merged = {k: v for k, v in self.headers.items() if k.lower() not in lowered}
        merged.update(headers)
        return replace(self, headers=merged, secrets=self.secrets + tuple(s for s in secrets if s))

    def json(self) -> Any:
        """The body parsed as JSON (for tests and debugging)."""
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete HTTP response. ``headers`` keys are lower-cased."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes
    url: str = ""
    elapsed_s: float = 0.0

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body)
