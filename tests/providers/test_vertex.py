"""Vertex AI: addresses, the shared Gemini and Anthropic translations, and end to end with OAuth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import llmclient
from llmclient.errors import AuthError, ConfigError, InvalidRequestError, StreamError
from llmclient.models import ChatRequest, Message
from llmclient.providers.google import GoogleAIAdapter
from llmclient.providers.vertex import VertexAIClient, VertexClaudeAdapter, VertexGeminiAdapter
from llmclient.retry import RetryPolicy
from llmclient.testing import FakeLLMServer, Fault
from llmclient.testing.formats.vertex import revoke_tokens, token_requests, trust_service_account

GEMINI = "gemini-2.0-flash"
CLAUDE = "claude-3-5-sonnet-v2@20241022"
REQUEST = ChatRequest((Message("system", "Be brief."), Message("user", "Say hello.")),
                      {"temperature": 0.2, "max_tokens": 64})


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def sa_info(private_pem: str, token_uri: str, project: str = "sa-project") -> dict[str, Any]:
    return {"type": "service_account", "project_id": project, "private_key_id": "kid-1", "private_key": private_pem,
            "client_email": f"robot@{project}.iam.gserviceaccount.com", "token_uri": token_uri}


def url_of(client: VertexAIClient, stream: bool = False) -> str:
    return client.adapter.build_request(REQUEST, stream=stream).url


# -- addresses ------------------------------------------------------------------------------------------
def test_regional_and_global_addresses() -> None:
    regional = VertexAIClient(GEMINI, location="us-central1", project_id="p1", authorization="ya29.t")
    assert url_of(regional) == ("https://us-central1-aiplatform.googleapis.com/v1/projects/p1/locations/us-central1"
                                "/publishers/google/models/gemini-2.0-flash:generateContent")
    assert url_of(regional, stream=True).endswith("/models/gemini-2.0-flash:streamGenerateContent?alt=sse")
    world = VertexAIClient(GEMINI, location="global", project_id="p1", authorization="ya29.t")
    assert url_of(world) == ("https://aiplatform.googleapis.com/v1/projects/p1/locations/global"
                             "/publishers/google/models/gemini-2.0-flash:generateContent")
    claude = VertexAIClient(CLAUDE, location="us-east5", project_id="p1", authorization="ya29.t")
    assert url_of(claude) == ("https://us-east5-aiplatform.googleapis.com/v1/projects/p1/locations/us-east5"
                              "/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022:rawPredict")
    assert url_of(claude, stream=True).endswith(":streamRawPredict")


def test_base_url_replaces_the_host_or_the_whole_prefix() -> None:
    root = VertexAIClient(GEMINI, location="europe-west4", project_id="p", base_url="http://127.0.0.1:9/",
                          authorization="t")
    assert url_of(root) == ("http://127.0.0.1:9/v1/projects/p/locations/europe-west4/publishers/google/models/"
                            "gemini-2.0-flash:generateContent")
    baml = VertexAIClient(GEMINI, base_url="https://proxy.example/v1/projects/x/locations/y/publishers/google/models",
                          authorization="t")
    assert url_of(baml) == ("https://proxy.example/v1/projects/x/locations/y/publishers/google/models/"
                            "gemini-2.0-flash:generateContent")


def test_location_is_required_without_base_url() -> None:
    with pytest.raises(ConfigError, match="location"):
        VertexAIClient(GEMINI, project_id="p", authorization="t")


def test_the_project_comes_from_options_then_credentials_then_the_environment(
        key_pair: tuple[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    info = sa_info(key_pair[0], "http://127.0.0.1:9/token", project="from-file")
    assert "/projects/from-options/" in url_of(VertexAIClient(GEMINI, location="l", project_id="from-options",
                                                              credentials=info))
    assert "/projects/from-file/" in url_of(VertexAIClient(GEMINI, location="l", credentials=info))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    assert "/projects/from-env/" in url_of(VertexAIClient(GEMINI, location="l", authorization="t"))
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    with pytest.raises(ConfigError, match="GOOGLE_CLOUD_PROJECT"):
        url_of(VertexAIClient(GEMINI, location="l", authorization="t"))


# -- shared translations ----------------------------------------------------------------------------------
def test_gemini_bodies_are_the_gemini_apis_own() -> None:
    vertex = VertexAIClient(GEMINI, location="l", project_id="p", authorization="t",
                            generationConfig={"topK": 3}, credentials_content=None)
    assert isinstance(vertex.adapter, VertexGeminiAdapter)
    google = GoogleAIAdapter({"model": GEMINI, "generationConfig": {"topK": 3}})
    sent = vertex.adapter.build_request(REQUEST, stream=False)
    assert sent.body == google.build_request(REQUEST, stream=False).body
    for word in (b"location", b"project", b"authorization", b"credentials"):
        assert word not in sent.body


def test_claude_bodies_are_anthropics_with_vertexs_version_and_no_model() -> None:
    client = VertexAIClient(CLAUDE, location="us-east5", project_id="p", authorization="t")
    assert isinstance(client.adapter, VertexClaudeAdapter)
    built = client.adapter.build_request(REQUEST, stream=True)
    body = json.loads(built.body)
    assert body == {"temperature": 0.2, "max_tokens": 64, "system": "Be brief.",
                    "messages": [{"role": "user", "content": "Say hello."}], "stream": True,
                    "anthropic_version": "vertex-2023-10-16"}
    assert not any(k.lower() == "anthropic-version" for k in built.headers)


def test_an_api_key_replaces_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTEX_API_KEY", "vertex-key-123")
    client = VertexAIClient(GEMINI, location="us-central1", project_id="p", api_key={"env": "VERTEX_API_KEY"})
    assert client.auth is not None
    signed = client.auth.apply(client.adapter.build_request(REQUEST, stream=False))
    assert signed.headers["x-goog-api-key"] == "vertex-key-123" and "Authorization" not in signed.headers
    assert b"vertex-key-123" not in signed.body and "vertex-key-123" not in signed.url


def test_an_explicit_publisher_wins() -> None:
    client = VertexAIClient("my-tuned-model", publisher="anthropic", location="l", project_id="p", authorization="t")
    assert isinstance(client.adapter, VertexClaudeAdapter)
    with pytest.raises(ConfigError, match="publisher"):
        VertexAIClient(GEMINI, publisher="meta", location="l", project_id="p", authorization="t")


# -- end to end ----------------------------------------------------------------------------------------------
@pytest.fixture
def server(key_pair: tuple[str, bytes]) -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        trust_service_account(fake, key_pair[1])
        yield fake


def _client(model: str, server: FakeLLMServer, key_pair: tuple[str, bytes], **options: Any) -> VertexAIClient:
    options.setdefault("retry_policy", RetryPolicy(max_retries=2, delay_ms=0))
    return VertexAIClient(model, location="us-central1", base_url=server.url,
                          credentials=sa_info(key_pair[0], server.url + "/token"), **options)


@pytest.mark.parametrize("model", [GEMINI, CLAUDE])
def test_end_to_end_complete_and_stream(model: str, server: FakeLLMServer, key_pair: tuple[str, bytes]) -> None:
    client = _client(model, server, key_pair)
    completion = client.complete("hello vertex")
    assert completion.text == "Echo: hello vertex" and completion.provider == "vertex-ai"
    with client.stream("stream one two") as stream:
        pieces = [c.text for c in stream if c.text]
    assert "".join(pieces) == "Echo: stream one two" and len(pieces) >= 2
    assert token_requests(server) == 1
    calls = [r for r in server.requests if r.path != "/token"]
    assert all(r.headers["authorization"] == "Bearer ya29.fake-1" for r in calls)
    assert calls[0].path.startswith("/v1/projects/sa-project/locations/us-central1/publishers/")


@pytest.mark.parametrize("model", [GEMINI, CLAUDE])
def test_end_to_end_errors_and_a_retried_throttle(model: str, server: FakeLLMServer,
                                                   key_pair: tuple[str, bytes]) -> None:
    client = _client(model, server, key_pair)
    server.enqueue(Fault.rate_limit())
    completion = client.complete("after a throttle")
    assert completion.text == "Echo: after a throttle"
    assert [a.outcome for a in completion.attempts] == ["RateLimitError", "ok"]
    server.enqueue(Fault.status(400))
    with pytest.raises(InvalidRequestError):
        client.complete("bad")
    server.enqueue(Fault.error_event(after_chunks=4))  # after content, for both formats
    with pytest.raises(StreamError):
        with client.stream("one two three four five") as stream:
            list(stream)


def test_a_401_drops_the_token_and_retries_once(server: FakeLLMServer, key_pair: tuple[str, bytes]) -> None:
    client = _client(GEMINI, server, key_pair, retry_policy=None)
    assert client.complete("first").text == "Echo: first"
    revoke_tokens(server)  # the server forgets the token the client has cached
    completion = client.complete("second")
    assert completion.text == "Echo: second"
    assert [a.status_code for a in completion.attempts] == [401, 200]
    assert token_requests(server) == 2
    server.enqueue(Fault.status(401), Fault.status(401), Fault.status(401))
    with pytest.raises(AuthError):
        client.complete("third")
    assert [r.fault for r in server.requests if r.path != "/token"][-2:] == ["status", "status"]
    assert token_requests(server) == 3  # one refresh per call, not one per 401


def test_an_expired_token_is_refused_by_the_fake_and_refreshed(key_pair: tuple[str, bytes]) -> None:
    with FakeLLMServer() as fake:
        trust_service_account(fake, key_pair[1], token_lifetime=0)
        client = _client(GEMINI, fake, key_pair, retry_policy=None)
        with pytest.raises(AuthError):
            client.complete("the token is dead on arrival")
        assert token_requests(fake) == 2  # fetched, refused, dropped, fetched again, refused


def test_a_vertex_config_with_a_credentials_file(server: FakeLLMServer, key_pair: tuple[str, bytes],
                                                 tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(sa_info(key_pair[0], server.url + "/token")))
    config = {"clients": {"Gemini": {"provider": "vertex-ai", "options": {
        "model": GEMINI, "location": "us-central1", "base_url": server.url, "credentials": str(path),
        "generationConfig": {"temperature": 0}}}}}
    with llmclient.load_config(config) as registry:
        assert registry.client("Gemini").complete("from config").text == "Echo: from config"


def test_credentials_are_looked_up_only_when_a_request_is_made(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud file either
    client = VertexAIClient(GEMINI, location="us-central1", project_id="p")
    with pytest.raises(ConfigError, match="no Google credentials"):
        client.complete("hi")
