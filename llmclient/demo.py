"""``llmclient demo``: the main job, end to end, against the fake provider server, with no API key.

It starts :class:`FakeLLMServer` in-process (it speaks the OpenAI, Anthropic and Gemini wire
formats), loads a config shaped like the original design's (``Resilient_LLM``, ``SmartLLM``)
pointing at it, and shows: a fallback from GPT to Claude to Gemini while the first two are
failing, a retry that succeeds, the weighted round-robin spread, a stream printed as it
arrives, and the typed error a user gets when a proxy answers with an HTML page. Every call
lists the attempts it made.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any, TextIO

from .config.loader import load_config
from .errors import LLMError
from .models import Attempt
from .testing import FakeLLMServer, Fault

__all__ = ["run_demo", "demo_config"]

_KEY = "demo-key"


def demo_config(url: str, slow_url: str) -> dict[str, Any]:
    """The demo's config: what a user writes, with the fake server's addresses."""
    timeouts = {"request_timeout_ms": 5000}
    return {
        "clients": {
            "GPT4": {"provider": "openai-generic", "retry_policy": "Quick",
                     "options": {"base_url": url + "/v1", "model": "gpt-4o", "api_key": _KEY, "http": timeouts}},
            "Claude": {"provider": "anthropic", "retry_policy": "Quick",
                       "options": {"base_url": url, "model": "claude-sonnet-4-5", "api_key": _KEY, "http": timeouts}},
            "Gemini": {"provider": "google-ai",
                       "options": {"base_url": url + "/v1beta", "model": "gemini-2.5-flash", "api_key": _KEY,
                                   "http": timeouts}},
            "Resilient_LLM": {"provider": "baml-fallback", "options": {"strategy": ["GPT4", "Claude", "Gemini"]}},
            "SmartLLM": {"provider": "baml-strategy",
                         "options": {"strategy": "round_robin",
                                     "providers": [{"client": "GPT4", "weight": 2},
                                                   {"client": "Claude", "weight": 1}]}},
            "Streamer": {"provider": "anthropic",
                         "options": {"base_url": slow_url, "model": "claude-sonnet-4-5", "api_key": _KEY,
                                     "http": {"time_to_first_token_timeout_ms": 5000, "idle_timeout_ms": 2000}}},
        },
        "retry_policies": {
            "Quick": {"max_retries": 1, "strategy": {"type": "exponential_backoff", "delay_ms": 50}},
        },
    }


def _attempts(out: TextIO, attempts: tuple[Attempt, ...]) -> None:
    for number, attempt in enumerate(attempts, 1):
        status = attempt.status_code if attempt.status_code is not None else "-"
        detail = "" if attempt.error is None else f": {attempt.error.message.splitlines()[0][:70]}"
        out.write(f"    attempt {number}: {attempt.client_name:<7} {attempt.provider:<15} {attempt.outcome:<15} "
                  f"HTTP {status!s:<4} {attempt.latency_s * 1000:6.1f} ms{detail}\n")


def run_demo(out: TextIO = sys.stdout) -> int:
    """Run the demo, writing to ``out``; returns the process exit code (0 when all went as shown)."""
    with FakeLLMServer(api_key=_KEY) as server, FakeLLMServer(api_key=_KEY, chunk_delay=0.04) as slow:
        out.write(f"Fake provider server on {server.url} (OpenAI, Anthropic and Gemini wire formats); no API key "
                  "needed.\n\n")
        with load_config(demo_config(server.url, slow.url)) as registry:
            out.write("1. Resilient_LLM falls back from GPT to Claude to Gemini while the first two are failing\n")
            server.enqueue(Fault.rate_limit(retry_after=0.05), Fault.server_error(500), match="chat/completions")
            server.enqueue(Fault.server_error(529), Fault.html(502), match="/v1/messages")
            reply = registry.client("Resilient_LLM").complete("Name three primes.", max_tokens=100)
            out.write(f"    answer from {reply.client_name} ({reply.provider}): {reply.text!r}\n")
            _attempts(out, reply.attempts)

            out.write("\n2. GPT4 alone survives a rate limit: its retry policy waits what the server asked\n")
            server.enqueue(Fault.rate_limit(retry_after=0.1), match="chat/completions")
            reply = registry.client("GPT4").complete("Say hello.")
            out.write(f"    answer: {reply.text!r}  (tokens in/out {reply.usage.input_tokens}/"
                      f"{reply.usage.output_tokens})\n")
            _attempts(out, reply.attempts)

            out.write("\n3. SmartLLM spreads calls over GPT4 and Claude, weighted 2:1\n")
            order = [registry.client("SmartLLM").complete(f"call {i}").client_name or "?" for i in range(6)]
            out.write(f"    answered by: {' '.join(order)}  ({dict(Counter(order))})\n")

            out.write("\n4. A stream from Claude, printed as it arrives\n    ")
            with registry.client("Streamer").stream("Count to five, slowly and clearly please.") as stream:
                for chunk in stream:
                    out.write(chunk.text)
                    out.flush()
            done = stream.completion
            out.write(f"\n    finish_reason={done.finish_reason} tokens in/out={done.usage.input_tokens}/"
                      f"{done.usage.output_tokens}\n")

            out.write("\n5. A proxy's HTML error page becomes a typed error, after the retry policy gives up\n")
            server.enqueue(*[Fault.html(502)] * 2, match="chat/completions")
            try:
                registry.client("GPT4").complete("Are you there?")
            except LLMError as err:
                out.write(f"    {type(err).__name__}: {err}\n")
            out.write(f"\nThe fake servers saw {len(server.requests) + len(slow.requests)} requests. Done.\n")
    return 0
