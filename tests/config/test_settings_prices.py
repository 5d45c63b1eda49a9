"""settings.prices: a config adds prices to the process's table, validated by the schema first."""

from __future__ import annotations

from decimal import Decimal
from typing import Iterator

import pytest

import llmclient
from llmclient import pricing
from llmclient.errors import ConfigError
from llmclient.models import Completion, Usage


@pytest.fixture(autouse=True)
def _clean_prices() -> Iterator[None]:
    pricing.reset_prices()
    yield
    pricing.reset_prices()


def _config(prices: object) -> dict[str, object]:
    return {"clients": {"Local": {"provider": "openai-generic",
                                  "options": {"model": "llama-3-70b", "base_url": "http://127.0.0.1:9/v1"}}},
            "settings": {"prices": prices}}


def test_prices_in_settings_price_the_answers() -> None:
    registry = llmclient.load_config(_config({"openai-generic": {"llama-3-70b": {"input": "0.5", "output": 1}}}))
    try:
        c = Completion("x", usage=Usage(input_tokens=2_000_000, output_tokens=1_000_000),
                       provider="openai-generic", model="llama-3-70b")
        assert c.cost == Decimal(2)
    finally:
        registry.close()


def test_a_bad_price_is_a_config_error_naming_where() -> None:
    with pytest.raises(ConfigError) as caught:
        llmclient.load_config(_config({"openai-generic": {"llama-3-70b": {"input": "0.5"}}}))
    assert "prices" in str(caught.value) and "output" in str(caught.value)
    with pytest.raises(ConfigError, match="not a number"):
        llmclient.load_config(_config({"openai-generic": {"llama-3-70b": {"input": "half", "output": 1}}}))
    assert pricing.price_of("openai-generic", "llama-3-70b") is None
