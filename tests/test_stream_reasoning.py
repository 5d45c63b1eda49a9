"""The stream accumulator keeps reasoning parts and signatures; Completion.message is the turn to append."""

from __future__ import annotations

from llmclient.models import (
    Chunk,
    Completion,
    Message,
    RedactedThinkingPart,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolCallDelta,
)
from llmclient.stream import StreamAccumulator, chunks_of


def _accumulate(chunks: list[Chunk]) -> Completion:
    acc = StreamAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc.completion()


def test_parts_arrive_in_order_ahead_of_the_text_and_a_text_signature_joins_the_text() -> None:
    thought = ThinkingPart("plan", signature="c2ln", source="anthropic")
    done = _accumulate([Chunk(thinking="pl"), Chunk(thinking="an"), Chunk(parts=(thought,)),
                        Chunk(parts=(RedactedThinkingPart("AAA", "anthropic"),)), Chunk(text="Hel"),
                        Chunk(text="lo", parts=(TextPart("", signature="dGV4dA==", source="google-ai"),))])
    assert done.thinking == "plan" and done.text == "Hello"
    assert done.parts == (thought, RedactedThinkingPart("AAA", "anthropic"),
                          TextPart("Hello", signature="dGV4dA==", source="google-ai"))
    assert done.message == Message("assistant", done.parts)


def test_a_call_keeps_its_signature_and_a_plain_stream_has_no_parts() -> None:
    done = _accumulate([Chunk(tool_calls=(ToolCallDelta(0, "c1", "f", '{"a":', signature="c2ln", source="google-ai"),)),
                        Chunk(tool_calls=(ToolCallDelta(0, arguments=" 1}"),))])
    assert done.tool_calls == (ToolCall("c1", "f", {"a": 1}, '{"a": 1}', signature="c2ln", source="google-ai"),)
    plain = _accumulate([Chunk(text="hi")])
    assert plain.parts == () and plain.message == Message("assistant", "hi")


def test_a_finished_completion_replayed_as_chunks_keeps_its_state() -> None:
    """What a client that cannot stream, or a JSON body where a stream was expected, goes through."""
    completion = Completion(text="ok", thinking="plan",
                            parts=(ThinkingPart("plan", "c2ln", "aws-bedrock"), TextPart("ok")),
                            tool_calls=(ToolCall("c1", "f", {}, "{}", signature="s", source="google-ai"),))
    again = _accumulate(list(chunks_of(completion)))
    assert again.parts == completion.parts and again.tool_calls == completion.tool_calls
