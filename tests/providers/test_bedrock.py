"""Bedrock Converse: translation both ways, stop reasons, usage, stream decoding, errors, options, end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

import llmclient
from llmclient.auth.aws import AwsCredentialSource
from llmclient.errors import (
    AuthError,
    ConfigError,
    InvalidRequestError,
    LLMError,
    ProviderError,
    RateLimitError,
    StreamError,
)
from llmclient.models import ChatRequest, HttpResponse, ImagePart, Message, TextPart, ToolCall
from llmclient.providers.bedrock import BedrockAdapter, BedrockClient, BedrockStreamDecoder
from llmclient.retry import RetryPolicy
from llmclient.testing import FakeLLMServer, Fault
from llmclient.testing.formats.bedrock import encode_frame, event_frame, exception_frame

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
WEATHER = {"name": "get_weather", "description": "Get the weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(autouse=True)
def _no_aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def adapter(**options: Any) -> BedrockAdapter:
    return BedrockAdapter({"model": MODEL, **options}, AwsCredentialSource(region="us-east-1"))


def body(request: ChatRequest, **options: Any) -> Any:
    return json.loads(adapter(**options).build_request(request, stream=False).body)


def response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return HttpResponse(status, {"content-type": "application/json", **(headers or {})}, raw)


# -- request translation --------------------------------------------------------------------------
def test_the_simple_body_is_exactly_the_recorded_one() -> None:
    request = ChatRequest((Message("system", "You are terse."), Message("user", "Say hello.")),
                          {"temperature": 0.2, "max_tokens": 64})
    built = adapter().build_request(request, stream=False)
    assert built.body == (b'{"system":[{"text":"You are terse."}],"messages":[{"role":"user","content":'
                          b'[{"text":"Say hello."}]}],"inferenceConfig":{"temperature":0.2,"maxTokens":64}}')
    assert built.headers == {"Content-Type": "application/json"}
    assert built.url.endswith("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse")


def test_tools_tool_choice_tool_use_and_tool_results() -> None:
    call = ToolCall(id="tooluse_1", name="get_weather", arguments={"city": "Paris"})
    messages = (Message("user", "Weather in Paris?"), Message("assistant", "", tool_calls=(call,)),
                Message("tool", '{"temp": 21}', tool_call_id="tooluse_1"),
                Message("tool", "sunny", tool_call_id="tooluse_2"))
    sent = body(ChatRequest(messages, {"tools": [WEATHER], "tool_choice": "required"}))
    assert sent["toolConfig"] == {"tools": [{"toolSpec": {
        "name": "get_weather", "description": "Get the weather for a city",
        "inputSchema": {"json": WEATHER["parameters"]}}}], "toolChoice": {"any": {}}}
    assert sent["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Paris?"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather",
                                                       "input": {"city": "Paris"}}}]},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"temp": 21}}], "status": "success"}},
            {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "sunny"}], "status": "success"}}]},
    ]
    assert body(ChatRequest(messages[:1], {"tools": [WEATHER]}))["toolConfig"]["toolChoice"] == {"auto": {}}
    forced = body(ChatRequest(messages[:1], {"tools": [WEATHER], "tool_choice": "get_weather"}))
    assert forced["toolConfig"]["toolChoice"] == {"tool": {"name": "get_weather"}}
    unforced = body(ChatRequest(messages[:1], {"tools": [WEATHER], "tool_choice": "none"}))
    assert "toolChoice" not in unforced["toolConfig"]


def test_images_go_as_bytes() -> None:
    image = ImagePart.from_bytes(b"\x89PNG fake", "image/png")
    sent = body(ChatRequest((Message("user", (TextPart("What is this?"), image)),)))
    assert sent["messages"][0]["content"] == [{"text": "What is this?"},
                                              {"image": {"format": "png", "source": {"bytes": image.data}}}]
    data_url = ImagePart(url="data:image/jpeg;base64,AAAA")
    assert body(ChatRequest((Message("user", (data_url,)),)))["messages"][0]["content"][0]["image"]["format"] == "jpeg"
    with pytest.raises(InvalidRequestError, match="as bytes"):
        body(ChatRequest((Message("user", (ImagePart(url="https://example.com/a.png"),)),)))


def test_inference_configuration_and_additional_fields() -> None:
    sent = body(ChatRequest((Message("user", "hi"),), {"top_k": 5, "stop": "END"}),
                inference_configuration={"max_tokens": 10, "top_p": 0.9, "stop_sequences": ["x"]},
                additional_model_request_fields={"anthropic_beta": ["b1"]})
    assert sent["inferenceConfig"] == {"maxTokens": 10, "topP": 0.9, "stopSequences": ["END"]}
    assert sent["additionalModelRequestFields"] == {"anthropic_beta": ["b1"], "top_k": 5}


def test_consecutive_turns_of_one_role_are_merged_and_roles_mapped() -> None:
    sent = body(ChatRequest((Message("user", "a"), Message("user", "b"), Message("assistant", "c"))))
    assert sent["messages"] == [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]},
                                {"role": "assistant", "content": [{"text": "c"}]}]


# -- options ---------------------------------------------------------------------------------------
def test_unknown_options_are_config_errors_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="'temperature'"):
        BedrockClient(MODEL, region="us-east-1", temperature=0.5)
    with pytest.raises(ConfigError, match="'top_k'"):
        BedrockClient(MODEL, region="us-east-1", inference_configuration={"top_k": 3})


def test_model_or_model_id_and_nested_credentials() -> None:
    client = BedrockClient(model_id=MODEL, region="us-east-1",
                           credentials={"access_key_id": AK, "secret_access_key": SK})
    assert isinstance(client.adapter, BedrockAdapter) and client.adapter.model_id() == MODEL
    with pytest.raises(ConfigError, match="model or model_id"):
        BedrockClient(MODEL, model_id=MODEL, region="us-east-1")
    with pytest.raises(ConfigError, match="needs options.model"):
        BedrockClient(region="us-east-1")
    with pytest.raises(ConfigError, match="profile or access keys"):
        BedrockClient(MODEL, region="us-east-1", profile="dev", credentials={"access_key_id": AK,
                                                                               "secret_access_key": SK})


# -- answers ---------------------------------------------------------------------------------------
def test_a_converse_answer_with_text_tool_use_and_cache_usage() -> None:
    data = {"output": {"message": {"role": "assistant", "content": [
        {"text": "Let me check."},
        {"toolUse": {"toolUseId": "tooluse_9", "name": "get_weather", "input": {"city": "Paris"}}}]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15, "cacheReadInputTokens": 7,
                  "cacheWriteInputTokens": 2}, "metrics": {"latencyMs": 321}}
    completion = adapter().parse_response(response(data), ())
    assert completion.text == "Let me check."
    assert completion.tool_calls == (ToolCall("tooluse_9", "get_weather", {"city": "Paris"}, '{"city": "Paris"}'),)
    assert completion.finish_reason == "tool_calls" and completion.raw_finish_reason == "tool_use"
    usage = completion.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (12, 3, 15)
    assert (usage.cached_input_tokens, usage.cache_creation_input_tokens) == (7, 2)
    assert completion.model == MODEL


@pytest.mark.parametrize("raw, expected", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
    ("guardrail_intervened", "content_filter"), ("content_filtered", "content_filter"),
    ("malformed_model_output", "other"),
])
def test_stop_reasons_are_normalised(raw: str, expected: str) -> None:
    data = {"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": raw}
    assert adapter().parse_response(response(data), ()).finish_reason == expected


def test_a_200_without_a_message_is_a_provider_error() -> None:
    with pytest.raises(ProviderError):
        adapter().parse_response(response(b"<html>oops</html>"), ())
    with pytest.raises(ProviderError, match="output.message"):
        adapter().parse_response(response({"output": {}}), ())


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("status, code, cls, retryable", [
    (429, "ThrottlingException", RateLimitError, True),
    (429, "ModelNotReadyException", RateLimitError, True),
    (403, "AccessDeniedException", AuthError, False),
    (403, "UnrecognizedClientException", AuthError, False),
    (403, "ExpiredTokenException", AuthError, False),
    (400, "ValidationException", InvalidRequestError, False),
    (404, "ResourceNotFoundException", InvalidRequestError, False),
    (408, "ModelTimeoutException", ProviderError, True),
    (500, "InternalServerException", ProviderError, True),
    (503, "ServiceUnavailableException", ProviderError, True),
    (424, "ModelErrorException", ProviderError, False),
    (400, "ServiceQuotaExceededException", RateLimitError, False),
])
def test_errors_are_classified_from_x_amzn_errortype(status: int, code: str, cls: type[LLMError],
                                                     retryable: bool) -> None:
    headers = {"x-amzn-errortype": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
               "x-amzn-requestid": "req-1"}
    error = adapter().parse_error(response({"message": "it failed"}, status, headers), ())
    assert type(error) is cls and error.retryable is retryable
    assert (error.code, error.message, error.status_code, error.request_id) == (code, "it failed", status, "req-1")


def test_errors_fall_back_to_the_body_code_then_the_status() -> None:
    error = adapter().parse_error(response({"__type": "com.amazon#ThrottlingException", "message": "m"}, 400), ())
    assert isinstance(error, RateLimitError) and error.code == "ThrottlingException"
    assert isinstance(adapter().parse_error(response({"Code": "AccessDenied", "Message": "no"}, 400), ()), AuthError)
    assert isinstance(adapter().parse_error(response({"message": "boom"}, 503), ()), ProviderError)
    html = adapter().parse_error(HttpResponse(502, {"content-type": "text/html"}, b"<title>Bad Gateway</title>"), ())
    assert isinstance(html, ProviderError) and "Bad Gateway" in html.message


# -- streams ---------------------------------------------------------------------------------------
def _frames(*frames: bytes) -> bytes:
    return b"".join(frames)


TOOL_STREAM = _frames(
    event_frame("messageStart", {"role": "assistant"}),
    event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking"}}),
    event_frame("contentBlockStop", {"contentBlockIndex": 0}),
    event_frame("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {
        "toolUseId": "tooluse_1", "name": "get_weather"}}}),
    event_frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city":'}}}),
    event_frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": ' "Paris"}'}}}),
    event_frame("contentBlockStop", {"contentBlockIndex": 1}),
    event_frame("messageStop", {"stopReason": "tool_use"}),
    event_frame("metadata", {"usage": {"inputTokens": 5, "outputTokens": 4, "totalTokens": 9,
                                       "cacheReadInputTokens": 1}, "metrics": {"latencyMs": 10}}),
)


def _accumulate(data: bytes, step: int) -> llmclient.Completion:
    from llmclient.stream import StreamAccumulator

    decoder = BedrockStreamDecoder(MODEL, ())
    acc = StreamAccumulator()
    for i in range(0, len(data), step):
        for chunk in decoder.feed(data[i:i + step]):
            acc.add(chunk)
    for chunk in decoder.finish():
        acc.add(chunk)
    return acc.completion()


@pytest.mark.parametrize("step", [1, 7, 100000])
def test_a_stream_with_text_and_a_tool_call_in_any_split(step: int) -> None:
    completion = _accumulate(TOOL_STREAM, step)
    assert completion.text == "Checking"
    assert completion.tool_calls == (ToolCall("tooluse_1", "get_weather", {"city": "Paris"}, '{"city": "Paris"}'),)
    assert completion.finish_reason == "tool_calls"
    assert completion.usage.total_tokens == 9 and completion.usage.cached_input_tokens == 1


@pytest.mark.parametrize("exception, cls, retryable", [
    ("throttlingException", RateLimitError, True),
    ("serviceUnavailableException", ProviderError, True),
    ("internalServerException", ProviderError, True),
    ("validationException", InvalidRequestError, False),
    ("modelStreamErrorException", ProviderError, False),
])
def test_exception_frames_raise_the_class_they_name(exception: str, cls: type[LLMError], retryable: bool) -> None:
    decoder = BedrockStreamDecoder(MODEL, ())
    with pytest.raises(cls) as info:
        decoder.feed(event_frame("messageStart", {"role": "assistant"}) + exception_frame(exception, "it broke"))
    assert type(info.value) is cls and info.value.retryable is retryable
    assert info.value.code == exception and info.value.message == "it broke"


def test_content_before_an_exception_in_the_same_read_is_delivered_first() -> None:
    decoder = BedrockStreamDecoder(MODEL, ())
    data = event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "partial"}}) + \
        exception_frame("internalServerException", "boom")
    assert [c.text for c in decoder.feed(data)] == ["partial"]
    with pytest.raises(ProviderError, match="boom"):
        decoder.feed(b"")


def test_error_frames_and_early_ends() -> None:
    error = encode_frame({":message-type": "error", ":error-code": "InternalFailure",
                          ":error-message": "it failed"}, b"")
    with pytest.raises(ProviderError, match="it failed"):
        BedrockStreamDecoder(MODEL, ()).feed(error)
    decoder = BedrockStreamDecoder(MODEL, ())
    decoder.feed(event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}}))
    with pytest.raises(ProviderError, match="before messageStop"):
        decoder.finish()


def test_padding_and_unknown_events_are_ignored() -> None:
    data = _frames(event_frame("somethingNew", {"x": 1}),
                   event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "ok"}}, padding=True),
                   event_frame("messageStop", {"stopReason": "end_turn"}, padding=False))
    assert _accumulate(data, 3).text == "ok"


# -- end to end over the fake server ----------------------------------------------------------------
@pytest.fixture
def client(fake_llm_server: FakeLLMServer) -> BedrockClient:
    return BedrockClient(MODEL, region="us-east-1", endpoint_url=fake_llm_server.url, access_key_id=AK,
                         secret_access_key=SK, retry_policy=RetryPolicy(max_retries=2, delay_ms=0))


def test_end_to_end_complete_and_stream(client: BedrockClient, fake_llm_server: FakeLLMServer) -> None:
    completion = client.complete("hello there")
    assert completion.text == "Echo: hello there" and completion.finish_reason == "stop"
    assert completion.request_id == "fake-bedrock-00000001" and completion.usage.input_tokens == 2
    with client.stream("count one two") as stream:
        texts = [chunk.text for chunk in stream if chunk.text]
    assert "".join(texts) == "Echo: count one two" and len(texts) == 4
    assert stream.completion.usage.output_tokens == 4
    assert fake_llm_server.requests[-1].path.endswith("%3A0/converse-stream")
    tool = client.complete("weather?", tools=[WEATHER])
    assert tool.tool_calls[0].name == "get_weather" and tool.finish_reason == "tool_calls"


def test_end_to_end_errors_and_retried_throttles(client: BedrockClient, fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.rate_limit(), Fault.rate_limit())
    completion = client.complete("again")
    assert completion.text == "Echo: again"
    assert [a.outcome for a in completion.attempts] == ["RateLimitError", "RateLimitError", "ok"]
    fake_llm_server.enqueue(Fault.status(400))
    with pytest.raises(InvalidRequestError) as info:
        client.complete("bad")
    assert info.value.code == "ValidationException" and len(fake_llm_server.requests) == 4
    fake_llm_server.enqueue(Fault.rate_limit())
    with client.stream("streamed after a throttle") as stream:
        assert stream.completion.text == "Echo: streamed after a throttle"


def test_end_to_end_a_mid_stream_exception_is_a_stream_error(client: BedrockClient,
                                                              fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.error_event(after_chunks=3, error_type="throttlingException", message="slow"))
    with pytest.raises(StreamError) as info:
        with client.stream("one two three four") as stream:
            list(stream)
    assert info.value.partial_text == "Echo: one"
    assert len(fake_llm_server.requests) == 1  # content had arrived: never retried


@responses.activate
def test_the_original_designs_claude3_block_works_as_a_dict_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AK)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SK)
    responses.post("https://bedrock-runtime.us-west-2.amazonaws.com/model/anthropic.claude-3-sonnet/converse",
                   json={"output": {"message": {"role": "assistant", "content": [{"text": "Hi!"}]}},
                         "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}})
    config = {"clients": {"Claude3": {"provider": "aws-bedrock", "options": {
        "model": "anthropic.claude-3-sonnet", "region": "us-west-2",
        "credentials": {"access_key_id": {"env": "AWS_ACCESS_KEY_ID"},
                        "secret_access_key": {"env": "AWS_SECRET_ACCESS_KEY"}}}}}}
    with llmclient.load_config(config) as registry:
        assert registry.client("Claude3").complete("Hello").text == "Hi!"
    sent = responses.calls[0].request
    assert sent.headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") and "/us-west-2/bedrock/aws4_request" in sent.headers[
        "Authorization"]


def test_reasoning_content_becomes_thinking() -> None:
    data = {"output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "Let me think.", "signature": "sig"}}}, {"text": "42"}]}},
        "stopReason": "end_turn"}
    completion = adapter().parse_response(response(data), ())
    assert (completion.text, completion.thinking) == ("42", "Let me think.")
    stream = _frames(
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm."}}}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "42"}}),
        event_frame("messageStop", {"stopReason": "end_turn"}))
    streamed = _accumulate(stream, 5)
    assert (streamed.text, streamed.thinking) == ("42", "Hmm.")


def test_region_and_credentials_are_looked_up_only_when_a_request_is_made() -> None:
    client = BedrockClient(MODEL)  # no region, no credentials: building is fine
    with pytest.raises(ConfigError, match="no AWS region"):
        client.complete("hi")
    regional = BedrockClient(MODEL, region="eu-central-1")
    with pytest.raises(AuthError, match="no AWS credentials"):
        regional.complete("hi")
