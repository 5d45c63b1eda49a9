"""llmclient.batch.run on one machine, against FakeLLMServer: records, faults, resume, input checks, progress."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import KEY, assert_exactly_once, config_for, read_records, write_input
from helpers import eventually

from llmclient.batch import BatchControl, BatchSummary, DuplicateIdError, run
from llmclient.batch.jsonl import estimate_tokens, read_done
from llmclient.config.loader import load_config
from llmclient.ratelimit import RateLimiter
from llmclient.testing import FakeLLMServer, Fault


def test_two_hundred_lines_with_faults_each_get_exactly_one_correct_record(
        tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 200), tmp_path / "out.jsonl"
    fake_llm_server.random_faults(0.15, [Fault.server_error(500), Fault.status(400), Fault.rate_limit(retry_after=0)],
                                  seed=3)
    summary = run(config_for(fake_llm_server), client="A", input=src, output=out, workers=16)

    records = read_records(out)
    assert_exactly_once(records, [f"q{i}" for i in range(200)])
    faulted = [r for r in fake_llm_server.requests if r.fault is not None]
    assert len(fake_llm_server.requests) == 200  # no retry policy: one request per line
    failures = [r for r in records if not r["ok"]]
    assert 10 < len(failures) == len(faulted) < 60
    for record in records:
        number = int(record["id"][1:])
        assert record["line"] == number + 1
        if record["ok"]:
            c = record["completion"]
            assert c["text"] == f"Echo: item {number}"
            assert c["finish_reason"] == "stop" and c["client_name"] == "A" and c["provider"] == "openai"
            assert c["usage"]["total_tokens"] > 0 and c["tool_calls"] == []
            assert [(a["client_name"], a["outcome"], a["status_code"]) for a in c["attempts"]] == [("A", "ok", 200)]
        else:
            e = record["error"]
            assert e["class"] in {"ProviderError", "InvalidRequestError", "RateLimitError"}
            assert e["status_code"] in {500, 400, 429} and e["client_name"] == "A" and e["provider"] == "openai"
            assert isinstance(e["message"], str) and isinstance(e["retryable"], bool)
            assert record["attempts"] == []  # a leaf's error carries no attempt list (composites' do)
    assert KEY not in out.read_text()

    assert summary.total == 200 and summary.written == 200 and summary.skipped == 0 and summary.complete
    assert summary.ok == 200 - len(failures) and summary.failed == len(failures) and summary.input_errors == 0
    by_class: dict[str, int] = {}
    for record in failures:
        by_class[record["error"]["class"]] = by_class.get(record["error"]["class"], 0) + 1
    assert summary.errors_by_class == by_class
    tokens = sum(r["completion"]["usage"]["total_tokens"] for r in records if r["ok"])
    assert summary.tokens_by_client["A"]["total_tokens"] == tokens
    assert summary.interrupted is None and summary.calls_per_s > 0 and summary.wall_s > 0
    assert summary.outcomes == {"ok": summary.ok, "error": len(failures), "input_error": 0, "skipped": 0,
                                "remaining": 0}
    assert "errors by class" in summary.format() and json.dumps(summary.to_dict())


def test_retries_show_in_the_attempts_of_a_record(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 1), tmp_path / "out.jsonl"
    cfg = config_for(fake_llm_server)
    cfg["clients"]["A"]["retry_policy"] = "Fast"
    cfg["retry_policies"] = {"Fast": {"max_retries": 2, "strategy": {"type": "constant_delay", "delay_ms": 1}}}
    fake_llm_server.enqueue(Fault.server_error(503))
    run(cfg, client="A", input=src, output=out)
    (record,) = read_records(out)
    assert [(a["outcome"], a["status_code"]) for a in record["completion"]["attempts"]] == [
        ("ProviderError", 503), ("ok", 200)]


def test_resume_after_a_crash_redoes_the_truncated_line_and_skips_the_rest(
        tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 150), tmp_path / "out.jsonl"
    full = tmp_path / "full.jsonl"
    run(config_for(fake_llm_server), client="A", input=src, output=full)
    lines = full.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:60]) + lines[60][:25])  # what a kill mid-write leaves
    fake_llm_server.clear()

    summary = run(config_for(fake_llm_server), client="A", input=src, output=out)
    assert summary.skipped == 60 and summary.written == 90 and summary.complete
    assert len(fake_llm_server.requests) == 90
    assert_exactly_once(read_records(out), [f"q{i}" for i in range(150)])

    fake_llm_server.clear()
    again = run(config_for(fake_llm_server), client="A", input=src, output=out)
    assert again.skipped == 150 and again.written == 0 and fake_llm_server.requests == []


def test_read_done_drops_only_the_unreadable_tail(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"id":"a","ok":true}\nnot json\n{"id":2,"ok":false}\n{"id":"c","ok":tr')
    done = read_done(out)
    assert done.ids == {"a", 2}
    assert out.read_bytes() == b'{"id":"a","ok":true}\nnot json\n{"id":2,"ok":false}\n'
    assert read_done(tmp_path / "missing.jsonl").ids == set()


def test_duplicate_ids_are_refused_before_any_call(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps({"id": i, "prompt": "x"}) for i in [1, 2, 1, 3, 2, 2]) + "\n")
    with pytest.raises(DuplicateIdError) as info:
        run(config_for(fake_llm_server), client="A", input=src, output=out)
    assert info.value.duplicates == {1: [1, 3], 2: [2, 5, 6]}
    assert "id 1 on lines 1, 3" in str(info.value) and "id 2 on lines 2, 5, 6" in str(info.value)
    assert fake_llm_server.requests == [] and not out.exists()


def test_malformed_lines_are_reported_with_their_line_numbers_and_do_not_stop_the_rest(
        tmp_path: Path, fake_llm_server: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join([
        json.dumps({"id": "ok1", "prompt": "one"}),
        "{not json",
        json.dumps({"prompt": "no id"}),
        "",
        json.dumps({"id": "empty"}),
        json.dumps({"id": "badmsg", "messages": "hello"}),
        json.dumps({"id": "badparams", "prompt": "p", "params": [1]}),
        json.dumps([1, 2]),
        json.dumps({"id": 7, "messages": [{"role": "user", "content": "seven"}]}),
    ]) + "\n")
    with caplog.at_level(logging.WARNING, logger="llmclient.batch"):
        summary = run(config_for(fake_llm_server), client="A", input=src, output=out)
    records = read_records(out)
    errors = {r["line"]: r for r in records if not r["ok"]}
    assert sorted(errors) == [2, 3, 5, 6, 7, 8]
    assert all(r["error"]["class"] == "InputError" for r in errors.values())
    assert errors[2]["id"] is None and "line 2: invalid JSON" in errors[2]["error"]["message"]
    assert "no 'id'" in errors[3]["error"]["message"]
    assert errors[5]["id"] == "empty" and "neither 'messages' nor 'prompt'" in errors[5]["error"]["message"]
    assert {r["id"] for r in records if r["ok"]} == {"ok1", 7}
    assert summary.input_errors == 6 and summary.ok == 2 and summary.total == 8
    assert summary.errors_by_class == {"InputError": 6}
    assert "line 2: invalid JSON" in caplog.text

    fake_llm_server.clear()
    again = run(config_for(fake_llm_server), client="A", input=src, output=out)
    assert again.written == 0 and again.skipped == 8 and len(read_records(out)) == 8


def test_per_line_params_override_run_params(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"id": 1, "prompt": "a", "params": {"temperature": 0.5}}) + "\n"
                   + json.dumps({"id": 2, "prompt": "b"}) + "\n")
    run(config_for(fake_llm_server), client="A", input=src, output=out, params={"temperature": 0.1, "seed": 4})
    bodies = {r.json()["messages"][-1]["content"]: r.json() for r in fake_llm_server.requests}
    assert bodies["a"]["temperature"] == 0.5 and bodies["b"]["temperature"] == 0.1
    assert bodies["a"]["seed"] == bodies["b"]["seed"] == 4


def test_a_registry_or_a_client_can_be_given(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src = write_input(tmp_path / "in.jsonl", 5)
    with load_config(config_for(fake_llm_server)) as registry:
        assert run(registry, "A", src, tmp_path / "a.jsonl").ok == 5
        assert run(registry.client("A"), None, src, tmp_path / "b.jsonl").ok == 5
        assert registry.client("A").complete("still open").text == "Echo: still open"


def test_the_rate_limiter_is_acquired_before_each_line_and_settled(tmp_path: Path,
                                                                   fake_llm_server: FakeLLMServer) -> None:
    src = write_input(tmp_path / "in.jsonl", 10)

    class Spy(RateLimiter):
        def __init__(self) -> None:
            super().__init__(requests_per_minute=10_000, tokens_per_minute=10**7)
            self.acquired: list[int] = []
            self.recorded: list[tuple[int, int]] = []

        def acquire(self, tokens: int = 0, *, wait: Any) -> None:
            self.acquired.append(tokens)
            super().acquire(tokens, wait=wait)

        def record(self, tokens_used: int, *, estimate: int = 0) -> None:
            self.recorded.append((tokens_used, estimate))
            super().record(tokens_used, estimate=estimate)

    spy = Spy()
    run(config_for(fake_llm_server), client="A", input=src, output=tmp_path / "out.jsonl", rate_limiter=spy)
    # "item N" is 6 characters: 6 // 4 = 1, plus max_tokens 5 (even ids) or the default 256
    assert sorted(spy.acquired) == sorted([1 + 5, 1 + 256] * 5)
    assert len(spy.recorded) == 10 and all(used > 0 for used, _ in spy.recorded)


def test_a_stop_cuts_a_rate_limit_wait_short(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 5), tmp_path / "out.jsonl"
    control = BatchControl()
    threading.Timer(0.3, control.stop).start()
    started = time.monotonic()
    summary = run(config_for(fake_llm_server), client="A", input=src, output=out, requests_per_minute=1,
                  control=control)
    assert time.monotonic() - started < 10  # the next request would have waited a minute
    assert summary.interrupted == "stopped" and summary.written == 1 and summary.remaining == 4
    assert len(read_records(out)) == 1


def test_cancel_aborts_calls_in_flight_and_writes_no_record_for_them(tmp_path: Path,
                                                                     fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 20), tmp_path / "out.jsonl"
    fake_llm_server.random_faults(1.0, [Fault.stall(60)])
    control = BatchControl()
    result: list[BatchSummary] = []
    worker = threading.Thread(target=lambda: result.append(run(
        config_for(fake_llm_server), client="A", input=src, output=out, workers=4, control=control)))
    worker.start()
    assert eventually(lambda: len(fake_llm_server.requests) >= 4)
    started = time.monotonic()
    control.cancel()
    worker.join(15)
    assert not worker.is_alive() and time.monotonic() - started < 10
    assert result[0].interrupted == "cancelled" and result[0].written == 0 and result[0].remaining == 20
    assert read_records(out) == []
    assert len(fake_llm_server.requests) == 4  # no new line was taken


def test_progress_log_lines_when_not_a_terminal(tmp_path: Path, fake_llm_server: FakeLLMServer,
                                                caplog: pytest.LogCaptureFixture) -> None:
    src = write_input(tmp_path / "in.jsonl", 20)
    fake_llm_server.random_faults(1.0, [Fault.stall(0.03)])
    fake_llm_server.enqueue(Fault.status(400))
    with caplog.at_level(logging.INFO, logger="llmclient.batch"):
        run(config_for(fake_llm_server), client="A", input=src, output=tmp_path / "out.jsonl", workers=2,
            progress_every=0.05)
    lines = [r.getMessage() for r in caplog.records if r.name == "llmclient.batch.progress"]
    assert len(lines) >= 3
    assert lines[-1].startswith("batch: 20/20 done (100.0%)") and "1 error(s)" in lines[-1]
    assert "lines/s" in lines[0] and "ETA" in lines[0] and "token(s)" in lines[-1]


def test_a_progress_bar_when_asked(tmp_path: Path, fake_llm_server: FakeLLMServer,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    src = write_input(tmp_path / "in.jsonl", 12)
    run(config_for(fake_llm_server), client="A", input=src, output=tmp_path / "out.jsonl", progress=True)
    err = capsys.readouterr().err
    assert "12/12" in err and "errors=0" in err


def test_unknown_client_is_a_config_error_before_any_call(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    from llmclient.errors import ConfigError

    src = write_input(tmp_path / "in.jsonl", 3)
    with pytest.raises(ConfigError):
        run(config_for(fake_llm_server), client="nope", input=src, output=tmp_path / "out.jsonl")
    assert fake_llm_server.requests == []


def test_estimate_tokens() -> None:
    assert estimate_tokens("x" * 40, {}) == 10 + 256
    assert estimate_tokens([{"role": "user", "content": [{"type": "text", "text": "y" * 8}]},
                            {"role": "assistant", "content": "z" * 4}], {"max_tokens": 7}) == 3 + 7


def test_importing_the_batch_package_does_not_import_dask() -> None:
    import subprocess

    from batch_helpers import subprocess_env

    code = ("import llmclient.batch, sys; "
            "print(any(m.split('.')[0] in ('dask', 'distributed', 'tqdm') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(),
                         timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_a_429_with_a_retry_hint_pauses_the_limiter(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 3), tmp_path / "out.jsonl"
    penalties: list[float] = []

    class Spy(RateLimiter):
        def penalize(self, retry_after_seconds: float) -> None:
            penalties.append(retry_after_seconds)
            super().penalize(retry_after_seconds)

    fake_llm_server.enqueue(Fault.rate_limit(retry_after=0.3))
    started = time.monotonic()
    summary = run(config_for(fake_llm_server), client="A", input=src, output=out, workers=1,
                  rate_limiter=Spy(requests_per_minute=10_000))
    assert penalties == [pytest.approx(0.3)]
    assert time.monotonic() - started >= 0.3  # the next lines waited for the hint
    assert summary.errors_by_class == {"RateLimitError": 1} and summary.ok == 2


def test_a_fallback_error_record_lists_its_attempts(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 1), tmp_path / "out.jsonl"
    cfg = config_for(fake_llm_server)
    cfg["clients"]["B"] = {"provider": "openai", "options": dict(cfg["clients"]["A"]["options"])}
    cfg["clients"]["F"] = {"provider": "fallback", "options": {"strategy": ["A", "B"]}}
    fake_llm_server.enqueue(Fault.server_error(500), Fault.server_error(502))
    run(cfg, client="F", input=src, output=out)
    (record,) = read_records(out)
    assert record["error"]["class"] == "AllClientsFailedError"
    assert [(a["client_name"], a["status_code"]) for a in record["attempts"]] == [("A", 500), ("B", 502)]
