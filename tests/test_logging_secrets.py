"""No secret in any log record: every llmclient logger at DEBUG, failing calls on every provider."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

import llmclient
from llmclient.testing import FakeLLMServer, Fault

SECRETS = {
    "openai": "sk-openai-secret-1111111111",
    "azure": "azure-secret-2222222222",
    "anthropic": "sk-ant-secret-3333333333",
    "google": "AIza-google-secret-4444444444",
    "aws_secret": "aws/secret+access+key5555555555",
    "aws_token": "aws-session-token-6666666666",
    "vertex": "ya29.vertex-token-7777777777",
}


def clients(server: FakeLLMServer) -> dict[str, dict[str, Any]]:
    url = server.url
    return {
        "OpenAI": {"provider": "openai", "options": {"base_url": url + "/v1", "model": "m",
                                                     "api_key": SECRETS["openai"]}},
        "Azure": {"provider": "azure-openai", "options": {"base_url": url + "/openai/deployments/d",
                                                          "api_key": SECRETS["azure"]}},
        "Claude": {"provider": "anthropic", "options": {"base_url": url, "model": "c",
                                                        "api_key": SECRETS["anthropic"]}},
        "Gemini": {"provider": "google-ai", "options": {"base_url": url + "/v1beta", "model": "g",
                                                        "api_key": SECRETS["google"]}},
        "Bedrock": {"provider": "aws-bedrock", "options": {
            "model": "anthropic.claude-3-sonnet", "region": "us-east-1", "endpoint_url": url,
            "access_key_id": "AKIDEXAMPLE", "secret_access_key": SECRETS["aws_secret"],
            "session_token": SECRETS["aws_token"]}},
        "Vertex": {"provider": "vertex-ai", "options": {"base_url": url, "model": "gemini-2.5-flash",
                                                        "location": "us-central1", "project_id": "p",
                                                        "authorization": SECRETS["vertex"]}},
    }


@pytest.mark.parametrize("name", ["OpenAI", "Azure", "Claude", "Gemini", "Bedrock", "Vertex"])
def test_failing_calls_log_no_secret(name: str, fake_llm_server: FakeLLMServer,
                                     caplog: pytest.LogCaptureFixture) -> None:
    config = {"clients": clients(fake_llm_server),
              "retry_policies": {"Twice": {"max_retries": 2, "strategy": {"type": "constant_delay", "delay_ms": 1}}}}
    config["clients"][name]["retry_policy"] = "Twice"
    config["clients"]["Chain"] = {"provider": "fallback", "options": {"strategy": [name, "OpenAI"]}}
    caplog.set_level(logging.DEBUG, logger="llmclient")
    caplog.set_level(logging.DEBUG, logger="urllib3")
    errors: list[BaseException] = []
    with llmclient.load_config(config) as registry:
        for faults in ([Fault.server_error(500), Fault.rate_limit(retry_after=0), Fault.status(401)],
                       [Fault.html(502), Fault.status(403), Fault.status(400)]):
            fake_llm_server.enqueue(*faults)
            fake_llm_server.enqueue(*[Fault.status(401)] * 3, match="chat/completions")
            with pytest.raises(llmclient.LLMError) as info:
                registry.client("Chain").complete("hello")
            errors.append(info.value)
            fake_llm_server.clear()
        fake_llm_server.enqueue(*[Fault.error_event(after_chunks=1)] * 3)  # every retry meets it too
        with pytest.raises(llmclient.LLMError) as stream_info:
            with registry.client(name).stream("a b c d e f g") as stream:
                for _ in stream:
                    pass
        errors.append(stream_info.value)
    assert any(r.levelno == logging.DEBUG and "retry" in r.getMessage() for r in caplog.records)
    assert any(r.levelno == logging.WARNING for r in caplog.records)  # the fallback
    texts = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    for error in errors:
        texts += [str(error), repr(error), str(error.body)]
        texts += [str(e) + str(e.body) for e in getattr(error, "errors", [])]
    blob = "\n".join(texts)
    for secret in SECRETS.values():
        assert secret not in blob
    assert not re.search(r"Signature=[0-9a-f]{64}", blob)
