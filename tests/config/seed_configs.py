"""The original design's seed examples as the BAML parser produces them, shared by the config tests."""

from __future__ import annotations

from typing import Any


def seed_config() -> dict[str, Any]:
    """The seed examples as the BAML parser produces them, plus the Claude they refer to."""
    return {
        "clients": {
            "Resilient_LLM": {"provider": "baml-fallback", "options": {"strategy": ["GPT4", "Claude"]}},
            "GPT4": {
                "provider": "openai",
                "retry_policy": "Resilient",
                "options": {"model": "gpt-4", "api_key": {"env": "OPENAI_API_KEY"}, "max_tokens": 1000},
            },
            "AzureGPT": {
                "provider": "openai/azure",
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
                    "credentials": {
                        "access_key_id": {"env": "AWS_ACCESS_KEY_ID"},
                        "secret_access_key": {"env": "AWS_SECRET_ACCESS_KEY"},
                    },
                },
            },
            "SmartLLM": {
                "provider": "baml-strategy",
                "options": {
                    "strategy": "round_robin",
                    "providers": [{"client": "GPT4", "weight": 2}, {"client": "Claude", "weight": 1}],
                },
            },
            "Claude": {
                "provider": "anthropic",
                "options": {"model": "claude-sonnet-4-5", "api_key": {"env": "ANTHROPIC_API_KEY"}},
            },
        },
        "retry_policies": {
            "Resilient": {
                "max_retries": 3,
                "strategy": {"type": "exponential_backoff", "initial_delay": 1000, "max_delay": 30000},
            }
        },
    }
