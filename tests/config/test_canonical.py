"""Tests for llmclient.config.canonical: every accepted spelling becomes the one canonical dict."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from seed_configs import seed_config

from llmclient.config.canonical import canonical_provider_name, canonicalize, plain
from llmclient.config.schema import validate_config
from llmclient.secrets import env

SEED_CANONICAL: dict[str, Any] = {
    "clients": {
        "Resilient_LLM": {"provider": "fallback", "options": {"strategy": ["GPT4", "Claude"]}},
        "GPT4": {
            "provider": "openai",
            "retry_policy": "Resilient",
            "options": {"model": "gpt-4", "api_key": {"env": "OPENAI_API_KEY"}, "max_tokens": 1000},
        },
        "AzureGPT": {
            "provider": "azure-openai",
            "options": {
                "model": "deployment_name",
                "api_key": {"env": "AZURE_API_KEY"},
                "endpoint": {"env": "AZURE_ENDPOINT"},
            },
        },
        "Claude3": {
            "provider": "aws-bedrock",
            "options": {
                "model": "anthropic.claude-3-sonnet",
                "region": "us-west-2",
                "access_key_id": {"env": "AWS_ACCESS_KEY_ID"},
                "secret_access_key": {"env": "AWS_SECRET_ACCESS_KEY"},
            },
        },
        "SmartLLM": {
            "provider": "round-robin",
            "options": {"strategy": ["GPT4", "Claude"], "weights": [2, 1]},
        },
        "Claude": {
            "provider": "anthropic",
            "options": {"model": "claude-sonnet-4-5", "api_key": {"env": "ANTHROPIC_API_KEY"}},
        },
    },
    "retry_policies": {
        "Resilient": {
            "max_retries": 3,
            "strategy": {
                "type": "exponential_backoff",
                "delay_ms": 1000,
                "multiplier": 1.5,
                "max_delay_ms": 30000,
                "jitter": "none",
            },
        }
    },
    "settings": {"max_workers": 32},
}


def canonical(config: dict[str, Any]) -> dict[str, Any]:
    """Validate, then canonicalise (the order every loader uses)."""
    validate_config(config)
    return canonicalize(config)


def client(provider: str, options: dict[str, Any]) -> dict[str, Any]:
    """Canonicalise a config holding client X (plus A and B for composites to refer to)."""
    config = {
        "clients": {
            "X": {"provider": provider, "options": options},
            "A": {"provider": "openai"},
            "B": {"provider": "openai"},
        }
    }
    result: dict[str, Any] = canonical(config)["clients"]["X"]
    return result


def test_seed_examples_canonicalise_to_the_expected_dict() -> None:
    assert canonical(seed_config()) == SEED_CANONICAL


def test_canonical_form_is_valid_and_a_fixed_point() -> None:
    once = canonical(seed_config())
    validate_config(once)
    assert canonicalize(once) == once


def test_input_is_not_modified_and_output_shares_nothing_with_it() -> None:
    config = seed_config()
    before = copy.deepcopy(config)
    result = canonicalize(config)
    assert config == before
    result["clients"]["GPT4"]["options"]["api_key"]["env"] = "CHANGED"
    result["clients"]["Claude3"]["options"]["access_key_id"]["env"] = "CHANGED"
    assert config == before


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("openai/azure", "azure-openai"),
        ("baml-fallback", "fallback"),
        ("baml-round-robin", "round-robin"),
        ("openai", "openai"),
        ("ollama", "ollama"),
        ("baml-strategy", "baml-strategy"),
        ("my-plugin", "my-plugin"),
    ],
)
def test_canonical_provider_name(given: str, expected: str) -> None:
    assert canonical_provider_name(given) == expected


def test_leaf_providers_keep_their_options_and_env_refs() -> None:
    options = {"model": {"env": "MODEL"}, "base_url": "http://localhost:11434/v1", "logprobs": None,
               "headers": {"X-Key": {"env": "KEY"}}}
    assert client("ollama", options) == {"provider": "ollama", "options": options}
    assert client("openai/azure", {"resource_name": "r", "deployment_id": "d"}) == {
        "provider": "azure-openai", "options": {"resource_name": "r", "deployment_id": "d"},
    }


def test_client_without_options_gets_empty_options() -> None:
    assert client("openai", {}) == {"provider": "openai", "options": {}}
    config = {"clients": {"A": {"provider": "anthropic"}}}
    assert canonical(config)["clients"]["A"] == {"provider": "anthropic", "options": {}}


def test_fallback_alias_and_options_pass_through() -> None:
    options = {"strategy": ["A", "B"], "hedge_after_ms": 300, "total_timeout_ms": 5000,
               "fallback_on": ["RateLimitError"], "cooldown_failures": 2, "cooldown_ms": 1000}
    assert client("baml-fallback", options) == {"provider": "fallback", "options": options}


def test_fallback_providers_become_strategy_and_weights_are_dropped() -> None:
    options = {"providers": [{"client": "A", "weight": 3}, {"client": "B"}], "hedge_after_ms": 1}
    assert client("fallback", options) == {
        "provider": "fallback", "options": {"strategy": ["A", "B"], "hedge_after_ms": 1},
    }


def test_round_robin_providers_become_strategy_and_weights() -> None:
    options = {"providers": [{"client": "A", "weight": 3}, {"client": "B"}], "start": 1}
    assert client("baml-round-robin", options) == {
        "provider": "round-robin", "options": {"strategy": ["A", "B"], "weights": [3, 1], "start": 1},
    }


def test_round_robin_without_any_weight_has_no_weights() -> None:
    options = {"providers": [{"client": "A"}, {"client": "B"}]}
    assert client("round-robin", options) == {"provider": "round-robin", "options": {"strategy": ["A", "B"]}}
    options = {"strategy": ["A", "B"], "weights": [1, 4]}
    assert client("round-robin", options) == {"provider": "round-robin", "options": options}


def test_baml_strategy_fallback() -> None:
    options = {"strategy": "fallback", "providers": [{"client": "B", "weight": 2}, {"client": "A"}],
               "total_timeout_ms": 9000}
    assert client("baml-strategy", options) == {
        "provider": "fallback", "options": {"strategy": ["B", "A"], "total_timeout_ms": 9000},
    }


def test_baml_strategy_round_robin_defaults_missing_weights_to_one() -> None:
    options = {"strategy": "round_robin", "providers": [{"client": "A"}, {"client": "B", "weight": 5}],
               "start": 0, "cooldown_ms": 10}
    assert client("baml-strategy", options) == {
        "provider": "round-robin",
        "options": {"strategy": ["A", "B"], "weights": [1, 5], "start": 0, "cooldown_ms": 10},
    }


def test_bedrock_credentials_are_flattened_and_model_id_renamed() -> None:
    options = {
        "model_id": "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "region": {"env": "AWS_REGION"},
        "credentials": {"access_key_id": {"env": "AK"}, "secret_access_key": {"env": "SK"},
                        "session_token": {"env": "ST"}},
        "inference_configuration": {"max_tokens": 64},
    }
    assert client("aws-bedrock", options) == {
        "provider": "aws-bedrock",
        "options": {
            "model": "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "region": {"env": "AWS_REGION"},
            "access_key_id": {"env": "AK"},
            "secret_access_key": {"env": "SK"},
            "session_token": {"env": "ST"},
            "inference_configuration": {"max_tokens": 64},
        },
    }
    assert client("aws-bedrock", {"model": "m", "credentials": {"profile": "dev"}}) == {
        "provider": "aws-bedrock", "options": {"model": "m", "profile": "dev"},
    }


def policies(**given: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = canonical({"clients": {}, "retry_policies": given})["retry_policies"]
    return result


def test_retry_policy_defaults() -> None:
    assert policies(
        NoStrategy={"max_retries": 2},
        Constant={"max_retries": 1, "strategy": {"type": "constant_delay"}},
        Exponential={"max_retries": 0, "strategy": {"type": "exponential_backoff"}},
    ) == {
        "NoStrategy": {"max_retries": 2, "strategy": {"type": "constant_delay", "delay_ms": 200, "jitter": "none"}},
        "Constant": {"max_retries": 1, "strategy": {"type": "constant_delay", "delay_ms": 200, "jitter": "none"}},
        "Exponential": {
            "max_retries": 0,
            "strategy": {"type": "exponential_backoff", "delay_ms": 200, "multiplier": 1.5,
                         "max_delay_ms": 10000, "jitter": "none"},
        },
    }


def test_retry_policy_given_values_and_policy_options_are_kept() -> None:
    given = {
        "max_retries": 4,
        "strategy": {"type": "exponential_backoff", "delay_ms": 50, "multiplier": 3, "max_delay": 800,
                     "jitter": "full"},
        "retry_on": ["429", "TransportError"],
        "max_retry_after_ms": 20000,
    }
    assert policies(P=given) == {
        "P": {
            "max_retries": 4,
            "strategy": {"type": "exponential_backoff", "delay_ms": 50, "multiplier": 3, "max_delay_ms": 800,
                         "jitter": "full"},
            "retry_on": ["429", "TransportError"],
            "max_retry_after_ms": 20000,
        }
    }
    assert policies(P={"max_retries": 1, "strategy": {"type": "constant_delay", "initial_delay": 0}}) == {
        "P": {"max_retries": 1, "strategy": {"type": "constant_delay", "delay_ms": 0, "jitter": "none"}},
    }


def test_settings_default_and_given() -> None:
    assert canonical({"clients": {}}) == {"clients": {}, "retry_policies": {}, "settings": {"max_workers": 32}}
    assert canonical({"clients": {}, "settings": {"max_workers": 4}})["settings"] == {"max_workers": 4}


def test_python_spellings_become_plain_json_data() -> None:
    config = {"clients": {
        "A": {"provider": "openai", "options": {"api_key": env("OPENAI_API_KEY"), "stop": ("x", "y")}},
        "F": {"provider": "fallback", "options": {"strategy": ("A",)}},
    }}
    result = canonical(config)
    assert result["clients"]["A"]["options"] == {"api_key": {"env": "OPENAI_API_KEY"}, "stop": ["x", "y"]}
    assert result["clients"]["F"]["options"] == {"strategy": ["A"]}
    assert plain({"k": (1, {"e": env("E")})}) == {"k": [1, {"e": {"env": "E"}}]}
