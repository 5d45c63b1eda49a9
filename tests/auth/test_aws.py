"""SigV4 for Bedrock: golden values, an independent signer, credential lookup, bearer keys, no leaks."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import logging
from pathlib import Path
from typing import Any, Iterator, Mapping
from unittest import mock
from urllib.parse import quote, urlsplit

import pytest

from llmclient.auth.aws import AwsCredentialSource, BedrockAuth, SigV4Auth
from llmclient.errors import AuthError, ConfigError
from llmclient.models import ChatRequest, HttpRequest, Message
from llmclient.providers.bedrock import BedrockAdapter, BedrockClient
from llmclient.retry import RetryPolicy
from llmclient.testing import FakeLLMServer, Fault

AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "FQoGZXIvYXdzEXAMPLETOKEN"
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
URL = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
BODY = (b'{"messages":[{"role":"user","content":[{"text":"Say hello."}]}],'
        b'"inferenceConfig":{"maxTokens":64,"temperature":0.2}}')
# wire-formats.md section 4, "SigV4 reference values".
GOLDEN_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/bedrock/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
    "Signature=a1ae460d61df9c170bb288a1dfa26cc18e91f12c19ce48b49e2793d3d6497ad0"
)
FROZEN = datetime.datetime(2025, 1, 1, 0, 0, 0)


# -- an independent reference signer (hashlib/hmac only) ------------------------------------------
def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def ref_sign(method: str, url: str, headers: Mapping[str, str], body: bytes, *, secret_key: str,
             region: str = "us-east-1", service: str = "bedrock") -> str:
    """The signature SigV4 gives for the headers named in SignedHeaders, the wire path and the body."""
    lower = {k.lower(): v for k, v in headers.items()}
    auth = lower["authorization"]
    signed_names = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    amz_date = lower["x-amz-date"]
    parts = urlsplit(url)
    values = dict(lower)
    values.setdefault("host", parts.netloc)
    # The canonical URI encodes the (already percent-encoded) wire path once more: %3A -> %253A.
    canonical_path = quote(parts.path, safe="/~")
    query = "&".join(sorted(parts.query.split("&"))) if parts.query else ""
    canonical = "\n".join([
        method, canonical_path, query,
        "".join(f"{n}:{' '.join(values[n].split())}\n" for n in signed_names),
        ";".join(signed_names), hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + secret_key).encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def signature_of(headers: Mapping[str, str]) -> str:
    auth = {k.lower(): v for k, v in headers.items()}["authorization"]
    return auth.split("Signature=")[1]


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's chain must never find this machine's files or instance metadata."""
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def frozen() -> Iterator[None]:
    with mock.patch("botocore.auth.get_current_datetime", return_value=FROZEN):
        yield


def _source(**kw: Any) -> AwsCredentialSource:
    return AwsCredentialSource(**{"region": "us-east-1", **kw})


# -- golden values -------------------------------------------------------------------------------
def test_signed_at_a_frozen_time_matches_the_reference_values(frozen: None) -> None:
    request = HttpRequest("POST", URL, {"Content-Type": "application/json"}, BODY)
    signed = SigV4Auth(_source(access_key_id=AK, secret_access_key=SK, session_token=TOKEN)).apply(request)
    assert signed.headers["Authorization"] == GOLDEN_AUTHORIZATION
    assert signed.headers["X-Amz-Date"] == "20250101T000000Z"
    assert signed.headers["X-Amz-Security-Token"] == TOKEN
    assert ref_sign("POST", URL, signed.headers, BODY, secret_key=SK) == signature_of(signed.headers)
    assert signed.body == BODY and SK in signed.secrets and TOKEN in signed.secrets


def test_the_adapter_builds_the_reference_request(frozen: None) -> None:
    source = _source(access_key_id=AK, secret_access_key=SK, session_token=TOKEN)
    adapter = BedrockAdapter({"model": MODEL, "inference_configuration": {"max_tokens": 64, "temperature": 0.2}},
                             source)
    built = adapter.build_request(ChatRequest((Message("user", "Say hello."),)), stream=False)
    assert built.url == URL and built.body == BODY
    assert SigV4Auth(source).apply(built).headers["Authorization"] == GOLDEN_AUTHORIZATION


@pytest.mark.parametrize("model", [
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
    "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
])
@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:41025"])
def test_model_ids_with_colons_and_slashes_are_encoded_and_signed(model: str, endpoint: str | None,
                                                                   frozen: None) -> None:
    source = _source(access_key_id=AK, secret_access_key=SK)
    options = {"model": model, **({"endpoint_url": endpoint} if endpoint else {})}
    built = BedrockAdapter(options, source).build_request(ChatRequest((Message("user", "hi"),)), stream=True)
    path = urlsplit(built.url).path
    assert path == f"/model/{quote(model, safe='')}/converse-stream"
    assert ":" not in path and path.count("/") == 3
    signed = SigV4Auth(source).apply(built)
    assert "x-amz-security-token" not in signed.headers["Authorization"]
    assert ref_sign("POST", built.url, signed.headers, built.body, secret_key=SK) == signature_of(signed.headers)


def test_the_reference_signer_rejects_a_wrong_signature(frozen: None) -> None:
    request = HttpRequest("POST", URL, {"Content-Type": "application/json"}, BODY)
    signed = SigV4Auth(_source(access_key_id=AK, secret_access_key=SK)).apply(request)
    assert ref_sign("POST", URL, signed.headers, BODY + b" ", secret_key=SK) != signature_of(signed.headers)
    assert ref_sign("POST", URL, signed.headers, BODY, secret_key=SK + "x") != signature_of(signed.headers)


def test_every_attempt_gets_a_fresh_signature_over_the_bytes_sent() -> None:
    times = iter(datetime.datetime(2025, 1, 1, 0, 0, s) for s in range(10))
    with FakeLLMServer() as server, mock.patch("botocore.auth.get_current_datetime", side_effect=lambda: next(times)):
        server.enqueue(Fault.rate_limit(), Fault.server_error(503))
        client = BedrockClient(MODEL, region="us-east-1", endpoint_url=server.url, access_key_id=AK,
                               secret_access_key=SK, session_token=TOKEN,
                               retry_policy=RetryPolicy(max_retries=3, delay_ms=0))
        assert client.complete("hello").text == "Echo: hello"
        recorded = server.requests
        assert len(recorded) == 3
        dates = [r.headers["x-amz-date"] for r in recorded]
        assert dates == ["20250101T000000Z", "20250101T000001Z", "20250101T000002Z"]
        signatures = {signature_of(r.headers) for r in recorded}
        assert len(signatures) == 3
        for r in recorded:
            assert r.headers["x-amz-security-token"] == TOKEN
            assert ref_sign("POST", server.url + r.path, r.headers, r.body, secret_key=SK) == signature_of(r.headers)


# -- credentials -------------------------------------------------------------------------------
def test_chain_credentials_are_read_again_for_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFIRST0000000000A")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-secret-key")
    auth = SigV4Auth(_source())
    request = HttpRequest("POST", URL, {"Content-Type": "application/json"}, BODY)
    assert "Credential=AKIAFIRST0000000000A/" in auth.apply(request).headers["Authorization"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASECOND000000000B")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "second-secret-key")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "second-session-token")
    signed = auth.apply(request)
    assert "Credential=AKIASECOND000000000B/" in signed.headers["Authorization"]
    assert signed.headers["X-Amz-Security-Token"] == "second-session-token"
    assert ref_sign("POST", URL, signed.headers, BODY, secret_key="second-secret-key") == signature_of(signed.headers)


def test_explicit_env_references_are_read_at_request_time(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = SigV4Auth(_source(access_key_id={"env": "MY_KEY_ID"}, secret_access_key={"env": "MY_SECRET"}))
    request = HttpRequest("POST", URL, {}, BODY)
    with pytest.raises(ConfigError, match="MY_KEY_ID"):
        auth.apply(request)
    monkeypatch.setenv("MY_KEY_ID", "AKIDLATER")
    monkeypatch.setenv("MY_SECRET", "later-secret")
    assert "Credential=AKIDLATER/" in auth.apply(request).headers["Authorization"]


def test_a_profile_is_read_from_the_shared_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "credentials").write_text("[dev]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = p-secret\n")
    (tmp_path / "config").write_text("[profile dev]\nregion = eu-west-3\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    source = AwsCredentialSource(profile="dev")
    assert source.region() == "eu-west-3"
    signed = SigV4Auth(source).apply(HttpRequest("POST", URL, {}, BODY))
    assert "Credential=AKIDPROFILE/" in signed.headers["Authorization"]
    assert "/eu-west-3/bedrock/aws4_request" in signed.headers["Authorization"]


def test_region_order(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="no AWS region"):
        AwsCredentialSource().region()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-1")
    assert AwsCredentialSource().region() == "us-west-1"
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert AwsCredentialSource().region() == "us-west-2"
    assert AwsCredentialSource(region="ap-south-1").region() == "ap-south-1"


def test_no_credentials_anywhere_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match="no AWS credentials"):
        SigV4Auth(_source()).apply(HttpRequest("POST", URL, {}, BODY))


@pytest.mark.parametrize("kwargs, message", [
    ({"access_key_id": AK}, "both"),
    ({"secret_access_key": SK}, "both"),
    ({"session_token": TOKEN}, "session_token"),
    ({"access_key_id": AK, "secret_access_key": SK, "profile": "dev"}, "profile or access keys"),
])
def test_bad_key_combinations_are_config_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AwsCredentialSource(**kwargs)


def test_refresh_after_a_401_only_for_chain_credentials() -> None:
    assert SigV4Auth(_source()).refresh() is True
    assert SigV4Auth(_source(access_key_id=AK, secret_access_key=SK)).refresh() is False


# -- bearer API keys ---------------------------------------------------------------------------
def test_an_api_key_is_a_bearer_token_over_https() -> None:
    auth = BedrockAuth(_source(), api_key="bedrock-api-key-123")
    signed = auth.apply(HttpRequest("POST", URL, {"Content-Type": "application/json"}, BODY))
    assert signed.headers["Authorization"] == "Bearer bedrock-api-key-123"
    assert not any(k.lower().startswith("x-amz") for k in signed.headers)
    assert "bedrock-api-key-123" in signed.secrets


def test_a_bearer_token_is_refused_over_plain_http() -> None:
    auth = BedrockAuth(_source(), api_key="bedrock-api-key-123")
    with pytest.raises(ConfigError, match="only sent over https") as info:
        auth.apply(HttpRequest("POST", "http://127.0.0.1:9/model/m/converse", {}, BODY))
    assert "bedrock-api-key-123" not in str(info.value)


def test_the_bearer_environment_variable_is_used_without_explicit_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "env-bearer-token")
    request = HttpRequest("POST", URL, {}, BODY)
    assert BedrockAuth(_source()).apply(request).headers["Authorization"] == "Bearer env-bearer-token"
    explicit = BedrockAuth(_source(access_key_id=AK, secret_access_key=SK), uses_chain=False)
    assert explicit.apply(request).headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")


def test_the_client_refuses_an_api_key_with_aws_keys() -> None:
    with pytest.raises(ConfigError, match="api_key"):
        BedrockClient(MODEL, region="us-east-1", api_key="k", access_key_id=AK, secret_access_key=SK)


# -- nothing secret leaks ------------------------------------------------------------------------
def test_secrets_never_reach_logs_or_reprs(caplog: pytest.LogCaptureFixture, frozen: None) -> None:
    caplog.set_level(logging.DEBUG)
    source = _source(access_key_id=AK, secret_access_key=SK, session_token=TOKEN)
    auth = BedrockAuth(source, uses_chain=False)
    auth.apply(HttpRequest("POST", URL, {"Content-Type": "application/json"}, BODY))
    shown = caplog.text + repr(auth) + repr(source) + repr(auth.sigv4)
    assert SK not in shown and TOKEN not in shown
