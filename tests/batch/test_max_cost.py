"""Batch cost: records carry it, summaries show it, max_cost / --max-cost stop taking lines once spent."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import pytest
from batch_helpers import config_for, read_records, write_input

from llmclient import pricing
from llmclient.batch import run
from llmclient.batch.jsonl import read_done
from llmclient.cli import main
from llmclient.testing import FakeLLMServer


@pytest.fixture(autouse=True)
def _clean_prices() -> Iterator[None]:
    pricing.reset_prices()
    yield
    pricing.reset_prices()


def _line_cost(record: dict[str, object]) -> Decimal:
    completion = record["completion"]
    assert isinstance(completion, dict) and completion["cost"] is not None
    return Decimal(completion["cost"])


def test_records_carry_their_cost_and_the_summary_sums_it(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 6), tmp_path / "out.jsonl"
    summary = run(config_for(fake_llm_server), client="A", input=src, output=out, workers=2, progress=False)
    records = read_records(out)
    costs = [_line_cost(r) for r in records]
    assert all(c > 0 for c in costs)
    c = records[0]["completion"]
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per 1M tokens.
    assert Decimal(c["cost"]) == (Decimal(c["usage"]["input_tokens"]) * Decimal("0.15")
                                  + Decimal(c["usage"]["output_tokens"]) * Decimal("0.60")) / 10**6
    assert summary.cost == sum(costs) and summary.unpriced == 0
    assert "cost $" in summary.format()
    assert Decimal(summary.to_dict()["cost"]) == sum(costs)
    assert read_done(out).spent == sum(costs)


def test_max_cost_stops_taking_lines_and_a_resumed_run_counts_what_was_spent(
        tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 20), tmp_path / "out.jsonl"
    probe = tmp_path / "probe.jsonl"
    run(config_for(fake_llm_server), client="A", input=write_input(tmp_path / "one.jsonl", 1), output=probe,
        workers=1, progress=False)
    per_line = _line_cost(read_records(probe)[0])
    limit = per_line * Decimal("3.5")  # the 4th line's answer passes it

    first = run(config_for(fake_llm_server), client="A", input=src, output=out, workers=1, progress=False,
                max_cost=limit)
    assert first.stopped_for_cost and not first.complete
    assert 4 <= first.written <= 5  # lines of slightly different lengths cost slightly differently
    assert first.total_cost >= limit
    assert "--max-cost" in first.format()

    sent = len(fake_llm_server.requests)
    again = run(config_for(fake_llm_server), client="A", input=src, output=out, workers=1, progress=False,
                max_cost=limit)
    assert again.spent_before == first.total_cost and again.written == 0 and again.stopped_for_cost
    assert len(fake_llm_server.requests) == sent  # nothing new was sent

    rest = run(config_for(fake_llm_server), client="A", input=src, output=out, workers=1, progress=False,
               max_cost=per_line * 100)
    assert rest.complete and not rest.stopped_for_cost
    assert rest.total_cost == sum(_line_cost(r) for r in read_records(out))


def test_unpriced_answers_are_counted_apart_and_warned_about(tmp_path: Path, fake_llm_server: FakeLLMServer,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    config = config_for(fake_llm_server, model="a-model-nobody-prices")
    src, out = write_input(tmp_path / "in.jsonl", 3), tmp_path / "out.jsonl"
    with caplog.at_level("WARNING", logger="llmclient.batch"):
        summary = run(config, client="A", input=src, output=out, workers=1, progress=False, max_cost="1.00")
    assert summary.complete and summary.unpriced == 3 and summary.cost == 0
    assert "has no price" in caplog.text
    assert [r["completion"]["cost"] for r in read_records(out)] == [None, None, None]


def test_openai_format_records_are_priced_again_on_resume(tmp_path: Path, fake_llm_server: FakeLLMServer) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 2), tmp_path / "out.jsonl"
    summary = run(config_for(fake_llm_server), client="A", input=src, output=out, workers=1, progress=False,
                  output_format="openai")
    records = read_records(out)
    assert all("cost" not in r for r in records)  # the record keeps OpenAI's shape
    # gpt-4o-mini: $0.15 input, $0.60 output per 1M tokens, priced again from each body's usage.
    costs = [(r["response"]["body"]["usage"]["prompt_tokens"] * Decimal("0.15")
              + r["response"]["body"]["usage"]["completion_tokens"] * Decimal("0.60")) / 10**6 for r in records]
    assert read_done(out).spent == sum(costs) == summary.cost > 0


@pytest.mark.parametrize("value", [0, -1, "free", float("nan"), True])
def test_a_bad_max_cost_is_refused_before_any_call(value: object, tmp_path: Path,
                                                    fake_llm_server: FakeLLMServer) -> None:
    with pytest.raises(ValueError, match="max_cost"):
        run(config_for(fake_llm_server), client="A", input=write_input(tmp_path / "in.jsonl", 1),
            output=tmp_path / "out.jsonl", max_cost=value)  # type: ignore[arg-type]
    assert len(fake_llm_server.requests) == 0


def test_the_cli_flag(tmp_path: Path, fake_llm_server: FakeLLMServer, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps(config_for(fake_llm_server)))
    src, out = write_input(tmp_path / "in.jsonl", 5), tmp_path / "out.jsonl"
    args = ["batch", "--config", str(config), "--client", "A", "--input", str(src), "--output", str(out),
            "--workers", "1"]
    assert main([*args, "--max-cost", "0.0000001"]) == 130  # lines left without a record
    assert len(read_records(out)) == 1
    assert "--max-cost $0.0000001 spent" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main([*args, "--max-cost", "nothing"])
    assert info.value.code == 2
    assert "argument --max-cost: expected US dollars" in capsys.readouterr().err
