"""Client blocks in the forms BAML's docs and integ tests use for Entra ID, the http block, pooling,
media_url_handler and safetySettings (tests/fixtures/baml/docs_options/clients.baml, written here; the
pages it follows are named at its top) load as one registry, and build_request() puts on the wire what
BAML's docs say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import responses

import llmclient
from llmclient.models import ChatRequest, to_messages

FOLDER = Path(__file__).resolve().parents[1] / "fixtures" / "baml" / "docs_options"
TOKEN_URL = "https://login.microsoftonline.com/tenant-dummy/oauth2/v2.0/token"
DUMMIES = {"AZURE_OPENAI_API_KEY": "azure-key-dummy", "AZURE_TENANT_ID": "tenant-dummy",
           "AZURE_CLIENT_ID": "app-dummy", "AZURE_CLIENT_SECRET": "secret-dummy-7c1f", "OPENAI_API_KEY": "sk-dummy",
           "GOOGLE_API_KEY": "g-dummy", "GOOGLE_CLOUD_PROJECT": "p"}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in DUMMIES.items():
        monkeypatch.setenv(name, value)
    loaded = llmclient.load_config(FOLDER)
    yield loaded
    loaded.close()


def body(registry: Any, name: str) -> dict[str, Any]:
    """The body the client would send (built by its adapter: unsigned, so Vertex needs no credentials)."""
    request = ChatRequest(to_messages("hi"), {})
    return json.loads(registry.client(name).adapter.build_request(request, stream=False).body)  # type: ignore[no-any-return]


def test_the_folder_loads_as_one_registry(registry: Any) -> None:
    assert set(registry.names()) == {"AzureKey", "AzureEntra", "ProductionClient", "Pooled", "MediaHandler",
                                     "VertexSafety", "VertexConfig", "Gemini", "Resilient"}


def test_azure_with_an_api_key_sends_it_as_api_key(registry: Any) -> None:
    request = registry.client("AzureKey").build_request("hi")
    assert request.headers["api-key"] == "azure-key-dummy" and "Authorization" not in request.headers
    assert request.url.endswith("/openai/deployments/chat-prod/chat/completions?api-version=2024-10-21")


def test_azure_with_entra_id_sends_a_bearer_token_and_no_entra_option(registry: Any) -> None:
    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ-dummy"})
        request = registry.client("AzureEntra").build_request("hi")
        form = dict(parse_qsl(mock.calls[0].request.body.decode()))
    assert form == {"grant_type": "client_credentials", "client_id": "app-dummy", "client_secret": "secret-dummy-7c1f",
                    "scope": "https://cognitiveservices.azure.com/.default"}
    assert request.headers["Authorization"] == "Bearer eyJ-dummy"
    assert "api-key" not in request.headers
    assert json.loads(request.body) == {"messages": [{"role": "user", "content": "hi"}]}
    assert b"secret-dummy" not in request.body


def test_the_production_timeouts_and_pooling(registry: Any) -> None:
    timeouts = registry.client("ProductionClient").timeouts
    assert (timeouts.connect, timeouts.first_token, timeouts.idle, timeouts.request) == (5.0, 20.0, 3.0, 240.0)
    assert "http" not in body(registry, "ProductionClient")
    assert "Connection" not in registry.client("Pooled").build_request("hi").headers
    assert registry.client("Resilient").total_timeout_s == 45.0


def test_media_url_handler_is_not_a_body_field(registry: Any) -> None:
    assert "media_url_handler" not in body(registry, "MediaHandler")


def test_safety_settings_as_the_docs_and_integ_tests_write_them(registry: Any) -> None:
    assert body(registry, "VertexSafety")["safetySettings"] == [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_MEDIUM_AND_ABOVE", "method": "PROBABILITY"}]
    assert body(registry, "Gemini")["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]
    assert body(registry, "VertexConfig")["generationConfig"] == {"maxOutputTokens": 256, "temperature": 0.4}
