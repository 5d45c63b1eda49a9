"""build_request and parse_response: the exact request without sending, a stored answer to a Completion."""

from __future__ import annotations

import json

import pytest

import llmclient

KEY = "sk-build-request-key-98765"


def test_build_request_is_what_complete_would_send() -> None:
    client = llmclient.OpenAIClient(model="gpt-4o-mini", api_key=KEY)
    request = client.build_request("hello", max_tokens=10)
    assert request.method == "POST" and request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.json() == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}],
                              "max_completion_tokens": 10}
    assert KEY not in repr(request) and "[REDACTED]" in repr(request)
    streamed = client.build_request("hello", stream=True)
    assert streamed.stream and streamed.json()["stream_options"] == {"include_usage": True}


def test_build_request_is_signed_where_the_provider_signs() -> None:
    client = llmclient.BedrockClient(model="anthropic.claude-3-sonnet", region="us-west-2",
                                     access_key_id="AKIDEXAMPLE", secret_access_key="wJalrXUtnFEMIEXAMPLEKEY")
    request = client.build_request([{"role": "system", "content": "terse"}, {"role": "user", "content": "hi"}])
    assert request.url == "https://bedrock-runtime.us-west-2.amazonaws.com/model/anthropic.claude-3-sonnet/converse"
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "x-amz-date" in {k.lower() for k in request.headers}
    assert json.loads(request.body)["system"] == [{"text": "terse"}]
    assert "Signature=" not in repr(request)


def test_parse_response_turns_a_stored_answer_into_a_completion() -> None:
    client = llmclient.AnthropicClient(model="claude", api_key=KEY, name="Claude")
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Hi there"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 2}}
    completion = client.parse_response(200, {"Request-Id": "req_9"}, json.dumps(body))
    assert (completion.text, completion.finish_reason, completion.request_id) == ("Hi there", "stop", "req_9")
    assert completion.client_name == "Claude" and completion.provider == "anthropic"
    assert completion.usage.input_tokens == 3


def test_parse_response_raises_the_typed_error_of_a_stored_failure() -> None:
    client = llmclient.OpenAIClient(model="m", api_key=KEY, name="GPT")
    body = json.dumps({"error": {"message": "slow down", "type": "requests", "param": None,
                                 "code": "rate_limit_exceeded"}}).encode()
    with pytest.raises(llmclient.RateLimitError) as info:
        client.parse_response(429, {"retry-after": "7"}, body)
    assert info.value.retry_after == 7.0 and info.value.client_name == "GPT"
