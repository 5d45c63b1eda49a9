"""load_config: dicts and .json files to a validated Registry; every failure is a ConfigError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import llmclient
from llmclient import ConfigError, Registry, load_config
from llmclient.testing import FakeLLMServer

SECRET = "cfg-secret-DISTINCTIVE-44aa"


def config(**clients: Any) -> dict[str, Any]:
    return {"clients": clients or {"GPT4": {"provider": "openai", "options": {"model": "gpt-4o"}}}}


def test_load_from_a_dict() -> None:
    with load_config(config()) as registry:
        assert isinstance(registry, Registry)
        assert registry.names() == ["GPT4"]
        assert registry.source == "config"


def test_load_from_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "llm.json"
    path.write_text(json.dumps(config(A={"provider": "openai-generic",
                                         "options": {"model": "m", "base_url": "http://127.0.0.1:9/v1"}},
                                      B={"provider": "openai/azure",
                                         "options": {"resource_name": "r", "deployment_id": "d"}})))
    with load_config(path) as registry:
        assert registry.names() == ["A", "B"]
        assert registry.source == str(path)
    with load_config(str(path)) as registry:
        assert registry.client("B").provider == "azure-openai"


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "clients": {\n    "A": {"provider": "openai",}\n  }\n}\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}:3:" in str(info.value) and "invalid JSON" in str(info.value)


def test_other_file_problems_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        load_config(tmp_path / "list.json")
    (tmp_path / "conf.yaml").write_text("clients: {}")
    with pytest.raises(ConfigError, match=".json file"):
        load_config(tmp_path / "conf.yaml")


def test_validation_errors_surface_as_one_config_error_with_paths() -> None:
    bad = {"clients": {"A": {"provider": "no-such-provider", "options": {}},
                       "B": {"provider": "openai", "options": {"model": 42, "api_key": SECRET}},
                       "C": {"options": {}}}}
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    message = str(info.value)
    assert "clients.A" in message and "clients.C" in message
    assert len(info.value.problems) >= 2


def test_validation_never_echoes_a_secret() -> None:
    bad = {"clients": {"A": {"provider": "openai", "options": {"model": "m", "api_key": 12345678901234}},
                       "B": {"provider": "openai", "options": {"model": "m", "headers": {"Authorization": 5}}}}}
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert "12345678901234" not in str(info.value)


def test_env_references_are_not_resolved_at_load_time(monkeypatch: pytest.MonkeyPatch,
                                                      fake_llm_server: FakeLLMServer) -> None:
    cfg = config(A={"provider": "openai", "options": {
        "model": "gpt-4o", "base_url": fake_llm_server.openai_base_url, "api_key": {"env": "LOADER_TEST_KEY"}}})
    with load_config(cfg) as registry:
        client = registry.client("A")
        with pytest.raises(ConfigError) as info:
            client.complete("hi")
        assert "LOADER_TEST_KEY" in str(info.value)
        monkeypatch.setenv("LOADER_TEST_KEY", SECRET)
        assert client.complete("hi").text == "Echo: hi"
    assert fake_llm_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_max_workers_from_settings_and_argument() -> None:
    cfg = config()
    cfg["settings"] = {"max_workers": 5}
    with load_config(cfg) as registry:
        assert registry.runtime.max_workers == 5
    with load_config(cfg, max_workers=3) as registry:
        assert registry.runtime.max_workers == 3
    with load_config(config()) as registry:
        assert registry.runtime.max_workers == 32


def test_load_config_is_the_public_one() -> None:
    assert llmclient.load_config is load_config


def test_every_kind_of_problem_is_reported_in_one_error() -> None:
    cfg = {"clients": {
        "X": {"provider": "fallback", "options": {"strategy": ["Y"]}},
        "Y": {"provider": "round-robin", "options": {"providers": [{"client": "X"}, {"client": "Z"}]}},
        "Z": {"provider": "openai-generic", "retry_policy": "Nope", "options": {"model": "m", "temperature": "hot"}},
        "Az": {"provider": "azure-openai", "options": {"endpoint": "https://x.openai.azure.com", "api_key": SECRET}},
        "Bad": {"provider": "opnai"}},
        "retry_policies": {"P": {"max_retries": -1}}}
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    problems = info.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "$.clients.Az.options", "$.clients.Bad.provider", "$.clients.X.options", "$.clients.Z.options",
        "$.clients.Z.options.temperature", "$.clients.Z.retry_policy", "$.retry_policies.P.max_retries"]
    text = "\n".join(problems)
    assert "cycle: X -> Y -> X" in text and "base_url is required for openai-generic" in text
    assert "'endpoint' also needs 'model'" in text and "retry policy 'Nope' is not defined" in text
    assert SECRET not in str(info.value)


def test_each_cycle_is_reported_once_at_its_first_client() -> None:
    cfg = {"clients": {
        "Self": {"provider": "fallback", "options": {"strategy": ["Self"]}},
        "A": {"provider": "baml-fallback", "options": {"strategy": ["B"]}},
        "B": {"provider": "baml-round-robin", "options": {"strategy": ["A", "Missing"]}},
        "C": {"provider": "fallback", "options": {"strategy": ["A"]}}}}
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert info.value.problems == ["$.clients.A.options: clients refer to each other in a cycle: A -> B -> A",
                                   "$.clients.Self.options: clients refer to each other in a cycle: Self -> Self"]
