"""Each provider page of BAML's docs, one client each (tests/fixtures/baml/provider_docs/), builds
and puts on the wire what the page says: address, headers, auth and body fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmclient import load_config

FOLDER = Path(__file__).resolve().parent.parent / "fixtures" / "baml" / "provider_docs"
ENV = {"OPENROUTER_API_KEY": "or-docs-key-123456", "ANTHROPIC_API_KEY": "ak-docs-key-123456",
       "MY_OPENAI_KEY": "sk-docs-key-123456", "AWS_ACCESS_KEY_ID": "AKIADOCSEXAMPLE00000",
       "AWS_SECRET_ACCESS_KEY": "docs-secret-access-key", "AWS_REGION": "us-east-1"}


@pytest.fixture
def requests_of(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Any:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    caplog.set_level("WARNING", logger="llmclient.config")
    registry = load_config(FOLDER)
    yield lambda name: registry.client(name).build_request("hi")
    registry.close()


def test_anthropic_default_address_version_header_and_key(requests_of: Any) -> None:
    sent = requests_of("ClaudeDefault")
    assert sent.url == "https://api.anthropic.com/v1/messages"
    assert sent.headers["anthropic-version"] == "2023-06-01" and sent.headers["x-api-key"] == ENV["ANTHROPIC_API_KEY"]
    body = json.loads(sent.body)
    assert body["model"] == "claude-sonnet-4-5" and body["temperature"] == 0 and body["max_tokens"] > 0


def test_openai_key_as_a_bearer_token_and_extra_headers(requests_of: Any) -> None:
    sent = requests_of("OpenAIWithHeader")
    assert sent.url == "https://api.openai.com/v1/chat/completions"
    assert sent.headers["Authorization"] == "Bearer " + ENV["MY_OPENAI_KEY"] and sent.headers["X-Team"] == "evals"
    assert json.loads(sent.body)["temperature"] == 0.1


def test_openai_generic_without_a_key_sends_no_authorization(requests_of: Any) -> None:
    sent = requests_of("GenericNoKey")
    assert sent.url == "http://localhost:8000/v1/chat/completions"
    assert "Authorization" not in sent.headers


def test_openrouter_through_openai_generic(requests_of: Any) -> None:
    sent = requests_of("OpenRouterGeneric")
    assert sent.url == "https://openrouter.ai/api/v1/chat/completions"
    assert sent.headers["Authorization"] == "Bearer " + ENV["OPENROUTER_API_KEY"]
    assert sent.headers["HTTP-Referer"] == "https://example.org" and sent.headers["X-Title"] == "Evals"
    assert json.loads(sent.body)["model"] == "anthropic/claude-sonnet-4.5"


def test_ollama_defaults_to_the_local_server(requests_of: Any) -> None:
    sent = requests_of("OllamaNative")
    assert sent.url == "http://localhost:11434/v1/chat/completions" and sent.headers["X-Team"] == "evals"


def test_bedrock_inference_configuration_as_the_docs_write_it(requests_of: Any,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    sent = requests_of("BedrockInference")
    assert sent.url == ("https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                        "anthropic.claude-3-haiku-20240307-v1%3A0/converse")
    assert sent.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIADOCSEXAMPLE00000/")
    assert json.loads(sent.body)["inferenceConfig"] == {"maxTokens": 512, "temperature": 0.7, "topP": 0.9}
    # BAML's docs write `stop_sequence`; BAML reads past it (its struct has stop_sequences), and so do we, saying so.
    assert any("stop_sequence" in r.getMessage() and "did you mean 'stop_sequences'" in r.getMessage()
               for r in caplog.get_records("setup"))
