"""Adapters are pure: building a request reads no file and no environment variable, and every
typed constructor applies one rule to ``None`` (given_options)."""

from __future__ import annotations

import builtins
import io
import json
import os
import pathlib
from pathlib import Path
from typing import Any, Iterator

import pytest

import llmclient
from llmclient.errors import ConfigError
from llmclient.models import ChatRequest, Message

REQUEST = ChatRequest((Message("user", "hi"),), {"max_tokens": 5})


class _NoEnviron(dict):  # type: ignore[type-arg]
    """An os.environ stand-in that fails the test on any read."""

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the environment was read while a request was built")

    __getitem__ = get = __contains__ = __iter__ = keys = items = _fail


@pytest.fixture
def no_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """While active, opening a file or reading the environment fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a file was read while a request was built: {args[:1]!r}")

    with monkeypatch.context() as patch:
        patch.setattr(builtins, "open", refuse)
        patch.setattr(io, "open", refuse)
        patch.setattr(pathlib.Path, "read_text", refuse)
        patch.setattr(pathlib.Path, "is_file", refuse)
        patch.setattr(os, "environ", _NoEnviron())
        yield


def _key_file(tmp_path: Path) -> Path:
    info = {"type": "service_account", "project_id": "from-file", "private_key_id": "kid",
            "private_key": "-----BEGIN PRIVATE KEY-----\nnot used\n-----END PRIVATE KEY-----\n",
            "client_email": "robot@from-file.iam.gserviceaccount.com", "token_uri": "http://127.0.0.1:9/token"}
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    return path


@pytest.mark.parametrize("model", ["gemini-2.0-flash", "claude-3-5-haiku@20241022"])
def test_a_vertex_project_from_the_key_file_is_found_when_the_client_is_built(
        model: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    client = llmclient.VertexAIClient(model, location="us-central1", credentials=str(_key_file(tmp_path)))
    request.getfixturevalue("no_io")
    for stream in (False, True):
        built = client.adapter.build_request(REQUEST, stream=stream)  # type: ignore[attr-defined]
        assert "/projects/from-file/locations/us-central1/" in built.url


def test_a_vertex_project_from_the_environment_is_read_when_the_client_is_built(
        monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    client = llmclient.VertexAIClient("gemini-2.0-flash", location="l", authorization="t")
    request.getfixturevalue("no_io")
    assert "/projects/from-env/" in client.adapter.build_request(REQUEST, stream=False).url  # type: ignore[attr-defined]


def test_no_vertex_project_is_still_reported_when_a_request_is_built(request: pytest.FixtureRequest) -> None:
    client = llmclient.VertexAIClient("gemini-2.0-flash", location="l", authorization="t")  # building is fine
    request.getfixturevalue("no_io")
    for _ in range(2):  # raised again (not once), and without touching the environment
        with pytest.raises(ConfigError, match="GOOGLE_CLOUD_PROJECT"):
            client.adapter.build_request(REQUEST, stream=False)  # type: ignore[attr-defined]


@pytest.mark.parametrize("make", [
    lambda: llmclient.BedrockClient("anthropic.claude-3-haiku", region="us-east-1", access_key_id="AKID",
                                    secret_access_key="s"),
    lambda: llmclient.OpenAIClient("gpt-4o", api_key="k"),
    lambda: llmclient.AnthropicClient("claude", api_key="k"),
    lambda: llmclient.GoogleAIClient("gemini-2.0-flash", api_key="k"),
    lambda: llmclient.AzureOpenAIClient(resource_name="r", deployment_id="d", api_key="k"),
], ids=["bedrock", "openai", "anthropic", "google-ai", "azure"])
def test_other_adapters_build_requests_without_io(make: Any, request: pytest.FixtureRequest) -> None:
    client = make()
    request.getfixturevalue("no_io")
    assert client.adapter.build_request(REQUEST, stream=True).body


# -- one rule for None -------------------------------------------------------------------------------


def test_vertex_applies_the_none_rule() -> None:
    client = llmclient.VertexAIClient("gemini-2.0-flash", location="l", project_id="p", authorization="t",
                                      base_url=None, publisher=None, safetySettings=None)
    adapter = client.adapter
    assert adapter.body_defaults == {"safetySettings": None}  # a body field: "remove this default"
    assert adapter.build_request(REQUEST, stream=False).url.startswith("https://")  # base_url=None: not given
    assert "safetySettings" not in adapter.build_request(REQUEST, stream=False).json()


def test_vertex_claude_applies_the_none_rule() -> None:
    client = llmclient.VertexAIClient("claude-3-5-haiku@20241022", location="l", project_id="p",
                                      authorization="t", base_url=None, top_k=None)
    assert client.adapter.body_defaults == {"top_k": None}
    assert "top_k" not in client.adapter.build_request(REQUEST, stream=False).json()


def test_bedrock_applies_the_none_rule() -> None:
    client = llmclient.BedrockClient("anthropic.claude-3-haiku", region="us-east-1", endpoint_url=None,
                                     profile=None, credentials=None, model_id=None, headers=None)
    assert client.adapter.build_request(REQUEST, stream=False).url.startswith(
        "https://bedrock-runtime.us-east-1.amazonaws.com/")
    # Bedrock has no body fields among its options: None there is an unknown option, like any value.
    for value in (None, 0.5):
        with pytest.raises(ConfigError, match="unknown option 'temperature'"):
            llmclient.BedrockClient("anthropic.claude-3-haiku", region="us-east-1", temperature=value)


def test_a_bedrock_region_from_the_environment_is_read_when_the_client_is_built(
        monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    client = llmclient.BedrockClient("anthropic.claude-3-haiku", access_key_id="AKID", secret_access_key="s")
    request.getfixturevalue("no_io")
    built = client.adapter.build_request(REQUEST, stream=False)  # type: ignore[attr-defined]
    assert built.url.startswith("https://bedrock-runtime.eu-west-3.amazonaws.com/")


def test_no_bedrock_region_is_still_reported_when_a_request_is_built(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    client = llmclient.BedrockClient("anthropic.claude-3-haiku")  # building is fine
    request.getfixturevalue("no_io")
    for _ in range(2):
        with pytest.raises(ConfigError, match="no AWS region"):
            client.adapter.build_request(REQUEST, stream=False)  # type: ignore[attr-defined]
