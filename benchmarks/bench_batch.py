"""llmclient.batch.run beside a hand-written ThreadPoolExecutor + requests loop, and its memory in lines.

Against FakeLLMServer in its own process (``llmclient fake-server``, so the server does not
share the client's GIL), it measures:

* calls per second of ``llmclient.batch.run`` on 10,000 JSONL lines at 8, 32 and 64 workers,
  beside a plain loop doing the same work (read the JSONL, POST each line with a shared
  ``requests.Session``, write one JSON line per result, at most N in flight), as ratios
  (target: llmclient within 1.2x of the plain loop);
* peak memory (``VmHWM``, else ``ru_maxrss``, of a fresh process) of a run over 10,000 and 50,000 lines
  (target: flat, because input and output are streamed).

Run: ``python benchmarks/bench_batch.py`` (``--quick`` for 2,000 / 10,000 lines).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HEADERS = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(ROOT) + os.pathsep + out.get("PYTHONPATH", "")
    return out


def start_server() -> tuple[subprocess.Popen[str], str]:
    """``llmclient fake-server --port 0`` in its own process; returns it and its OpenAI base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "llmclient.cli", "fake-server", "--port", "0"],
                            stdout=subprocess.PIPE, text=True, env=env())
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "fake provider server on http://127.0.0.1:PORT (OpenAI base_url .../v1); ..."
    base = line.split("OpenAI base_url ", 1)[1].split(")", 1)[0]
    return proc, base


def write_input(path: Path, count: int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            handle.write(json.dumps({"id": i, "messages": [{"role": "user", "content": f"Summarise item {i}."}],
                                     "params": {"max_tokens": 16}}) + "\n")


def config(base: str) -> dict[str, Any]:
    return {"clients": {"bench": {"provider": "openai", "options": {
        "model": "gpt-4o-mini", "base_url": base, "api_key": "sk-bench"}}}}


def run_llmclient(base: str, src: Path, out: Path, workers: int) -> float:
    from llmclient.batch import run

    if out.exists():
        out.unlink()
    summary = run(config(base), client="bench", input=src, output=out, workers=workers, progress=False,
                  handle_sigint=False)
    assert summary.complete and summary.failed == 0, summary.format()
    return summary.calls / summary.wall_s


def run_plain(base: str, src: Path, out: Path, workers: int) -> float:
    """The hand-written floor: the same reading, posting and writing, nothing else."""
    url = base + "/chat/completions"
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=workers, pool_connections=1))
    window = threading.BoundedSemaphore(workers)
    done: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    def call(line: dict[str, Any]) -> bytes:
        body = {"model": "gpt-4o-mini", "messages": line["messages"], **line.get("params", {})}
        reply = session.post(url, data=json.dumps(body), headers=HEADERS, timeout=60)
        reply.raise_for_status()
        data = reply.json()
        record = {"id": line["id"], "ok": True, "text": data["choices"][0]["message"]["content"],
                  "usage": data.get("usage")}
        return (json.dumps(record) + "\n").encode()

    def finished(future: Future[bytes]) -> None:
        done.put(future.result())
        window.release()

    start = time.perf_counter()
    count = written = 0
    with ThreadPoolExecutor(workers) as pool, open(src, "rb") as lines, open(out, "wb", buffering=0) as sink:
        for raw in lines:
            window.acquire()
            pool.submit(call, json.loads(raw)).add_done_callback(finished)
            count += 1
            while True:
                try:
                    sink.write(done.get_nowait())
                    written += 1
                except queue.Empty:
                    break
        while written < count:
            sink.write(done.get())
            written += 1
    return count / (time.perf_counter() - start)


def memory_child(base: str, src: str, out: str) -> None:
    """Run one batch in this (fresh) process and print the peak RSS in MiB as JSON."""
    logging.disable(logging.WARNING)
    from llmclient.batch import run

    before = peak_rss_kib()
    summary = run(config(base), client="bench", input=src, output=out, workers=32, progress=False)
    after = peak_rss_kib()
    print(json.dumps({"lines": summary.total, "rss_before_mib": before / 1024, "peak_rss_mib": after / 1024}))


def peak_rss_kib() -> int:
    """This process's peak RSS: ``VmHWM`` (Linux; ``ru_maxrss`` would include the parent's peak before exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_memory(base: str, tmp: Path, count: int) -> dict[str, Any]:
    src, out = tmp / f"mem{count}.jsonl", tmp / f"mem{count}.out.jsonl"
    write_input(src, count)
    res = subprocess.run([sys.executable, __file__, "--memory-child", base, str(src), str(out)],
                         capture_output=True, text=True, env=env(), check=True)
    result: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--memory-child", nargs=3, metavar=("BASE", "INPUT", "OUTPUT"))
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    lines, big = (2_000, 10_000) if args.quick else (10_000, 50_000)
    logging.basicConfig(level=logging.WARNING)
    proc, base = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            src = tmp / "in.jsonl"
            write_input(src, lines)
            run_plain(base, src, tmp / "warm.jsonl", 8)  # warm the server up
            print(f"{lines:,} lines against FakeLLMServer in another process (best of 2 rounds)")
            print(f"{'workers':>8} {'llmclient calls/s':>18} {'plain loop calls/s':>19} {'ratio plain/llmclient':>22}")
            for workers in (8, 32, 64):
                ours = max(run_llmclient(base, src, tmp / "a.jsonl", workers) for _ in range(2))
                plain = max(run_plain(base, src, tmp / "b.jsonl", workers) for _ in range(2))
                print(f"{workers:>8} {ours:>18.0f} {plain:>19.0f} {plain / ours:>21.2f}x")
            small, large = measure_memory(base, tmp, lines), measure_memory(base, tmp, big)
            print(f"peak RSS: {small['lines']:,} lines {small['peak_rss_mib']:.1f} MiB, "
                  f"{large['lines']:,} lines {large['peak_rss_mib']:.1f} MiB "
                  f"(ratio {large['peak_rss_mib'] / small['peak_rss_mib']:.2f}; "
                  f"after imports {small['rss_before_mib']:.1f} MiB)")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
