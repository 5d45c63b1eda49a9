"""Tests for llmclient.config.schema_messages: no secret echoed, messages that say what is wrong, paths."""

from __future__ import annotations

from typing import Any

import pytest
from schema_helpers import FAKE_SECRET, one_client, problems_of

from llmclient.config.schema import format_path, validate_config
from llmclient.errors import ConfigError

# -- secrets -------------------------------------------------------------------------------------

SECRET_CASES: list[tuple[str, Any]] = [
    ("api_key wrong type", one_client("openai", {"api_key": [FAKE_SECRET]})),
    ("api_key env bad name", one_client("openai", {"api_key": {"env": FAKE_SECRET}})),
    ("api_key env extra", one_client("openai", {"api_key": {"env": "K", "value": FAKE_SECRET}})),
    ("header value", one_client("openai", {"headers": {"Authorization": [f"Bearer {FAKE_SECRET}"]}})),
    ("headers not object", one_client("openai", {"headers": [FAKE_SECRET]})),
    ("authorization", one_client("vertex-ai", {"model": "m", "location": "l", "authorization": 5,
                                              "credentials": FAKE_SECRET, "credentials_content": FAKE_SECRET})),
    ("credentials type", one_client("vertex-ai", {"model": "m", "location": "l", "credentials": [FAKE_SECRET]})),
    ("credentials_content", one_client("vertex-ai", {"model": "m", "location": "l",
                                                     "credentials_content": {"env": FAKE_SECRET}})),
    ("bedrock key alone", one_client("aws-bedrock", {"model": "m", "access_key_id": FAKE_SECRET})),
    ("bedrock token alone", one_client("aws-bedrock", {"model": "m", "session_token": FAKE_SECRET})),
    ("bedrock profile and keys", one_client("aws-bedrock", {"model": "m", "profile": "p", "access_key_id": "a",
                                                            "secret_access_key": FAKE_SECRET})),
    ("bedrock nested", one_client("aws-bedrock", {"model": 1, "credentials": {"secret_access_key": FAKE_SECRET,
                                                                              "x": FAKE_SECRET}})),
    ("bedrock secret type", one_client("aws-bedrock", {"model": "m", "access_key_id": "a",
                                                       "secret_access_key": {"value": FAKE_SECRET}})),
    ("bedrock unknown key", one_client("aws-bedrock", {"model": "m", "apikey": FAKE_SECRET})),
    ("azure addressing", one_client("azure-openai", {"api_key": FAKE_SECRET})),
    ("finish lists", one_client("openai", {"api_key": FAKE_SECRET, "finish_reason_allow_list": [],
                                           "finish_reason_deny_list": []})),
    ("client level", {"clients": {"X": {"provider": "openai", "api_key": FAKE_SECRET}}}),
    ("unknown provider", {"clients": {"X": {"provider": "nope", "options": {"api_key": FAKE_SECRET}}}}),
    ("whole config wrong", [{"api_key": FAKE_SECRET}]),
    ("clients wrong", {"clients": [{"api_key": FAKE_SECRET}]}),
    ("client wrong", {"clients": {"X": [FAKE_SECRET]}}),
]


@pytest.mark.parametrize("config", [c[1] for c in SECRET_CASES], ids=[c[0] for c in SECRET_CASES])
def test_secrets_are_never_echoed(config: Any) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    err = info.value
    assert err.problems
    for text in (str(err), repr(err), *err.problems):
        assert FAKE_SECRET not in text


def test_secret_messages_still_say_what_is_wrong() -> None:
    problems = problems_of(one_client("openai", {"api_key": [FAKE_SECRET], "headers": {"a": 1}}))
    assert problems == [
        '$.clients.X.options.api_key: must be a string or {"env": NAME}',
        '$.clients.X.options.headers.a: must be a string or {"env": NAME}',
    ]
    problems = problems_of(one_client("openai", {"api_key": {"env": FAKE_SECRET}}))
    assert problems == ["$.clients.X.options.api_key.env: must match ^[A-Za-z_][A-Za-z0-9_]*$ (got string)"]


def test_format_path() -> None:
    assert format_path(["clients", "GPT4", "options", "strategy", 0]) == "$.clients.GPT4.options.strategy[0]"
    assert format_path(["headers", "x-api-key", "a b"]) == '$.headers.x-api-key["a b"]'
    assert format_path([]) == "$"
