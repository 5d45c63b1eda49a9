"""Redoing failed lines (retry_failed, --retry-failed), the safe rewrite it needs, and exit statuses
that describe the output file's final state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from batch_helpers import assert_exactly_once, config_for, read_records, write_input

from llmclient.batch import run
from llmclient.batch.compact import compact_output
from llmclient.batch.jsonl import read_done
from llmclient.cli import main
from llmclient.testing import FakeLLMServer, Fault


def test_a_rerun_with_retry_failed_redoes_only_the_failures_and_keeps_one_record_per_id(
        tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 200), tmp_path / "out.jsonl"
    fake_llm_server.random_faults(0.2, [Fault.server_error(500)], seed=7)
    first = run(config_for(fake_llm_server), client="A", input=src, output=out, workers=8)
    failed_ids = {r["id"] for r in read_records(out) if not r["ok"]}
    assert 10 < first.failed == len(failed_ids) < 80

    fake_llm_server.clear()
    plain = run(config_for(fake_llm_server), client="A", input=src, output=out)
    assert plain.skipped == 200 and plain.skipped_failed == len(failed_ids) and plain.written == 0
    assert plain.failures == len(failed_ids) and not plain.all_ok
    assert "--retry-failed redoes them" in plain.format()
    assert fake_llm_server.requests == []

    again = run(config_for(fake_llm_server), client="A", input=src, output=out, retry_failed=True)
    assert again.retried == len(failed_ids) and again.written == len(failed_ids) and again.ok == len(failed_ids)
    assert again.skipped == 200 - len(failed_ids) and again.skipped_failed == 0 and again.all_ok
    assert sorted(json.loads(r.body)["messages"][0]["content"] for r in fake_llm_server.requests) == sorted(
        f"item {int(i[1:])}" for i in failed_ids)
    records = read_records(out)
    assert_exactly_once(records, [f"q{i}" for i in range(200)])
    assert all(r["ok"] for r in records)  # the newest record of each id is the one kept


def test_a_line_that_fails_again_keeps_only_its_newest_failure(tmp_path: Path,
                                                               fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 3), tmp_path / "out.jsonl"
    fake_llm_server.enqueue(Fault.status(400))
    run(config_for(fake_llm_server), client="A", input=src, output=out, workers=1)  # q0 fails
    fake_llm_server.enqueue(Fault.server_error(503))
    summary = run(config_for(fake_llm_server), client="A", input=src, output=out, retry_failed=True)
    assert summary.retried == 1 and summary.failed == 1 and summary.failures == 1
    records = read_records(out)
    assert_exactly_once(records, ["q0", "q1", "q2"])
    (failure,) = [r for r in records if not r["ok"]]
    assert failure["id"] == "q0" and failure["error"]["status_code"] == 503


def test_retry_failed_redoes_input_errors_once_the_input_is_fixed(tmp_path: Path,
                                                                  fake_llm_server: FakeLLMServer) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": 1, "prompt": "a"}\n{"id": 2}\nnot json\n')
    run(config_for(fake_llm_server), client="A", input=src, output=out)
    assert [r["error"]["class"] for r in read_records(out) if not r["ok"]] == ["InputError", "InputError"]
    src.write_text('{"id": 1, "prompt": "a"}\n{"id": 2, "prompt": "b"}\n{"id": 3, "prompt": "c"}\n')
    summary = run(config_for(fake_llm_server), client="A", input=src, output=out, retry_failed=True)
    # id 2 is redone; line 3's id-less record goes, and line 3 (id 3 now) is sent
    assert summary.retried == 2 and summary.ok == 2 and summary.all_ok
    records = read_records(out)
    assert sorted(r["id"] for r in records) == [1, 2, 3] and all(r["ok"] for r in records)


def test_a_failure_record_of_an_id_no_longer_in_the_input_is_kept(tmp_path: Path,
                                                                  fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 2), tmp_path / "out.jsonl"
    out.write_text('{"id":"gone","line":9,"ok":false,"error":{"class":"ProviderError"}}\n')
    summary = run(config_for(fake_llm_server), client="A", input=src, output=out, retry_failed=True)
    assert summary.retried == 0 and summary.all_ok
    assert [r["id"] for r in read_records(out)][0] == "gone"


def test_the_rewrite_is_all_or_nothing_and_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.jsonl"
    original = (b'{"id":"a","line":1,"ok":false,"error":{}}\nnot json\n{"id":"b","line":2,"ok":true}\n'
                b'{"id":"a","line":1,"ok":true}\n')
    out.write_bytes(original)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", broken_replace)
        with pytest.raises(OSError):
            compact_output(out, {("id", "b")})
    assert out.read_bytes() == original and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]

    synced: list[bool] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.path.isdir(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    assert compact_output(out, {("id", "b")}) == 2  # b dropped, a's older record superseded
    assert out.read_bytes() == b'not json\n{"id":"a","line":1,"ok":true}\n'
    assert len(synced) == 2 and (not os.path.isdir("/proc/self/fd") or synced == [False, True])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    done = read_done(out)
    assert done.ids == {"a"} and not done.failures


def _cli(tmp_path: Path, server: FakeLLMServer, src: Path, *extra: str) -> int:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config_for(server)))
    return main(["batch", "--config", str(cfg), "--client", "A", "--input", str(src), "--output",
                 str(tmp_path / "out.jsonl"), *extra])


def test_the_exit_status_describes_the_output_file_not_only_this_run(
        tmp_path: Path, fake_llm_server: FakeLLMServer, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "prompt": "a"}\n{"id": 2}\n{"prompt": "no id"}\n')
    assert _cli(tmp_path, fake_llm_server, src) == 1
    assert _cli(tmp_path, fake_llm_server, src) == 1  # the same two InputError records are still there
    assert "2 of them failed: --retry-failed redoes them" in capsys.readouterr().out
    src.write_text('{"id": 1, "prompt": "a"}\n{"id": 2, "prompt": "b"}\n{"id": 3, "prompt": "c"}\n')
    assert _cli(tmp_path, fake_llm_server, src, "--retry-failed") == 0
    records = read_records(tmp_path / "out.jsonl")
    assert sorted(r["id"] for r in records) == [1, 2, 3] and all(r["ok"] for r in records)  # line 3's is gone
    assert _cli(tmp_path, fake_llm_server, src) == 0
