"""Structured output on every provider: the documented request shape, and ``Completion.parsed`` end to end.

Request shapes are those of ``wire-formats-2026.md`` (observed with each official SDK): OpenAI
``response_format.json_schema``, Responses ``text.format`` (flat), Anthropic ``output_config.format``
(GA form, no beta header), Gemini ``generationConfig.responseMimeType`` + ``responseJsonSchema``,
Bedrock ``outputConfig.textFormat.structure.jsonSchema.schema`` (a JSON *string*). FakeLLMServer
answers a structured request with the schema's minimal instance, and (like the real APIs) refuses
``response_format`` where it is not a field: at the top of an Anthropic body, inside Bedrock's
``additionalModelRequestFields``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from every_client import CLIENTS  # one builder per client kind, shared with other provider tests

import llmclient
from llmclient.models import Completion
from llmclient.testing import FakeLLMServer

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "temp_c": {"type": "integer"}},
          "required": ["city", "temp_c"], "additionalProperties": False}
FORMAT = {"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True}}



class Weather:
    """Stands in for a Pydantic model: only ``model_json_schema()`` is used (Pydantic never imported)."""

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        return {"title": "Weather", **SCHEMA}


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


def _run(client: Any, stream: bool, **params: Any) -> Completion:
    if not stream:
        return client.complete("Weather in Paris?", **params)
    with client.stream("Weather in Paris?", **params) as streamed:
        for _ in streamed:
            pass
    return streamed.completion


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("kind", sorted(CLIENTS))
@pytest.mark.parametrize("given", [FORMAT, SCHEMA, Weather], ids=["json_schema", "bare", "model_class"])
def test_parsed_on_every_provider(server: FakeLLMServer, kind: str, stream: bool, given: Any) -> None:
    completion = _run(CLIENTS[kind](server), stream, response_format=given, max_tokens=200)
    assert completion.parsed == {"city": "Weather in Paris?", "temp_c": 0}
    assert json.loads(completion.text) == completion.parsed and completion.tool_calls == ()


def test_parsed_is_none_without_response_format(server: FakeLLMServer) -> None:
    assert CLIENTS["anthropic"](server).complete("hi").parsed is None


def _body(server: FakeLLMServer) -> dict[str, Any]:
    return json.loads(server.requests[-1].body)


def test_the_documented_request_shape_per_provider(server: FakeLLMServer) -> None:
    shapes: dict[str, Any] = {}
    for kind in ("openai", "openai-responses", "anthropic", "google-ai", "vertex-gemini", "vertex-claude",
                 "aws-bedrock"):
        CLIENTS[kind](server).complete("hi", response_format=FORMAT)
        shapes[kind] = _body(server)
    assert shapes["openai"]["response_format"] == FORMAT  # passed as given
    assert shapes["openai-responses"]["text"] == {"format": {"type": "json_schema", "name": "weather",
                                                             "schema": SCHEMA, "strict": True}}
    for kind in ("anthropic", "vertex-claude"):
        assert shapes[kind]["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
        assert "response_format" not in shapes[kind]
    for kind in ("google-ai", "vertex-gemini"):
        assert shapes[kind]["generationConfig"] == {"responseMimeType": "application/json",
                                                    "responseJsonSchema": SCHEMA}
    bedrock = shapes["aws-bedrock"]
    spec = bedrock["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert bedrock["outputConfig"]["textFormat"]["type"] == "json_schema" and spec["name"] == "weather"
    assert isinstance(spec["schema"], str) and json.loads(spec["schema"]) == SCHEMA
    assert "additionalModelRequestFields" not in bedrock
    assert "anthropic-beta" not in server.requests[2].headers


def test_json_object_mode_decodes_without_a_schema(server: FakeLLMServer) -> None:
    completion = CLIENTS["openai"](server).complete("hi", response_format={"type": "json_object"})
    assert completion.parsed == {"echo": "hi"}
    assert CLIENTS["google-ai"](server).complete("hi", response_format={"type": "json_object"}).parsed == {"echo": "hi"}


def test_an_answer_that_is_not_json_is_a_typed_error_keeping_the_text(server: FakeLLMServer) -> None:
    for stream in (False, True):
        with pytest.raises(llmclient.StructuredOutputError) as caught:
            _run(CLIENTS["google-ai"](server), stream, response_format=FORMAT, max_tokens=2)  # cut: not JSON
        err = caught.value
        assert isinstance(err, llmclient.ProviderError) and not err.retryable
        assert err.text.startswith('{"city":') and "not valid JSON" in str(err) and err.problem
        assert err.text not in str(err)  # the answer is kept on the error, not put in its message


def test_validation_against_the_schema_is_on_by_default_and_can_be_turned_off(server: FakeLLMServer) -> None:
    from llmclient.structured import OutputFormat, decoded

    answer = Completion(text='{"city": 3}', provider="openai", client_name="c")
    strict = OutputFormat("weather", SCHEMA)
    with pytest.raises(llmclient.StructuredOutputError) as caught:
        decoded(answer, strict)
    assert "not valid for the schema" in str(caught.value) and caught.value.text == '{"city": 3}'
    assert "$.city" in caught.value.problem or "temp_c" in caught.value.problem
    assert decoded(answer, OutputFormat("weather", SCHEMA, validate=False)).parsed == {"city": 3}
    completion = CLIENTS["openai"](server).complete("hi", response_format=FORMAT, validate_output=False)
    assert "validate_output" not in _body(server) and completion.parsed is not None


def test_a_structured_output_error_is_not_retried_and_falls_back(server: FakeLLMServer) -> None:
    policy = llmclient.RetryPolicy(max_retries=3, strategy="constant_delay", delay_ms=0)
    # max_tokens=1 on the first client only: its JSON answer is cut, so it is not JSON.
    first = llmclient.OpenAIClient("gpt-5.2", api_key="k", base_url=server.openai_base_url, max_tokens=1,
                                   retry_policy=policy, name="first")
    both = llmclient.FallbackClient([first, CLIENTS["anthropic"](server)])
    completion = both.complete("Weather in Paris?", response_format=FORMAT)
    assert completion.provider == "anthropic" and completion.parsed == {"city": "Weather in Paris?", "temp_c": 0}
    assert len([r for r in server.requests if r.path.endswith("/chat/completions")]) == 1  # not retried
    failed = completion.attempts[0].error
    assert isinstance(failed, llmclient.StructuredOutputError) and failed.client_name == "first"
    assert "cut at the token limit" in str(failed) and failed.text and not failed.text.endswith("}")


def test_a_schema_that_is_not_a_schema_is_refused_before_sending(server: FakeLLMServer) -> None:
    with pytest.raises(llmclient.InvalidRequestError, match="response_format.*properties"):
        CLIENTS["anthropic"](server).complete("hi", response_format={"type": "object", "properties": 3})
    assert server.requests == []


def test_the_fake_refuses_response_format_where_the_api_does(server: FakeLLMServer) -> None:
    import requests

    answer = requests.post(server.url + "/v1/messages", json={
        "model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
        "response_format": FORMAT}, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"}, timeout=10)
    assert answer.status_code == 400 and "response_format" in answer.text


def test_build_request_sends_what_complete_sends() -> None:
    client = llmclient.AnthropicClient("claude-sonnet-4-6", api_key="k")
    body = client.build_request("hi", response_format=SCHEMA, validate_output=False).json()
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert "validate_output" not in body and "response_format" not in body


def test_fallback_on_can_name_structured_output_error(server: FakeLLMServer) -> None:
    first = llmclient.OpenAIClient("gpt-5.2", api_key="k", base_url=server.openai_base_url, max_tokens=1)
    picky = llmclient.FallbackClient([first, CLIENTS["google-ai"](server)], fallback_on=["StructuredOutputError"])
    assert picky.complete("Weather in Paris?", response_format=FORMAT).provider == "google-ai"
    strict = llmclient.FallbackClient([first, CLIENTS["google-ai"](server)], fallback_on=["rate_limit"])
    with pytest.raises(llmclient.StructuredOutputError):
        strict.complete("Weather in Paris?", response_format=FORMAT)


@pytest.mark.parametrize("kind", ["openai", "anthropic", "google-ai"])
def test_a_response_format_option_is_decoded_too_and_a_call_can_remove_it(server: FakeLLMServer, kind: str) -> None:
    make = {"openai": lambda: llmclient.OpenAIClient("gpt-5.2", api_key="k", base_url=server.openai_base_url,
                                                     response_format=FORMAT),
            "anthropic": lambda: llmclient.AnthropicClient("claude-x", api_key="k", base_url=server.url,
                                                           response_format=FORMAT),
            "google-ai": lambda: llmclient.GoogleAIClient("gemini-x", api_key="k", base_url=server.url + "/v1beta",
                                                          response_format=FORMAT)}
    client = make[kind]()
    assert client.complete("Weather in Paris?").parsed == {"city": "Weather in Paris?", "temp_c": 0}
    plain = client.complete("Weather in Paris?", response_format=None)
    assert plain.parsed is None and plain.text.startswith("Echo")
