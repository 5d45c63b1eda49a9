"""``llmclient batch`` as a real process: SIGKILL mid-run then resume, and Ctrl-C once or twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_helpers import assert_exactly_once, config_for, read_records, subprocess_env, write_input
from helpers import eventually

from llmclient.cli import main
from llmclient.testing import FakeLLMServer, Fault

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _start(tmp_path: Path, server: FakeLLMServer, count: int, workers: int) -> tuple[subprocess.Popen[bytes], Path]:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config_for(server)))
    src, out = write_input(tmp_path / "in.jsonl", count), tmp_path / "out.jsonl"
    with open(tmp_path / "stderr.txt", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmclient.cli", "batch", "--config", str(cfg), "--client", "A", "--input",
             str(src), "--output", str(out), "--workers", str(workers), "--progress-every", "0.2"],
            stdout=subprocess.PIPE, stderr=log, env=subprocess_env())
    return proc, out


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_completes_every_line_exactly_once(
        tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.random_faults(1.0, [Fault.stall(0.02)])
    proc, out = _start(tmp_path, fake_llm_server, 300, 8)
    try:
        assert eventually(lambda: _lines(out) >= 40, timeout=20)
        proc.kill()  # SIGKILL: no handler, no flush, no cleanup
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    first = _lines(out)
    assert 40 <= first < 300

    fake_llm_server.random_faults(0, [])
    again = subprocess.run(
        [sys.executable, "-m", "llmclient.cli", "batch", "--config", str(tmp_path / "config.json"), "--client", "A",
         "--input", str(tmp_path / "in.jsonl"), "--output", str(out)],
        capture_output=True, text=True, env=subprocess_env(), timeout=60)
    assert again.returncode == 0, again.stderr
    assert "already done" in again.stdout
    records = read_records(out)
    assert_exactly_once(records, [f"q{i}" for i in range(300)])
    assert all(r["ok"] for r in records)


@pytest.mark.slow
def test_one_ctrl_c_lets_calls_in_flight_finish_and_writes_them(tmp_path: Path,
                                                                fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.random_faults(1.0, [Fault.stall(0.3)])
    proc, out = _start(tmp_path, fake_llm_server, 200, 4)
    assert eventually(lambda: _lines(out) >= 4, timeout=20)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130
    records = read_records(out)
    assert 4 <= len(records) < 200
    # every call that was started was finished and written: nothing in flight was dropped
    assert len(fake_llm_server.requests) == len(records)
    assert b"interrupted (stopped)" in stdout
    assert "stopping" in (tmp_path / "stderr.txt").read_text()


@pytest.mark.slow
def test_two_ctrl_c_cancel_calls_in_flight_and_leave_a_resumable_output(tmp_path: Path,
                                                                       fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.random_faults(1.0, [Fault.stall(60)])
    proc, out = _start(tmp_path, fake_llm_server, 50, 4)
    assert eventually(lambda: len(fake_llm_server.requests) >= 4, timeout=20)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert eventually(lambda: "stopping" in (tmp_path / "stderr.txt").read_text(), timeout=20)  # the first one seen
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=20)
    assert time.monotonic() - started < 15  # not the 60 s stall
    assert proc.returncode == 130 and b"interrupted (cancelled)" in stdout
    assert read_records(out) == []  # the aborted calls left no record: they will be redone

    fake_llm_server.random_faults(0, [])
    assert main(["batch", "--config", str(tmp_path / "config.json"), "--client", "A", "--input",
                 str(tmp_path / "in.jsonl"), "--output", str(out)]) == 0
    assert_exactly_once(read_records(out), [f"q{i}" for i in range(50)])


def test_cli_exit_codes_and_summary(tmp_path: Path, fake_llm_server: FakeLLMServer,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config_for(fake_llm_server)))
    src = write_input(tmp_path / "in.jsonl", 6)
    args = ["batch", "--config", str(cfg), "--client", "A", "--input", str(src)]
    assert main([*args, "--output", str(tmp_path / "a.jsonl")]) == 0
    assert "6 written" in capsys.readouterr().out
    fake_llm_server.enqueue(Fault.status(400))
    assert main([*args, "--output", str(tmp_path / "b.jsonl"), "--requests-per-minute", "6000"]) == 1
    assert "InvalidRequestError 1" in capsys.readouterr().out
    src.write_text('{"id": 1, "prompt": "x"}\n{"id": 1, "prompt": "y"}\n')
    assert main([*args, "--output", str(tmp_path / "c.jsonl")]) == 2
    assert "appear more than once" in capsys.readouterr().err
