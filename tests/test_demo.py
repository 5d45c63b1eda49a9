"""The demo runs the main job against the fake provider and shows what each call met."""

from __future__ import annotations

import io
import re

from llmclient.demo import run_demo


def test_demo_shows_fallback_retry_spread_stream_and_typed_error() -> None:
    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    assert "answer from Gemini (google-ai): 'Echo: Name three primes.'" in text
    # the fallback tried GPT4 twice (its retry policy), Claude twice, then Gemini answered
    fallback = text.split("\n2.")[0]
    assert re.findall(r"attempt \d: (\w+)\s+\S+\s+(\w+)", fallback) == [
        ("GPT4", "RateLimitError"), ("GPT4", "ProviderError"), ("Claude", "ProviderError"),
        ("Claude", "ProviderError"), ("Gemini", "ok")]
    assert "answered by: GPT4 Claude GPT4 GPT4 Claude GPT4" in text
    assert "Echo: Count to five, slowly and clearly please." in text
    assert "ProviderError: HTTP 502: expected an OpenAI error JSON, got text/html ('502 Bad Gateway')" in text
    assert "demo-key" not in text
