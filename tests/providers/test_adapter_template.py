"""The adapter template: one list of secret headers, one JSON preamble, one decoder vocabulary, every provider.

Each test runs the same case through every built-in adapter, so that a provider that does
its own thing (a list of secret header names of its own, a 2xx preamble that reads an HTML
page differently, a decoder verb of its own) fails here.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

import llmclient
from llmclient.errors import LLMError, ProviderError
from llmclient.models import ChatRequest, HttpResponse, Message
from llmclient.providers.anthropic_stream import AnthropicStreamDecoder
from llmclient.providers.base import ProviderAdapter
from llmclient.providers.bedrock_stream import BedrockStreamDecoder
from llmclient.providers.gemini import GeminiStreamDecoder
from llmclient.providers.openai_stream import OpenAIStreamDecoder
from llmclient.redaction import SENSITIVE_HEADERS
from llmclient.testing.formats.bedrock import encode_frame
from llmclient.wire.eventstream import EventStreamDecoder
from llmclient.wire.sse import SSEDecoder

REQUEST = ChatRequest((Message("user", "hi"),), {})
SECRET_HEADERS = {"Authorization": "Bearer tok-1", "X-Api-Key": "key-2", "api-key": "key-3",
                  "x-goog-api-key": "key-4", "Proxy-Authorization": "Basic cHJveHk="}

CLIENTS: dict[str, Callable[..., Any]] = {
    "openai": lambda **o: llmclient.OpenAIClient("gpt-4o", api_key="k", **o),
    "azure-openai": lambda **o: llmclient.AzureOpenAIClient(resource_name="r", deployment_id="d", api_key="k", **o),
    "anthropic": lambda **o: llmclient.AnthropicClient("claude", api_key="k", **o),
    "google-ai": lambda **o: llmclient.GoogleAIClient("gemini-2.0-flash", api_key="k", **o),
    "vertex-gemini": lambda **o: llmclient.VertexAIClient("gemini-2.0-flash", location="l", project_id="p",
                                                          authorization="t", **o),
    "vertex-claude": lambda **o: llmclient.VertexAIClient("claude-3-5-haiku@20241022", location="l",
                                                          project_id="p", authorization="t", **o),
    "aws-bedrock": lambda **o: llmclient.BedrockClient("anthropic.claude-3-haiku", region="us-east-1",
                                                       access_key_id="AKIDEXAMPLE", secret_access_key="s", **o),
}


def adapter(kind: str, **options: Any) -> ProviderAdapter:
    client = CLIENTS[kind](**options)
    return client.adapter  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_every_sensitive_header_is_a_secret_of_the_request(kind: str) -> None:
    built = adapter(kind, headers=SECRET_HEADERS).build_request(REQUEST, stream=False)
    assert {k.lower() for k in SECRET_HEADERS} <= SENSITIVE_HEADERS  # the one list the template reads
    for value in SECRET_HEADERS.values():
        assert value in built.secrets, (kind, value)
    assert "tok-1" in built.secrets  # the bare token of a "Bearer <token>" too


@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_a_header_option_replaces_ours_whatever_its_case(kind: str) -> None:
    built = adapter(kind, headers={"content-type": "application/json; charset=utf-8"}).build_request(
        REQUEST, stream=True)
    names = [k for k in built.headers if k.lower() == "content-type"]
    assert names == ["content-type"] and built.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("kind", sorted(set(CLIENTS) - {"aws-bedrock"}))  # Bedrock's schema has no query_params
def test_query_params_reach_every_url(kind: str) -> None:
    built = adapter(kind, query_params={"tenant": "t 1"}).build_request(REQUEST, stream=False)
    assert "tenant=t+1" in built.url


HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


@pytest.mark.parametrize("kind", sorted(CLIENTS))
@pytest.mark.parametrize("body", [HTML, b"", b"[1, 2]"], ids=["html", "empty", "not-an-object"])
def test_a_2xx_body_that_is_not_the_answer_is_described_the_same_way(kind: str, body: bytes) -> None:
    response = HttpResponse(200, {"content-type": "text/html" if body == HTML else "application/json"}, body)
    with pytest.raises(ProviderError) as info:
        adapter(kind).parse_response(response, ())
    message = str(info.value)
    assert "expected" in message and "a proxy or gateway may have answered" in message
    if body == HTML:
        assert "text/html" in message and "502 Bad Gateway" in message
    if body == b"":
        assert "an empty body" in message


@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_an_error_page_from_a_proxy_names_its_title_and_the_providers_request_id(kind: str) -> None:
    a = adapter(kind)
    response = HttpResponse(502, {"content-type": "text/html", a.request_id_header: "req-9"}, HTML)
    error = a.parse_error(response, ())
    assert isinstance(error, ProviderError) and error.status_code == 502
    assert "502 Bad Gateway" in str(error) and error.request_id == "req-9"


DECODERS: dict[str, Callable[[tuple[str, ...]], Any]] = {
    "openai": lambda s: adapter("openai").stream_decoder(s),
    "anthropic": lambda s: adapter("anthropic").stream_decoder(s),
    "gemini": lambda s: adapter("google-ai").stream_decoder(s),
}


@pytest.mark.parametrize("kind", sorted(DECODERS))
def test_malformed_json_in_a_stream_event_is_one_error_with_the_secret_redacted(kind: str) -> None:
    decoder = DECODERS[kind](("sk-secret",))
    with pytest.raises(ProviderError, match="malformed JSON in a stream event") as info:
        decoder.feed(b'data: {"oops sk-secret\n\n')
    assert "sk-secret" not in str(info.value)


def test_a_malformed_bedrock_frame_is_the_same_error() -> None:
    decoder = BedrockStreamDecoder("m", ("sk-secret",))
    bad = encode_frame({":event-type": "contentBlockDelta", ":content-type": "application/json",
                        ":message-type": "event"}, b'{"oops sk-secret')
    with pytest.raises(LLMError, match="malformed JSON in a contentBlockDelta frame") as info:
        decoder.feed(bad)
    assert "sk-secret" not in str(info.value)


@pytest.mark.parametrize("cls", [OpenAIStreamDecoder, AnthropicStreamDecoder, GeminiStreamDecoder,
                                 BedrockStreamDecoder, SSEDecoder, EventStreamDecoder])
def test_every_decoder_speaks_feed_and_finish(cls: type) -> None:
    assert callable(getattr(cls, "feed", None)) and callable(getattr(cls, "finish", None))
    assert not hasattr(cls, "flush")


@pytest.mark.parametrize("cls", [OpenAIStreamDecoder, AnthropicStreamDecoder, GeminiStreamDecoder,
                                 BedrockStreamDecoder])
def test_provider_decoders_keep_done_and_response_id_of(cls: type) -> None:
    assert callable(getattr(cls, "response_id_of", None))
    make = {BedrockStreamDecoder: lambda: BedrockStreamDecoder("m", ()),
            GeminiStreamDecoder: lambda: GeminiStreamDecoder("google-ai", ())}.get(
        cls, lambda: adapter("openai" if cls is OpenAIStreamDecoder else "anthropic").stream_decoder(()))
    assert make().done is False


class _HookOnly(ProviderAdapter):
    """A plug-in adapter written against the template: hooks only."""

    provider = "hook-only"

    def url(self, *, stream: bool) -> str:
        return "https://hook.example/v1/chat" + self.query_string({"stream": "1"} if stream else {})

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return {**self.resolved_defaults(), "prompt": request.messages[-1].text, "seed": None}

    def completion_from(self, data: dict[str, Any], response: HttpResponse,
                        secrets: tuple[str, ...]) -> llmclient.Completion:
        if "text" not in data:
            raise self.lacks(response, "no text", secrets)
        return llmclient.Completion(text=data["text"])

    def stream_decoder(self, secrets: tuple[str, ...]) -> Any:
        raise NotImplementedError


def test_a_plug_in_adapter_supplies_only_hooks() -> None:
    a = _HookOnly({"headers": {"Authorization": "Bearer plug-tok"}, "query_params": {"v": "2"}, "temperature": 0})
    built = a.build_request(REQUEST, stream=True)
    assert built.url == "https://hook.example/v1/chat?stream=1&v=2"
    assert built.json() == {"temperature": 0, "prompt": "hi"}  # None fields dropped
    assert {"Bearer plug-tok", "plug-tok"} <= set(built.secrets)
    assert a.parse_response(HttpResponse(200, {}, b'{"text": "ok"}'), ()).text == "ok"
    with pytest.raises(ProviderError, match="the answer has no text"):
        a.parse_response(HttpResponse(200, {}, b'{"other": 1}'), ())
    refused = a.parse_error(HttpResponse(429, {"retry-after": "3"}, b'{"error": {"message": "slow down plug-tok"}}'),
                            built.secrets)
    assert isinstance(refused, llmclient.RateLimitError) and refused.retry_after == 3
    assert "plug-tok" not in str(refused) and "slow down" in str(refused)
    with pytest.raises(ProviderError, match="expected an error JSON"):
        raise a.parse_error(HttpResponse(500, {"content-type": "text/plain"}, b"boom"), ())
