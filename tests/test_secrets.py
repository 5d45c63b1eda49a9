"""Environment references: read at request time, never shown, a missing one named in a ConfigError."""

from __future__ import annotations

import pytest

import llmclient
from llmclient.errors import ConfigError
from llmclient.secrets import EnvRef, env, is_env_ref, resolve, resolve_optional, to_ref

VALUE = "value-that-must-not-leak-7c1e"


def test_env_makes_a_reference_whose_repr_is_the_name() -> None:
    ref = env("MY_KEY")
    assert ref == EnvRef("MY_KEY")
    assert repr(ref) == "env.MY_KEY"
    assert llmclient.env is env


def test_config_spelling_becomes_a_reference() -> None:
    assert to_ref({"env": "A"}) == EnvRef("A")
    assert to_ref("plain") == "plain"
    assert to_ref({"env": "A", "other": 1}) == {"env": "A", "other": 1}
    assert is_env_ref({"env": "A"}) and is_env_ref(EnvRef("A"))
    assert not is_env_ref({"env": 3}) and not is_env_ref("A")


def test_resolve_reads_the_environment_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = env("LLMCLIENT_TEST_KEY")
    monkeypatch.setenv("LLMCLIENT_TEST_KEY", "first")
    assert resolve(ref, what="api_key") == "first"
    monkeypatch.setenv("LLMCLIENT_TEST_KEY", "second")
    assert resolve({"env": "LLMCLIENT_TEST_KEY"}, what="api_key") == "second"
    assert resolve("literal", what="x") == "literal"
    assert resolve(ref, what="x", environ={"LLMCLIENT_TEST_KEY": "injected"}) == "injected"


def test_missing_variable_is_a_config_error_naming_it_not_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTHER_VAR", VALUE)
    with pytest.raises(ConfigError) as info:
        resolve(env("LLMCLIENT_MISSING"), what="api_key of client 'GPT4'")
    message = str(info.value)
    assert "LLMCLIENT_MISSING" in message and "api_key of client 'GPT4'" in message
    assert VALUE not in message


def test_resolve_optional_gives_none_for_a_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_optional(env("LLMCLIENT_MISSING")) is None
    monkeypatch.setenv("LLMCLIENT_PRESENT", VALUE)
    assert resolve_optional({"env": "LLMCLIENT_PRESENT"}) == VALUE
    assert resolve_optional(None) is None
