"""openai-responses beside raw requests, and beside the chat route measured the same way, in one run.

Against the canned local upstream in another process (``upstream.py``, which answers
``/responses`` in the Responses API's shapes), it measures, for OpenAI's Responses API
(``OpenAIResponsesClient``) and for Chat Completions (``OpenAIClient``):

* microseconds per sequential call (raw ``requests.Session.post`` + ``json.loads`` is the floor);
* the time to consume a 5,000-event stream (raw: ``iter_lines`` + ``json.loads`` of each
  ``data:`` line; a Responses stream also has ``event:`` lines and a few events around the
  5,000 deltas, a chat stream a finish chunk, a usage chunk and ``[DONE]``).

Each ratio is llmclient's time over raw requests' time on the same route (1.00x is the floor,
below is faster than raw); the last column says whether the Responses ratio is no worse than
the chat route's (within the run's noise, printed beside it).

Run: ``python benchmarks/bench_responses.py`` (``--quick`` for a short run). Needs ``pip install .``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable

import requests
from bench_openai import HEADERS, MESSAGES, per_call_us, raw_session, start_upstream

import llmclient

MODEL = "gpt-4o-mini"
CHAT_BODY = json.dumps({"model": MODEL, "messages": MESSAGES}).encode()
CHAT_STREAM_BODY = json.dumps({"model": MODEL, "messages": MESSAGES, "stream": True}).encode()
RESPONSES_BODY = json.dumps({"model": MODEL, "input": MESSAGES}).encode()
RESPONSES_STREAM_BODY = json.dumps({"model": MODEL, "stream": True, "input": MESSAGES}).encode()
EVENTS = 5000


def stream_s(fn: Callable[[], int], rounds: int) -> float:
    """Best wall time of ``rounds`` full streams, in seconds (each must deliver at least EVENTS events)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - start)
        assert count >= EVENTS, count
    return best


def routes(session: requests.Session, base: str) -> dict[str, dict[str, Callable[[], Any]]]:
    """The four measured functions (raw/llmclient x call/stream) of each route."""
    chat_url, responses_url = base + "/chat/completions", base + "/responses"
    chat = llmclient.OpenAIClient(model=MODEL, api_key="sk-bench", base_url=base)
    api = llmclient.OpenAIResponsesClient(model=MODEL, api_key="sk-bench", base_url=base)

    def raw_stream(url: str, body: bytes) -> Callable[[], int]:
        def run() -> int:
            count = 0
            with session.post(url, data=body, headers=HEADERS, stream=True) as resp:
                for line in resp.iter_lines(chunk_size=None):
                    if line.startswith(b"data: ") and line != b"data: [DONE]":
                        json.loads(line[6:])
                        count += 1
            return count
        return run

    def ours_stream(client: llmclient.Client) -> Callable[[], int]:
        def run() -> int:
            with client.stream(MESSAGES) as stream:
                return sum(1 for _ in stream)
        return run

    return {
        "chat": {"raw call": lambda: json.loads(session.post(chat_url, data=CHAT_BODY, headers=HEADERS).content),
                 "call": lambda: chat.complete(MESSAGES),
                 "raw stream": raw_stream(chat_url, CHAT_STREAM_BODY), "stream": ours_stream(chat)},
        "responses": {"raw call": lambda: json.loads(session.post(responses_url, data=RESPONSES_BODY,
                                                                  headers=HEADERS).content),
                      "call": lambda: api.complete(MESSAGES),
                      "raw stream": raw_stream(responses_url, RESPONSES_STREAM_BODY), "stream": ours_stream(api)},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, stream_rounds, repeats = (300, 3, 2) if args.quick else (2000, 10, 3)
    proc, base = start_upstream(EVENTS)
    try:
        measured = routes(raw_session(), base)
        for fns in measured.values():  # warm up connections and caches
            for fn in fns.values():
                fn()
        # Interleave the routes and repeat, so that a noisy moment of the shared machine hits both.
        calls: dict[str, list[float]] = {"chat": [], "responses": []}
        streams: dict[str, list[float]] = {"chat": [], "responses": []}
        for _ in range(repeats):
            for route, fns in measured.items():
                calls[route].append(per_call_us(fns["call"], n) / per_call_us(fns["raw call"], n))
                streams[route].append(stream_s(fns["stream"], stream_rounds) / stream_s(fns["raw stream"],
                                                                                        stream_rounds))
    finally:
        proc.kill()

    print(f"\nllmclient {llmclient.__version__} | Python {sys.version.split()[0]} | {os.cpu_count()} cores | "
          f"requests {requests.__version__} | {repeats} interleaved repeats, best ratio (and spread) shown")
    print(f"{'measure (ratio of llmclient time to raw requests)':<52}{'chat':>16}{'responses':>16}  no worse?")
    for label, table in (("sequential call", calls), (f"consuming a {EVENTS:,}-event stream", streams)):
        chat, api = min(table["chat"]), min(table["responses"])
        spread = max(max(v) - min(v) for v in table.values())
        cells = [f"{min(v):.2f}x ({max(v) - min(v):.2f})" for v in (table["chat"], table["responses"])]
        verdict = "yes" if api <= chat + spread else "NO"
        print(f"{label:<52}{cells[0]:>16}{cells[1]:>16}  {verdict}")
    print("(1.00x is raw requests on the same route; below 1 is faster than raw)")


if __name__ == "__main__":
    main()
