"""What gunicorn --preload, Celery prefork and Ctrl-C in a script do to a registry.

A child forked after the parent used every pool (connections, the shared thread pool, the
composites' internal pool) must be able to use every one of them again; a KeyboardInterrupt
in the main thread, while calls are stalled, must end a script within about a second.
Both run in real processes: a forked child, and a script under ``python`` sent SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import eventually

from llmclient import FallbackClient, OpenAIGenericClient, Runtime
from llmclient.testing import FakeLLMServer, Fault

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

pytestmark = pytest.mark.slow  # real processes: a forked child, scripts sent SIGINT


def use_every_pool(server: FakeLLMServer, runtime: Runtime, tag: str) -> list[str]:
    """complete, stream, submit, batch, a hedged and a deadline-bound composite: their texts."""
    def leaf(name: str) -> OpenAIGenericClient:
        return OpenAIGenericClient(f"model-{name}", base_url=server.openai_base_url, name=name, runtime=runtime)

    plain = leaf("plain")
    texts = [plain.complete(f"{tag} complete").text]
    with plain.stream(f"{tag} stream") as stream:
        texts.append("".join(c.text for c in stream))
    texts.append(plain.submit(f"{tag} submit").result(timeout=30).text)
    texts.extend(r.text for r in plain.batch([f"{tag} batch {i}" for i in range(4)]))  # type: ignore[union-attr]
    hedged = FallbackClient([leaf("a"), leaf("b")], name="hedged", runtime=runtime, hedge_after_ms=5000)
    texts.append(hedged.complete(f"{tag} hedged").text)
    bounded = FallbackClient([leaf("c")], name="bounded", runtime=runtime, total_timeout_ms=30_000)
    texts.append(bounded.complete(f"{tag} bounded").text)
    return texts


def expected(tag: str) -> list[str]:
    return [f"Echo: {tag} {what}" for what in ("complete", "stream", "submit")] + [
        f"Echo: {tag} batch {i}" for i in range(4)] + [f"Echo: {tag} hedged", f"Echo: {tag} bounded"]


@needs_fork
# Forking with the fake server's threads running is the point of this test (3.12+ warns about it).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_child_forked_after_every_pool_was_used_can_use_every_pool(fake_llm_server: FakeLLMServer) -> None:
    runtime = Runtime(max_workers=4)
    try:
        assert use_every_pool(fake_llm_server, runtime, "parent") == expected("parent")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                texts = use_every_pool(fake_llm_server, runtime, "child")
                os.write(write_end, json.dumps(texts).encode())
                code = 0
            except BaseException as exc:
                os.write(write_end, json.dumps([f"{type(exc).__name__}: {exc}"]).encode())
            finally:
                os._exit(code)
        os.close(write_end)
        status = wait_for_child(pid, timeout=60)
        with os.fdopen(read_end, "rb") as pipe:
            child_texts = json.loads(pipe.read() or b"[]")
        assert child_texts == expected("child")
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert use_every_pool(fake_llm_server, runtime, "again") == expected("again")  # the parent is intact
    finally:
        runtime.close()


def wait_for_child(pid: int, *, timeout: float) -> int:
    """The child's wait status; a child still running after ``timeout`` is killed and fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child hung for {timeout} s (a pool inherited dead?)")


# -- Ctrl-C ---------------------------------------------------------------------------------------
SCRIPT_HEAD = """
import sys, time
import llmclient
base_url = sys.argv[1]
registry = llmclient.load_config({"clients": {"Slow": {"provider": "openai-generic",
    "options": {"model": "m", "base_url": base_url}}}, "settings": {"max_workers": 4}})
client = registry.client("Slow")
"""

SCENARIOS = {
    "batch": "client.batch([f'line {i}' for i in range(8)])",
    "future.result": "futures = [client.submit(f'line {i}') for i in range(6)]\nfutures[0].result()",
    "complete": "client.submit('background'); client.complete('main')",
    "stream": "client.submit('background'); client.stream('main')",
}


def run_and_interrupt(tmp_path: Path, server: FakeLLMServer, body: str, *, in_flight: int) -> tuple[float, str, str]:
    """Run ``body`` in a script, SIGINT it once ``in_flight`` requests reached the server; seconds to exit."""
    script = tmp_path / "script.py"
    script.write_text(SCRIPT_HEAD + textwrap.dedent(body) + "\n")
    process = subprocess.Popen([sys.executable, str(script), server.openai_base_url], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert eventually(lambda: len(server.requests) >= in_flight, timeout=30), "the calls never started"
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        return time.monotonic() - interrupted, out, err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_ctrl_c_ends_a_script_at_once_while_calls_are_stalled(tmp_path: Path, scenario: str) -> None:
    with FakeLLMServer() as server:
        server.random_faults(1.0, [Fault.stall(60)])
        took, _, err = run_and_interrupt(tmp_path, server, SCENARIOS[scenario], in_flight=2)
    assert took < 5.0, f"{took:.1f} s to exit after Ctrl-C (the stall is 60 s)\n{err}"
    assert "KeyboardInterrupt" in err
    assert "Exception ignored" not in err


def test_after_a_caught_ctrl_c_the_registry_is_still_usable(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        server.enqueue(*[Fault.stall(60)] * 4)  # the 4 workers' calls; the 4 queued lines never leave
        body = """
        try:
            client.batch([f'line {i}' for i in range(8)])
        except KeyboardInterrupt:
            print("interrupted")
        print(client.complete("after").text)
        print(client.submit("submitted").result().text)
        """
        took, out, err = run_and_interrupt(tmp_path, server, body, in_flight=4)
    assert out.split("\n")[:3] == ["interrupted", "Echo: after", "Echo: submitted"], err
    assert took < 5.0
    assert len(server.requests) == 6  # the queued lines were cancelled before being sent
