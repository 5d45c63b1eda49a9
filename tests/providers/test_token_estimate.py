"""One token estimate for the leaf client's rate limiter and the batch runners."""

from __future__ import annotations

from llmclient.batch import jsonl
from llmclient.models import Message, to_messages
from llmclient.providers import token_estimate
from llmclient.providers.token_estimate import estimate_tokens


def test_messages_and_the_raw_input_they_came_from_give_the_same_estimate() -> None:
    raw = [{"role": "system", "content": "x" * 40},
           {"role": "user", "content": [{"type": "text", "text": "y" * 80}, {"type": "image_url", "image_url": "u"}]}]
    assert estimate_tokens(raw, {"max_tokens": 10}) == 30 + 10
    assert estimate_tokens(to_messages(raw), {"max_tokens": 10}) == 30 + 10
    assert estimate_tokens("z" * 8, {}) == 2 + 256
    assert estimate_tokens((Message("user", "abcd"),), {"max_completion_tokens": 7}) == 1 + 7


def test_only_a_positive_integer_is_a_budget() -> None:
    for budget in (0, -3, True, "100", 2.5, None):
        assert estimate_tokens("", {"max_tokens": budget}) == 256


def test_the_batch_runners_use_the_same_function() -> None:
    assert jsonl.estimate_tokens is token_estimate.estimate_tokens
