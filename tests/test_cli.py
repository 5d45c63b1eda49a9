"""The llmclient command: run, validate, exit codes, against the fake provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmclient.cli import main
from llmclient.testing import FakeLLMServer, Fault


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": {"Local": {"provider": "openai-generic",
                                                      "options": {"base_url": url, "model": "m"}}}}))
    return path


def test_run_prints_the_answer(tmp_path: Path, fake_llm_server: FakeLLMServer,
                               capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, fake_llm_server.openai_base_url)
    assert main(["run", "--config", str(config), "--client", "Local", "hello there"]) == 0
    assert capsys.readouterr().out == "Echo: hello there\n"
    assert main(["run", "--config", str(config), "--client", "Local", "--stream", "--max-tokens", "2", "a b c"]) == 0
    assert capsys.readouterr().out == "Echo: a\n"
    assert fake_llm_server.requests[-1].json()["max_tokens"] == 2


def test_run_failure_exits_1_with_the_typed_error(tmp_path: Path, fake_llm_server: FakeLLMServer,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, fake_llm_server.openai_base_url)
    fake_llm_server.enqueue(Fault.status(401))
    assert main(["run", "--config", str(config), "--client", "Local", "hi"]) == 1
    assert capsys.readouterr().err.startswith("AuthError: ")


def test_unknown_client_and_bad_config_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")
    assert main(["run", "--config", str(config), "--client", "Nope", "hi"]) == 2
    assert "no client named 'Nope'" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"clients": {"X": {"provider": "opnai"}}}')
    assert main(["validate", str(bad)]) == 2
    assert "did you mean 'openai'" in capsys.readouterr().err


def test_validate_builds_every_client(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")
    assert main(["validate", str(config)]) == 0
    assert capsys.readouterr().out.endswith("ok, 1 client(s): Local\n")
    broken = tmp_path / "azure.json"
    broken.write_text(json.dumps({"clients": {"Az": {"provider": "azure-openai",
                                                     "options": {"endpoint": "https://x", "api_key": "k"}}}}))
    assert main(["validate", str(broken)]) == 2
    assert "$.clients.Az.options: 'endpoint' also needs 'model'" in capsys.readouterr().err


def test_validate_accepts_the_original_design_examples(capsys: pytest.CaptureFixture[str]) -> None:
    seed = Path(__file__).parent / "fixtures" / "baml" / "seed-examples.baml"
    assert main(["validate", str(seed)]) == 0
    assert capsys.readouterr().out.endswith("ok, 5 client(s): Resilient_LLM, GPT4, AzureGPT, Claude3, SmartLLM\n")
