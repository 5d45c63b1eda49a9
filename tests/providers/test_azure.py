"""Azure OpenAI: the three addressing forms, api-version, the api-key header and config errors."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
import responses

import llmclient
from llmclient import AzureOpenAIClient, ConfigError
from llmclient.providers.azure import DEFAULT_AZURE_API_VERSION

KEY = "azure-key-DISTINCTIVE-5d1e0f"
ANSWER = {"id": "c", "object": "chat.completion", "model": "gpt-4o",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        rs.add_callback(responses.POST, __import__("re").compile(r"https://.*"),
                        callback=lambda request: (200, {"x-request-id": "az-1"}, json.dumps(ANSWER)))
        yield rs


def last(mock: responses.RequestsMock) -> Any:
    return mock.calls[-1].request


def test_resource_name_and_deployment_id(mock: responses.RequestsMock) -> None:
    result = AzureOpenAIClient(resource_name="my-res", deployment_id="gpt4o-prod", api_key=KEY).complete("hi")
    request = last(mock)
    assert request.url == ("https://my-res.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions"
                           f"?api-version={DEFAULT_AZURE_API_VERSION}")
    assert request.headers["api-key"] == KEY
    assert "Authorization" not in request.headers
    assert result.provider == "azure-openai" and result.request_id == "az-1" and result.text == "ok"


def test_base_url_form_and_api_version_override(mock: responses.RequestsMock) -> None:
    AzureOpenAIClient(base_url="https://gw.example/openai/deployments/dep/", api_version="2025-01-01-preview",
                      api_key=KEY).complete("hi")
    assert last(mock).url == ("https://gw.example/openai/deployments/dep/chat/completions"
                              "?api-version=2025-01-01-preview")


def test_endpoint_and_model_form(mock: responses.RequestsMock) -> None:
    AzureOpenAIClient(endpoint="https://res2.openai.azure.com/", model="my-deployment", api_key=KEY).complete("hi")
    assert last(mock).url == ("https://res2.openai.azure.com/openai/deployments/my-deployment/chat/completions"
                              f"?api-version={DEFAULT_AZURE_API_VERSION}")
    # model names the deployment and is also sent in the body (Azure ignores it).
    assert json.loads(last(mock).body)["messages"] == [{"role": "user", "content": "hi"}]


def test_default_api_version_is_a_dated_version() -> None:
    assert DEFAULT_AZURE_API_VERSION[:4].isdigit() and DEFAULT_AZURE_API_VERSION.count("-") >= 2


def test_query_params_are_added_to_api_version(mock: responses.RequestsMock) -> None:
    AzureOpenAIClient(resource_name="r", deployment_id="d", api_key=KEY, query_params={"x": "1"}).complete("hi")
    url = last(mock).url
    assert f"api-version={DEFAULT_AZURE_API_VERSION}" in url and "x=1" in url


def test_key_from_default_variable_and_env_refs(monkeypatch: pytest.MonkeyPatch,
                                                mock: responses.RequestsMock) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "default-var-key-1234")
    monkeypatch.setenv("MY_AZ_ENDPOINT", "https://fromenv.openai.azure.com")
    AzureOpenAIClient(endpoint={"env": "MY_AZ_ENDPOINT"}, model="dep").complete("hi")
    assert last(mock).headers["api-key"] == "default-var-key-1234"
    assert last(mock).url.startswith("https://fromenv.openai.azure.com/openai/deployments/dep/")


def test_missing_key_is_a_config_error_naming_the_variable(mock: responses.RequestsMock) -> None:
    with pytest.raises(ConfigError) as info:
        AzureOpenAIClient(resource_name="r", deployment_id="d").complete("hi")
    assert "AZURE_OPENAI_API_KEY" in str(info.value)
    assert len(mock.calls) == 0


def test_a_custom_auth_replaces_the_api_key_header(mock: responses.RequestsMock) -> None:
    class Entra(llmclient.AuthProvider):
        def apply(self, request: llmclient.HttpRequest) -> llmclient.HttpRequest:
            return request.with_headers({"Authorization": "Bearer entra-token-xyz"}, secrets=["entra-token-xyz"])

    AzureOpenAIClient(resource_name="r", deployment_id="d", auth=Entra()).complete("hi")
    assert last(mock).headers["Authorization"] == "Bearer entra-token-xyz"
    assert "api-key" not in last(mock).headers


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"resource_name": "r", "deployment_id": "d", "base_url": "https://x/openai/deployments/d"},
        {"base_url": "https://x/openai/deployments/d", "endpoint": "https://x", "model": "d"},
        {"resource_name": "r"},
        {"deployment_id": "d"},
        {"endpoint": "https://x.openai.azure.com"},
    ],
)
def test_addressing_forms_none_both_or_half_are_config_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        AzureOpenAIClient(api_key=KEY, **options)


def test_azure_works_against_the_fake_server(fake_llm_server: Any) -> None:
    client = AzureOpenAIClient(endpoint=fake_llm_server.url, model="dep1", api_key=KEY)
    with client:
        assert client.complete("ping").text == "Echo: ping"
        with client.stream("pong") as stream:
            assert "".join(c.text for c in stream) == "Echo: pong"
    recorded = fake_llm_server.requests[0]
    assert recorded.path == "/openai/deployments/dep1/chat/completions"
    assert recorded.query == {"api-version": DEFAULT_AZURE_API_VERSION}
    assert recorded.headers["api-key"] == KEY
