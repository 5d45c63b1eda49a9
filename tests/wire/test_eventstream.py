"""The AWS event-stream framing: the recorded example frame, any split of the bytes, corruption, truncation."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from llmclient.errors import ProviderError
from llmclient.testing.formats.bedrock import encode_frame, event_frame, exception_frame
from llmclient.wire.eventstream import EventFrame, EventStreamDecoder

# The contentBlockDelta example of wire-formats.md section 4 (text "Hi", no padding, 152 bytes).
EXAMPLE_HEX = (
    "00000098 00000057 715b77ef 0b3a6576656e742d74797065 07 0011 636f6e74656e74426c6f636b44656c7461 "
    "0d3a636f6e74656e742d74797065 07 0010 6170706c69636174696f6e2f6a736f6e 0d3a6d6573736167652d74797065 07 0005 "
    "6576656e74 7b22636f6e74656e74426c6f636b496e646578223a20302c202264656c7461223a207b2274657874223a20224869227d7d "
    "28f0287b"
)
EXAMPLE = bytes.fromhex(EXAMPLE_HEX.replace(" ", ""))


def _stream() -> bytes:
    return b"".join([
        event_frame("messageStart", {"role": "assistant"}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " world"}}),
        event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        event_frame("messageStop", {"stopReason": "end_turn"}),
        event_frame("metadata", {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}}),
    ])


def _decode(pieces: list[bytes]) -> list[EventFrame]:
    decoder = EventStreamDecoder()
    frames: list[EventFrame] = []
    for piece in pieces:
        frames.extend(decoder.feed(piece))
    frames.extend(decoder.finish())
    return frames


def test_the_recorded_example_frame_decodes() -> None:
    assert len(EXAMPLE) == 152
    (frame,) = _decode([EXAMPLE])
    assert frame.message_type == "event"
    assert frame.event_type == "contentBlockDelta"
    assert frame.headers[":content-type"] == "application/json"
    assert json.loads(frame.payload) == {"contentBlockIndex": 0, "delta": {"text": "Hi"}}


def test_the_test_encoder_reproduces_the_recorded_frame_byte_for_byte() -> None:
    payload = b'{"contentBlockIndex": 0, "delta": {"text": "Hi"}}'
    headers = {":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}
    assert encode_frame(headers, payload) == EXAMPLE


def test_whole_byte_by_byte_and_random_splits_give_the_same_frames() -> None:
    data = _stream()
    whole = _decode([data])
    assert [f.event_type for f in whole] == ["messageStart", "contentBlockDelta", "contentBlockDelta",
                                             "contentBlockStop", "messageStop", "metadata"]
    assert _decode([data[i:i + 1] for i in range(len(data))]) == whole
    rng = random.Random(7)
    for _ in range(25):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 12)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert _decode(pieces) == whole


def test_empty_feeds_are_harmless() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(b"") == []
    assert decoder.finish() == []


@pytest.mark.parametrize("position", [1, 9, 20, 100, 151])
def test_a_corrupted_byte_raises_a_typed_error(position: int) -> None:
    corrupted = bytearray(EXAMPLE)
    corrupted[position] ^= 0x01
    with pytest.raises(ProviderError) as info:
        _decode([bytes(corrupted)])
    assert "corrupted event-stream frame" in info.value.message


def test_a_body_that_ends_inside_a_frame_raises() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(EXAMPLE + EXAMPLE[:40]) != []
    with pytest.raises(ProviderError, match="ended inside a frame"):
        decoder.finish()


def test_unknown_payload_members_reach_the_caller_untouched() -> None:
    (frame,) = _decode([event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}})])
    payload = json.loads(frame.payload)
    assert payload["delta"] == {"text": "x"} and "p" in payload  # the padding is the caller's to ignore


def test_exception_frames_carry_their_type() -> None:
    (frame,) = _decode([exception_frame("throttlingException", "slow down")])
    assert frame.message_type == "exception"
    assert frame.headers[":exception-type"] == "throttlingException"
    assert json.loads(frame.payload) == {"message": "slow down"}


def test_importing_llmclient_does_not_import_botocore() -> None:
    code = ("import sys, llmclient, llmclient.providers.bedrock, llmclient.wire.eventstream, "
            "llmclient.providers.vertex; print('botocore' in sys.modules, 'jwt' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
