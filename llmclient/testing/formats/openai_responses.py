"""OpenAI's Responses API (``POST <anything>/responses``), as the fake server speaks it.

Shapes follow ``wire-formats-2026.md`` section 1: a ``response`` object whose ``output`` holds a
``reasoning`` item (when the request has ``reasoning``; its summary when ``reasoning.summary``
asks for one), then a ``message`` with one ``output_text`` part or a ``function_call``; streams
of typed events (``event:`` equal to ``data.type``, a ``sequence_number`` on each) ending
after ``response.completed`` or ``response.incomplete``, with no ``[DONE]``; errors in the
Chat Completions shape; a stream that fails after its 200 gets the flat ``error`` event.
Azure's Responses routes (``/openai/v1/responses``, ``/openai/responses``) end the same way
and are served here too, with ``api-key`` or bearer auth.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from llmclient.testing.formats.base import CONTEXT_WINDOW, CallError, FakeCall, RecordedRequest, Reply, count_words
from llmclient.testing.formats.openai import OpenAIFormat
from llmclient.testing.formats.structured import requested_schema

__all__ = ["OpenAIResponsesFormat"]

_COMPACT = (",", ":")


def _text_of(content: Any) -> str:
    """The text of an input message's ``content``: a string, or its ``input_text``/``output_text`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part["text"] for part in content if isinstance(part, dict)
                        and part.get("type") in ("input_text", "output_text", "text")
                        and isinstance(part.get("text"), str))
    return ""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=_COMPACT)


class OpenAIResponsesFormat(OpenAIFormat):
    """``POST <anything>/responses`` with ``Authorization: Bearer KEY`` (or Azure's ``api-key: KEY``)."""

    name: ClassVar[str] = "openai-responses"

    def route(self, method: str, path: str) -> bool:
        """Any path ending in ``/responses``."""
        return method == "POST" and path.endswith("/responses")

    def authenticate(self, request: RecordedRequest, api_key: str) -> bool:
        """Require ``Authorization: Bearer <api_key>`` or ``api-key: <api_key>``."""
        return hmac.compare_digest(request.headers.get("api-key", ""), api_key) or super().authenticate(
            request, api_key)

    def parse(self, request: RecordedRequest, seq: int) -> FakeCall:
        """Decode a Responses body; 400 for bad JSON or a missing ``input``."""
        try:
            body = json.loads(request.body)
        except ValueError:
            raise CallError(400, "We could not parse the JSON body of your request.", "invalid_request_error") \
                from None
        if not isinstance(body, dict):
            raise CallError(400, "The request body must be a JSON object.", "invalid_request_error")
        given = body.get("input")
        if not isinstance(given, (str, list)):
            raise CallError(400, "Missing required parameter: 'input'.", "invalid_request_error",
                            "missing_required_parameter")
        items = [{"role": "user", "content": given}] if isinstance(given, str) else given
        instructions = body.get("instructions")
        texts = [instructions] if isinstance(instructions, str) and instructions else []
        prompt = ""
        for item in items:
            if not isinstance(item, dict):
                continue
            if item.get("type") == "function_call_output":
                texts.append(_text_of(item.get("output")))
            elif item.get("type") in (None, "message"):
                text = _text_of(item.get("content"))
                texts.append(text)
                if item.get("role") == "user":
                    prompt = text
        tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
        choice = body.get("tool_choice")
        choice_name = None
        if isinstance(choice, dict):
            choice_name, choice = choice.get("name"), "required"
        json_mode, json_schema = requested_schema(body, "openai-responses")
        model = body.get("model") if isinstance(body.get("model"), str) else ""
        max_tokens = body.get("max_output_tokens")
        return FakeCall(
            seq=seq, model=str(model), stream=body.get("stream") is True, prompt=prompt,
            prompt_tokens=sum(count_words(t) for t in texts), messages=items,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            tool_names=tuple(str(t.get("name", "")) for t in tools),
            tool_choice=choice if isinstance(choice, str) else None,
            tool_choice_name=choice_name if isinstance(choice_name, str) else None,
            json_mode=json_mode, json_schema=json_schema,
            include_usage=True, body=body, models=(str(model),), received_at=request.received_at)

    # -- the answer's pieces --------------------------------------------------------------------
    def _summary(self, call: FakeCall) -> str | None:
        """The reasoning summary, when the request asks for reasoning with a summary; "" without one."""
        reasoning = call.body.get("reasoning")
        if not isinstance(reasoning, dict) or reasoning.get("effort") == "none":
            return None
        return f"Thinking about: {call.prompt}" if reasoning.get("summary") else ""

    def _reasoning_item(self, call: FakeCall, summary: str) -> dict[str, Any]:
        parts = [{"type": "summary_text", "text": summary}] if summary else []
        return {"id": f"rs_fake{call.seq}", "type": "reasoning", "summary": parts,
                "encrypted_content": f"gAAAA-fake-{call.seq}", "status": None}

    def _answer_item(self, call: FakeCall, reply: Reply) -> dict[str, Any]:
        if reply.tool_name is not None:
            return {"id": f"fc_fake{call.seq}", "type": "function_call", "status": "completed",
                    "call_id": f"call_fake{call.seq}", "name": reply.tool_name, "arguments": reply.tool_arguments}
        return {"id": f"msg_fake{call.seq}", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}]}

    def _response(self, call: FakeCall, reply: Reply, output: list[Any], *, final: bool) -> dict[str, Any]:
        """The response object: in progress (no output, no usage) or final."""
        body = call.body
        summary = self._summary(call)
        reasoning_tokens = count_words(summary or "") if summary is not None else 0
        status = "in_progress"
        if final:
            status = "incomplete" if reply.finish_reason == "length" else "completed"
        out: dict[str, Any] = {
            "id": f"resp_fake{call.seq}", "object": "response", "created_at": int(time.time()), "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "model": call.model, "output": output if final else [], "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "store": body.get("store", True), "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [], "usage": None}
        if final:
            output_tokens = reply.completion_tokens + reasoning_tokens
            out["usage"] = {"input_tokens": reply.prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
                            "output_tokens": output_tokens,
                            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
                            "total_tokens": reply.prompt_tokens + output_tokens}
        return out

    def _output(self, call: FakeCall, reply: Reply) -> list[dict[str, Any]]:
        summary = self._summary(call)
        head = [] if summary is None else [self._reasoning_item(call, summary)]
        return [*head, self._answer_item(call, reply)]

    def render_json(self, call: FakeCall, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        """A ``response`` object (``incomplete`` with ``max_output_tokens`` when the answer was cut)."""
        body = self._response(call, reply, self._output(call, reply), final=True)
        return 200, self._headers(call.seq, call.received_at, "application/json"), _dumps(body).encode()

    def render_stream(self, call: FakeCall, reply: Reply) -> Iterator[bytes]:
        """created, in_progress, [the reasoning item's events], the answer item's events, completed."""
        seq = 0

        def event(kind: str, payload: dict[str, Any]) -> bytes:
            nonlocal seq
            data = _dumps({"type": kind, "sequence_number": seq, **payload})
            seq += 1
            return f"event: {kind}\ndata: {data}\n\n".encode()

        yield event("response.created", {"response": self._response(call, reply, [], final=False)})
        yield event("response.in_progress", {"response": self._response(call, reply, [], final=False)})
        output = self._output(call, reply)
        index = 0
        if len(output) == 2:
            item = output[0]
            yield event("response.output_item.added", {"output_index": 0, "item": {**item, "summary": []}})
            for i, part in enumerate(item["summary"]):
                where = {"item_id": item["id"], "output_index": 0, "summary_index": i}
                yield event("response.reasoning_summary_part.added", {**where, "part": {**part, "text": ""}})
                yield event("response.reasoning_summary_text.delta", {**where, "delta": part["text"]})
                yield event("response.reasoning_summary_text.done", {**where, "text": part["text"]})
                yield event("response.reasoning_summary_part.done", {**where, "part": part})
            yield event("response.output_item.done", {"output_index": 0, "item": item})
            index = 1
        item = output[index]
        if reply.tool_name is not None:
            yield event("response.output_item.added", {"output_index": index,
                                                       "item": {**item, "status": "in_progress", "arguments": ""}})
            where = {"item_id": item["id"], "output_index": index}
            yield from self._deltas("response.function_call_arguments.delta", where, reply.chunks, seq)
            seq += len(reply.chunks)
            yield event("response.function_call_arguments.done", {**where, "arguments": item["arguments"]})
        else:
            yield event("response.output_item.added", {"output_index": index,
                                                       "item": {**item, "status": "in_progress", "content": []}})
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            empty = {"type": "output_text", "annotations": [], "text": ""}
            yield event("response.content_part.added", {**where, "part": empty})
            yield from self._deltas("response.output_text.delta", where, reply.chunks, seq)
            seq += len(reply.chunks)
            yield event("response.output_text.done", {**where, "text": reply.text, "logprobs": []})
            yield event("response.content_part.done", {**where, "part": item["content"][0]})
        yield event("response.output_item.done", {"output_index": index, "item": item})
        final = self._response(call, reply, output, final=True)
        yield event(f"response.{final['status']}", {"response": final})

    def _deltas(self, kind: str, where: dict[str, Any], pieces: tuple[str, ...], first: int) -> Iterator[bytes]:
        """The delta events, from a template (benchmarks and load tests stream thousands)."""
        head = f'event: {kind}\ndata: {{"type":"{kind}","sequence_number":'
        tail = "," + _dumps(where)[1:-1] + ',"delta":'
        dumps = json.dumps
        for i, piece in enumerate(pieces):
            yield f"{head}{first + i}{tail}{dumps(piece)}}}\n\n".encode()

    def error_event(self, error_type: str, message: str) -> bytes:
        """The flat ``error`` event (``{"type": "error", "code", "message", "param"}``) of a failing stream
        (``Fault.context_window(in_stream=True)``: the one wire-formats-2026 section 8 recorded)."""
        if error_type == CONTEXT_WINDOW:
            error_type, message = "context_length_exceeded", ("Your input exceeds the context window of this "
                                                              "model. Please adjust your input and try again.")
        body = _dumps({"type": "error", "code": error_type, "message": message or error_type, "param": None})
        return f"event: error\ndata: {body}\n\n".encode()

    def malformed_event(self, call: FakeCall) -> bytes:
        """A text delta whose JSON is cut off."""
        return b'event: response.output_text.delta\ndata: {"type":"response.output_text.del\n\n'
