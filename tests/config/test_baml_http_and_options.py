"""BAML's http block (0 means no limit, total_timeout_ms on composites, enable_connection_pooling) and what
BAML rejects at load in client options (response_format, baml_mode, client_response_type, role options).

Sources: docs.boundaryml.com/ref/llm-client-strategies/timeouts and .../connection-pooling, and the
checks of BAML's engine (engine/baml-lib/llm-client/src/clients/helpers.rs: ``ensure_http_config``,
"0 means infinite timeout", "Composite clients (fallback/round-robin) only support: total_timeout_ms";
``ensure_remap_role``, ``ensure_default_role``, ``ensure_client_response_type``), BoundaryML/baml, Apache-2.0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import generic_client
from schema_helpers import assert_problem, one_client, problems_of

import llmclient
from llmclient.config.canonical import canonicalize
from llmclient.config.schema import validate_config
from llmclient.errors import ConfigError
from llmclient.testing import Fault
from llmclient.transport import Timeouts

OPTS = "$.clients.X.options"
LEAF = {"provider": "openai-generic", "options": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}}


def composite(provider: str, options: dict[str, Any]) -> dict[str, Any]:
    return {"clients": {"A": LEAF, "B": LEAF, "X": {"provider": provider, "options": options}}}


# -- 0 means no limit --------------------------------------------------------------------------------
def test_zero_timeouts_mean_no_limit() -> None:
    http = {"connect_timeout_ms": 0, "request_timeout_ms": 0, "time_to_first_token_timeout_ms": 0,
            "idle_timeout_ms": 0}
    validate_config(one_client("openai", {"http": http}))
    assert Timeouts.from_options(http) == Timeouts(connect=None, request=None, first_token=None, idle=None)
    assert Timeouts.from_options({"request_timeout_ms": 0, "connect_timeout_ms": 250}) == Timeouts(
        connect=0.25, request=None)


def test_negative_timeouts_are_rejected_at_their_path() -> None:
    assert_problem(problems_of(one_client("openai", {"http": {"request_timeout_ms": -5}})),
                   f"{OPTS}.http.request_timeout_ms", "must be >= 0")


def test_a_zero_request_timeout_lets_a_slow_answer_finish(fake_llm_server: Any) -> None:
    fake_llm_server.enqueue(Fault.stall(0.3))
    client = generic_client(fake_llm_server, http={"request_timeout_ms": 0, "connect_timeout_ms": 0})
    assert client.timeouts.request is None and client.timeouts.connect is None
    assert client.complete("hi").text  # with "0 ms" read as a limit this would fail at once


# -- total_timeout_ms inside http on composites --------------------------------------------------------
@pytest.mark.parametrize("provider, extra", [("fallback", {}), ("baml-fallback", {}), ("round-robin", {}),
                                             ("baml-round-robin", {})])
def test_composites_take_total_timeout_ms_inside_http(provider: str, extra: dict[str, Any]) -> None:
    config = composite(provider, {"strategy": ["A", "B"], "http": {"total_timeout_ms": 4500}, **extra})
    canonical = canonicalize(config | {"clients": config["clients"]})
    assert canonical["clients"]["X"]["options"] == {"strategy": ["A", "B"], "total_timeout_ms": 4500}
    client = llmclient.load_config(config).client("X")
    assert client.total_timeout_s == 4.5  # type: ignore[attr-defined]


def test_baml_strategy_takes_total_timeout_ms_inside_http() -> None:
    config = composite("baml-strategy", {"strategy": "fallback", "providers": [{"client": "A"}, {"client": "B"}],
                                         "http": {"total_timeout_ms": 900}})
    assert canonicalize(config)["clients"]["X"]["options"]["total_timeout_ms"] == 900


def test_the_top_level_spelling_still_works_and_zero_means_no_limit() -> None:
    assert llmclient.load_config(composite("fallback", {"strategy": ["A"], "total_timeout_ms": 700})).client(
        "X").total_timeout_s == 0.7  # type: ignore[attr-defined]
    unlimited = llmclient.load_config(composite("fallback", {"strategy": ["A"], "http": {"total_timeout_ms": 0}}))
    assert unlimited.client("X").total_timeout_s is None  # type: ignore[attr-defined]


def test_total_timeout_ms_given_twice_is_an_error() -> None:
    problems = problems_of(composite("fallback", {"strategy": ["A"], "total_timeout_ms": 1,
                                                  "http": {"total_timeout_ms": 2}}))
    assert_problem(problems, OPTS, "give total_timeout_ms once")


def test_a_composites_http_block_takes_only_total_timeout_ms() -> None:
    problems = problems_of(composite("round-robin", {"strategy": ["A"], "http": {"connect_timeout_ms": 5}}))
    assert_problem(problems, f"{OPTS}.http.connect_timeout_ms", "takes only total_timeout_ms")


def test_total_timeout_ms_in_a_leaf_http_block_says_where_it_belongs() -> None:
    problems = problems_of(one_client("openai", {"http": {"total_timeout_ms": 5}}))
    assert_problem(problems, f"{OPTS}.http.total_timeout_ms", "fallback or round-robin")


def test_canonicalising_twice_changes_nothing() -> None:
    once = canonicalize(composite("fallback", {"strategy": ["A"], "http": {"total_timeout_ms": 10}}))
    assert canonicalize(once) == once


# -- enable_connection_pooling -------------------------------------------------------------------------
def test_enable_connection_pooling_is_a_boolean() -> None:
    validate_config(one_client("openai", {"http": {"enable_connection_pooling": False}}))
    assert_problem(problems_of(one_client("openai", {"http": {"enable_connection_pooling": "no"}})),
                   f"{OPTS}.http.enable_connection_pooling", "boolean")


# -- what BAML rejects at load -----------------------------------------------------------------------------
@pytest.mark.parametrize("options, path, phrase", [
    ({"response_format": "json"}, "response_format", "must be of type"),
    ({"baml_mode": 3}, "baml_mode", "must be of type string"),
    ({"client_response_type": "cohere"}, "client_response_type", "is not one of"),
    ({"media_url_handler": {"image": "download"}}, "media_url_handler.image", "is not one of"),
    ({"allowed_roles": ["user", "assistant"], "remap_roles": {"system": "developer"}}, "remap_roles.system",
     "allowed_roles"),
    ({"allowed_roles": ["user", "assistant"], "default_role": "system"}, "default_role", "allowed_roles"),
])
def test_options_baml_rejects_at_load(options: dict[str, Any], path: str, phrase: str) -> None:
    for provider in ("openai", "anthropic", "google-ai"):
        config = one_client(provider, {"model": "m", **options})
        assert_problem(problems_of(config), f"{OPTS}.{path}", phrase)


def test_roles_within_allowed_roles_load() -> None:
    validate_config(one_client("openai", {"allowed_roles": ["user", "system"], "remap_roles": {"system": "developer"},
                                          "default_role": "user"}))


def test_a_baml_file_rejects_them_at_load_not_when_called(tmp_path: Path) -> None:
    source = tmp_path / "clients.baml"
    source.write_text('client<llm> Bad {\n  provider openai\n  options {\n    model "gpt-4o"\n'
                      '    allowed_roles ["user", "assistant"]\n    remap_roles { system "developer" }\n'
                      '  }\n}\n')
    with pytest.raises(ConfigError) as info:
        llmclient.load_config(source)
    assert any("remap_roles" in p for p in info.value.problems)


def test_azure_schema_refuses_api_key_with_entra_and_a_lone_secret() -> None:
    base = {"resource_name": "r", "deployment_id": "d"}
    validate_config(one_client("azure-openai", {**base, "tenant_id": {"env": "AZURE_TENANT_ID"},
                                                "client_id": "app", "client_secret": {"env": "AZURE_CLIENT_SECRET"}}))
    assert_problem(problems_of(one_client("azure-openai", {**base, "api_key": "k", "tenant_id": "t"})), OPTS,
                   "not both")
    problems = problems_of(one_client("azure-openai", {**base, "client_secret": "s3cret-value"}))
    assert_problem(problems, OPTS, "client_secret is Entra ID's")
    assert not any("s3cret-value" in p for p in problems)


# -- safetySettings as a map ----------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", ["google-ai", "vertex-ai"])
def test_safety_settings_as_a_map_or_a_list(provider: str) -> None:
    base = {"model": "gemini-2.5-flash", "location": "us-central1"} if provider == "vertex-ai" else {"model": "g"}
    for settings in ({"HARM_CATEGORY_HATE_SPEECH": "BLOCK_NONE"},
                     {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_LOW_AND_ABOVE",
                      "method": "SEVERITY"},
                     [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]):
        validate_config(one_client(provider, {**base, "safetySettings": settings}))
    assert_problem(problems_of(one_client(provider, {**base, "safetySettings": "BLOCK_NONE"})),
                   f"{OPTS}.safetySettings", "map of category to threshold")
