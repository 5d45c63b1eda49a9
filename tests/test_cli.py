"""The llmclient command: run, validate, exit codes, against the fake provider."""

from __future__ import annotations

import json
import os
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


@pytest.mark.parametrize(("args", "flag"), [
    (["run", "--config", "c.json", "--client", "X", "--max-tokens", "0", "hi"], "--max-tokens"),
    (["run", "--config", "c.json", "--client", "X", "--temperature", "-1", "hi"], "--temperature"),
    (["run", "--config", "c.json", "--client", "X", "--temperature", "nan", "hi"], "--temperature"),
    (["batch", "--config", "c.json", "--client", "X", "--input", "i", "--output", "o", "--workers", "0"], "--workers"),
    (["batch", "--config", "c.json", "--client", "X", "--input", "i", "--output", "o", "--workers", "-5"],
     "--workers"),
    (["batch", "--config", "c.json", "--client", "X", "--input", "i", "--output", "o", "--workers", "2.5"],
     "--workers"),
    (["batch", "--config", "c.json", "--client", "X", "--input", "i", "--output", "o", "--requests-per-minute", "0"],
     "--requests-per-minute"),
    (["batch", "--config", "c.json", "--client", "X", "--input", "i", "--output", "o", "--tokens-per-minute", "-3"],
     "--tokens-per-minute"),
    (["batch", "--config", "c.json", "--client", "X", "--input", "i", "--output", "o", "--progress-every", "0"],
     "--progress-every"),
    (["batch", "--config", "c.json", "--client", "X", "--input", "i", "--output", "o", "--max-concurrency", "0"],
     "--max-concurrency"),
])
def test_every_bad_number_is_one_line_naming_its_flag_and_exit_2(args: list[str], flag: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"argument {flag}: must be" in err and "Traceback" not in err


@pytest.mark.parametrize(("args", "flag"), [
    (["fake-server", "--port", "70000"], "--port"),
    (["fake-server", "--port", "-1"], "--port"),
    (["fake-server", "--chunk-delay", "-0.5"], "--chunk-delay"),
])
def test_a_bad_number_for_a_server_exits_at_once(args: list[str], flag: str) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "llmclient.cli", *args], capture_output=True, text=True,
                          timeout=30, env=env)  # a server that started would never return
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and f"argument {flag}: must be" in done.stderr


def _fallback_config(tmp_path: Path) -> Path:
    path = tmp_path / "fallback.json"
    path.write_text(json.dumps({"clients": {
        "Local": {"provider": "openai-generic", "options": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}},
        "Both": {"provider": "fallback", "options": {"strategy": ["Local", "Claude"]}}}}))
    return path


def test_validate_shows_the_librarys_warnings_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    before = list(logging.getLogger("llmclient").handlers), logging.getLogger("llmclient").level
    config = _fallback_config(tmp_path)
    assert main(["validate", str(config)]) == 0
    out, err = capsys.readouterr()
    assert out.endswith("ok, 2 client(s): Local, Both\n")
    assert "WARNING" in err and "$.clients.Both.options.strategy[1]: client 'Claude' is not defined" in err
    assert main(["validate", "-q", str(config)]) == 0
    assert capsys.readouterr().err == ""
    assert main(["-q", "validate", str(config)]) == 0
    assert capsys.readouterr().err == ""
    after = list(logging.getLogger("llmclient").handlers), logging.getLogger("llmclient").level
    assert after == before  # the command configures logging for its own duration only


def test_verbosity_flags_choose_the_level(tmp_path: Path, fake_llm_server: FakeLLMServer,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, fake_llm_server.openai_base_url)
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "prompt": "a"}\n')
    args = ["batch", "--config", str(config), "--client", "Local", "--input", str(src)]
    assert main([*args, "--output", str(tmp_path / "a.jsonl")]) == 0
    err = capsys.readouterr().err
    assert "INFO llmclient.batch.progress: batch: 1/1 done" in err  # progress lines by default
    assert "llmclient.batch.runner" not in err
    assert main([*args, "--output", str(tmp_path / "b.jsonl"), "-v"]) == 0
    assert "INFO llmclient.batch.runner: batch: 1 line(s)" in capsys.readouterr().err
    retrying = json.loads(config.read_text())
    retrying["clients"]["Local"]["retry_policy"] = "Once"
    retrying["retry_policies"] = {"Once": {"max_retries": 1, "strategy": {"type": "constant_delay", "delay_ms": 1}}}
    config.write_text(json.dumps(retrying))
    fake_llm_server.enqueue(Fault.server_error(503))
    assert main(["run", "--config", str(config), "--client", "Local", "hi"]) == 0
    assert "DEBUG" not in capsys.readouterr().err
    fake_llm_server.enqueue(Fault.server_error(503))
    assert main(["run", "-vv", "--config", str(config), "--client", "Local", "hi"]) == 0
    assert "DEBUG llmclient." in capsys.readouterr().err  # the retry
    assert main([*args, "--output", str(tmp_path / "d.jsonl"), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_validate_reports_every_problem_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"clients": {
        "X": {"provider": "fallback", "options": {"strategy": ["Y"]}},
        "Y": {"provider": "round-robin", "options": {"strategy": ["X", "Z"]}},
        "Z": {"provider": "openai-generic", "retry_policy": "Nope", "options": {"model": "m", "temperature": "hot"}}}}))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "4 problems" in err
    for problem in ("$.clients.X.options: clients refer to each other in a cycle: X -> Y -> X",
                    "$.clients.Z.options: base_url is required for openai-generic",
                    "$.clients.Z.options.temperature: must be of type number or null",
                    "$.clients.Z.retry_policy: retry policy 'Nope' is not defined"):
        assert problem in err
