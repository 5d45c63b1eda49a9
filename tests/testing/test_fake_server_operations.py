"""Running the fake server for long or for other tools: HTTP/1.0 clients, the bounded log, the CLI.

HTTP/1.0 is what ``ab -k`` speaks (``POST ... HTTP/1.0`` + ``Connection: Keep-Alive``); the
tests use a bare socket with a 10 s timeout, so a client that would wait for a close that
never comes fails instead of hanging.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from raw_http import HELLO, split_head

from llmclient.testing import FakeLLMServer
from llmclient.testing.request_log import DEFAULT_MAX_LOGGED_REQUESTS

ROOT = Path(__file__).resolve().parents[2]
STREAM = {**HELLO, "stream": True}


# --- HTTP/1.0 clients ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("POST", "/v1/chat/completions", HELLO, "200 OK"),
    ("GET", "/", None, "404 Not Found"),
])
def test_http10_keep_alive_gets_a_length_and_keep_alive_and_the_connection_stays(
        server: FakeLLMServer, raw_http: Any, method: str, path: str, body: Any, status: str) -> None:
    conn = raw_http(server)
    for _ in range(3):  # what ab -k does: several requests on one connection, each read by length
        conn.send(method, path, body, version="HTTP/1.0", headers=("Connection: Keep-Alive",))
        line, headers, answer = conn.read_response()
        assert line.endswith(status)
        assert headers["connection"] == "keep-alive" and "transfer-encoding" not in headers
        assert json.loads(answer)
    assert server.connections_opened == 1


def test_plain_http10_gets_the_connection_closed_after_the_answer(server: FakeLLMServer, raw_http: Any) -> None:
    conn = raw_http(server)
    conn.send(version="HTTP/1.0")
    _, headers, body = split_head(conn.read_until_eof())  # EOF comes: the client never stalls
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    assert json.loads(body)["choices"][0]["message"]["content"] == "Echo: hello world"


@pytest.mark.parametrize("keep_alive", [True, False])
def test_streams_to_http10_clients_are_close_delimited_not_chunked(
        server: FakeLLMServer, raw_http: Any, keep_alive: bool) -> None:
    conn = raw_http(server)
    conn.send(body=STREAM, version="HTTP/1.0", headers=("Connection: Keep-Alive",) if keep_alive else ())
    _, headers, body = split_head(conn.read_until_eof())
    assert "transfer-encoding" not in headers and "content-length" not in headers
    assert headers["connection"] == "close"
    assert body.startswith(b"data: {") and body.endswith(b"data: [DONE]\n\n")


def test_http10_streams_with_content_length_keep_the_connection(raw_http: Any) -> None:
    with FakeLLMServer(stream_content_length=True) as fake:
        conn = raw_http(fake)
        conn.send(body=STREAM, version="HTTP/1.0", headers=("Connection: keep-alive",))
        _, headers, body = conn.read_response()
        assert headers["connection"] == "keep-alive" and body.endswith(b"data: [DONE]\n\n")


def test_http11_close_is_honoured(server: FakeLLMServer, raw_http: Any) -> None:
    conn = raw_http(server)
    conn.send(headers=("Connection: close",))
    _, headers, _ = split_head(conn.read_until_eof())
    assert headers["connection"] == "close"


# --- the bounded request log ---------------------------------------------------------------------


def test_the_request_log_keeps_only_the_newest_requests() -> None:
    with FakeLLMServer(max_logged_requests=5) as fake, requests.Session() as session:
        for i in range(12):
            body = {"model": "m", "messages": [{"role": "user", "content": str(i)}]}
            assert session.post(fake.openai_base_url + "/chat/completions", json=body, timeout=10).ok
        log = fake.requests
        assert len(log) == 5 and log.maxlen == 5
        assert [r.json()["messages"][0]["content"] for r in log] == ["7", "8", "9", "10", "11"]
        assert log[-1].json()["messages"][0]["content"] == "11"
        assert [r.json()["messages"][0]["content"] for r in log[-2:]] == ["10", "11"]
        assert log == list(log) and log != []
        fake.clear()
        assert fake.requests == [] and len(fake.requests) == 0


def test_the_request_log_is_bounded_by_default_and_validated() -> None:
    assert DEFAULT_MAX_LOGGED_REQUESTS == 10_000
    assert FakeLLMServer().requests.maxlen == 10_000
    assert FakeLLMServer(max_logged_requests=None).requests.maxlen is None
    for bad in (-1, True, 2.5, "10"):
        with pytest.raises(ValueError, match="max_logged_requests"):
            FakeLLMServer(max_logged_requests=bad)  # type: ignore[arg-type]


def test_iterating_the_log_while_requests_arrive_is_safe(server: FakeLLMServer) -> None:
    requests.post(server.openai_base_url + "/chat/completions", json=HELLO, timeout=10)
    seen = 0
    for _ in server.requests:  # a snapshot: a deque would raise "mutated during iteration", a list grow
        requests.post(server.openai_base_url + "/chat/completions", json=HELLO, timeout=10)
        seen += 1
        if seen == 3:
            break
    assert seen == 1 and len(server.requests) == 2


# --- base URLs and the command line --------------------------------------------------------------


def _post(url: str, body: Any) -> requests.Response:
    return requests.post(url, json=body, timeout=10)


def test_base_urls_reach_each_wire_format(server: FakeLLMServer) -> None:
    urls = server.base_urls()
    assert set(urls) == {"openai", "azure-openai", "anthropic", "google-ai", "vertex-ai", "google-oauth",
                         "aws-bedrock", "openai-responses"}
    assert urls["openai"] == server.openai_base_url
    messages = [{"role": "user", "content": "hi"}]
    gemini = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    answers = [
        _post(urls["openai"] + "/chat/completions", {"model": "m", "messages": messages}),
        _post(urls["azure-openai"] + "/openai/deployments/d/chat/completions?api-version=2024-06-01",
              {"messages": messages}),
        _post(urls["anthropic"] + "/v1/messages", {"model": "claude-x", "max_tokens": 9, "messages": messages}),
        _post(urls["google-ai"] + "/models/gemini-x:generateContent", gemini),
        _post(urls["vertex-ai"] + "/v1/projects/p/locations/l/publishers/google/models/gemini-x:generateContent",
              gemini),
        _post(urls["aws-bedrock"] + "/model/m/converse", {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        _post(urls["openai-responses"] + "/responses", {"model": "m", "input": "hi"}),
    ]
    assert [a.status_code for a in answers] == [200] * 7, [a.text for a in answers]
    assert all("Echo: hi" in a.text for a in answers)
    token = requests.post(urls["google-oauth"], data={"grant_type": "x"}, timeout=10)
    assert token.status_code != 404  # routed to the token endpoint (which refuses this grant)


def _read_lines(stream: Any, count: int, timeout: float) -> list[str]:
    """``count`` lines from a pipe, or fail after ``timeout`` s (a reader thread never blocks the test)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in iter(stream.readline, "")], daemon=True).start()
    out = []
    for _ in range(count):
        try:
            out.append(lines.get(timeout=timeout))
        except queue.Empty:
            pytest.fail(f"fake-server printed only {out!r} within {timeout} s")
    return out


def test_the_fake_server_command_prints_one_base_url_per_format_then_serves() -> None:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "llmclient.cli", "fake-server"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        lines = _read_lines(proc.stdout, 8, timeout=30)
        table = {provider: (option, url) for provider, option, url in (line.split() for line in lines)}
        base = table["anthropic"][1]
        assert base.startswith("http://127.0.0.1:") and int(base.rsplit(":", 1)[1]) > 0
        assert table == {
            "openai": ("base_url", base + "/v1"), "azure-openai": ("endpoint", base),
            "anthropic": ("base_url", base), "google-ai": ("base_url", base + "/v1beta"),
            "vertex-ai": ("base_url", base), "google-oauth": ("token_uri", base + "/token"),
            "aws-bedrock": ("endpoint_url", base), "openai-responses": ("base_url", base + "/v1"),
        }
        answer = _post(table["openai"][1] + "/chat/completions", HELLO)  # still serving
        assert answer.json()["choices"][0]["message"]["content"] == "Echo: hello world"
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=10)
