"""llmclient beside raw requests and the official openai SDK, in one run, reported as ratios.

Against a canned local upstream in another process (``upstream.py``), it measures:

* microseconds per sequential call (raw ``requests.Session.post`` + ``json.loads`` is the floor);
* calls per second at 8 and 32 threads sharing one client (raw: one shared Session whose
  pool is sized to 32), counting urllib3's "Connection pool is full" warnings;
* chunks per second consuming a 5,000-chunk stream (raw: ``iter_lines`` + ``json.loads``
  of each ``data:`` line);
* the cost of ``import llmclient`` beside ``import requests`` (fresh interpreters), and of
  importing it and building a first client (which is when requests is imported);
* a fallback client whose first child refuses the connection, beside calling the second
  child directly plus the refused attempt (what the fallback itself adds).

Run: ``python benchmarks/bench_openai.py`` (``--quick`` for a short run). Needs
``pip install . openai``; the openai SDK columns are skipped when it is not installed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import requests
from requests.adapters import HTTPAdapter

import llmclient

HERE = Path(__file__).resolve().parent
MESSAGES = [{"role": "user", "content": "Say hello."}]
BODY = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES}).encode()
STREAM_BODY = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}).encode()
HEADERS = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}


class PoolWarnings(logging.Handler):
    """Counts urllib3's 'Connection pool is full' warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Connection pool is full" in record.getMessage():
            self.count += 1


def start_upstream(chunks: int) -> tuple[subprocess.Popen[bytes], str]:
    """Start upstream.py in its own process; return it and its base URL."""
    port_file = Path(tempfile.mkdtemp()) / "port"
    proc = subprocess.Popen([sys.executable, str(HERE / "upstream.py"), str(port_file), str(chunks)])
    for _ in range(200):
        if port_file.exists() and port_file.read_text():
            return proc, f"http://127.0.0.1:{port_file.read_text()}/v1"
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("upstream did not start")


def raw_session(pool: int = 32) -> requests.Session:
    """The floor: a plain Session with a pool as large as the thread count."""
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=pool))
    return session


def per_call_us(fn: Callable[[], Any], n: int) -> float:
    """Best of 5 rounds of n calls, in microseconds per call."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best


def calls_per_s(fn: Callable[[], Any], threads: int, per_thread: int) -> float:
    """Calls per second with ``threads`` threads each making ``per_thread`` calls (best of 3)."""
    best = 0.0
    for _ in range(3):
        with ThreadPoolExecutor(threads) as pool:
            start = time.perf_counter()
            list(pool.map(lambda _: [fn() for _ in range(per_thread)], range(threads)))
            best = max(best, threads * per_thread / (time.perf_counter() - start))
    return best


def import_ms(module: str, rounds: int) -> float:
    """Median wall time of ``python -c 'import module'`` minus an empty interpreter, in ms."""
    def run(code: str) -> float:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    return run(f"import {module}") - run("pass")


def refused_port() -> int:
    """A local port with nothing listening."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, per_thread, stream_rounds, import_rounds = (300, 40, 3, 5) if args.quick else (2000, 150, 10, 15)
    warnings = PoolWarnings()
    logging.getLogger("urllib3").addHandler(warnings)
    try:
        import openai
    except ImportError:
        openai = None

    proc, base = start_upstream(5000)
    try:
        session = raw_session()
        url = base + "/chat/completions"
        client = llmclient.OpenAIClient(model="gpt-4o-mini", api_key="sk-bench", base_url=base)
        sdk = openai.OpenAI(base_url=base, api_key="sk-bench", max_retries=0) if openai else None

        def raw_call() -> Any:
            return json.loads(session.post(url, data=BODY, headers=HEADERS).content)

        def lc_call() -> Any:
            return client.complete(MESSAGES)

        def sdk_call() -> Any:
            assert sdk is not None
            return sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]

        def raw_stream() -> int:
            count = 0
            with session.post(url, data=STREAM_BODY, headers=HEADERS, stream=True) as resp:
                for line in resp.iter_lines(chunk_size=None):
                    if line.startswith(b"data: ") and line != b"data: [DONE]":
                        json.loads(line[6:])
                        count += 1
            return count

        def lc_stream() -> int:
            with client.stream(MESSAGES) as stream:
                return sum(1 for _ in stream)

        def sdk_stream() -> int:
            assert sdk is not None
            return sum(1 for _ in sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,  # type: ignore
                                                               stream=True))

        for fn in (raw_call, lc_call, raw_stream, lc_stream):   # warm up connections and caches
            fn()
        rows: list[tuple[str, float, float, float | None]] = []

        seq = {"raw": per_call_us(raw_call, n), "llmclient": per_call_us(lc_call, n)}
        if sdk:
            seq["openai SDK"] = per_call_us(sdk_call, n // 4)
        rows.append(("sequential call (us/call, lower is better)", seq["raw"], seq["llmclient"], seq.get("openai SDK")))

        for threads in (8, 32):
            tput = {"raw": calls_per_s(raw_call, threads, per_thread),
                    "llmclient": calls_per_s(lc_call, threads, per_thread)}
            if sdk:
                tput["sdk"] = calls_per_s(sdk_call, threads, per_thread // 4)
            rows.append((f"{threads} threads, one client (calls/s, higher is better)", tput["raw"], tput["llmclient"],
                         tput.get("sdk")))

        def chunks_per_s(fn: Callable[[], int], rounds: int) -> float:
            best = 0.0
            for _ in range(rounds):
                start = time.perf_counter()
                count = fn()
                best = max(best, count / (time.perf_counter() - start))
            return best

        rows.append(("5,000-chunk stream (chunks/s, higher is better)", chunks_per_s(raw_stream, stream_rounds),
                     chunks_per_s(lc_stream, stream_rounds),
                     chunks_per_s(sdk_stream, max(stream_rounds // 3, 1)) if sdk else None))

        fallback = _fallback_overhead(base, n // 2)
        client.close()
    finally:
        proc.kill()

    imports = (import_ms("requests", import_rounds), import_ms("llmclient", import_rounds),
               import_ms("llmclient; llmclient.OpenAIClient(model='m', api_key='k')", import_rounds))

    print(f"\nllmclient {llmclient.__version__} | Python {sys.version.split()[0]} | {os.cpu_count()} cores | "
          f"requests {requests.__version__}" + (f" | openai {openai.__version__}" if openai else ""))
    print(f"{'measure':<52}{'raw':>12}{'llmclient':>12}{'ratio':>8}{'openai SDK':>12}{'ratio':>8}")
    for label, raw, ours, theirs in rows:
        lower_better = "us/call" in label
        ratio = ours / raw if lower_better else raw / ours
        sdk_ratio = "" if theirs is None else f"{(theirs / raw if lower_better else raw / theirs):7.2f}x"
        print(f"{label:<52}{raw:12.1f}{ours:12.1f}{ratio:7.2f}x{'' if theirs is None else f'{theirs:12.1f}'}"
              f"{sdk_ratio:>8}")
    print("(ratio = time relative to raw requests: 1.00x is the floor, below 1 is faster than raw)")
    print(f"{'import llmclient vs requests (ms over an empty python)':<52}{imports[0]:12.1f}{imports[1]:12.1f}"
          f"{imports[1] / imports[0]:7.2f}x")
    print(f"{'  ... and build a first client (imports requests)':<52}{imports[0]:12.1f}{imports[2]:12.1f}"
          f"{imports[2] / imports[0]:7.2f}x")
    direct, through, refused, raw_refused = fallback
    print(f"{'fallback past a refused connection (us/call)':<52}{direct + refused:12.1f}{through:12.1f}"
          f"{through / (direct + refused):7.2f}x")
    print(f"  (baseline = second child called directly {direct:.1f} us + the refused attempt through llmclient "
          f"{refused:.1f} us; a bare socket's refused connect takes {raw_refused:.1f} us)")
    print(f"'Connection pool is full' warnings during the run: {warnings.count}")


def _fallback_overhead(base: str, n: int) -> tuple[float, float, float, float]:
    """(direct us/call, through-fallback us/call, refused attempt us, raw refused connect us).

    The baseline of the target is what a hand-written fallback would pay: the second child
    called directly plus the refused first attempt made through the same client.
    """
    dead_port = refused_port()
    dead = f"http://127.0.0.1:{dead_port}/v1"
    runtime = llmclient.Runtime()
    good = llmclient.OpenAIClient(model="gpt-4o-mini", api_key="sk-bench", base_url=base, name="good", runtime=runtime)
    bad = llmclient.OpenAIClient(model="gpt-4o-mini", api_key="sk-bench", base_url=dead, name="bad", runtime=runtime)
    chain = llmclient.FallbackClient([bad, good], name="chain", runtime=runtime, cooldown_failures=10**9)
    chain.complete(MESSAGES)

    def refused_attempt() -> None:
        try:
            bad.complete(MESSAGES)
        except llmclient.TransportError:
            pass

    def raw_refuse() -> None:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", dead_port))
        except OSError:
            pass
        finally:
            s.close()

    result = (per_call_us(lambda: good.complete(MESSAGES), n), per_call_us(lambda: chain.complete(MESSAGES), n),
              per_call_us(refused_attempt, n), per_call_us(raw_refuse, n))
    runtime.close()
    return result


if __name__ == "__main__":
    main()
