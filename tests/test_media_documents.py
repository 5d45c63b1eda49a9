"""Document (PDF) and audio URLs under BAML's media_url_handler: downloaded by kind (``pdf``, ``audio``) and inlined.

A small file server on 127.0.0.1 records each download; the provider is FakeLLMServer. Nothing
here reaches another host.
"""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import llmclient
from llmclient import AudioPart, DocumentPart, InvalidRequestError
from llmclient.messages import ChatRequest, Message, TextPart
from llmclient.testing import FakeLLMServer

PDF, WAV = b"%PDF-1.4\n" + b"0" * 200, b"RIFF....WAVE" + b"1" * 200
AK, SK = "AKIDMEDIADOCS", "media-docs-secret-DISTINCTIVE"
FILES = {"/a.pdf": (PDF, "application/pdf"), "/a.wav": (WAV, "audio/wav"), "/blob": (PDF, "application/octet-stream")}


class _FileServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, str]] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _FileServer

    def log_message(self, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        body, kind = FILES.get(self.path, (b"", "text/plain"))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def files() -> Iterator[_FileServer]:
    server = _FileServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


def at(files: _FileServer, path: str) -> str:
    return f"http://127.0.0.1:{files.server_address[1]}{path}"


def ask(*parts: Any) -> list[Message]:
    return [Message("user", (TextPart("Summarise."), *parts))]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def bedrock(server: FakeLLMServer, **options: Any) -> Any:
    return llmclient.BedrockClient("anthropic.claude-3-haiku", region="us-east-1", endpoint_url=server.url,
                                   access_key_id=AK, secret_access_key=SK, **options)


def test_bedrock_gets_document_and_audio_urls_as_bytes_without_credentials(
        server: FakeLLMServer, files: _FileServer) -> None:
    bedrock(server).complete(ask(DocumentPart(url=at(files, "/a.pdf")), AudioPart(url=at(files, "/a.wav"))))
    sent = server.requests[-1].json()["messages"][0]["content"][1:]
    assert sent == [{"document": {"format": "pdf", "name": "a", "source": {"bytes": b64(PDF)}}},
                    {"audio": {"format": "wav", "source": {"bytes": b64(WAV)}}}]
    assert len(files.seen) == 2
    for download in files.seen:
        assert not {"authorization", "x-amz-date", "x-amz-security-token", "x-api-key", "cookie"} & set(download)
        assert AK not in str(download) and SK not in str(download)


def test_openai_chat_gets_a_document_url_downloaded_by_default(server: FakeLLMServer, files: _FileServer) -> None:
    client = llmclient.OpenAIClient("gpt-5.2", api_key="sk-media-docs-123456", base_url=server.openai_base_url)
    client.complete(ask(DocumentPart(url=at(files, "/a.pdf")), AudioPart(url=at(files, "/a.wav"))))
    sent = server.requests[-1].json()["messages"][0]["content"][1:]
    pdf_url = "data:application/pdf;base64," + b64(PDF)
    assert sent == [{"type": "file", "file": {"filename": "a.pdf", "file_data": pdf_url}},
                    {"type": "input_audio", "input_audio": {"data": b64(WAV), "format": "wav"}}]


def test_anthropic_inlines_a_pdf_url_by_default(server: FakeLLMServer, files: _FileServer) -> None:
    llmclient.AnthropicClient("claude-sonnet-4-6", api_key="k", base_url=server.url).complete(
        ask(DocumentPart(url=at(files, "/blob"))), max_tokens=50)
    (block,) = server.requests[-1].json()["messages"][0]["content"][1:]
    assert block == {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                     "data": b64(PDF)}, "title": "blob"}


def test_gemini_keeps_urls_and_vertex_adds_the_audio_type_without_a_download(
        server: FakeLLMServer, files: _FileServer) -> None:
    llmclient.GoogleAIClient("gemini-3-pro", api_key="k", base_url=server.url + "/v1beta").complete(
        ask(DocumentPart(url=at(files, "/a.pdf"))))
    assert server.requests[-1].json()["contents"][0]["parts"][1] == {
        "fileData": {"mimeType": "application/pdf", "fileUri": at(files, "/a.pdf")}}
    llmclient.VertexAIClient("gemini-3-pro", location="us-central1", project_id="p", authorization="t",
                             base_url=server.url).complete(ask(AudioPart(url="https://h/clip.mp3?sig=1")))
    assert server.requests[-1].json()["contents"][0]["parts"][1] == {
        "fileData": {"mimeType": "audio/mp3", "fileUri": "https://h/clip.mp3?sig=1"}}
    assert files.seen == []


def test_a_document_over_the_cap_fails_before_anything_is_sent(server: FakeLLMServer, files: _FileServer) -> None:
    client = bedrock(server, media_url_handler={"pdf": "send_base64", "max_bytes": 100})
    with pytest.raises(InvalidRequestError, match="over the 100-byte cap") as info:
        client.complete(ask(DocumentPart(url=at(files, "/a.pdf"))))
    assert not info.value.retryable and server.requests == []


def test_modes_per_kind_without_a_download() -> None:
    from llmclient.media import MediaPolicy

    def no_fetch(_: str) -> tuple[bytes, str | None]:
        raise AssertionError("nothing should be downloaded")

    policy = MediaPolicy.for_client("aws-bedrock", {}, where="t")
    assert policy is not None
    kept = ChatRequest(tuple(ask(DocumentPart(url="s3://bucket/a.pdf"), DocumentPart(file_id="f"),
                                 AudioPart.from_bytes(WAV, "wav"))))
    assert policy.resolve(kept, no_fetch) is kept  # s3://, file ids and inline data are never fetched
    openai = MediaPolicy.for_client("openai", {"media_url_handler": {"pdf": "send_url", "audio": "send_url"}},
                                    where="t")
    assert openai is None or openai.resolve(ChatRequest(tuple(ask(DocumentPart(url="https://h/a.pdf")))),
                                            no_fetch).messages[0].content[1] == DocumentPart(url="https://h/a.pdf")
