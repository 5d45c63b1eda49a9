"""Tests for llmclient.config.schema: valid configs, and every problem at its path.

The schema files, plug-in schemas and laziness are in ``test_schema_files.py``; secrets never
echoed and JSON paths in ``test_schema_messages.py``.
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

import pytest
from schema_helpers import assert_problem, one_client, problems_of
from seed_configs import seed_config

from llmclient.config.schema import reference_warnings, validate_config
from llmclient.errors import ConfigError
from llmclient.secrets import env

# -- valid configs ------------------------------------------------------------------------------


def test_seed_examples_validate() -> None:
    validate_config(seed_config())


@pytest.mark.parametrize(
    ("provider", "options"),
    [
        ("openai", {"model": "gpt-4o", "max_tokens": None, "temperature": None, "logprobs": True}),
        ("openai-generic", {"base_url": "http://localhost:8000/v1", "model": {"env": "MODEL"}}),
        ("ollama", {"model": "llama3", "http": {"connect_timeout_ms": 500, "request_timeout_ms": None}}),
        ("openrouter", {"model": "x", "headers": {"HTTP-Referer": "https://example.org"}}),
        ("openai", {"allowed_role_metadata": "all", "remap_roles": {"system": "developer"}}),
        ("openai", {"finish_reason_allow_list": ["stop"], "query_params": {"v": {"env": "V"}}}),
        ("azure-openai", {"resource_name": "r", "deployment_id": "d", "api_version": "2024-10-21"}),
        ("openai/azure", {"base_url": "https://r.openai.azure.com/openai/deployments/d"}),
        ("anthropic", {"model": "claude", "allowed_roles": ["user", "assistant"], "default_role": "user"}),
        ("google-ai", {"model": "gemini-2.0-flash", "safetySettings": [], "generationConfig": {}}),
        ("vertex-ai", {"model": "gemini", "location": "us-central1", "credentials": {"type": "sa"}}),
        ("vertex-ai", {"model": "gemini", "base_url": "http://127.0.0.1:9/v1", "credentials": "/k.json"}),
        ("aws-bedrock", {"model_id": "m", "profile": "dev", "inference_configuration": {"max_tokens": 5}}),
        ("aws-bedrock", {"model": "m", "api_key": {"env": "AWS_BEARER_TOKEN_BEDROCK"}}),
        ("aws-bedrock", {"model": "m", "access_key_id": "a", "secret_access_key": "s", "session_token": "t"}),
        ("aws-bedrock", {"model": "m", "credentials": {"profile": "dev"}, "endpoint_url": "http://h"}),
        ("fallback", {"strategy": ["A"], "hedge_after_ms": 500, "fallback_on": ["RateLimitError"]}),
        ("fallback", {"providers": [{"client": "A"}], "cooldown_failures": 3, "cooldown_ms": 0}),
        ("round-robin", {"strategy": ["A", "A"], "weights": [1, 3], "start": 0}),
        ("baml-round-robin", {"providers": [{"client": "A", "weight": 2}], "total_timeout_ms": 9}),
        ("baml-strategy", {"strategy": "fallback", "providers": [{"client": "A"}], "hedge_after_ms": 1}),
    ],
)
def test_valid_options(provider: str, options: dict[str, Any]) -> None:
    config = one_client(provider, options)
    config["clients"]["A"] = {"provider": "openai"}
    validate_config(config)


def test_full_retry_policy_and_settings_validate() -> None:
    config = seed_config()
    config["retry_policies"]["Full"] = {
        "max_retries": 0,
        "strategy": {"type": "exponential_backoff", "delay_ms": 0, "multiplier": 2, "max_delay_ms": 5,
                     "jitter": "full"},
        "retry_on": ["429", "503", "TransportError"],
        "max_retry_after_ms": 60000,
    }
    config["retry_policies"]["NoStrategy"] = {"max_retries": 2}
    config["settings"] = {"max_workers": 1024}
    validate_config(config)


def test_python_configs_may_use_any_mapping_tuples_and_env_refs() -> None:
    config = MappingProxyType({
        "clients": MappingProxyType({
            "A": {"provider": "openai", "options": {"api_key": env("OPENAI_API_KEY")}},
            "F": {"provider": "fallback", "options": {"strategy": ("A",)}},
        })
    })
    validate_config(config)


# -- invalid configs: one problem each, at its path --------------------------------------------

CASES: list[tuple[str, Any, str, str]] = [
    ("not an object", ["x"], "$", "a config must be an object (got array)"),
    ("clients missing", {}, "$", "'clients' is required"),
    ("unknown top key", {"clients": {}, "client": {}}, "$.client", "unknown key 'client'; did you mean 'clients'?"),
    ("bad client name", {"clients": {"my client": {"provider": "openai"}}}, "$.clients",
     "'my client' is not a valid name"),
    ("provider missing", {"clients": {"X": {}}}, "$.clients.X", "'provider' is required"),
    ("option at client level", {"clients": {"X": {"provider": "openai", "model": "m"}}},
     "$.clients.X.model", "unknown key 'model' (provider options go inside \"options\")"),
    ("options not object", {"clients": {"X": {"provider": "openai", "options": [1]}}},
     "$.clients.X.options", "must be of type object (got array)"),
    ("settings range", {"clients": {}, "settings": {"max_workers": 0}}, "$.settings.max_workers",
     "must be >= 1 (got integer 0)"),
    ("settings max", {"clients": {}, "settings": {"max_workers": 1025}}, "$.settings.max_workers",
     "must be <= 1024"),
    ("settings type", {"clients": {}, "settings": {"max_workers": "many"}}, "$.settings.max_workers",
     "must be of type integer (got string 'many')"),
    ("settings unknown", {"clients": {}, "settings": {"workers": 4}}, "$.settings.workers",
     "unknown key 'workers'"),
    ("bad policy name", {"clients": {}, "retry_policies": {"1st": {"max_retries": 1}}}, "$.retry_policies",
     "'1st' is not a valid name"),
]


def policy(**strategy: Any) -> dict[str, Any]:
    return {"clients": {}, "retry_policies": {"R": {"max_retries": 1, "strategy": strategy}}}


CASES += [
    ("max_retries missing", {"clients": {}, "retry_policies": {"R": {}}}, "$.retry_policies.R",
     "'max_retries' is required"),
    ("max_retries negative", {"clients": {}, "retry_policies": {"R": {"max_retries": -1}}},
     "$.retry_policies.R.max_retries", "must be >= 0"),
    ("max_retries bool", {"clients": {}, "retry_policies": {"R": {"max_retries": True}}},
     "$.retry_policies.R.max_retries", "must be of type integer (got boolean True)"),
    ("strategy type missing", policy(delay_ms=5), "$.retry_policies.R.strategy", "'type' is required"),
    ("strategy type typo", policy(type="exponential"), "$.retry_policies.R.strategy.type",
     "'exponential' is not one of 'constant_delay', 'exponential_backoff'; did you mean 'exponential_backoff'?"),
    ("delay and alias", policy(type="constant_delay", delay_ms=1, initial_delay=2),
     "$.retry_policies.R.strategy", "give delay_ms or its alias initial_delay, not both"),
    ("max delay and alias", policy(type="exponential_backoff", max_delay_ms=1, max_delay=2),
     "$.retry_policies.R.strategy", "give max_delay_ms or its alias max_delay, not both"),
    ("multiplier on constant", policy(type="constant_delay", multiplier=2),
     "$.retry_policies.R.strategy", "multiplier applies only to type exponential_backoff"),
    ("multiplier below 1", policy(type="exponential_backoff", multiplier=0.5),
     "$.retry_policies.R.strategy.multiplier", "must be >= 1 (got number 0.5)"),
    ("negative delay", policy(type="constant_delay", delay_ms=-5), "$.retry_policies.R.strategy.delay_ms",
     "must be >= 0"),
    ("jitter word", policy(type="constant_delay", jitter="fulll"), "$.retry_policies.R.strategy.jitter",
     "did you mean 'full'?"),
    ("strategy unknown key", policy(type="constant_delay", delay=5), "$.retry_policies.R.strategy.delay",
     "unknown key 'delay'"),
    ("retry_on typo", {"clients": {}, "retry_policies": {"R": {"max_retries": 1, "retry_on": ["RateLimitErorr"]}}},
     "$.retry_policies.R.retry_on[0]", "did you mean 'RateLimitError'?"),
    ("retry_on int", {"clients": {}, "retry_policies": {"R": {"max_retries": 1, "retry_on": [429]}}},
     "$.retry_policies.R.retry_on[0]", "must be an HTTP status code as a string (\"429\")"),
    ("policy unknown key", {"clients": {}, "retry_policies": {"R": {"max_retries": 1, "retries": 2}}},
     "$.retry_policies.R.retries", "unknown key 'retries'; did you mean 'max_retries'?"),
]

OPTS = "$.clients.X.options"
CASES += [
    ("temperature type", one_client("openai", {"temperature": "hot"}), f"{OPTS}.temperature",
     "must be of type number or null (got string 'hot')"),
    ("max_tokens zero", one_client("openai", {"max_tokens": 0}), f"{OPTS}.max_tokens", "must be >= 1"),
    ("model not string", one_client("openai", {"model": 4}), f"{OPTS}.model", 'must be a string or {"env": NAME}'),
    ("env name", one_client("openai", {"model": {"env": "MY-VAR"}}), f"{OPTS}.model.env",
     "must match ^[A-Za-z_][A-Za-z0-9_]*$ (got string 'MY-VAR')"),
    ("env extra key", one_client("openai", {"model": {"env": "M", "default": "x"}}), f"{OPTS}.model.default",
     "unknown key 'default'"),
    ("http unknown", one_client("openai", {"http": {"timeout": 5}}), f"{OPTS}.http.timeout",
     "unknown key 'timeout'"),
    ("http negative timeout", one_client("openai", {"http": {"idle_timeout_ms": -1}}), f"{OPTS}.http.idle_timeout_ms",
     "must be >= 0"),
    ("http verify", one_client("openai", {"http": {"verify": "no"}}), f"{OPTS}.http.verify",
     "must be of type boolean"),
    ("finish reason lists", one_client("openai", {"finish_reason_allow_list": [], "finish_reason_deny_list": []}),
     OPTS, "give finish_reason_allow_list or finish_reason_deny_list, not both"),
    ("role metadata", one_client("openai", {"allowed_role_metadata": "some"}), f"{OPTS}.allowed_role_metadata",
     "'some' is not one of 'all', 'none'"),
    ("role metadata type", one_client("openai", {"allowed_role_metadata": 3}), f"{OPTS}.allowed_role_metadata",
     'must be a list of strings, "all" or "none"'),
    ("allowed_roles empty", one_client("anthropic", {"allowed_roles": []}), f"{OPTS}.allowed_roles",
     "must have at least 1 item(s)"),
    ("remap roles", one_client("anthropic", {"remap_roles": {"system": 1}}), f"{OPTS}.remap_roles.system",
     "must be of type string"),
    ("google model", one_client("google-ai", {}), OPTS, "'model' is required"),
    ("google model no options", one_client("google-ai"), OPTS, "'model' is required"),
    ("google generationConfig", one_client("google-ai", {"model": "g", "generationConfig": []}),
     f"{OPTS}.generationConfig", "must be of type object"),
    ("vertex location", one_client("vertex-ai", {"model": "g"}), OPTS, "'location' is required"),
    ("vertex two credentials", one_client("vertex-ai", {"model": "g", "location": "l", "credentials": "/k",
                                                        "credentials_content": "{}"}),
     OPTS, "give credentials or credentials_content, not both"),
    ("azure none", one_client("openai/azure", {"model": "m"}), OPTS,
     "exactly one way to address the Azure deployment is needed: endpoint, base_url, or resource_name "
     "with deployment_id (none given)"),
    ("azure two", one_client("azure-openai", {"endpoint": "e", "base_url": "b"}), OPTS,
     "exactly one way to address the Azure deployment is needed: endpoint, base_url, or resource_name "
     "with deployment_id (given: base_url and endpoint)"),
    ("azure three", one_client("azure-openai", {"endpoint": "e", "resource_name": "r", "deployment_id": "d"}),
     OPTS, "(given: resource_name with deployment_id and endpoint)"),
    ("azure half", one_client("azure-openai", {"resource_name": "r"}), OPTS,
     "'resource_name' also needs 'deployment_id'"),
    ("bedrock unknown key", one_client("aws-bedrock", {"model": "m", "modle": "x"}), f"{OPTS}.modle",
     "unknown key 'modle'; did you mean 'model'? (other request fields go in additional_model_request_fields)"),
    ("bedrock max_tokens", one_client("aws-bedrock", {"model": "m", "max_tokens": 5}), f"{OPTS}.max_tokens",
     "unknown key 'max_tokens' (put it in inference_configuration)"),
    ("bedrock base_url", one_client("aws-bedrock", {"model": "m", "base_url": "u"}), f"{OPTS}.base_url",
     "Bedrock's option is endpoint_url"),
    ("bedrock model and id", one_client("aws-bedrock", {"model": "m", "model_id": "n"}), OPTS,
     "exactly one of model or model_id is needed (given: model and model_id)"),
    ("bedrock no model", one_client("aws-bedrock", {"region": "r"}), OPTS,
     "exactly one of model or model_id is needed (none given)"),
    ("bedrock key alone", one_client("aws-bedrock", {"model": "m", "access_key_id": "a"}), OPTS,
     "'access_key_id' also needs 'secret_access_key'"),
    ("bedrock secret alone nested",
     one_client("aws-bedrock", {"model": "m", "credentials": {"secret_access_key": "s"}}),
     f"{OPTS}.credentials", "'secret_access_key' also needs 'access_key_id'"),
    ("bedrock token alone", one_client("aws-bedrock", {"model": "m", "session_token": "t"}), OPTS,
     "'session_token' also needs 'access_key_id'"),
    ("bedrock profile and keys", one_client("aws-bedrock", {"model": "m", "profile": "p", "access_key_id": "a",
                                                            "secret_access_key": "s"}),
     OPTS, "give a profile or access keys, not both"),
    ("bedrock profile and keys nested", one_client("aws-bedrock", {"model": "m", "credentials": {
        "profile": "p", "access_key_id": "a", "secret_access_key": "s"}}),
     f"{OPTS}.credentials", "give a profile or access keys, not both"),
    ("bedrock flat and nested", one_client("aws-bedrock", {"model": "m", "region": "r", "profile": "p",
                                                           "credentials": {"profile": "q"}}),
     OPTS, "either flat (access_key_id, secret_access_key, session_token, profile) or inside credentials"),
    ("bedrock api key and keys", one_client("aws-bedrock", {"model": "m", "api_key": "k", "profile": "p"}), OPTS,
     "api_key (a Bedrock API key, sent as a bearer token) replaces AWS credentials"),
    ("bedrock credentials unknown", one_client("aws-bedrock", {"model": "m", "credentials": {"region": "r"}}),
     f"{OPTS}.credentials.region", "unknown key 'region'"),
    ("bedrock inference unknown", one_client("aws-bedrock", {"model": "m", "inference_configuration": {
        "maxTokens": 5}}), f"{OPTS}.inference_configuration.maxTokens", "did you mean 'max_tokens'?"),
    ("bedrock top_p", one_client("aws-bedrock", {"model": "m", "inference_configuration": {"top_p": 2}}),
     f"{OPTS}.inference_configuration.top_p", "must be <= 1 (got integer 2)"),
    ("fallback empty", one_client("fallback", {"strategy": []}), f"{OPTS}.strategy", "must have at least 1 item(s)"),
    ("fallback neither", one_client("baml-fallback", {}), OPTS,
     "list the clients either as strategy (a list of names) or as providers (a list of {client, weight}) "
     "(none given)"),
    ("fallback both", one_client("fallback", {"strategy": ["X"], "providers": [{"client": "X"}]}), OPTS,
     "(given: strategy and providers)"),
    ("fallback not a list", one_client("fallback", {"strategy": "X"}), f"{OPTS}.strategy",
     "must be of type array (got string 'X')"),
    ("fallback unknown option", one_client("fallback", {"strategy": ["X"], "start": 1}), f"{OPTS}.start",
     "unknown key 'start'"),
    ("fallback hedge", one_client("fallback", {"strategy": ["X"], "hedge_after_ms": 0}), f"{OPTS}.hedge_after_ms",
     "must be > 0"),
    ("fallback_on word", one_client("fallback", {"strategy": ["X"], "fallback_on": ["Timeout"]}),
     f"{OPTS}.fallback_on[0]", "'Timeout' is not one of"),
    ("provider entry", one_client("fallback", {"providers": [{"name": "X"}]}), f"{OPTS}.providers[0]",
     "'client' is required"),
    ("round-robin weight", one_client("round-robin", {"providers": [{"client": "X", "weight": 0}]}),
     f"{OPTS}.providers[0].weight", "must be >= 1 (got integer 0)"),
    ("round-robin start", one_client("baml-round-robin", {"strategy": ["X"], "start": -1}), f"{OPTS}.start",
     "must be >= 0"),
    ("round-robin weights count", one_client("round-robin", {"strategy": ["X", "X"], "weights": [1]}),
     f"{OPTS}.weights", "has 1 entries but strategy has 2"),
    ("round-robin weights without strategy", one_client("round-robin", {"providers": [{"client": "X"}],
                                                                       "weights": [1]}),
     OPTS, "'weights' also needs 'strategy'"),
    ("baml-strategy word", one_client("baml-strategy", {"strategy": "roundrobin", "providers": [{"client": "X"}]}),
     f"{OPTS}.strategy", "did you mean 'round_robin'?"),
    ("baml-strategy providers", one_client("baml-strategy", {"strategy": "fallback"}), OPTS,
     "'providers' is required"),
    ("baml-strategy hedge on round robin", one_client("baml-strategy", {
        "strategy": "round_robin", "providers": [{"client": "X"}], "hedge_after_ms": 5}),
     OPTS, "hedge_after_ms and fallback_on apply only to strategy fallback"),
    ("baml-strategy start on fallback", one_client("baml-strategy", {
        "strategy": "fallback", "providers": [{"client": "X"}], "start": 1}),
     OPTS, "start applies only to strategy round_robin"),
]


@pytest.mark.parametrize(("config", "path", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_config_reports_path_and_message(config: Any, path: str, phrase: str) -> None:
    assert_problem(problems_of(config), path, phrase)


def test_azure_half_pair_is_one_problem_not_two() -> None:
    assert problems_of(one_client("azure-openai", {"resource_name": "r"})) == [
        "$.clients.X.options: 'resource_name' also needs 'deployment_id'"
    ]


def test_unknown_provider_names_the_known_ones_and_a_close_match() -> None:
    [problem] = problems_of(one_client("opneai", {"model": "m"}))
    assert problem.startswith("$.clients.X.provider: unknown provider 'opneai'; did you mean 'openai'?")
    assert "Known providers: openai, azure-openai, openai-generic" in problem
    assert "openai/azure" in problem and "baml-round-robin" in problem
    [problem] = problems_of(one_client("OpenAI"))
    assert "did you mean 'openai'?" in problem


def test_unknown_provider_without_close_match() -> None:
    [problem] = problems_of(one_client("zzz"))
    assert problem.startswith("$.clients.X.provider: unknown provider 'zzz'. Known providers: openai, azure-openai,")


def test_undefined_retry_policy() -> None:
    config = seed_config()
    config["clients"]["GPT4"]["retry_policy"] = "Resilent"
    assert problems_of(config) == [
        "$.clients.GPT4.retry_policy: retry policy 'Resilent' is not defined; did you mean 'Resilient'?"
    ]


def test_undefined_strategy_members_are_warnings_not_errors() -> None:
    # The original design's examples name a Claude client they never define: they must load.
    config = seed_config()
    config["clients"]["Resilient_LLM"]["options"]["strategy"] = ["GPT4", "Claud"]
    config["clients"]["SmartLLM"]["options"]["providers"][0]["client"] = "GPT5"
    validate_config(config)
    assert reference_warnings(config) == [
        "$.clients.Resilient_LLM.options.strategy[1]: client 'Claud' is not defined; did you mean 'Claude'?",
        "$.clients.SmartLLM.options.providers[0].client: client 'GPT5' is not defined; did you mean 'GPT4'?",
    ]
    assert reference_warnings(seed_config()) == []


def test_references_can_be_left_for_after_merging() -> None:
    config = seed_config()
    del config["clients"]["Claude"]
    del config["retry_policies"]
    validate_config(config, check_references=False)
    problems = problems_of(config)
    assert_problem(problems, "$.clients.GPT4.retry_policy", "retry policy 'Resilient' is not defined")
    assert reference_warnings(config) == [
        "$.clients.Resilient_LLM.options.strategy[1]: client 'Claude' is not defined; did you mean 'Claude3'?",
        "$.clients.SmartLLM.options.providers[1].client: client 'Claude' is not defined; did you mean 'Claude3'?",
    ]


def test_every_problem_is_reported_at_once_sorted_by_path() -> None:
    config = seed_config()
    config["clients"]["GPT4"]["options"]["temperature"] = "hot"
    config["clients"]["Claude3"]["options"]["max_tokens"] = 5
    config["clients"]["AzureGPT"]["options"]["base_url"] = "https://x"
    config["retry_policies"]["Resilient"]["max_retries"] = -1
    config["settings"] = {"max_workers": 0}
    config["clients"]["Resilient_LLM"]["options"]["strategy"] = list(range(12))  # not client names
    with pytest.raises(ConfigError) as info:
        validate_config(config, source="clients.baml")
    err = info.value
    assert str(err).startswith("clients.baml: 17 problems in config\n  - $.clients.AzureGPT.options: ")
    paths = [p.split(": ", 1)[0] for p in err.problems]
    assert paths[:5] == [
        "$.clients.AzureGPT.options",
        "$.clients.Claude3.options.max_tokens",
        "$.clients.GPT4.options.temperature",
        "$.clients.Resilient_LLM.options.strategy[0]",
        "$.clients.Resilient_LLM.options.strategy[1]",
    ]
    assert paths[13:] == [  # numeric order of indexes: [2] before [10]
        "$.clients.Resilient_LLM.options.strategy[10]",
        "$.clients.Resilient_LLM.options.strategy[11]",
        "$.retry_policies.Resilient.max_retries",
        "$.settings.max_workers",
    ]
    assert paths[5] == "$.clients.Resilient_LLM.options.strategy[2]"


def test_single_problem_message_and_default_source() -> None:
    with pytest.raises(ConfigError) as info:
        validate_config({"clients": {}, "extra": 1})
    assert info.value.message == "config: 1 problem in config\n  - $.extra: unknown key 'extra'"
    assert info.value.problems == ["$.extra: unknown key 'extra'"]


def test_validation_does_not_modify_the_config() -> None:
    config = seed_config()
    before = copy.deepcopy(config)
    validate_config(config)
    assert config == before
