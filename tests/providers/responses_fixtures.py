"""Responses API shapes for the openai-responses tests, copied from the project's wire-format notes.

Source: ``shared/reference/wire-formats-2026.md`` section 1 (request observed with the official
SDK openai 3.57.0; the response object a canned reply parsed by openai 3.57.0; the stream's event
order from recorded API traffic, prism-php/prism ``tests/Fixtures/openai/stream-*-responses-*.json``,
MIT, replayed with reasoning-summary events added) and section 8 (the context-window error). The
placeholders (keys, ``encrypted_content``) are the notes' own; elided fields (``{...}``) are
filled with the fields the notes list.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
          "additionalProperties": False}

#: The request body the SDK sent (section 1, "Full body"), minus the parts llmclient has no value
#: for (``input_file`` parts, a replayed ``reasoning`` item, ``include``).
REQUEST_BODY: dict[str, Any] = {
    "model": "gpt-5.2",
    "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "What is in these?"},
                                     {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=",
                                      "detail": "low"}]},
        {"type": "function_call", "call_id": "call_abc123", "name": "get_weather",
         "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call_output", "call_id": "call_abc123", "output": "{\"temp_c\":21}"},
        {"role": "assistant", "content": "Prior answer."},
    ],
    "instructions": "You are terse.", "max_output_tokens": 256, "previous_response_id": "resp_prev",
    "reasoning": {"effort": "low", "summary": "auto"}, "store": False,
    "text": {"format": {"type": "json_schema", "name": "weather", "schema": SCHEMA, "strict": True}},
    "tool_choice": {"type": "function", "name": "get_weather"},
    "tools": [{"type": "function", "name": "get_weather", "description": "Get the weather", "parameters": SCHEMA,
               "strict": True}],
}

#: The response object (section 1, "Response object").
RESPONSE: dict[str, Any] = {
    "id": "resp_abc123", "object": "response", "created_at": 1767225600, "completed_at": 1767225601,
    "status": "completed", "error": None, "incomplete_details": None, "instructions": "You are terse.",
    "max_output_tokens": 256, "model": "gpt-5.2-2025-12-11",
    "output": [
        {"id": "rs_abc", "type": "reasoning",
         "summary": [{"type": "summary_text", "text": "**Checking weather** I should call the tool."}],
         "encrypted_content": "gAAAAABo...opaque...", "status": None},
        {"id": "msg_abc", "type": "message", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "Hello, world!", "annotations": [], "logprobs": []}]},
        {"id": "fc_abc", "type": "function_call", "status": "completed", "call_id": "call_abc123",
         "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
    ],
    "parallel_tool_calls": True, "previous_response_id": None, "reasoning": {"effort": "low", "summary": "auto"},
    "store": False, "temperature": 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled", "metadata": {}, "user": None,
    "usage": {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 64}, "output_tokens": 42,
              "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 162},
}

#: Section 8: the Responses context-window error (HTTP 400, or inside a stream).
CONTEXT_ERROR = {"type": "invalid_request_error", "code": "context_length_exceeded",
                 "message": "Your input exceeds the context window of this model. Please adjust your input and "
                            "try again.", "param": "input"}


def sse(kind: str, seq: int, **payload: Any) -> bytes:
    """One event as the API sends it: ``event:`` equal to ``data.type``, a ``sequence_number``."""
    data = json.dumps({"type": kind, "sequence_number": seq, **payload}, separators=(",", ":"))
    return f"event: {kind}\ndata: {data}\n\n".encode()


def _in_progress() -> dict[str, Any]:
    return {"id": "resp_1", "object": "response", "status": "in_progress", "model": "gpt-5.2-2025-12-11",
            "output": [], "usage": None}


USAGE = {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 14,
         "output_tokens_details": {"reasoning_tokens": 10}, "total_tokens": 23}

_REASONING = {"id": "rs_1", "type": "reasoning",
              "summary": [{"type": "summary_text", "text": "Greeting."}], "encrypted_content": "gAAAA..."}
_MESSAGE = {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "annotations": [], "text": "Hello!"}]}

#: Section 1, "Text answer (reasoning model with summary:"auto")", event by event.
TEXT_STREAM: bytes = b"".join([
    sse("response.created", 0, response=_in_progress()),
    sse("response.in_progress", 1, response=_in_progress()),
    sse("response.output_item.added", 2, output_index=0, item={"id": "rs_1", "type": "reasoning", "summary": []}),
    sse("response.reasoning_summary_part.added", 3, item_id="rs_1", output_index=0, summary_index=0,
        part={"type": "summary_text", "text": ""}),
    sse("response.reasoning_summary_text.delta", 4, item_id="rs_1", output_index=0, summary_index=0,
        delta="Greeting."),
    sse("response.reasoning_summary_text.done", 5, item_id="rs_1", output_index=0, summary_index=0,
        text="Greeting."),
    sse("response.reasoning_summary_part.done", 6, item_id="rs_1", output_index=0, summary_index=0,
        part={"type": "summary_text", "text": "Greeting."}),
    sse("response.output_item.done", 7, output_index=0, item=_REASONING),
    sse("response.output_item.added", 8, output_index=1,
        item={"id": "msg_1", "type": "message", "status": "in_progress", "content": [], "role": "assistant"}),
    sse("response.content_part.added", 9, item_id="msg_1", output_index=1, content_index=0,
        part={"type": "output_text", "annotations": [], "text": ""}),
    sse("response.output_text.delta", 10, item_id="msg_1", output_index=1, content_index=0, delta="Hel",
        logprobs=[]),
    sse("response.output_text.delta", 11, item_id="msg_1", output_index=1, content_index=0, delta="lo!",
        logprobs=[]),
    sse("response.output_text.done", 12, item_id="msg_1", output_index=1, content_index=0, text="Hello!",
        logprobs=[]),
    sse("response.content_part.done", 13, item_id="msg_1", output_index=1, content_index=0,
        part={"type": "output_text", "annotations": [], "text": "Hello!"}),
    sse("response.output_item.done", 14, output_index=1, item=_MESSAGE),
    sse("response.completed", 15, response={**_in_progress(), "status": "completed",
                                            "output": [_REASONING, _MESSAGE], "usage": USAGE}),
])


def _call(index: int, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {"id": f"fc_{index}", "type": "function_call", "status": status,
            "arguments": arguments if status == "completed" else "", "call_id": f"call_{index}", "name": name}


#: Section 1, "Function-call answer (recorded shape)", with two parallel calls.
TOOL_STREAM: bytes = b"".join([
    sse("response.created", 0, response=_in_progress()),
    sse("response.output_item.added", 1, output_index=0, item=_call(0, "search", "", "in_progress")),
    sse("response.function_call_arguments.delta", 2, item_id="fc_0", output_index=0, delta="{"),
    sse("response.function_call_arguments.delta", 3, item_id="fc_0", output_index=0, delta="\"query"),
    sse("response.function_call_arguments.delta", 4, item_id="fc_0", output_index=0, delta="\":\"llm\"}"),
    sse("response.function_call_arguments.done", 5, item_id="fc_0", output_index=0,
        arguments="{\"query\":\"llm\"}"),
    sse("response.output_item.done", 6, output_index=0, item=_call(0, "search", "{\"query\":\"llm\"}")),
    sse("response.output_item.added", 7, output_index=1, item=_call(1, "weather", "", "in_progress")),
    sse("response.function_call_arguments.delta", 8, item_id="fc_1", output_index=1, delta="{\"city\":"),
    sse("response.function_call_arguments.delta", 9, item_id="fc_1", output_index=1, delta="\"Paris\"}"),
    sse("response.output_item.done", 10, output_index=1, item=_call(1, "weather", "{\"city\":\"Paris\"}")),
    sse("response.completed", 11, response={**_in_progress(), "status": "completed", "usage": USAGE}),
])
