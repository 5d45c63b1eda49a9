"""OpenAI Batch API files: their input lines run as they are, and output_format="openai" writes their output lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from batch_helpers import KEY, config_for, read_records
from openai_batch_samples import INPUT_LINES, OUTPUT_LINES

from llmclient.batch import run
from llmclient.cli import main
from llmclient.testing import FakeLLMServer, Fault


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_documented_input_runs_and_writes_lines_shaped_like_the_documented_output(
        tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = _write(tmp_path / "in.jsonl", INPUT_LINES), tmp_path / "out.jsonl"
    summary = run(config_for(fake_llm_server), client="A", input=src, output=out, output_format="openai")
    assert summary.ok == 2 and summary.all_ok

    sent = sorted((r.json() for r in fake_llm_server.requests), key=lambda b: b["messages"][0]["content"])
    assert [b["messages"][0]["content"] for b in sent] == ["You answer in French.",
                                                           "You answer in one word."]
    assert all(b["model"] == "gpt-4o-mini" and b["max_completion_tokens"] == 64 for b in sent)  # the client's model

    documented = json.loads(OUTPUT_LINES[0])
    records = read_records(out)
    assert sorted(r["custom_id"] for r in records) == ["request-1", "request-2"]
    for record in records:
        assert set(record) == set(documented) and record["id"].startswith("batch_req_")
        assert record["error"] is None
        response = record["response"]
        assert set(response) == set(documented["response"]) and response["status_code"] == 200
        body = response["body"]
        assert set(documented["response"]["body"]) - {"system_fingerprint"} <= set(body)
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["content"] == "Echo: Name a color."
        assert body["choices"][0]["finish_reason"] == "stop"
        assert set(body["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert KEY not in out.read_text()


def test_a_documented_output_file_is_resumed_unchanged(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src = _write(tmp_path / "in.jsonl", INPUT_LINES)
    out = _write(tmp_path / "out.jsonl", OUTPUT_LINES)
    summary = run(config_for(fake_llm_server), client="A", input=src, output=out, output_format="openai")
    assert summary.skipped == 2 and summary.written == 0 and summary.all_ok
    assert fake_llm_server.requests == [] and out.read_text() == "\n".join(OUTPUT_LINES) + "\n"


def test_failures_are_written_as_openai_writes_them(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    lines = [*INPUT_LINES,
             '{"custom_id": "request-3", "method": "POST", "url": "/v1/embeddings", "body": {"input": "x"}}',
             '{"custom_id": "request-4", "method": "GET", "url": "/v1/chat/completions", "body": {}}']
    src, out = _write(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    fake_llm_server.enqueue(Fault.status(400))
    summary = run(config_for(fake_llm_server), client="A", input=src, output=out, output_format="openai", workers=1)
    assert summary.ok == 1 and summary.failed == 1 and summary.input_errors == 2
    by_id = {r["custom_id"]: r for r in read_records(out)}
    http = by_id["request-1"]
    assert http["error"] is None and http["response"]["status_code"] == 400
    assert set(http["response"]["body"]["error"]) == {"message", "type", "param", "code"}
    assert by_id["request-3"]["response"] is None
    assert by_id["request-3"]["error"]["code"] == "invalid_input"
    assert "'/v1/embeddings' is not supported" in by_id["request-3"]["error"]["message"]
    assert "'method' must be POST" in by_id["request-4"]["error"]["message"]

    unreachable: dict[str, Any] = config_for(fake_llm_server, base_url="http://127.0.0.1:9/v1")
    again = run(unreachable, client="A", input=src, output=out, output_format="openai", retry_failed=True)
    assert again.retried == 3 and again.failed == 1 and again.input_errors == 2
    records = read_records(out)
    assert sorted(r["custom_id"] for r in records) == ["request-1", "request-2", "request-3", "request-4"]
    dropped = next(r for r in records if r["custom_id"] == "request-1")
    assert dropped["response"] is None and dropped["error"]["code"] == "transport_error"
    assert dropped["error"]["message"]


def test_another_providers_answer_becomes_a_chat_completion_body(tmp_path: Path,
                                                                 fake_llm_server: FakeLLMServer) -> None:
    cfg = {"clients": {"C": {"provider": "anthropic", "options": {
        "model": "claude-sonnet-4-5", "base_url": fake_llm_server.url, "api_key": KEY}}}}
    src, out = _write(tmp_path / "in.jsonl", INPUT_LINES[:1]), tmp_path / "out.jsonl"
    run(cfg, client="C", input=src, output=out, output_format="openai")
    (record,) = read_records(out)
    body = record["response"]["body"]
    assert body["object"] == "chat.completion" and body["model"]
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Echo: Name a color.", "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"] > 0
    sent = fake_llm_server.requests[0].json()
    assert sent["system"] == "You answer in one word." and sent["max_tokens"] == 64


def test_the_cli_writes_the_openai_format(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config_for(fake_llm_server)))
    src, out = _write(tmp_path / "in.jsonl", INPUT_LINES), tmp_path / "out.jsonl"
    assert main(["batch", "--config", str(cfg), "--client", "A", "--input", str(src), "--output", str(out),
                 "--output-format", "openai", "-q"]) == 0
    assert sorted(r["custom_id"] for r in read_records(out)) == ["request-1", "request-2"]
