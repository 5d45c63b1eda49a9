"""What OpenTelemetry adds to a call: llmclient with and without ``llmclient.otel.instrument()``.

Against the canned local upstream of ``upstream.py`` (another process), it measures
microseconds per sequential ``complete()`` call:

* not instrumented, with the OpenTelemetry SDK imported (what every call costs today);
* instrumented, spans going to an SDK ``TracerProvider`` with a ``SimpleSpanProcessor`` and an
  in-memory exporter, and metrics to an ``InMemoryMetricReader``;

and, beside them, the OpenTelemetry SDK's own cost of one span (start + end, the same
processor and exporter), so that the overhead reads as "so many SDK spans". A call makes two
spans (the call and its attempt) and records three histogram points.

Run: ``python benchmarks/bench_otel.py`` (``--quick`` for a short run). Needs
``pip install '.[otel]'``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_openai import start_upstream

import llmclient
from llmclient import otel


def best_us(fn: Callable[[], Any], n: int, rounds: int) -> float:
    """Best of ``rounds`` rounds of ``n`` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few calls: checks the script works")
    parser.add_argument("--calls", type=int, default=None, help="calls per round (default 2000; 50 with --quick)")
    args = parser.parse_args()
    n, rounds = (50, 2) if args.quick else (2000, 5)
    n = args.calls or n

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    tracer = tracer_provider.get_tracer("bench")

    def one_span() -> None:
        tracer.start_span("chat gpt-4o-mini", attributes={"gen_ai.operation.name": "chat"}).end()

    proc, base_url = start_upstream(chunks=10)
    try:
        client = llmclient.OpenAIClient("gpt-4o-mini", base_url=base_url, api_key="sk-bench-0123456789")
        call = lambda: client.complete("Say hello.")  # noqa: E731
        for _ in range(20):
            call()  # warm the pool
        plain = best_us(call, n, rounds)
        otel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        traced = best_us(lambda: (call(), exporter.clear()), n, rounds)
        otel.uninstrument()
        plain_after = best_us(call, n, rounds)
        span = best_us(lambda: (one_span(), exporter.clear()), n * 4, rounds)
        client.close()
    finally:
        proc.kill()
    overhead = traced - min(plain, plain_after)
    print(f"calls per round: {n}, rounds: {rounds}")
    print(f"complete(), not instrumented:        {min(plain, plain_after):8.1f} us/call")
    print(f"complete(), instrumented:            {traced:8.1f} us/call")
    print(f"overhead per call:                   {overhead:8.1f} us  (2 spans + 3 histogram points)")
    print(f"OpenTelemetry SDK, one span:         {span:8.1f} us")
    print(f"overhead in SDK spans:               {overhead / span:8.1f}")


if __name__ == "__main__":
    main()
