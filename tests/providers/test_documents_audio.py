"""Documents (PDF), audio and provider file ids on every provider: the documented wire shapes, refusals, e2e.

Expected shapes are copied from /work/shared/reference/wire-formats-2026.md (each observed with the
provider's official SDK); the section is named beside each. A part a provider cannot take is an
InvalidRequestError naming the part and the provider, raised before FakeLLMServer sees a request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from every_client import CLIENTS  # one builder per client kind, shared with other provider tests

from llmclient import AudioPart, DocumentPart, InvalidRequestError
from llmclient.messages import ImagePart, Message, TextPart, to_messages
from llmclient.testing import FakeLLMServer

PDF = b"%PDF-1.4\n"            # base64 "JVBERi0xLjQK", the reference doc's sample
WAV = b"RIFF....WAVE"          # base64 "UklGRi4uLi5XQVZF"
PDF64, WAV64 = "JVBERi0xLjQK", "UklGRi4uLi5XQVZF"
assert base64.b64encode(PDF).decode() == PDF64 and base64.b64encode(WAV).decode() == WAV64


TAKES_AUDIO = {"openai", "openai-generic", "azure-openai", "google-ai", "vertex-gemini", "aws-bedrock"}


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


def ask(*parts: Any) -> list[Message]:
    return [Message("user", (TextPart("Summarise."), *parts))]


def user_parts(kind: str, body: dict[str, Any]) -> list[Any]:
    """The content parts of the (first) user turn, wherever the provider puts them."""
    if kind in ("google-ai", "vertex-gemini"):
        return list(body["contents"][0]["parts"])
    key = "input" if kind == "openai-responses" else "messages"
    return list(body[key][0]["content"])


def built(kind: str, server: FakeLLMServer, *parts: Any) -> list[Any]:
    request = CLIENTS[kind](server).build_request(ask(*parts), max_tokens=100)
    return user_parts(kind, json.loads(request.body))[1:]


# -- loose input ----------------------------------------------------------------------------

def test_openai_dict_forms_become_parts() -> None:
    # wire-formats-2026 section 5 (OpenAI Chat Completions request, openai 3.57.0)
    (message,) = to_messages([{"role": "user", "content": [
        {"type": "text", "text": "Summarise the file and the audio."},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
        {"type": "file", "file": {"file_id": "file-abc123"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRi4uLi5XQVZF", "format": "wav"}}]}])
    assert message.content[1:] == (
        DocumentPart(data="JVBERi0x", media_type="application/pdf", filename="a.pdf"),
        DocumentPart(file_id="file-abc123"),
        AudioPart(data="UklGRi4uLi5XQVZF", format="wav"))


@pytest.mark.parametrize("part", [{"type": "file", "file": {"filename": "a.pdf"}}, {"type": "input_audio"},
                                  {"type": "input_audio", "input_audio": {"format": "wav"}}])
def test_a_broken_dict_part_names_where(part: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.content\[0\]"):
        to_messages([{"role": "user", "content": [part]}])


def test_a_part_needs_exactly_one_source() -> None:
    with pytest.raises(InvalidRequestError, match="exactly one of data, url or file_id"):
        DocumentPart(data=PDF64, file_id="file-1")
    with pytest.raises(InvalidRequestError, match="exactly one"):
        AudioPart()
    assert PDF64 not in repr(DocumentPart(data=PDF64)) and WAV64 not in repr(AudioPart.from_bytes(WAV, "wav"))


# -- wire shapes (build_request) ---------------------------------------------------------------

@pytest.mark.parametrize("kind", ["openai", "openai-generic", "azure-openai"])
def test_openai_chat_file_and_input_audio(server: FakeLLMServer, kind: str) -> None:
    parts = built(kind, server, DocumentPart(data="JVBERi0x", media_type="application/pdf", filename="a.pdf"),
                  DocumentPart(file_id="file-abc123"), AudioPart(data=WAV64, format="wav"))
    # wire-formats-2026 section 5: file_data is a data URL, input_audio.data bare base64
    assert parts == [
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
        {"type": "file", "file": {"file_id": "file-abc123"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRi4uLi5XQVZF", "format": "wav"}}]


def test_responses_input_file(server: FakeLLMServer) -> None:
    parts = built("openai-responses", server,
                  DocumentPart(data="JVBERi0x", media_type="application/pdf", filename="a.pdf"),
                  DocumentPart(file_id="file-abc"), DocumentPart(url="https://example.com/a.pdf"))
    # wire-formats-2026 section 1 (Responses request, openai 3.57.0)
    assert parts == [
        {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"},
        {"type": "input_file", "file_id": "file-abc"},
        {"type": "input_file", "file_url": "https://example.com/a.pdf"}]


@pytest.mark.parametrize("kind", ["anthropic", "vertex-claude"])
def test_anthropic_document_blocks(server: FakeLLMServer, kind: str) -> None:
    parts = built(kind, server, DocumentPart.from_bytes(PDF, filename="a.pdf"),
                  DocumentPart(url="https://example.com/a.pdf"), DocumentPart(file_id="file_011"),
                  DocumentPart.from_bytes(b"Plain text doc.", "text/plain", filename="notes"))
    # wire-formats-2026 section 2, "Documents and citations" (anthropic 2.14.0); citations left to the caller
    assert parts == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
         "title": "a.pdf"},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {"type": "document", "source": {"type": "file", "file_id": "file_011"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Plain text doc."},
         "title": "notes"}]


@pytest.mark.parametrize("kind", ["google-ai", "vertex-gemini"])
def test_gemini_inline_data_and_file_data(server: FakeLLMServer, kind: str) -> None:
    uri = "https://generativelanguage.googleapis.com/v1beta/files/abc123"
    parts = built(kind, server, DocumentPart.from_bytes(PDF), AudioPart.from_bytes(WAV, "wav"),
                  DocumentPart(file_id=uri), AudioPart(url="gs://bucket/a.mp3"))
    # wire-formats-2026 section 3, "Media parts" (google-genai 3.6.1; canonical camelCase mimeType/fileUri)
    assert parts == [
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQK"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRi4uLi5XQVZF"}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": uri}},
        {"fileData": {"mimeType": "audio/mpeg", "fileUri": "gs://bucket/a.mp3"}}]


def test_bedrock_document_and_audio_blocks(server: FakeLLMServer) -> None:
    parts = built("aws-bedrock", server, DocumentPart.from_bytes(PDF, filename="report.pdf"),
                  DocumentPart.from_bytes(b"plain text", "text/plain", filename="notes"),
                  AudioPart.from_bytes(WAV, "wav"), DocumentPart(url="s3://bucket/a.pdf"))
    # wire-formats-2026 section 4, "Native outputConfig, adaptive thinking, documents, image, audio" (boto3 1.44.8):
    # document name is required; source is bytes | s3Location | text | content
    assert parts == [
        {"document": {"format": "pdf", "name": "report", "source": {"bytes": "JVBERi0xLjQK"}}},
        {"document": {"format": "txt", "name": "notes", "source": {"bytes": base64.b64encode(b"plain text").decode()}}},
        {"audio": {"format": "wav", "source": {"bytes": "UklGRi4uLi5XQVZF"}}},
        {"document": {"format": "pdf", "name": "document", "source": {"s3Location": {"uri": "s3://bucket/a.pdf"}}}}]


def test_bedrock_document_names_are_made_acceptable(server: FakeLLMServer) -> None:
    (part,) = built("aws-bedrock", server, DocumentPart.from_bytes(PDF, filename="Q3 report_final!!.v2.pdf"))
    assert part["document"]["name"] == "Q3 report-final---v2"


# -- refusals, before anything is sent ---------------------------------------------------------

REFUSED = [
    ("anthropic", AudioPart.from_bytes(WAV, "wav"), "Anthropic API cannot take an audio part"),
    ("vertex-claude", AudioPart.from_bytes(WAV, "wav"), "Anthropic API cannot take an audio part"),
    ("openai-responses", AudioPart.from_bytes(WAV, "wav"), "Responses API cannot take an audio part"),
    ("aws-bedrock", DocumentPart(file_id="file-abc"), r"Bedrock \(Converse\) cannot take a document part "
                                                      r"\(application/pdf, file id\)"),
    ("aws-bedrock", DocumentPart.from_bytes(b"{}", "application/json"), "document types are"),
    ("aws-bedrock", AudioPart.from_bytes(WAV, "aiff"), "audio formats are"),
    ("anthropic", DocumentPart.from_bytes(b"PK..", "application/vnd.ms-excel"), "PDF or plain text"),
    # a generic OpenAI-compatible server is never downloaded for: Chat has no file_url
    ("openai-generic", DocumentPart(url="https://example.com/a.pdf"), "Chat Completions cannot take a document"),
    ("openai-generic", AudioPart(url="https://example.com/a.wav"), r"Chat Completions cannot take an audio part"),
]


@pytest.mark.parametrize(("kind", "part", "message"), REFUSED, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(REFUSED)])
def test_a_part_a_provider_cannot_take_is_refused_before_sending(
        server: FakeLLMServer, kind: str, part: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message) as info:
        CLIENTS[kind](server).complete(ask(part), max_tokens=100)
    assert not info.value.retryable
    assert server.requests == []


# -- end to end: a PDF and an audio clip reach every provider that takes them ------------------------

def _wire_has(kind: str, parts: list[Any], what: str) -> bool:
    text = json.dumps(parts)
    return (PDF64 if what == "pdf" else WAV64) in text


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_a_pdf_and_an_audio_clip_reach_every_provider(server: FakeLLMServer, kind: str, stream: bool) -> None:
    parts: list[Any] = [DocumentPart.from_bytes(PDF, filename="a.pdf")]
    if kind in TAKES_AUDIO:
        parts.append(AudioPart.from_bytes(WAV, "wav"))
    client = CLIENTS[kind](server)
    if stream:
        with client.stream(ask(*parts), max_tokens=100) as streamed:
            for _ in streamed:
                pass
        reply = streamed.completion
    else:
        reply = client.complete(ask(*parts), max_tokens=100)
    assert reply.text
    sent = user_parts(kind, server.requests[-1].json())
    assert _wire_has(kind, sent, "pdf")
    assert _wire_has(kind, sent, "audio") == (kind in TAKES_AUDIO)


def test_images_still_render_beside_documents(server: FakeLLMServer) -> None:
    parts = built("aws-bedrock", server, ImagePart.from_bytes(b"\x89PNG", "image/png"), DocumentPart.from_bytes(PDF))
    assert [next(iter(p)) for p in parts] == ["image", "document"]
