"""Google OAuth for Vertex: the JWT, the token cache, single flight, 401 refresh, credential order, no leaks."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qsl

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from llmclient.auth.google import (
    CLOUD_PLATFORM_SCOPE,
    GOOGLE_TOKEN_AUDIENCE,
    JWT_BEARER_GRANT,
    GoogleAuth,
    GoogleCredentials,
)
from llmclient.errors import AuthError, ConfigError, ProviderError
from llmclient.models import HttpRequest
from llmclient.runtime import Runtime
from llmclient.testing import FakeLLMServer
from llmclient.testing.formats.vertex import token_requests, trust_refresh_token, trust_service_account

TOKEN_URI = "https://oauth2.example.test/token"


class Keys:
    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode()
        self.public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)
        # The base64 body of the key: what a leak would show even without the PEM armour.
        self.key_body = "".join(self.private_pem.splitlines()[1:-1])[40:100]


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


def service_account(keys: Keys, token_uri: str = TOKEN_URI, **extra: Any) -> dict[str, Any]:
    return {"type": "service_account", "project_id": "sa-project", "private_key_id": "kid-123",
            "private_key": keys.private_pem, "client_email": "robot@sa-project.iam.gserviceaccount.com",
            "token_uri": token_uri, **extra}


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


def auth_for(info: Any, runtime: Runtime, clock: Clock | None = None) -> GoogleAuth:
    return GoogleAuth(lambda: GoogleCredentials.from_value(info, "test"), lambda: runtime.transport,
                      clock=clock or Clock())


def _request() -> HttpRequest:
    return HttpRequest("POST", "https://us-central1-aiplatform.googleapis.com/v1/x", {}, b"{}")


# -- the JWT and the token request ----------------------------------------------------------------
@responses.activate
def test_the_jwt_has_googles_header_and_claims_and_verifies(keys: Keys, runtime: Runtime) -> None:
    responses.post(TOKEN_URI, json={"access_token": "ya29.first", "expires_in": 3599, "token_type": "Bearer"})
    signed = auth_for(service_account(keys), runtime).apply(_request())
    assert signed.headers["Authorization"] == "Bearer ya29.first" and "ya29.first" in signed.secrets
    sent = responses.calls[0].request
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(parse_qsl(sent.body if isinstance(sent.body, str) else sent.body.decode()))
    assert form["grant_type"] == JWT_BEARER_GRANT
    assertion = form["assertion"]
    assert jwt.get_unverified_header(assertion) == {"alg": "RS256", "typ": "JWT", "kid": "kid-123"}
    claims = jwt.decode(assertion, keys.public_pem, algorithms=["RS256"], audience=GOOGLE_TOKEN_AUDIENCE,
                        options={"verify_exp": False})  # signed at the injected clock's 2025-01-01
    assert claims == {"iat": 1735689600, "exp": 1735689600 + 3600, "iss": "robot@sa-project.iam.gserviceaccount.com",
                      "aud": GOOGLE_TOKEN_AUDIENCE, "scope": CLOUD_PLATFORM_SCOPE}


@responses.activate
def test_the_token_is_cached_until_five_minutes_before_it_expires(keys: Keys, runtime: Runtime) -> None:
    responses.post(TOKEN_URI, json={"access_token": "ya29.one", "expires_in": 3600})
    responses.post(TOKEN_URI, json={"access_token": "ya29.two", "expires_in": 3600})
    clock = Clock()
    auth = auth_for(service_account(keys), runtime, clock)
    start = clock.now
    assert auth.access_token() == "ya29.one"
    clock.now = start + 3600 - 300 - 0.5
    assert auth.access_token() == "ya29.one" and len(responses.calls) == 1
    clock.now = start + 3600 - 300
    assert auth.access_token() == "ya29.two" and len(responses.calls) == 2
    clock.now += 10
    assert auth.access_token() == "ya29.two" and len(responses.calls) == 2


def test_thirty_two_threads_with_an_expired_token_make_one_token_request(keys: Keys, runtime: Runtime) -> None:
    with FakeLLMServer() as server:
        # The first token lives 300 s: inside the five-minute margin, so it is already stale.
        trust_service_account(server, keys.public_pem, token_lifetime=300)
        auth = auth_for(service_account(keys, server.url + "/token"), runtime, Clock(time.time()))
        first = auth.access_token()
        assert token_requests(server) == 1
        trust_service_account(server, keys.public_pem, token_lifetime=3600)
        barrier = threading.Barrier(32)
        seen: list[str] = []

        def worker() -> None:
            barrier.wait()
            seen.append(auth.access_token())

        threads = [threading.Thread(target=worker) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert token_requests(server) == 2
        assert len(seen) == 32 and len(set(seen)) == 1 and seen[0] != first


@responses.activate
def test_refresh_drops_the_cached_token(keys: Keys, runtime: Runtime) -> None:
    responses.post(TOKEN_URI, json={"access_token": "ya29.one", "expires_in": 3600})
    responses.post(TOKEN_URI, json={"access_token": "ya29.two", "expires_in": 3600})
    auth = auth_for(service_account(keys), runtime)
    assert auth.access_token() == "ya29.one"
    assert auth.refresh() is True
    assert auth.access_token() == "ya29.two"


def test_a_raw_authorization_token_is_used_as_is_and_never_refreshed(runtime: Runtime) -> None:
    auth = GoogleAuth(lambda: GoogleCredentials.find(authorization="ya29.raw-token"), lambda: runtime.transport)
    assert auth.apply(_request()).headers["Authorization"] == "Bearer ya29.raw-token"
    assert auth.refresh() is False


def test_authorized_user_files_refresh_through_their_refresh_token(runtime: Runtime) -> None:
    with FakeLLMServer() as server:
        trust_refresh_token(server, "1//refresh-abc", "client-1.apps.googleusercontent.com")
        info = {"type": "authorized_user", "client_id": "client-1.apps.googleusercontent.com",
                "client_secret": "client-secret-xyz", "refresh_token": "1//refresh-abc",
                "quota_project_id": "user-project", "token_uri": server.url + "/token"}
        auth = auth_for(info, runtime)
        assert auth.access_token().startswith("ya29.fake-")
        form = dict(parse_qsl(server.requests[0].body.decode()))
        assert form == {"grant_type": "refresh_token", "client_id": "client-1.apps.googleusercontent.com",
                        "client_secret": "client-secret-xyz", "refresh_token": "1//refresh-abc"}
        assert auth.credentials().project_id == "user-project"
        bad = auth_for({**info, "refresh_token": "1//revoked"}, runtime)
        with pytest.raises(AuthError, match="invalid_grant|Bad Request") as error:
            bad.access_token()
        assert "1//revoked" not in str(error.value) and "client-secret-xyz" not in str(error.value)


@responses.activate
def test_token_endpoint_failures_are_typed(keys: Keys, runtime: Runtime) -> None:
    responses.post(TOKEN_URI, status=400,
                   json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    responses.post(TOKEN_URI, status=503, body="unavailable")
    auth = auth_for(service_account(keys), runtime)
    with pytest.raises(AuthError, match="Invalid JWT Signature") as info:
        auth.access_token()
    assert info.value.retryable is False and info.value.code == "invalid_grant"
    with pytest.raises(ProviderError) as server_error:
        auth.access_token()
    assert server_error.value.retryable is True


# -- credential sources -----------------------------------------------------------------------------
def _write(path: Path, info: dict[str, Any]) -> Path:
    path.write_text(json.dumps(info))
    return path


def test_credential_sources_in_order(keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def sa(email: str) -> dict[str, Any]:
        return service_account(keys, client_email=email)

    adc_dir = tmp_path / "gcloud"
    adc_dir.mkdir()
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(adc_dir))
    with pytest.raises(ConfigError, match="no Google credentials"):
        GoogleCredentials.find()
    _write(adc_dir / "application_default_credentials.json", sa("adc@x.iam"))
    assert GoogleCredentials.find().account == "adc@x.iam"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_write(tmp_path / "gac.json", sa("gac@x.iam"))))
    assert GoogleCredentials.find().source.startswith("GOOGLE_APPLICATION_CREDENTIALS")
    assert GoogleCredentials.find().account == "gac@x.iam"
    content = json.dumps(sa("content@x.iam"))
    assert GoogleCredentials.find(credentials_content=content).account == "content@x.iam"
    path = _write(tmp_path / "opt.json", sa("path@x.iam"))
    assert GoogleCredentials.find(credentials=str(path), credentials_content=content).account == "path@x.iam"
    assert GoogleCredentials.find(credentials=sa("object@x.iam")).account == "object@x.iam"
    assert GoogleCredentials.find(credentials=json.dumps(sa("text@x.iam"))).account == "text@x.iam"
    monkeypatch.setenv("SA_JSON", json.dumps(sa("env@x.iam")))
    assert GoogleCredentials.find(credentials={"env": "SA_JSON"}).account == "env@x.iam"
    found = GoogleCredentials.find(authorization="ya29.direct", credentials=str(path))
    assert found.kind == "token" and found.static_token == "ya29.direct"


def test_bad_credentials_are_config_errors_without_their_content(keys: Keys, tmp_path: Path) -> None:
    broken = json.dumps(service_account(keys))[:-5]
    with pytest.raises(ConfigError) as info:
        GoogleCredentials.find(credentials_content=broken)
    assert keys.key_body not in str(info.value)
    with pytest.raises(ConfigError, match="cannot read"):
        GoogleCredentials.find(credentials=str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="not supported"):
        GoogleCredentials.find(credentials={"type": "external_account"})
    with pytest.raises(ConfigError, match="lack private_key"):
        GoogleCredentials.find(credentials={"type": "service_account", "client_email": "a@b"})
    bad_key = GoogleCredentials.from_info(service_account(keys, private_key="-----BEGIN PRIVATE KEY-----\nAAAA"), "t")
    with pytest.raises(ConfigError, match="cannot sign") as signing:
        bad_key.assertion(0)
    assert "AAAA" not in str(signing.value)


# -- no leaks -----------------------------------------------------------------------------------------
@responses.activate
def test_the_private_key_never_appears_in_reprs_errors_or_logs(keys: Keys, runtime: Runtime,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    responses.post(TOKEN_URI, json={"access_token": "ya29.ok", "expires_in": 3600})
    responses.post(TOKEN_URI, status=400, json={"error": "invalid_grant", "error_description": "nope"})
    auth = auth_for(service_account(keys), runtime)
    auth.access_token()
    auth.refresh()
    with pytest.raises(AuthError) as info:
        auth.access_token()
    shown = " ".join([caplog.text, repr(auth), str(auth), repr(auth.credentials()), str(info.value),
                      repr(info.value), info.value.body or ""])
    assert keys.key_body not in shown and "PRIVATE KEY" not in shown
    assert "robot@sa-project.iam.gserviceaccount.com" in repr(auth)
