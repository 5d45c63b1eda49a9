"""The output records of a batch run, in llmclient's format or the OpenAI Batch API's, and reading them back.

Two output formats, chosen with ``output_format``:

* ``"llmclient"`` (the default): ``{"id", "line", "ok": true, "completion": {...}}`` or
  ``{"id", "line", "ok": false, "error": {...}, "attempts": [...]}``.
* ``"openai"``: the per-line object of the OpenAI Batch API's output and error files,
  ``{"id": "batch_req_...", "custom_id", "response": {"status_code", "request_id", "body"},
  "error"}``, so that tools written for OpenAI batch results read llmclient's unchanged.
  An answer from an OpenAI-family provider keeps the provider's own body; any other
  provider's answer is written as a ``chat.completion`` body. An HTTP error has a
  ``response`` with its status and an OpenAI-style ``{"error": {...}}`` body; a failure
  without an HTTP answer (a timeout, a dropped connection, a malformed input line) has
  ``response: null`` and ``error: {"code", "message"}``, as OpenAI writes non-HTTP failures.

:func:`record_state` reads either format back when a run resumes: which line a record is
for, and whether it is a success.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import TYPE_CHECKING, Any, Union

from ..errors import LLMError
from ..models import Attempt, Completion
from ..providers.table import PROVIDERS

if TYPE_CHECKING:
    from decimal import Decimal

    from .jsonl import InputLine

__all__ = ["OUTPUT_FORMATS", "RecordKey", "completion_record", "error_record", "input_error_record",
           "record_state", "record_cost", "check_output_format"]

#: The accepted values of ``output_format``.
OUTPUT_FORMATS = ("llmclient", "openai")

#: Which input line a record is for: ``("id", the id)``, or ``("line", n)`` for an id-less line.
RecordKey = tuple[str, Union[str, int]]

#: Providers whose answer body already is an OpenAI ``chat.completion`` (from the provider table).
_OPENAI_FAMILY = frozenset(spec.name for spec in PROVIDERS if spec.wire == "openai-chat")

#: llmclient's finish reasons as OpenAI words (``other`` keeps the provider's word).
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter"}


def check_output_format(output_format: str) -> str:
    """Return ``output_format`` if it is known.

    Raises:
        ValueError: It is neither ``"llmclient"`` nor ``"openai"``.
    """
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {', '.join(map(repr, OUTPUT_FORMATS))} "
                         f"(got {output_format!r})")
    return output_format


def _attempt(a: Attempt) -> dict[str, Any]:
    return {"client_name": a.client_name, "provider": a.provider, "outcome": a.outcome,
            "status_code": a.status_code, "latency_s": round(a.latency_s, 4)}


def completion_record(item: InputLine, c: Completion, attempts: list[Attempt],
                      output_format: str = "llmclient") -> dict[str, Any]:
    """The output record of a successful line."""
    if output_format == "openai":
        return {"id": _request_id(), "custom_id": item.id,
                "response": {"status_code": 200, "request_id": c.request_id, "body": _chat_completion(c)},
                "error": None}
    cost = c.cost
    u = c.usage
    return {"id": item.id, "line": item.line, "ok": True, "completion": {
        "text": c.text, "finish_reason": c.finish_reason, "raw_finish_reason": c.raw_finish_reason,
        "tool_calls": [{"id": t.id, "name": t.name, "arguments": dict(t.arguments)} for t in c.tool_calls],
        "usage": {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "total_tokens": u.total_tokens,
                  "cached_input_tokens": u.cached_input_tokens,
                  "cache_creation_input_tokens": u.cache_creation_input_tokens,
                  "reasoning_tokens": u.reasoning_tokens},
        "client_name": c.client_name, "provider": c.provider, "model": c.model, "request_id": c.request_id,
        "cost": None if cost is None else f"{cost:f}",
        "attempts": [_attempt(a) for a in (c.attempts or attempts)]}}


def error_record(item: InputLine, err: BaseException, attempts: list[Attempt],
                 output_format: str = "llmclient") -> dict[str, Any]:
    """The output record of a failed line (the message of an LLMError is already redacted)."""
    if isinstance(err, LLMError):
        error = {"class": type(err).__name__, "status_code": err.status_code, "message": err.message,
                 "retryable": err.retryable, "client_name": err.client_name, "provider": err.provider,
                 "code": err.code}
    else:
        error = {"class": type(err).__name__, "status_code": None, "message": str(err)[:500], "retryable": False,
                 "client_name": None, "provider": None, "code": None}
    if output_format == "openai":
        return _openai_failure(item, error, getattr(err, "request_id", None))
    return {"id": item.id, "line": item.line, "ok": False, "error": error,
            "attempts": [_attempt(a) for a in attempts]}


def input_error_record(item: InputLine, output_format: str = "llmclient") -> dict[str, Any]:
    """The output record of a malformed input line (class ``InputError``)."""
    if output_format == "openai":
        return {"id": _request_id(), "custom_id": item.id, "response": None,
                "error": {"code": "invalid_input", "message": item.problem, "line": item.line}}
    return {"id": item.id, "line": item.line, "ok": False,
            "error": {"class": "InputError", "status_code": None, "message": item.problem, "retryable": False,
                      "client_name": None, "provider": None}}


def record_cost(record: Any) -> Decimal | None:
    """The US dollars a success record cost; None when that cannot be known.

    llmclient's records say it (``completion.cost``). OpenAI-format records have no room
    for it (their shape is OpenAI's), so their body is priced again: its ``model`` under
    the one provider whose price table lists it, its ``usage`` as OpenAI counts it (a
    non-OpenAI answer written in that shape carries no cache counts, so its cache reads
    and writes are priced as input).
    """
    from decimal import Decimal, InvalidOperation

    if not isinstance(record, dict):
        return None
    completion = record.get("completion")
    if not isinstance(completion, dict):
        return _openai_body_cost(record)
    value = completion.get("cost")
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return None
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        return None
    return cost if cost.is_finite() and cost >= 0 else None


def _openai_body_cost(record: dict[str, Any]) -> Decimal | None:
    from ..models import Usage
    from ..pricing import cost, priced_models

    response = record.get("response")
    body = response.get("body") if isinstance(response, dict) else None
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(usage, dict) or not isinstance(body.get("model"), str):
        return None
    providers = [p for p, rows in priced_models().items() if body["model"] in rows]
    if len(providers) != 1:
        return None
    raw = [usage.get("prompt_tokens"), usage.get("completion_tokens"),
           (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0]
    counts = [n for n in raw if isinstance(n, int) and not isinstance(n, bool) and n >= 0]
    if len(counts) != len(raw):
        return None
    return cost(Usage(input_tokens=counts[0], output_tokens=counts[1], cached_input_tokens=counts[2]),
                providers[0], body["model"])


def record_state(record: Any) -> tuple[RecordKey, bool] | None:
    """Which line a record (either format) is for, and whether it is a success; None if not a record."""
    if not isinstance(record, dict):
        return None
    if "custom_id" in record and "response" in record:
        ok = (record.get("error") is None and isinstance(record["response"], dict)
              and isinstance(record["response"].get("status_code"), int)
              and 200 <= record["response"]["status_code"] < 300)
        key, error = record["custom_id"], record.get("error")
        line = error.get("line") if key is None and isinstance(error, dict) else None
        return _key(key, line), ok
    if "id" not in record:
        return None
    return _key(record["id"], record.get("line")), record.get("ok") is True


def _key(key: Any, line: Any) -> RecordKey:
    if isinstance(key, (str, int)) and not isinstance(key, bool):
        return ("id", key)
    if key is None and isinstance(line, int) and not isinstance(line, bool):
        return ("line", line)
    return ("id", repr(key))  # an id no input line can have: never matches, still counted


def _openai_failure(item: InputLine, error: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    if error["status_code"] is None:
        code = error["code"] or _snake(error["class"])
        return {"id": _request_id(), "custom_id": item.id, "response": None,
                "error": {"code": code, "message": error["message"]}}
    body = {"error": {"message": error["message"], "type": error["code"] or _snake(error["class"]), "param": None,
                      "code": error["code"]}}
    return {"id": _request_id(), "custom_id": item.id,
            "response": {"status_code": error["status_code"], "request_id": request_id, "body": body},
            "error": None}


def _chat_completion(c: Completion) -> dict[str, Any]:
    """The answer as an OpenAI ``chat.completion`` body (the provider's own, for the OpenAI family)."""
    if c.provider in _OPENAI_FAMILY and isinstance(c.raw, dict) and "choices" in c.raw:
        return c.raw
    message: dict[str, Any] = {"role": "assistant", "content": c.text, "refusal": c.refusal}
    if c.tool_calls:
        message["tool_calls"] = [{"id": t.id, "type": "function", "function": {
            "name": t.name, "arguments": t.raw_arguments or json.dumps(dict(t.arguments))}} for t in c.tool_calls]
    raw_id = c.raw.get("id") if isinstance(c.raw, dict) else None
    finish = _FINISH.get(c.finish_reason or "", c.raw_finish_reason)
    u = c.usage
    return {"id": raw_id if isinstance(raw_id, str) else f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion", "created": int(time.time()), "model": c.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens,
                      "total_tokens": u.total_tokens}}


def _request_id() -> str:
    return f"batch_req_{uuid.uuid4().hex}"


def _snake(name: str) -> str:
    """``RateLimitError`` -> ``rate_limit_error``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
