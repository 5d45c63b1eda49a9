"""Helpers shared by the schema tests (test_schema*.py): configs of one client, their problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmclient.config.schema import validate_config
from llmclient.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILES = sorted((ROOT / "schemas").glob("*.json"))
FAKE_SECRET = "sk-FAKE-0d3c9e1b7a"


def problems_of(config: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_config(config, **kwargs)
    return info.value.problems


def one_client(provider: str, options: dict[str, Any] | None = None, **client: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"provider": provider, **client}
    if options is not None:
        body["options"] = options
    return {"clients": {"X": body}, "retry_policies": {"P": {"max_retries": 1}}}


def assert_problem(problems: list[str], path: str, phrase: str) -> None:
    matching = [p for p in problems if p.startswith(f"{path}: ")]
    assert any(phrase in p for p in matching), f"no {phrase!r} at {path} in {problems}"
