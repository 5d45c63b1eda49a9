"""Media URLs a provider cannot fetch itself (BAML's media_url_handler): downloaded under limits.

A small image server on 127.0.0.1 records what each download sent; the provider is the fake
server. Nothing here reaches another host.
"""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from llmclient import ConfigError, InvalidRequestError, RetryPolicy
from llmclient.messages import ChatRequest, ImagePart, Message, TextPart
from llmclient.testing import FakeLLMServer

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 100
AK, SK = "AKIDMEDIATEST", "media-secret-key-DISTINCTIVE-abcdef"


class _ImageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, str]] = []
        self.fail_next = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _ImageServer

    def log_message(self, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        if self.server.fail_next:
            self.server.fail_next -= 1
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/moved.png":
            self.send_response(302)
            self.send_header("Location", "/img.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = PNG if self.path.startswith("/img") else b"x" * 4096
        self.send_response(200)
        self.send_header("Content-Type", "image/png" if self.path.startswith("/img") else "application/octet-stream")
        if self.path != "/chunked.bin":
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for _ in range(4):
            self.wfile.write(b"%x\r\n%s\r\n" % (1024, b"x" * 1024))
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def images() -> Iterator[_ImageServer]:
    server = _ImageServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def url(server: _ImageServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def ask(image: ImagePart) -> list[Message]:
    return [Message("user", (TextPart("What is this?"), image))]


def bedrock(server: FakeLLMServer, **options: Any) -> Any:
    import llmclient

    return llmclient.BedrockClient("anthropic.claude-3-haiku", region="us-east-1", endpoint_url=server.url,
                                   access_key_id=AK, secret_access_key=SK, **options)


def test_bedrock_gets_an_image_url_as_bytes_downloaded_without_credentials(
        fake_llm_server: FakeLLMServer, images: _ImageServer) -> None:
    client = bedrock(fake_llm_server)
    reply = client.complete(ask(ImagePart(url=url(images, "/img.png"))))
    assert reply.text
    sent = fake_llm_server.requests[-1].json()["messages"][0]["content"][1]
    assert sent == {"image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}}
    assert len(images.seen) == 1
    download = images.seen[0]
    assert not {"authorization", "x-amz-date", "x-amz-security-token", "api-key", "x-api-key", "cookie"} & set(download)
    assert AK not in str(download) and SK not in str(download)


@pytest.mark.parametrize(("path", "cap", "message"), [
    ("/big.bin", 1000, "over the 1000-byte cap"),       # Content-Length says so: refused before reading
    ("/chunked.bin", 1000, "over the 1000-byte cap"),   # no length: stopped while reading
    ("/moved.png", 10**6, "not followed"),              # redirects are never followed
])
def test_a_download_outside_its_limits_fails_before_anything_is_sent(
        fake_llm_server: FakeLLMServer, images: _ImageServer, path: str, cap: int, message: str) -> None:
    client = bedrock(fake_llm_server, media_url_handler={"image": "send_base64", "max_bytes": cap})
    with pytest.raises(InvalidRequestError, match=message) as info:
        client.complete(ask(ImagePart(url=url(images, path))))
    assert not info.value.retryable
    assert fake_llm_server.requests == []


@pytest.mark.parametrize("where", ["file:///etc/passwd", "ftp://127.0.0.1/x.png", "gopher://127.0.0.1/x"])
def test_only_http_and_https_are_downloaded(fake_llm_server: FakeLLMServer, where: str) -> None:
    with pytest.raises(InvalidRequestError, match="only http and https"):
        bedrock(fake_llm_server).complete(ask(ImagePart(url=where)))
    assert fake_llm_server.requests == []


def test_a_failed_download_is_not_retried(fake_llm_server: FakeLLMServer, images: _ImageServer) -> None:
    images.fail_next = 1
    client = bedrock(fake_llm_server, retry_policy=RetryPolicy(max_retries=3, delay_ms=0))
    with pytest.raises(InvalidRequestError, match="HTTP 500"):
        client.complete(ask(ImagePart(url=url(images, "/img.png"))))
    assert len(images.seen) == 1 and fake_llm_server.requests == []


def test_the_handler_overrides_a_providers_default(fake_llm_server: FakeLLMServer, images: _ImageServer) -> None:
    import llmclient

    client = llmclient.OpenAIClient("gpt-4o", api_key="sk-media-test-123456", base_url=fake_llm_server.openai_base_url,
                                    media_url_handler={"image": "send_base64"})
    client.complete(ask(ImagePart(url=url(images, "/img.png"))))
    part = fake_llm_server.requests[-1].json()["messages"][0]["content"][1]
    assert part["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    plain = llmclient.OpenAIClient("gpt-4o", api_key="sk-media-test-123456", base_url=fake_llm_server.openai_base_url)
    plain.complete(ask(ImagePart(url=url(images, "/img.png"))))
    sent = fake_llm_server.requests[-1].json()["messages"][0]["content"][1]
    assert sent["image_url"]["url"] == url(images, "/img.png")
    assert len(images.seen) == 1  # OpenAI fetches URLs itself: no download by default


def test_modes_without_a_download(images: _ImageServer) -> None:
    from llmclient.media import MediaPolicy

    def no_fetch(_: str) -> tuple[bytes, str | None]:
        raise AssertionError("nothing should be downloaded")

    google = MediaPolicy.for_client("google-ai", {}, where="t")
    assert google is not None
    kept = ChatRequest(tuple(ask(ImagePart(url="gs://bucket/a.png"))))
    assert google.resolve(kept, no_fetch) is kept  # gs:// stays a URL for Google
    vertex = MediaPolicy.for_client("vertex-ai", {}, where="t")
    assert vertex is not None
    typed = vertex.resolve(ChatRequest(tuple(ask(ImagePart(url="https://h/a.jpeg?sig=1")))), no_fetch)
    part = typed.messages[0].content[1]
    assert isinstance(part, ImagePart) and part.url == "https://h/a.jpeg?sig=1" and part.media_type == "image/jpeg"
    assert MediaPolicy.for_client("openai-generic", {}, where="t") is None  # never downloads: no cost per call


def test_a_bad_handler_is_a_config_error() -> None:
    from llmclient.media import MediaPolicy

    with pytest.raises(ConfigError, match="media_url_handler.image"):
        MediaPolicy.for_client("openai", {"media_url_handler": {"image": "download_please"}}, where="client 'A'")

