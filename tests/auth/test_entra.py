"""Entra ID for Azure OpenAI: the client-credentials form, the token cache, single flight, 401 refresh,
token-provider callables, and the client secret kept out of chat requests, logs, errors and reprs."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Iterator
from urllib.parse import parse_qsl

import pytest
import responses

import llmclient
from llmclient import AzureOpenAIClient, ConfigError
from llmclient.auth.entra import COGNITIVE_SERVICES_SCOPE, EXPIRY_MARGIN_S, EntraClientCredentials, TokenProviderAuth
from llmclient.errors import AuthError, LLMError, ProviderError
from llmclient.models import HttpRequest
from llmclient.runtime import Runtime
from llmclient.testing import FakeLLMServer
from llmclient.testing.formats.entra import entra_token_requests, revoke_entra_tokens, trust_entra_app

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
APP = "11111111-2222-3333-4444-555555555555"
SECRET = "entra-SECRET-do-not-leak-9f8e7d"
AUTHORITY = "https://login.example.test"
TOKEN_URL = f"{AUTHORITY}/{TENANT}/oauth2/v2.0/token"
ANSWER = {"id": "c", "object": "chat.completion", "model": "gpt-4o",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
CHAT_URL = "https://my-res.openai.azure.com/openai/deployments/gpt4o/chat/completions"


class Clock:
    def __init__(self, now: float = 1_735_689_600.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    rt = Runtime(max_workers=32)
    yield rt
    rt.close()


def entra(runtime: Runtime, clock: Clock | None = None, **overrides: Any) -> EntraClientCredentials:
    settings: dict[str, Any] = {"tenant_id": TENANT, "client_id": APP, "client_secret": SECRET,
                                "authority": AUTHORITY, **overrides}
    return EntraClientCredentials(transport=lambda: runtime.transport, clock=clock or Clock(), **settings)


def _request() -> HttpRequest:
    return HttpRequest("POST", CHAT_URL, {}, b"{}")


def azure(**options: Any) -> AzureOpenAIClient:
    settings: dict[str, Any] = {"resource_name": "my-res", "deployment_id": "gpt4o", "tenant_id": TENANT,
                                "client_id": APP, "client_secret": SECRET, "authority": AUTHORITY, **options}
    return AzureOpenAIClient(**settings)


# -- the token request ------------------------------------------------------------------------------
@responses.activate
def test_the_token_request_is_the_client_credentials_form(runtime: Runtime) -> None:
    responses.post(TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "tok-1"})
    signed = entra(runtime).apply(_request())
    assert signed.headers["Authorization"] == "Bearer tok-1" and "tok-1" in signed.secrets
    sent = responses.calls[0].request
    assert sent.url == TOKEN_URL and sent.method == "POST"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(parse_qsl(sent.body if isinstance(sent.body, str) else sent.body.decode()))
    assert form == {"grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
                    "scope": COGNITIVE_SERVICES_SCOPE}


def test_the_default_authority_is_microsofts(runtime: Runtime) -> None:
    auth = EntraClientCredentials(tenant_id=TENANT, client_id=APP, client_secret=SECRET,
                                  transport=lambda: runtime.transport)
    assert auth.token_url() == f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
    gov = entra(runtime, authority="login.microsoftonline.us")
    assert gov.token_url() == f"https://login.microsoftonline.us/{TENANT}/oauth2/v2.0/token"


def test_tenant_and_app_default_to_azure_identity_variables(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-from-env")
    monkeypatch.setenv("AZURE_CLIENT_ID", "app-from-env")
    auth = EntraClientCredentials(client_secret=SECRET, transport=lambda: runtime.transport)
    form = dict(parse_qsl(auth.token_request().body.decode()))
    assert "/tenant-from-env/" in auth.token_url() and form["client_id"] == "app-from-env"
    monkeypatch.delenv("AZURE_TENANT_ID")
    with pytest.raises(ConfigError, match="AZURE_TENANT_ID is not set"):
        auth.token_request()


def test_no_client_secret_names_managed_identity_and_the_token_provider(runtime: Runtime) -> None:
    with pytest.raises(ConfigError, match="managed identity.*azure_ad_token_provider"):
        entra(runtime, client_secret=None).access_token()


@responses.activate
def test_the_token_is_cached_until_the_margin_before_it_expires(runtime: Runtime) -> None:
    responses.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 3599})
    responses.post(TOKEN_URL, json={"access_token": "tok-2", "expires_in": "3599"})  # v1 endpoints send strings
    clock = Clock()
    auth = entra(runtime, clock)
    start = clock.now
    assert auth.access_token() == "tok-1"
    clock.now = start + 3599 - EXPIRY_MARGIN_S - 0.5
    assert auth.access_token() == "tok-1" and len(responses.calls) == 1
    clock.now = start + 3599 - EXPIRY_MARGIN_S
    assert auth.access_token() == "tok-2" and len(responses.calls) == 2
    assert auth.access_token() == "tok-2" and auth.token_requests == 2


def test_sixteen_threads_make_one_token_request(runtime: Runtime) -> None:
    with FakeLLMServer() as server:
        # Each token answer takes 0.3 s: without single flight every thread would ask for its own.
        trust_entra_app(server, tenant_id=TENANT, client_id=APP, client_secret=SECRET, delay_s=0.3)
        auth = entra(runtime, authority=server.url)
        barrier = threading.Barrier(16)
        seen: list[str] = []

        def worker() -> None:
            barrier.wait()
            seen.append(auth.access_token())

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert entra_token_requests(server) == 1
        assert len(seen) == 16 and len(set(seen)) == 1


@responses.activate
def test_refresh_drops_the_cached_token(runtime: Runtime) -> None:
    responses.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 3599})
    responses.post(TOKEN_URL, json={"access_token": "tok-2", "expires_in": 3599})
    auth = entra(runtime)
    assert auth.access_token() == "tok-1"
    assert auth.refresh() is True
    assert auth.access_token() == "tok-2"


@responses.activate
def test_token_endpoint_failures_are_typed_and_never_quote_the_secret(runtime: Runtime) -> None:
    description = ("AADSTS7000215: Invalid client secret provided. Trace ID: t Correlation ID: c\r\n"
                   f"echo: {SECRET}")
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": description,
                                                "error_codes": [7000215]})
    responses.post(TOKEN_URL, status=503, body="unavailable")
    responses.post(TOKEN_URL, status=200, json={"token_type": "Bearer"})
    auth = entra(runtime)
    with pytest.raises(AuthError, match="AADSTS7000215") as info:
        auth.access_token()
    error = info.value
    assert error.retryable is False and error.code == "invalid_client" and error.status_code == 401
    for text in (str(error), repr(error), error.body or ""):
        assert SECRET not in text
    with pytest.raises(ProviderError) as server_error:
        auth.access_token()
    assert server_error.value.retryable is True
    with pytest.raises(AuthError, match="no access_token"):
        auth.access_token()


def test_the_repr_names_the_app_but_never_the_secret(runtime: Runtime) -> None:
    text = repr(entra(runtime)) + repr(azure())
    assert APP in text and SECRET not in text
    assert "env.AZURE_CLIENT_SECRET" not in repr(entra(runtime, client_secret=llmclient.env("AZURE_CLIENT_SECRET")))


# -- the Azure client ----------------------------------------------------------------------------------
@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        rs.post(TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "tok-1"})
        rs.add_callback(responses.POST, CHAT_URL, callback=lambda request: (200, {}, json.dumps(ANSWER)))
        yield rs


def test_the_chat_request_carries_the_bearer_token_and_no_api_key(mock: responses.RequestsMock,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-api-key-must-not-be-used")
    assert azure().complete("hi").text == "ok"
    chat = mock.calls[-1].request
    assert chat.headers["Authorization"] == "Bearer tok-1"
    assert "api-key" not in {k.lower() for k in chat.headers}
    body = json.loads(chat.body)
    assert set(body) == {"messages"}  # tenant_id, client_id, client_secret, authority: none is a body field
    assert SECRET.encode() not in chat.body and "env-api-key" not in json.dumps(dict(chat.headers))


def test_build_request_puts_none_of_the_entra_options_in_the_body(mock: responses.RequestsMock) -> None:
    request = azure(scope=COGNITIVE_SERVICES_SCOPE).build_request("hi")
    assert json.loads(request.body) == {"messages": [{"role": "user", "content": "hi"}]}
    assert SECRET not in repr(request)


def test_api_key_with_entra_options_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="api_key or Entra ID"):
        azure(api_key="k")
    with pytest.raises(ConfigError, match="api_key or Entra ID"):
        llmclient.load_config({"clients": {"Az": {"provider": "azure-openai", "options": {
            "resource_name": "r", "deployment_id": "d", "api_key": "k", "tenant_id": TENANT,
            "client_id": APP, "client_secret": SECRET}}}}).client("Az")


def test_a_401_refreshes_the_token_once_end_to_end(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeLLMServer() as server:
        trust_entra_app(server, tenant_id=TENANT, client_id=APP, client_secret=SECRET)
        client = AzureOpenAIClient(base_url=server.url + "/openai/deployments/gpt4o", tenant_id=TENANT,
                                   client_id=APP, client_secret=SECRET, authority=server.url)
        assert client.complete("hi").text
        assert entra_token_requests(server) == 1
        client.complete("again")
        assert entra_token_requests(server) == 1  # cached
        revoke_entra_tokens(server)
        assert client.complete("after revoke").text
        assert entra_token_requests(server) == 2
        chats = [r for r in server.requests if r.path.endswith("/chat/completions")]
        assert [r.headers.get("authorization", "")[-1] for r in chats] == ["1", "1", "1", "2"]
        assert all("api-key" not in r.headers for r in chats)
        assert all(SECRET.encode() not in r.body for r in chats)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "credentials refreshed" in logged
    assert SECRET not in logged and "fake-entra-" not in logged


def test_a_wrong_secret_is_refused_with_aadsts_json_end_to_end(caplog: pytest.LogCaptureFixture) -> None:
    wrong = "wrong-SECRET-also-private-1a2b"
    caplog.set_level(logging.DEBUG)
    with FakeLLMServer() as server:
        trust_entra_app(server, tenant_id=TENANT, client_id=APP, client_secret=SECRET)
        client = AzureOpenAIClient(base_url=server.url + "/openai/deployments/gpt4o", tenant_id=TENANT,
                                   client_id=APP, client_secret=wrong, authority=server.url)
        with pytest.raises(AuthError, match="AADSTS7000215") as info:
            client.complete("hi")
        assert info.value.status_code == 401 and info.value.client_name == client.name
        form = dict(parse_qsl(server.requests[0].body.decode()))
        assert form["client_secret"] == wrong  # it went to the token endpoint, and only there
        assert len(server.requests) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "requesting an Entra ID token" in logged
    for text in (logged, str(info.value), repr(info.value), info.value.body or ""):
        assert wrong not in text and SECRET not in text


def test_chat_errors_after_an_entra_token_never_quote_the_secret_or_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as rs:
        rs.post(TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "tok-PRIVATE-77"})
        # The chat endpoint can echo only what it received: the token (the secret never reaches it).
        rs.post(CHAT_URL, status=400, json={"error": {"message": "bad tok-PRIVATE-77", "type": "x"}})
        with pytest.raises(LLMError) as info:
            azure().complete("hi")
    for text in (str(info.value), repr(info.value), info.value.body or "",
                 "\n".join(r.getMessage() for r in caplog.records)):
        assert "tok-PRIVATE-77" not in text and SECRET not in text


# -- token providers -----------------------------------------------------------------------------------
def test_a_token_provider_callable_is_asked_on_every_request(mock: responses.RequestsMock) -> None:
    calls: list[int] = []

    def provider() -> str:
        calls.append(1)
        return f"provided-{len(calls)}"

    client = AzureOpenAIClient(resource_name="my-res", deployment_id="gpt4o", azure_ad_token_provider=provider)
    client.complete("a")
    client.complete("b")
    sent = [c.request for c in mock.calls if c.request.url.startswith(CHAT_URL)]
    assert [r.headers["Authorization"] for r in sent] == ["Bearer provided-1", "Bearer provided-2"]
    assert all("api-key" not in r.headers for r in sent) and len(calls) == 2


def test_a_token_provider_through_load_config_auth(mock: responses.RequestsMock) -> None:
    registry = llmclient.load_config({"clients": {"Az": {"provider": "azure-openai", "options": {
        "resource_name": "my-res", "deployment_id": "gpt4o"}}}}, auth={"Az": lambda: "from-config"})
    registry.client("Az").complete("hi")
    assert mock.calls[-1].request.headers["Authorization"] == "Bearer from-config"


def test_token_provider_failures_are_auth_errors() -> None:
    def broken() -> str:
        raise RuntimeError("no managed identity here")

    with pytest.raises(AuthError, match="raised RuntimeError"):
        TokenProviderAuth(broken).apply(_request())
    with pytest.raises(AuthError, match="not a token string"):
        TokenProviderAuth(lambda: None).apply(_request())
    with pytest.raises(ConfigError, match="callable"):
        TokenProviderAuth("not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="only one of them"):
        AzureOpenAIClient(resource_name="r", deployment_id="d", api_key="k", azure_ad_token_provider=lambda: "t")
