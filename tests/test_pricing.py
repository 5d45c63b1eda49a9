"""Cost: Completion.cost from the shipped, dated price table; None when unknown; user prices win."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Iterator

import pytest

from llmclient import pricing
from llmclient.errors import ConfigError
from llmclient.events import CallFinished, Collector
from llmclient.models import UNKNOWN_USAGE, Completion, Usage

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_prices() -> Iterator[None]:
    pricing.reset_prices()
    yield
    pricing.reset_prices()


def _completion(provider: str, model: str, usage: Usage) -> Completion:
    return Completion("ok", usage=usage, provider=provider, model=model)


def test_openai_input_includes_its_cached_tokens() -> None:
    # gpt-4o: $2.50 input, $1.25 cached input, $10 output per 1M tokens.
    usage = Usage(input_tokens=1000, output_tokens=500, total_tokens=1500, cached_input_tokens=200)
    cost = _completion("openai", "gpt-4o", usage).cost
    assert cost == Decimal("800") * Decimal("2.50") / 10**6 + Decimal("200") * Decimal("1.25") / 10**6 \
        + Decimal("500") * Decimal("10") / 10**6
    assert cost == Decimal("0.00725")
    assert isinstance(cost, Decimal)


def test_anthropic_cache_reads_and_writes_are_apart_from_input() -> None:
    # claude-sonnet-4-5: $3 input, $3.75 5m cache write, $0.30 cache hit, $15 output.
    usage = Usage(input_tokens=1000, output_tokens=500, cached_input_tokens=2000, cache_creation_input_tokens=400)
    assert _completion("anthropic", "claude-sonnet-4-5", usage).cost == \
        (1000 * Decimal(3) + 2000 * Decimal("0.30") + 400 * Decimal("3.75") + 500 * Decimal(15)) / 10**6


def test_a_dated_name_resolves_only_where_the_table_lists_it() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=0)
    assert _completion("openai", "gpt-4o-2024-08-06", usage).cost == Decimal("2.50")
    assert _completion("openai", "gpt-4o-2024-05-13", usage).cost == Decimal("5.00")  # priced differently
    assert _completion("openai", "gpt-4o-2031-01-01", usage).cost is None  # not a guess
    assert _completion("anthropic", "claude-sonnet-4-5-20250929", usage).cost == Decimal(3)


def test_unknown_model_provider_or_usage_is_none() -> None:
    usage = Usage(input_tokens=10, output_tokens=10)
    assert _completion("openai", "my-own-model", usage).cost is None
    assert _completion("openai-generic", "gpt-4o", usage).cost is None  # a compatible server is not OpenAI
    assert Completion("ok", usage=usage, provider="openai", model=None).cost is None
    assert _completion("openai", "gpt-4o", UNKNOWN_USAGE).cost is None


def test_long_prompts_use_the_long_context_tier_and_unknown_tiers_are_none() -> None:
    # gemini-2.5-pro: $1.25/$10 up to 200K prompt tokens, $2.50/$15 above.
    short = _completion("google-ai", "gemini-2.5-pro", Usage(input_tokens=200_000, output_tokens=1000)).cost
    long = _completion("google-ai", "gemini-2.5-pro", Usage(input_tokens=200_001, output_tokens=1000)).cost
    assert short == (200_000 * Decimal("1.25") + 1000 * Decimal(10)) / 10**6
    assert long == (200_001 * Decimal("2.50") + 1000 * Decimal(15)) / 10**6
    # Sonnet 4's long tier gives no cache prices: a long prompt with cache reads is unpriced.
    assert _completion("anthropic", "claude-sonnet-4", Usage(input_tokens=250_000, output_tokens=10,
                                                             cached_input_tokens=5)).cost is None
    assert _completion("google-ai", "gemini-3-pro-preview", Usage(input_tokens=300_000)).cost is None


def test_set_price_adds_and_overrides_for_the_process() -> None:
    usage = Usage(input_tokens=1000, output_tokens=1000, reasoning_tokens=400)
    pricing.set_price("openai-generic", "llama-3-70b", input="0.5", output=1)
    assert _completion("openai-generic", "llama-3-70b", usage).cost == Decimal("0.0015")
    pricing.set_price("openai", "gpt-4o", input="1", output="2", reasoning="10")
    assert _completion("openai", "gpt-4o", usage).cost == (1000 * 1 + 600 * 2 + 400 * 10) / Decimal(10**6)
    pricing.reset_prices()
    assert _completion("openai-generic", "llama-3-70b", usage).cost is None


def test_prices_argument_wins_for_one_computation() -> None:
    c = _completion("openai", "gpt-4o", Usage(input_tokens=1_000_000, output_tokens=0))
    assert pricing.cost_of(c, prices={"openai": {"gpt-4o": {"input": "9", "output": "9"}}}) == Decimal(9)
    assert c.cost == Decimal("2.50")


def test_set_prices_takes_the_config_shape_and_checks_it_whole() -> None:
    pricing.set_prices({"azure-openai": {"my-deployment": {"input": "2.5", "output": "10", "cached_input": "1.25"}}})
    assert pricing.price_of("azure-openai", "my-deployment") is not None
    with pytest.raises(ConfigError, match=r"settings.prices.openai.x.input: 'cheap' is not a number"):
        pricing.set_prices({"openai": {"x": {"input": "cheap", "output": 1}}}, where="settings.prices")
    with pytest.raises(ConfigError, match=r"needs at least \"input\" and \"output\""):
        pricing.set_prices({"openai": {"x": {"input": 1}}})
    with pytest.raises(ConfigError, match="unknown price field"):
        pricing.set_prices({"openai": {"x": {"input": 1, "output": 1, "outptu": 2}}})
    with pytest.raises(ConfigError, match=">= 0"):
        pricing.set_price("openai", "x", input=-1, output=1)


def test_the_shipped_table_is_dated_and_every_row_names_a_known_source() -> None:
    data = json.loads(files("llmclient").joinpath("prices.json").read_text(encoding="utf-8"))
    assert pricing.table_date() == data["date"]
    for provider, spec in data["providers"].items():
        for model, row in spec["models"].items():
            assert row["source"] in data["sources"], (provider, model)
    for source in data["sources"].values():
        assert source["url"].startswith("https://") and source["retrieved"]


def test_collector_sums_cost_and_says_when_it_cannot() -> None:
    collector = Collector()
    priced = _completion("openai", "gpt-4o", Usage(input_tokens=1_000_000, output_tokens=0))
    collector(CallFinished("c", "openai", 1.0, 1, priced, None, 0.1, priced.usage))
    collector(CallFinished("c", "openai", 1.0, 2, priced, None, 0.1, priced.usage))
    assert collector.cost == Decimal("5.00")
    unpriced = _completion("openai", "nobody-knows", Usage(input_tokens=5))
    collector(CallFinished("c", "openai", 1.0, 3, unpriced, None, 0.1, unpriced.usage))
    assert collector.cost is None and collector.priced_cost == Decimal("5.00") and collector.unpriced == 1
    assert collector.calls[0].cost == Decimal("2.50")


def _modules_after(code: str) -> list[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=60, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_and_a_completion_whose_cost_nobody_reads_load_no_price_table() -> None:
    modules = _modules_after("import llmclient\nfrom llmclient.models import Completion, Usage\n"
                             "c = Completion('x', usage=Usage(1, 1), provider='openai', model='gpt-4o')")
    assert "llmclient.pricing" not in modules and "decimal" not in modules
    assert "llmclient.pricing" in _modules_after("import llmclient\nfrom llmclient.models import Completion\n"
                                                 "Completion('x', provider='openai', model='gpt-4o').cost")
