"""``import llmclient`` stays cheap: the heavy optional dependencies are imported only when used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("botocore", "jwt", "cryptography", "jsonschema")


def _modules_after(code: str) -> list[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=60, check=True,
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def _heavy_in(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY]


def test_import_llmclient_imports_no_heavy_dependency() -> None:
    modules = _modules_after("import llmclient")
    assert "llmclient" in modules
    assert "requests" not in modules  # imported with the first transport, i.e. the first client
    assert "llmclient.events" not in modules  # event types load with the first hook
    assert _heavy_in(modules) == []
    # Standard modules that cost milliseconds and are needed only later (an HTTP-date Retry-After,
    # the transport's watchdog): 7 ms came back with email.utils once.
    assert [m for m in ("email.utils", "socket", "llmclient.watchdog") if m in modules] == []


def test_building_an_openai_client_imports_no_heavy_dependency() -> None:
    modules = _modules_after(
        "import llmclient\n"
        "c = llmclient.OpenAIClient('gpt-4o', api_key='k' * 10)\n"
        "c.adapter.build_request(llmclient.ChatRequest((llmclient.Message('user', 'hi'),)), stream=False)\n"
        "c.close()"
    )
    assert "requests" in modules and "llmclient.transport" in modules
    assert "llmclient.events" not in modules
    assert _heavy_in(modules) == []


def test_the_check_itself_can_fail() -> None:
    # Guards against a vacuous test: importing one of them is seen.
    modules = _modules_after("import llmclient, json\nimport jsonschema")
    assert "jsonschema" in _heavy_in(modules)
