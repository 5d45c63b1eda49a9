"""Options BAML consumes itself never reach a request body; safetySettings maps become Gemini's list;
``http { enable_connection_pooling false }`` means a fresh connection per request.

What BAML consumes, per provider, is read from its docs (docs.boundaryml.com/ref/llm-client-providers/*:
the "BAML-specific request options" of openai, openai-generic, azure-openai, anthropic, google-ai,
vertex-ai and aws-bedrock, with the client-response-type, media-url-handler and media-url-resolver
snippets), BoundaryML/baml, Apache-2.0. The safetySettings map is written as BAML's docs write it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually, generic_client, sockets_to

import llmclient

CONSUMED = {
    "client_response_type": "openai",
    "baml_mode": "chat",
    "media_url_handler": {"image": "send_base64", "audio": "send_url", "pdf": "send_url_add_mime_type",
                          "video": "send_url"},
    "media_url_resolver": {"image": "always", "pdf": "never"},
    "http": {"connect_timeout_ms": 5000, "request_timeout_ms": 0, "enable_connection_pooling": True},
    "supports_streaming": True,
    "finish_reason_deny_list": ["length"],
    "allowed_role_metadata": "all",
}
PROVIDERS: dict[str, dict[str, Any]] = {
    "openai": {"model": "gpt-4o-mini", "api_key": "k"},
    "openai-generic": {"model": "m", "base_url": "http://127.0.0.1:9/v1"},
    "ollama": {"model": "llama3"},
    "openrouter": {"model": "x/y", "api_key": "k"},
    "azure-openai": {"resource_name": "r", "deployment_id": "d", "api_version": "2024-10-21", "api_key": "k"},
    "anthropic": {"model": "claude-sonnet-4-5", "api_key": "k"},
    "google-ai": {"model": "gemini-2.5-flash", "api_key": "k"},
    "vertex-ai": {"model": "gemini-2.5-flash", "location": "us-central1", "project_id": "p",
                  "authorization": "ya29.raw"},
    "aws-bedrock": {"model": "anthropic.claude-3-haiku-20240307-v1:0", "region": "us-east-1",
                    "access_key_id": "AKIAFAKE", "secret_access_key": "fake-secret"},
}


def body_of(provider: str, options: dict[str, Any]) -> dict[str, Any]:
    registry = llmclient.load_config({"clients": {"C": {"provider": provider, "options": options}}})
    body: dict[str, Any] = json.loads(registry.client("C").build_request("hi").body)  # type: ignore[attr-defined]
    return body


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_options_baml_consumes_never_reach_the_body(provider: str) -> None:
    body = body_of(provider, {**PROVIDERS[provider], **CONSUMED})
    text = json.dumps(body)
    for option in CONSUMED:
        assert option not in body, f"{provider}: {option} was sent as a body field"
    for word in ("send_base64", "media_url", "client_response_type", "baml_mode", "enable_connection_pooling"):
        assert word not in text, f"{provider}: {word} reached the body"


@pytest.mark.parametrize("provider", ["google-ai", "vertex-ai"])
def test_safety_settings_written_as_a_map_are_sent_as_the_list(provider: str) -> None:
    settings = {"HARM_CATEGORY_HATE_SPEECH": "BLOCK_NONE", "HARM_CATEGORY_DANGEROUS_CONTENT": "BLOCK_LOW_AND_ABOVE"}
    body = body_of(provider, {**PROVIDERS[provider], "safetySettings": settings})
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_LOW_AND_ABOVE"}]
    one = {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_LOW_AND_ABOVE", "method": "SEVERITY"}
    assert body_of(provider, {**PROVIDERS[provider], "safetySettings": one})["safetySettings"] == [one]
    listed = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    assert body_of(provider, {**PROVIDERS[provider], "safetySettings": listed})["safetySettings"] == listed


def test_safety_settings_from_a_baml_file(tmp_path: Path) -> None:
    source = tmp_path / "clients.baml"
    source.write_text("""
client<llm> Gemini {
  provider google-ai
  options {
    model "gemini-2.5-flash"
    api_key "k"
    safetySettings {
      HARM_CATEGORY_HARASSMENT BLOCK_NONE
      HARM_CATEGORY_HATE_SPEECH BLOCK_ONLY_HIGH
    }
  }
}
""")
    client = llmclient.load_config(source).client("Gemini")
    body = json.loads(client.build_request("hi").body)  # type: ignore[attr-defined]
    assert body["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
                                      {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}]
    assert "HARM_CATEGORY_HARASSMENT" not in body  # never a top-level field


def test_safety_settings_as_a_call_parameter_too() -> None:
    registry = llmclient.load_config({"clients": {"C": {"provider": "google-ai", "options": PROVIDERS["google-ai"]}}})
    request = registry.client("C").build_request(  # type: ignore[attr-defined]
        "hi", safety_settings={"HARM_CATEGORY_HARASSMENT": "BLOCK_NONE"})
    assert json.loads(request.body)["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT",
                                                           "threshold": "BLOCK_NONE"}]


# -- enable_connection_pooling --------------------------------------------------------------------------------
def test_pooling_off_asks_for_connection_close_and_leaves_no_socket(fake_llm_server: Any) -> None:
    port = int(fake_llm_server.url.rsplit(":", 1)[1])
    client = generic_client(fake_llm_server, http={"enable_connection_pooling": False})
    assert client.build_request("hi").headers["Connection"] == "close"
    for _ in range(2):
        assert client.complete("hi").text
    assert [r.headers.get("connection") for r in fake_llm_server.requests] == ["close", "close"]
    assert eventually(lambda: sockets_to(port) == 0)
    client.close()


def test_pooling_on_by_default_reuses_the_connection(fake_llm_server: Any) -> None:
    port = int(fake_llm_server.url.rsplit(":", 1)[1])
    client = generic_client(fake_llm_server, http={"enable_connection_pooling": True})
    assert "Connection" not in client.build_request("hi").headers
    for _ in range(3):
        client.complete("hi")
    assert sockets_to(port) == 1
    client.close()


def test_a_users_connection_header_wins() -> None:
    registry = llmclient.load_config({"clients": {"C": {"provider": "openai-generic", "options": {
        **PROVIDERS["openai-generic"], "http": {"enable_connection_pooling": False},
        "headers": {"Connection": "keep-alive"}}}}})
    assert registry.client("C").build_request("hi").headers["Connection"] == "keep-alive"  # type: ignore[attr-defined]
