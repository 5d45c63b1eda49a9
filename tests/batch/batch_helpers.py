"""Helpers of the batch tests: JSONL inputs, a config on FakeLLMServer, and output readers.

Imported by name (``from batch_helpers import ...``): pytest puts this folder on ``sys.path``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from llmclient.testing import FakeLLMServer

KEY = "sk-batch-secret-0123456789"
ROOT = Path(__file__).resolve().parents[2]


def config_for(server: FakeLLMServer, **options: Any) -> dict[str, Any]:
    """A one-client config (client ``A``) on the fake server, with a literal key."""
    return {"clients": {"A": {"provider": "openai", "options": {
        "model": "gpt-4o-mini", "base_url": server.openai_base_url, "api_key": KEY, **options}}}}


def write_input(path: Path, count: int, *, start: int = 0) -> Path:
    """``count`` prompt lines with ids ``start..start+count-1`` (half as prompt, half as messages)."""
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(start, start + count):
            if i % 2:
                handle.write(json.dumps({"id": f"q{i}", "messages": [{"role": "user", "content": f"item {i}"}]}) + "\n")
            else:
                handle.write(json.dumps({"id": f"q{i}", "prompt": f"item {i}", "params": {"max_tokens": 5}}) + "\n")
    return path


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of an output file; fails on a line that is not a complete JSON object."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "the output ends with a truncated line"
    records = [json.loads(line) for line in data.splitlines()]
    assert all(isinstance(r, dict) for r in records)
    return records


def assert_exactly_once(records: list[dict[str, Any]], ids: list[Any]) -> None:
    """One record per id, no more, no fewer."""
    counts = Counter(r["id"] for r in records)
    assert [k for k, n in counts.items() if n > 1] == []
    assert set(counts) == set(ids)


def subprocess_env() -> dict[str, str]:
    """The environment of a CLI subprocess: this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env
