"""``llmclient demo``: the main job, end to end, against the fake provider server, with no API key.

It starts :class:`FakeLLMServer` in-process, loads a config (the same dict a user would
write, pointing at the fake server instead of a provider), and shows a completion that
survives a rate limit, a stream printed as it arrives, and the typed error a user gets
when a proxy answers with an HTML page, listing every attempt each call made.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, TextIO

from .config.loader import load_config
from .errors import LLMError
from .models import Attempt
from .testing import Fault, FakeLLMServer

__all__ = ["run_demo", "demo_config"]


def demo_config(openai_url: str, slow_url: str) -> dict[str, Any]:
    """The demo's config: what a user writes, with the fake server's addresses."""
    return {
        "clients": {
            "Primary": {"provider": "openai-generic", "retry_policy": "Patient",
                        "options": {"base_url": openai_url, "model": "gpt-4o-mini", "api_key": "demo-key",
                                    "http": {"request_timeout_ms": 5000}}},
            "Streamer": {"provider": "openai-generic",
                         "options": {"base_url": slow_url, "model": "gpt-4o-mini",
                                     "http": {"time_to_first_token_timeout_ms": 5000, "idle_timeout_ms": 2000}}},
        },
        "retry_policies": {
            "Patient": {"max_retries": 3, "strategy": {"type": "exponential_backoff", "delay_ms": 100}},
        },
    }


def _attempts(out: TextIO, attempts: tuple[Attempt, ...]) -> None:
    for number, attempt in enumerate(attempts, 1):
        status = attempt.status_code if attempt.status_code is not None else "-"
        detail = "" if attempt.error is None else f": {attempt.error.message}"
        out.write(f"    attempt {number}: {attempt.client_name:<10} {attempt.outcome:<16} HTTP {status:<4} "
                  f"{attempt.latency_s * 1000:6.1f} ms{detail}\n")


def run_demo(out: TextIO = sys.stdout, *, pause: Callable[[], None] = lambda: None) -> int:
    """Run the demo, writing to ``out``; returns the process exit code (0 when all went as shown)."""
    with FakeLLMServer(api_key="demo-key") as server, FakeLLMServer(chunk_delay=0.04) as slow:
        out.write(f"Fake provider servers on {server.url} and {slow.url} (OpenAI wire format).\n\n")
        with load_config(demo_config(server.openai_base_url, slow.openai_base_url)) as registry:
            out.write("1. A completion that survives a rate limit and a server error\n")
            server.enqueue(Fault.rate_limit(retry_after=0.2), Fault.server_error(503))
            reply = registry.client("Primary").complete("Name three primes.", max_tokens=100)
            out.write(f"    answer: {reply.text!r}  (finish_reason={reply.finish_reason}, "
                      f"tokens in/out={reply.usage.input_tokens}/{reply.usage.output_tokens})\n")
            _attempts(out, reply.attempts)
            pause()

            out.write("\n2. A stream, printed as it arrives\n    ")
            with registry.client("Streamer").stream("Count to five, slowly and clearly please.") as stream:
                for chunk in stream:
                    out.write(chunk.text)
                    out.flush()
            out.write(f"\n    finish_reason={stream.completion.finish_reason}\n")
            pause()

            out.write("\n3. A proxy's HTML error page becomes a typed error (no retry: the policy gives up after 4)\n")
            server.enqueue(*[Fault.html(502)] * 4)
            try:
                registry.client("Primary").complete("Are you there?")
            except LLMError as err:
                out.write(f"    {type(err).__name__}: {err}\n")
            out.write(f"\nThe servers saw {len(server.requests) + len(slow.requests)} requests. Done.\n")
    return 0
