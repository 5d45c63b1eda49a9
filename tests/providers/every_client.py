"""One builder per client kind over a FakeLLMServer, for tests that run every provider the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llmclient
from llmclient.testing import FakeLLMServer

Factory = Callable[[FakeLLMServer], Any]
AK, SK = "AKIDEXAMPLE", "secret"
CLIENTS: dict[str, Factory] = {
    "openai": lambda s: llmclient.OpenAIClient("gpt-5.2", api_key="k", base_url=s.openai_base_url),
    "openai-generic": lambda s: llmclient.OpenAIGenericClient("m", base_url=s.openai_base_url, api_key="k"),
    "azure-openai": lambda s: llmclient.AzureOpenAIClient(endpoint=s.url, model="dep1", api_key="k"),
    "openai-responses": lambda s: llmclient.OpenAIResponsesClient("gpt-5.2", api_key="k", base_url=s.openai_base_url),
    "anthropic": lambda s: llmclient.AnthropicClient("claude-sonnet-4-6", api_key="k", base_url=s.url),
    "google-ai": lambda s: llmclient.GoogleAIClient("gemini-3-pro", api_key="k", base_url=s.url + "/v1beta"),
    "vertex-gemini": lambda s: llmclient.VertexAIClient("gemini-3-pro", location="us-central1", project_id="p",
                                                        authorization="t", base_url=s.url),
    "vertex-claude": lambda s: llmclient.VertexAIClient("claude-sonnet-4-6@20250101", location="us-east5",
                                                        project_id="p", authorization="t", base_url=s.url),
    "aws-bedrock": lambda s: llmclient.BedrockClient("us.anthropic.claude-sonnet-4-6", region="us-east-1",
                                                     access_key_id=AK, secret_access_key=SK, endpoint_url=s.url),
}
