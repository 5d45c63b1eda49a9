"""Tests for llmclient.wire.sse: every WHATWG rule, then real recorded provider streams.

Each recorded stream must decode to the same events whole, byte by byte, at random split
points, and with its line ends rewritten as CRLF or CR.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from llmclient.wire.sse import ServerSentEvent, SSEDecoder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
OPENAI_FILES = sorted((FIXTURES / "openai").glob("*.sse"))
ANTHROPIC_FILES = sorted((FIXTURES / "anthropic").glob("*.sse"))
ALL_FILES = OPENAI_FILES + ANTHROPIC_FILES


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def decode(chunks: Iterable[bytes], *, flush: bool = True) -> list[ServerSentEvent]:
    """Feed every chunk to a fresh decoder, then flush (unless told not to)."""
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    if flush:
        events.extend(decoder.finish())
    return events


def byte_by_byte(raw: bytes) -> list[bytes]:
    return [raw[i : i + 1] for i in range(len(raw))]


def split_at(raw: bytes, points: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted(points), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(bounds)]


def ev(data: str, event: str = "message", id: str | None = None, retry: int | None = None) -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data, id=id, retry=retry)


def reference_decode(raw: bytes) -> list[ServerSentEvent]:
    """A deliberately naive, line-at-a-time WHATWG decoder used as an oracle.

    It decodes the whole body at once, so it cannot share the real decoder's chunking bugs.
    """
    text = raw.decode("utf-8", "replace").removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)
    lines.append("")  # lenient end of body, like SSEDecoder.flush
    events: list[ServerSentEvent] = []
    event, last_id, retry = "", None, None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                events.append(ev("\n".join(data), event or "message", last_id, retry))
            event, data, retry = "", [], None
            continue
        if line.startswith(":"):
            continue
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field == "id" and "\0" not in value:
            last_id = value
        elif field == "retry" and re.fullmatch(r"[0-9]+", value):
            retry = int(value)
    return events


# ---------------------------------------------------------------------------- the event value


def test_events_compare_by_every_field() -> None:
    # Every other test relies on this equality, so it must see each field.
    base = ServerSentEvent("e", "d", "1", 5)
    assert base == ServerSentEvent("e", "d", "1", 5)
    assert base != ServerSentEvent("x", "d", "1", 5)
    assert base != ServerSentEvent("e", "x", "1", 5)
    assert base != ServerSentEvent("e", "d", None, 5)
    assert base != ServerSentEvent("e", "d", "1", None)
    assert base != ("e", "d", "1", 5)
    assert (base.event, base.data, base.id, base.retry) == ("e", "d", "1", 5)
    assert repr(base) == "ServerSentEvent(event='e', data='d', id='1', retry=5)"


# ---------------------------------------------------------------------------- line ends


@pytest.mark.parametrize(
    "raw",
    [
        b"data: a\n\ndata: b\n\n",
        b"data: a\r\n\r\ndata: b\r\n\r\n",
        b"data: a\r\rdata: b\r\r",
    ],
    ids=["LF", "CRLF", "CR"],
)
def test_line_end_styles(raw: bytes) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(raw) == [ev("a"), ev("b")]
    assert decoder.finish() == []


def test_mixed_line_ends_in_one_stream() -> None:
    assert decode([b"data: a\r\ndata: b\rdata: c\n\r\n"]) == [ev("a\nb\nc")]


def test_crlf_split_across_feeds_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # Had the LF counted as a second line end, "a" would be dispatched here.
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == [ev("a\nb")]
    assert decoder.feed(b"\n") == []
    assert decoder.finish() == []


def test_cr_at_end_of_chunk_ends_the_line_without_waiting() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r\r") == [ev("a")]
    assert decoder.feed(b"data: b\r") == []
    assert decoder.feed(b"\r") == [ev("b")]


def test_cr_then_lone_lf_chunk_then_more() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # An empty feed changes nothing, not even the pending CR.
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [ev("a")]


def test_lf_after_cr_only_skipped_once() -> None:
    assert decode([b"data: a\r", b"\n\ndata: b\n\n"]) == [ev("a"), ev("b")]


# ---------------------------------------------------------------------------- fields


def test_comments_are_ignored() -> None:
    raw = b": keep-alive\ndata: a\n:another\n\n:\n\n"
    assert decode([raw]) == [ev("a")]


def test_multi_line_data_joined_with_newline() -> None:
    assert decode([b"data: one\ndata: two\ndata:\ndata: four\n\n"]) == [ev("one\ntwo\n\nfour")]


def test_event_name_applies_to_one_event_only() -> None:
    raw = b"event: ping\ndata: {}\n\ndata: x\n\nevent:\ndata: y\n\n"
    assert decode([raw]) == [ev("{}", "ping"), ev("x"), ev("y")]


def test_event_name_resets_on_blank_line_even_without_data() -> None:
    assert decode([b"event: lost\n\ndata: x\n\n"]) == [ev("x")]


def test_id_persists_across_events_and_can_be_cleared() -> None:
    raw = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\nid\ndata: d\n\n"
    assert decode([raw]) == [
        ev("a", id="1"),
        ev("b", id="1"),
        ev("c", id="2"),
        ev("d", id=""),
    ]


def test_id_with_nul_is_ignored() -> None:
    assert decode([b"id: 7\ndata: a\n\nid: 8\x009\ndata: b\n\n"]) == [
        ev("a", id="7"),
        ev("b", id="7"),
    ]


def test_no_id_field_means_none() -> None:
    (event,) = decode([b"data: a\n\n"])
    assert event.id is None
    assert event.retry is None
    assert event.event == "message"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"retry: 3000", 3000),
        (b"retry:0", 0),
        (b"retry: 30s", None),
        (b"retry: -5", None),
        (b"retry: 1.5", None),
        (b"retry:", None),
        (b"retry:  10", None),  # only one space is stripped; " 10" is not all digits
        ("retry: \u0663".encode(), None),  # Arabic-Indic digit: a digit, but not ASCII
    ],
)
def test_retry_only_when_all_ascii_digits(line: bytes, expected: int | None) -> None:
    (event,) = decode([line + b"\ndata: a\n\n"])
    assert event.retry == expected


def test_retry_belongs_to_its_event_only() -> None:
    assert decode([b"retry: 5\ndata: a\n\ndata: b\n\n"]) == [ev("a", retry=5), ev("b")]


def test_field_without_colon_has_empty_value() -> None:
    assert decode([b"data\n\n"]) == [ev("")]
    assert decode([b"data\ndata\n\n"]) == [ev("\n")]
    assert decode([b"event\ndata: x\n\n"]) == [ev("x")]


def test_only_one_leading_space_is_stripped() -> None:
    raw = b"data:no-space\ndata: one\ndata:  two\ndata:\tthree\ndata: trailing \n\n"
    assert decode([raw]) == [ev("no-space\none\n two\n\tthree\ntrailing ")]


def test_colon_in_value_is_kept() -> None:
    assert decode([b'data: {"a": "b:c"}\n\n']) == [ev('{"a": "b:c"}')]


def test_unknown_fields_are_ignored_by_default() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"foo: bar\nData: x\ndata: a\n\n") == [ev("a")]
    assert decoder.stray_lines == []


# ---------------------------------------------------------------------------- encoding


def test_bom_at_stream_start_is_dropped() -> None:
    assert decode([b"\xef\xbb\xbfdata: a\n\n"]) == [ev("a")]


def test_bom_split_across_feeds_is_dropped() -> None:
    assert decode(byte_by_byte(b"\xef\xbb\xbfdata: a\n\n")) == [ev("a")]
    assert decode([b"\xef", b"\xbb\xbfevent: e\ndata: a\n\n"]) == [ev("a", "e")]


def test_bom_later_in_stream_is_kept() -> None:
    # Only the stream's first bytes may be a BOM; later a BOM makes "\ufeffdata" a new field.
    decoder = SSEDecoder(keep_stray_lines=True)
    assert decoder.feed(b"data: a\n\n\xef\xbb\xbfdata: b\n\n") == [ev("a")]
    assert decoder.stray_lines == ["\ufeffdata: b"]


def test_bom_only_once() -> None:
    assert decode([b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n"]) == [ev("b")]


def test_utf8_character_split_across_feeds() -> None:
    raw = "data: h\u00e9llo \u20ac \U0001f600\n\n".encode()
    assert decode(byte_by_byte(raw)) == [ev("h\u00e9llo \u20ac \U0001f600")]


def test_invalid_utf8_is_replaced() -> None:
    assert decode([b"data: a\xffb\n\n"]) == [ev("a\ufffdb")]


# ---------------------------------------------------------------------------- dispatch and flush


@pytest.mark.parametrize("raw", [b"", b"\n", b"\n\n\n", b"\r\n\r\n", b"\r\r", b": c\n\n"])
def test_blank_only_input_gives_no_events(raw: bytes) -> None:
    assert decode([raw]) == []
    assert decode(byte_by_byte(raw)) == []


def test_event_is_emitted_only_when_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [ev("a")]


def test_flush_processes_final_line_without_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: done\ndata: last") == []
    assert decoder.finish() == [ev("last", "done")]


def test_flush_dispatches_pending_data_without_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\ndata: b\n") == []
    assert decoder.finish() == [ev("a\nb")]


def test_flush_without_pending_data_emits_nothing() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\nevent: orphan\nid: 3") == [ev("a")]
    assert decoder.finish() == []


def test_flush_resets_the_decoder() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 1\nevent: x\ndata: a") == []
    assert decoder.finish() == [ev("a", "x", id="1")]
    assert decoder.finish() == []
    # A new stream: no leftover id, event type or bytes, and its BOM is dropped again.
    assert decoder.feed(b"\xef\xbb\xbfdata: b\n\n") == [ev("b")]


def test_flush_after_trailing_cr_does_not_duplicate() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.finish() == [ev("a")]


# ---------------------------------------------------------------------------- one event per chunk


def test_state_from_earlier_chunks_applies_to_single_event_chunk() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: delta\nid: 9\nretry: 50\n") == []
    assert decoder.feed(b"data: a\n\n") == [ev("a", "delta", id="9", retry=50)]
    assert decoder.feed(b"data: b\n\n") == [ev("b", id="9")]


def test_single_event_chunk_after_pending_data_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"data: b\n\n") == [ev("a\nb")]


def test_single_event_chunk_after_partial_line() -> None:
    decoder = SSEDecoder(keep_stray_lines=True)
    assert decoder.feed(b"xx") == []
    assert decoder.feed(b"data: a\n\n") == []
    assert decoder.stray_lines == ["xxdata: a"]


def test_chunk_ending_in_partial_line_is_not_an_event_yet() -> None:
    decoder = SSEDecoder(keep_stray_lines=True)
    assert decoder.feed(b"data: a\nb") == []
    assert decoder.feed(b"\n\n") == [ev("a")]
    assert decoder.stray_lines == ["b"]


def test_single_event_chunk_with_cr_inside() -> None:
    decoder = SSEDecoder(keep_stray_lines=True)
    assert decoder.feed(b"data: a\rb\n\n") == [ev("a")]
    assert decoder.stray_lines == ["b"]


@pytest.mark.parametrize("path", OPENAI_FILES, ids=_id)
def test_recorded_stream_one_event_per_chunk(path: Path) -> None:
    # What a server flushing after each event delivers: the decoder's common case.
    raw = path.read_bytes()
    chunks = [part + b"\n\n" for part in raw.split(b"\n\n") if part]
    assert b"".join(chunks) == raw
    assert decode(chunks) == decode([raw])


# ---------------------------------------------------------------------------- stray lines


def test_keep_stray_lines_collects_raw_json_error_in_order() -> None:
    # Gemini can send a mid-stream error as bare JSON, outside any data: field.
    error = (
        "[{\n"
        '  "error": {\n'
        '    "code": 503,\n'
        '    "message": "The model is overloaded.",\n'
        '    "status": "UNAVAILABLE"\n'
        "  }\n"
        "}\n"
        "]\n"
    )
    raw = b'data: {"a": 1}\r\n\r\n' + error.encode() + b"data: after\n\n"
    for chunks in ([raw], byte_by_byte(raw)):
        decoder = SSEDecoder(keep_stray_lines=True)
        events = [e for chunk in chunks for e in decoder.feed(chunk)]
        events += decoder.finish()
        assert events == [ev('{"a": 1}'), ev("after")]
        assert decoder.stray_lines == error.splitlines()
        assert json.loads("\n".join(decoder.stray_lines))[0]["error"]["code"] == 503


def test_stray_lines_exclude_comments_known_fields_and_blanks() -> None:
    decoder = SSEDecoder(keep_stray_lines=True)
    raw = b": c\nevent: e\nid: 1\nretry: 2\ndata: d\nfoo: bar\nnocolon\n\n"
    assert decoder.feed(raw) == [ev("d", "e", id="1", retry=2)]
    assert decoder.stray_lines == ["foo: bar", "nocolon"]


def test_stray_final_line_is_kept_at_flush() -> None:
    decoder = SSEDecoder(keep_stray_lines=True)
    assert decoder.feed(b"data: a\n\n}") == [ev("a")]
    assert decoder.finish() == []
    assert decoder.stray_lines == ["}"]


# ---------------------------------------------------------------------------- every boundary

SYNTHETIC = (
    "\ufeff: hello\r\n"
    "event: greeting\r\n"
    "id: 42\r\n"
    "retry: 1000\r\n"
    "data: h\u00e9llo\r\n"
    "data:  \U0001f600\r\n"
    "\r\n"
    "data\r"
    "\r"
    "data: next\n"
    "\n"
    "id: 4\x002\n"
    "data: last"
).encode()

SYNTHETIC_EVENTS = [
    ev("h\u00e9llo\n \U0001f600", "greeting", id="42", retry=1000),
    ev("", id="42"),
    ev("next", id="42"),
    ev("last", id="42"),
]


def test_synthetic_stream_matches_reference() -> None:
    assert reference_decode(SYNTHETIC) == SYNTHETIC_EVENTS
    assert decode([SYNTHETIC]) == SYNTHETIC_EVENTS


@pytest.mark.parametrize("cut", range(len(SYNTHETIC) + 1))
def test_synthetic_stream_split_at_every_boundary(cut: int) -> None:
    assert decode(split_at(SYNTHETIC, [cut])) == SYNTHETIC_EVENTS


def test_synthetic_stream_byte_by_byte() -> None:
    assert decode(byte_by_byte(SYNTHETIC)) == SYNTHETIC_EVENTS


# ---------------------------------------------------------------------------- recorded streams


def _assert_openai_content(events: list[ServerSentEvent], raw: bytes) -> None:
    assert len(events) == raw.count(b"data: ")
    assert events[-1].data == "[DONE]"
    for event in events[:-1]:
        assert event.event == "message"
        assert json.loads(event.data)["object"] == "chat.completion.chunk"


def _assert_anthropic_content(events: list[ServerSentEvent], raw: bytes) -> None:
    assert len(events) == raw.count(b"event: ")
    assert events[0].event == "message_start"
    assert events[-1].event == "message_stop"
    for event in events:
        assert event.event == json.loads(event.data)["type"]


def _assert_content(path: Path, events: list[ServerSentEvent], raw: bytes) -> None:
    assert all(e.id is None and e.retry is None for e in events)
    if path.parent.name == "openai":
        _assert_openai_content(events, raw)
    else:
        _assert_anthropic_content(events, raw)


def test_fixtures_are_present() -> None:
    assert len(OPENAI_FILES) == 12
    assert len(ANTHROPIC_FILES) == 7


@pytest.mark.parametrize("path", ALL_FILES, ids=_id)
def test_recorded_stream_whole(path: Path) -> None:
    raw = path.read_bytes()
    events = decode([raw])
    _assert_content(path, events, raw)
    assert events == reference_decode(raw)


@pytest.mark.parametrize("path", ALL_FILES, ids=_id)
def test_recorded_stream_byte_by_byte(path: Path) -> None:
    raw = path.read_bytes()
    assert decode(byte_by_byte(raw)) == decode([raw])


@pytest.mark.parametrize("path", ALL_FILES, ids=_id)
def test_recorded_stream_random_splits(path: Path) -> None:
    raw = path.read_bytes()
    expected = decode([raw])
    rng = random.Random(path.name)
    points = [rng.randrange(len(raw) + 1) for _ in range(20)]
    for point in points:
        assert decode(split_at(raw, [point])) == expected, f"split at {point}"
    assert decode(split_at(raw, points)) == expected


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"], ids=["CRLF", "CR"])
@pytest.mark.parametrize("path", ALL_FILES, ids=_id)
def test_recorded_stream_other_line_ends(path: Path, newline: bytes) -> None:
    raw = path.read_bytes()
    assert b"\r" not in raw
    expected = decode([raw])
    rewritten = raw.replace(b"\n", newline)
    assert decode([rewritten]) == expected
    assert decode(byte_by_byte(rewritten)) == expected
    rng = random.Random(path.name)
    points = [rng.randrange(len(rewritten) + 1) for _ in range(20)]
    assert decode(split_at(rewritten, points)) == expected


def test_anthropic_stream_without_final_newline_needs_flush() -> None:
    # Recorded bodies may end right after the last data line: flush must deliver it.
    path = FIXTURES / "anthropic" / "basic_response.sse"
    raw = path.read_bytes()
    assert not raw.endswith(b"\n")
    without_flush = decode([raw], flush=False)
    with_flush = decode([raw])
    assert len(with_flush) == len(without_flush) + 1
    assert with_flush[-1].event == "message_stop"
