"""The fake server's Bedrock and Vertex formats, checked with raw HTTP and (for Bedrock) the real boto3."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from llmclient.testing import FakeLLMServer, Fault
from llmclient.testing.formats.vertex import revoke_tokens, token_requests, trust_refresh_token, trust_service_account

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
CONVERSE = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
GEMINI = "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"
CLAUDE = "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-3-5-haiku@20241022:rawPredict"
AUD = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _key() -> tuple[Any, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def keys() -> tuple[Any, bytes, Any]:
    key, public = _key()
    other, _ = _key()
    return key, public, other


def _converse_body(text: str = "Say hello.") -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": text}]}], "inferenceConfig": {"maxTokens": 64}}


def _frames(data: bytes) -> list[Any]:
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


# -- Bedrock with raw HTTP ---------------------------------------------------------------------------
def test_converse_json_and_event_stream_frames(fake_llm_server: FakeLLMServer) -> None:
    answer = requests.post(fake_llm_server.url + CONVERSE, json=_converse_body(), timeout=10)
    assert answer.status_code == 200 and answer.headers["x-amzn-requestid"]
    data = answer.json()
    assert data["output"]["message"] == {"role": "assistant", "content": [{"text": "Echo: Say hello."}]}
    assert data["stopReason"] == "end_turn" and data["usage"]["totalTokens"] == 5
    streamed = requests.post(fake_llm_server.url + CONVERSE + "-stream", json=_converse_body(), timeout=10)
    assert streamed.headers["content-type"] == "application/vnd.amazon.eventstream"
    frames = _frames(streamed.content)  # botocore checks both CRCs of every frame
    kinds = [f.headers[":event-type"] for f in frames]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    deltas = [json.loads(f.payload) for f in frames if f.headers[":event-type"] == "contentBlockDelta"]
    assert "".join(d["delta"]["text"] for d in deltas) == "Echo: Say hello."
    assert all("p" in json.loads(f.payload) for f in frames)  # real frames carry padding
    assert fake_llm_server.requests[0].path == CONVERSE


def test_bedrock_errors_and_exception_frames(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.rate_limit(), Fault.error_event(after_chunks=2, error_type="throttlingException",
                                                                   message="slow down"))
    throttled = requests.post(fake_llm_server.url + CONVERSE, json=_converse_body(), timeout=10)
    assert throttled.status_code == 429
    assert throttled.headers["x-amzn-errortype"].split(":")[0] == "ThrottlingException"
    assert throttled.json() == {"message": "Too many requests, please wait before trying again."}
    streamed = requests.post(fake_llm_server.url + CONVERSE + "-stream", json=_converse_body(), timeout=10)
    last = _frames(streamed.content)[-1]
    assert last.headers[":message-type"] == "exception"
    assert last.headers[":exception-type"] == "throttlingException"
    assert json.loads(last.payload) == {"message": "slow down"}
    bad = requests.post(fake_llm_server.url + CONVERSE, data=b"{not json", timeout=10)
    assert bad.status_code == 400 and bad.headers["x-amzn-errortype"].startswith("ValidationException:")


def test_bedrock_api_key_checks_sigv4_key_ids_and_bearer_tokens() -> None:
    with FakeLLMServer(api_key="AKIDGOOD") as server:
        def post(authorization: str) -> requests.Response:
            return requests.post(server.url + CONVERSE, json=_converse_body(), timeout=10,
                                 headers={"Authorization": authorization})

        signed = "AWS4-HMAC-SHA256 Credential={}/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host, " \
                 "Signature=00"
        assert post(signed.format("AKIDGOOD")).status_code == 200
        refused = post(signed.format("AKIDBAD"))
        assert refused.status_code == 401
        assert refused.headers["x-amzn-errortype"].startswith("UnrecognizedClientException:")
        assert post("Bearer AKIDGOOD").status_code == 200


def test_boto3_itself_reads_the_fake_bedrock() -> None:
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    from botocore.exceptions import ClientError, EventStreamError

    with FakeLLMServer() as server:
        client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=server.url,
                              aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                              config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        answer = client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi boto"}]}])
        assert answer["output"]["message"]["content"] == [{"text": "Echo: hi boto"}]
        assert answer["stopReason"] == "end_turn" and answer["usage"]["inputTokens"] == 2
        assert server.requests[0].path == CONVERSE
        events = list(client.converse_stream(modelId=MODEL, messages=[
            {"role": "user", "content": [{"text": "stream boto"}]}])["stream"])
        text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
        assert text == "Echo: stream boto" and events[-1]["metadata"]["usage"]["outputTokens"] == 3
        server.enqueue(Fault.rate_limit())
        with pytest.raises(ClientError) as throttled:
            client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "x"}]}])
        assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
        server.enqueue(Fault.error_event(after_chunks=2, error_type="modelStreamErrorException", message="bad"))
        with pytest.raises(EventStreamError) as broken:
            list(client.converse_stream(modelId=MODEL, messages=[
                {"role": "user", "content": [{"text": "x y z"}]}])["stream"])
        assert broken.value.response["Error"]["Code"] == "modelStreamErrorException"


# -- the Google token endpoint -------------------------------------------------------------------------
def _assertion(key: Any, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iat": now, "exp": now + 3600, "iss": "robot@p.iam.gserviceaccount.com", "aud": AUD, "scope": SCOPE}
    headers = {"typ": "JWT", "alg": "RS256", "kid": changes.pop("kid", "kid-1")}
    claims.update(changes)
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def _token(server: FakeLLMServer, assertion: str) -> requests.Response:
    return requests.post(server.url + "/token", timeout=10, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})


def test_the_token_endpoint_checks_the_jwt(keys: tuple[Any, bytes, Any]) -> None:
    key, public, other = keys
    with FakeLLMServer() as server:
        assert _token(server, _assertion(key)).json()["error"] == "invalid_client"  # nothing trusted yet
        trust_service_account(server, public, token_lifetime=1234)
        issued = _token(server, _assertion(key))
        assert issued.status_code == 200
        assert issued.json() == {"access_token": "ya29.fake-1", "expires_in": 1234, "token_type": "Bearer"}
        for bad in (_assertion(other), _assertion(key, aud=server.url + "/token"), _assertion(key, kid=""),
                    _assertion(key, scope="https://www.googleapis.com/auth/userinfo.email"),
                    _assertion(key, exp=int(time.time()) + 7200), _assertion(key, exp=int(time.time()) - 10),
                    "not.a.jwt"):
            refused = _token(server, bad)
            assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", bad
        as_json = requests.post(server.url + "/token", json={"assertion": _assertion(key)}, timeout=10)
        assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
        assert token_requests(server) == 10


def test_refresh_token_grants(keys: tuple[Any, bytes, Any]) -> None:
    with FakeLLMServer() as server:
        trust_refresh_token(server, "1//r", "client-1")
        form = {"grant_type": "refresh_token", "client_id": "client-1", "client_secret": "s", "refresh_token": "1//r"}
        assert requests.post(server.url + "/token", data=form, timeout=10).json()["access_token"] == "ya29.fake-1"
        wrong = requests.post(server.url + "/token", data={**form, "client_id": "client-2"}, timeout=10)
        assert wrong.status_code == 400


# -- Vertex routes -----------------------------------------------------------------------------------------
def _gemini_body() -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "hi vertex"}]}]}


def _claude_body(**extra: Any) -> dict[str, Any]:
    return {"anthropic_version": "vertex-2023-10-16", "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi claude"}], **extra}


def test_vertex_routes_answer_in_gemini_and_anthropic_form(fake_llm_server: FakeLLMServer) -> None:
    gemini = requests.post(fake_llm_server.url + GEMINI, json=_gemini_body(), timeout=10).json()
    assert gemini["candidates"][0]["content"]["parts"][0]["text"] == "Echo: hi vertex"
    assert gemini["modelVersion"].startswith("gemini-2.0-flash")
    streamed = requests.post(fake_llm_server.url + GEMINI.replace(":generateContent", ":streamGenerateContent"),
                             params={"alt": "sse"}, json=_gemini_body(), timeout=10)
    assert streamed.text.startswith("data: ")
    claude = requests.post(fake_llm_server.url + CLAUDE, json=_claude_body(), timeout=10).json()
    assert claude["content"][0]["text"] == "Echo: hi claude" and claude["model"] == "claude-3-5-haiku@20241022"
    with_model = requests.post(fake_llm_server.url + CLAUDE, json=_claude_body(model="claude"), timeout=10)
    assert with_model.status_code == 400 and "model" in with_model.json()["error"]["message"]
    old_version = requests.post(fake_llm_server.url + CLAUDE, json=_claude_body(anthropic_version="2023-06-01"),
                                timeout=10)
    assert old_version.status_code == 400


def test_vertex_routes_need_an_issued_token_once_a_key_is_trusted(keys: tuple[Any, bytes, Any]) -> None:
    key, public, _ = keys
    with FakeLLMServer() as server:
        trust_service_account(server, public)
        server.enqueue(Fault.server_error())
        refused = requests.post(server.url + GEMINI, json=_gemini_body(), timeout=10)
        assert refused.status_code == 401 and refused.json()["error"]["status"] == "UNAUTHENTICATED"
        token = _token(server, _assertion(key)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        # The queued fault was not consumed by the refused call or the token request.
        assert requests.post(server.url + GEMINI, json=_gemini_body(), headers=headers, timeout=10).status_code == 500
        assert requests.post(server.url + CLAUDE, json=_claude_body(), headers=headers, timeout=10).status_code == 200
        revoke_tokens(server)
        assert requests.post(server.url + CLAUDE, json=_claude_body(), headers=headers, timeout=10).status_code == 401


def test_vertex_routes_with_a_server_api_key_want_it_as_a_bearer_token() -> None:
    with FakeLLMServer(api_key="static-token") as server:
        assert requests.post(server.url + GEMINI, json=_gemini_body(), timeout=10).status_code == 401
        ok = requests.post(server.url + GEMINI, json=_gemini_body(), timeout=10,
                           headers={"Authorization": "Bearer static-token"})
        assert ok.status_code == 200
