"""A user's own AuthProvider: replaces any client's built-in auth; 401 -> refresh() -> one retry."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

import pytest
import responses

import llmclient
from llmclient.errors import AuthError
from llmclient.models import HttpRequest
from llmclient.providers.anthropic import AnthropicClient
from llmclient.providers.bedrock import BedrockClient
from llmclient.providers.google import GoogleAIClient
from llmclient.providers.vertex import VertexAIClient
from llmclient.testing import FakeLLMServer, Fault


class GatewayToken(llmclient.AuthProvider):
    """The README example, verbatim apart from the counters."""

    def __init__(self, fetch: Callable[[], str]) -> None:
        self.fetch = fetch                 # returns a fresh token string
        self.token: str | None = None
        self.refreshes = 0
        self._lock = threading.Lock()

    def apply(self, request: HttpRequest) -> HttpRequest:
        with self._lock:
            self.token = self.token or self.fetch()
            token = self.token
        return request.with_headers({"Authorization": f"Bearer {token}"}, secrets=[token])

    def refresh(self) -> bool:
        self.refreshes += 1
        self.token = None                  # called after a 401: fetch again, retry once
        return True


def tokens(*values: str) -> Callable[[], str]:
    it = iter(values)
    return lambda: next(it)


def test_a_401_refreshes_and_retries_once() -> None:
    with FakeLLMServer(api_key="good-token") as server:
        auth = GatewayToken(tokens("stale-token", "good-token"))
        client = llmclient.OpenAIClient("gpt-4o-mini", base_url=server.openai_base_url, auth=auth)
        completion = client.complete("hi")
        assert completion.text == "Echo: hi"
        assert [a.status_code for a in completion.attempts] == [401, 200]
        assert auth.refreshes == 1
        assert [r.headers["authorization"] for r in server.requests] == ["Bearer stale-token", "Bearer good-token"]


def test_a_second_401_is_not_retried_again() -> None:
    with FakeLLMServer(api_key="good-token") as server:
        auth = GatewayToken(tokens("bad-1", "bad-2", "bad-3"))
        client = llmclient.OpenAIClient("gpt-4o-mini", base_url=server.openai_base_url, auth=auth,
                                        retry_policy=llmclient.RetryPolicy(max_retries=3, delay_ms=0))
        with pytest.raises(AuthError) as info:
            client.complete("hi")
        assert len(server.requests) == 2 and auth.refreshes == 1
        assert "bad-2" not in str(info.value)


def test_refresh_returning_false_means_no_retry() -> None:
    class Fixed(llmclient.AuthProvider):
        def apply(self, request: HttpRequest) -> HttpRequest:
            return request.with_headers({"Authorization": "Bearer wrong-token"}, secrets=["wrong-token"])

    with FakeLLMServer(api_key="good-token") as server:
        client = llmclient.OpenAIClient("gpt-4o-mini", base_url=server.openai_base_url, auth=Fixed())
        with pytest.raises(AuthError):
            client.complete("hi")
        assert len(server.requests) == 1


def test_a_403_is_not_a_reason_to_refresh() -> None:
    with FakeLLMServer() as server:
        server.enqueue(Fault.status(403))
        auth = GatewayToken(tokens("t1", "t2"))
        client = llmclient.OpenAIClient("gpt-4o-mini", base_url=server.openai_base_url, auth=auth)
        with pytest.raises(AuthError):
            client.complete("hi")
        assert auth.refreshes == 0 and len(server.requests) == 1


def test_the_default_base_class_refuses_to_refresh_and_hides_itself() -> None:
    class Minimal(llmclient.AuthProvider):
        pass

    assert Minimal().refresh() is False and repr(Minimal()) == "<Minimal>"
    with pytest.raises(NotImplementedError):
        Minimal().apply(HttpRequest("POST", "https://x", {}))


@pytest.mark.parametrize("make", [
    lambda url: BedrockClient("anthropic.claude-3-haiku", region="us-east-1", endpoint_url=url, auth=_auth()),
    lambda url: VertexAIClient("gemini-2.0-flash", location="us-central1", project_id="p", base_url=url,
                               auth=_auth()),
    lambda url: VertexAIClient("claude-3-5-haiku@20241022", location="us-east5", project_id="p", base_url=url,
                               auth=_auth()),
], ids=["bedrock", "vertex-gemini", "vertex-claude"])
def test_cloud_clients_take_a_custom_auth_instead_of_their_own(make: Callable[[str], Any],
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No AWS or Google credentials exist anywhere: only the custom auth can make these calls work.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    with FakeLLMServer(api_key="gateway-token") as server:
        client = make(server.url)
        server.enqueue(Fault.status(401))
        assert client.complete("through the gateway").text == "Echo: through the gateway"
        assert [r.headers["authorization"] for r in server.requests] == ["Bearer gateway-token"] * 2
        assert isinstance(client.auth, GatewayToken) and client.auth.refreshes == 1


def _auth() -> GatewayToken:
    return GatewayToken(lambda: "gateway-token")


@responses.activate
def test_key_based_clients_take_a_custom_auth_too() -> None:
    responses.post("https://api.anthropic.com/v1/messages", json={
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1}})
    responses.post("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent", json={
        "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}]})
    assert AnthropicClient("claude-3-5-haiku", auth=_auth()).complete("hi").text == "ok"
    assert GoogleAIClient("gemini-2.0-flash", auth=_auth()).complete("hi").text == "ok"
    for call in responses.calls:
        assert call.request.headers["Authorization"] == "Bearer gateway-token"
        assert "x-api-key" not in call.request.headers and "x-goog-api-key" not in call.request.headers
