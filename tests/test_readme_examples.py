"""Every Python example in README.rst runs as written, against FakeLLMServer.

The convention (README, "Development"): each ``.. code-block:: python`` block is run on its own,
in a fresh interpreter, in a temporary directory holding ``clients.json`` / ``llm.json``
(clients ``GPT4`` and ``fast``) and ``in.jsonl``, with ``import llmclient`` done, fake provider
keys in the environment, every provider's default address pointed at a FakeLLMServer and every
other host refused. A block that cannot run like that (it needs a real cluster, say) is preceded
by the comment ``.. example: not run (the reason)``. ``::`` literal blocks are never run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from llmclient.testing import FakeLLMServer

README = Path(__file__).resolve().parents[1] / "README.rst"
NOT_RUN = re.compile(r"^\.\. example: not run \((.+)\)\s*$")
TIMEOUT_S = 120

#: Run before each block: the documented convention, and a guard that refuses any host but loopback.
PRELUDE = '''\
import os, socket

_getaddrinfo = socket.getaddrinfo


def _loopback_only(host, *args, **kwargs):
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise OSError(f"README examples may not reach the network (tried {host!r})")
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_only

import llmclient
from llmclient.providers import anthropic as _anthropic, google as _google, openai as _openai

_FAKE = os.environ["README_FAKE_URL"]
for _name in ("openai", "openrouter"):
    _openai.OPENAI_FAMILY[_name] = (_FAKE + "/v1",) + _openai.OPENAI_FAMILY[_name][1:]
_anthropic.DEFAULT_ANTHROPIC_BASE_URL = _FAKE
_google.DEFAULT_GOOGLE_AI_BASE_URL = _FAKE + "/v1beta"
from llmclient.providers import openai_responses as _responses
_responses.DEFAULT_BASE_URL = _FAKE + "/v1"
# -- the README block --------------------------------------------------------------------------------
'''


def python_blocks() -> list[tuple[int, str, str | None]]:
    """``(line number, code, reason not run)`` for every ``.. code-block:: python`` in README.rst."""
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks = []
    for number, line in enumerate(lines):
        if line.strip() != ".. code-block:: python":
            continue
        previous = next((lines[j] for j in range(number - 1, -1, -1) if lines[j].strip()), "")
        match = NOT_RUN.match(previous.strip())
        body: list[str] = []
        j = number + 1
        while j < len(lines) and (not lines[j].strip() or lines[j].startswith((" ", "\t"))):
            body.append(lines[j])
            j += 1
        text = "\n".join(body).strip("\n")
        indent = min(len(b) - len(b.lstrip()) for b in body if b.strip())
        code = "\n".join(b[indent:] for b in text.splitlines())
        blocks.append((number + 1, code + "\n", match.group(1) if match else None))
    return blocks


BLOCKS = python_blocks()
RUNNABLE = [(line, code) for line, code, reason in BLOCKS if reason is None]


def test_the_readme_has_python_examples_and_marks_every_one_not_run_with_a_reason() -> None:
    assert len(RUNNABLE) >= 8
    assert all(reason is None or reason.strip() for _, _, reason in BLOCKS)


@pytest.mark.parametrize(("line", "code"), [(line, code) for line, code, reason in BLOCKS if reason is not None])
def test_an_example_not_run_is_still_valid_python(line: int, code: str) -> None:
    compile(code, f"README.rst:{line}", "exec")  # a SyntaxError fails the test


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def workdir(tmp_path: Path, server: FakeLLMServer) -> dict[str, str]:
    """The files the examples name, and their environment."""
    clients = {"GPT4": {"provider": "openai", "options": {"model": "gpt-4", "base_url": server.openai_base_url,
                                                          "api_key": {"env": "OPENAI_API_KEY"}}},
               "fast": {"provider": "openai-generic", "options": {"model": "small",
                                                                  "base_url": server.openai_base_url}}}
    config = json.dumps({"clients": clients})
    (tmp_path / "clients.json").write_text(config)
    (tmp_path / "llm.json").write_text(config)
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"question {i}"}) + "\n"
                                               for i in range(5)))
    keep = ("PATH", "SYSTEMROOT", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(HOME=str(tmp_path), README_FAKE_URL=server.url, OPENAI_API_KEY="sk-readme-fake",
               ANTHROPIC_API_KEY="sk-ant-readme-fake", GOOGLE_API_KEY="readme-fake", AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="AKIDREADME", AWS_SECRET_ACCESS_KEY="readme-secret", GATEWAY_TOKEN="tok-readme",
               AWS_CONFIG_FILE=str(tmp_path / "aws-config"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-creds"),
               NO_PROXY="*")
    return env


@pytest.mark.parametrize(("line", "code"), RUNNABLE, ids=[f"README.rst:{b[0]}" for b in RUNNABLE])
def test_readme_example_runs(line: int, code: str, fake: FakeLLMServer, tmp_path: Path) -> None:
    env = workdir(tmp_path, fake)
    script = tmp_path / "example.py"
    script.write_text(PRELUDE + code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"README.rst:{line} failed as written:\n{code}\n--- stderr ---\n{done.stderr[-3000:]}"
