"""given_options: None means 'not given' for adapter options, 'remove this default' for body fields."""

from __future__ import annotations

import llmclient
from llmclient.providers.base import given_options


def test_none_is_dropped_for_adapter_options_and_model_but_kept_for_body_fields() -> None:
    given = {"model": None, "base_url": None, "api_key": "k", "temperature": None, "top_k": 3}
    assert given_options(given, frozenset({"base_url", "api_key"})) == {
        "api_key": "k", "temperature": None, "top_k": 3}


def test_every_api_key_provider_applies_the_same_rule() -> None:
    clients = [llmclient.OpenAIClient("m", api_key="k", base_url=None, seed=None),
               llmclient.AnthropicClient("m", api_key="k", base_url=None, seed=None),
               llmclient.GoogleAIClient("m", api_key="k", base_url=None, seed=None)]
    for client in clients:
        body = client.build_request("hi").json()  # type: ignore[attr-defined]
        assert "seed" not in body and "base_url" not in body
        assert not client.build_request("hi").url.startswith("None")  # type: ignore[attr-defined]
