"""Tests for llmclient.config.baml: BAML declarations to the raw config dict, files and folders.

Values, syntax errors and the round trip are in ``test_baml_values.py``.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from llmclient import load_config
from llmclient.config.baml import load_baml, parse_baml
from llmclient.config.canonical import canonicalize
from llmclient.config.schema import validate_config
from llmclient.errors import ConfigError
from llmclient.testing import FakeLLMServer, Fault

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "baml"
SEED = FIXTURES / "seed-examples.baml"

SEED_RAW: dict[str, Any] = {
    "clients": {
        "Resilient_LLM": {"provider": "baml-fallback", "options": {"strategy": ["GPT4", "Claude"]}},
        "GPT4": {
            "provider": "openai",
            "retry_policy": "Resilient",
            "options": {"model": "gpt-4", "api_key": {"env": "OPENAI_API_KEY"}, "max_tokens": 1000},
        },
        "AzureGPT": {
            "provider": "openai/azure",
            "options": {"model": "deployment_name", "api_key": {"env": "AZURE_API_KEY"},
                        "endpoint": {"env": "AZURE_ENDPOINT"}},
        },
        "Claude3": {
            "provider": "aws-bedrock",
            "options": {
                "model": "anthropic.claude-3-sonnet",
                "region": "us-west-2",
                "credentials": {"access_key_id": {"env": "AWS_ACCESS_KEY_ID"},
                                "secret_access_key": {"env": "AWS_SECRET_ACCESS_KEY"}},
            },
        },
        "SmartLLM": {
            "provider": "baml-strategy",
            "options": {"strategy": "round_robin",
                        "providers": [{"client": "GPT4", "weight": 2}, {"client": "Claude", "weight": 1}]},
        },
    },
    "retry_policies": {
        "Resilient": {"max_retries": 3,
                      "strategy": {"type": "exponential_backoff", "initial_delay": 1000, "max_delay": 30000}},
    },
}

SEED_WITH_CLAUDE_CANONICAL: dict[str, Any] = {
    "clients": {
        "Resilient_LLM": {"provider": "fallback", "options": {"strategy": ["GPT4", "Claude"]}},
        "GPT4": {
            "provider": "openai",
            "retry_policy": "Resilient",
            "options": {"model": "gpt-4", "api_key": {"env": "OPENAI_API_KEY"}, "max_tokens": 1000},
        },
        "AzureGPT": {
            "provider": "azure-openai",
            "options": {"model": "deployment_name", "api_key": {"env": "AZURE_API_KEY"},
                        "endpoint": {"env": "AZURE_ENDPOINT"}},
        },
        "Claude3": {
            "provider": "aws-bedrock",
            "options": {"model": "anthropic.claude-3-sonnet", "region": "us-west-2",
                        "access_key_id": {"env": "AWS_ACCESS_KEY_ID"},
                        "secret_access_key": {"env": "AWS_SECRET_ACCESS_KEY"}},
        },
        "SmartLLM": {"provider": "round-robin", "options": {"strategy": ["GPT4", "Claude"], "weights": [2, 1]}},
        "Claude": {
            "provider": "openai-generic",
            "options": {"base_url": {"env": "FAKE_LLM_BASE_URL"}, "model": "claude-sonnet-4-5"},
        },
    },
    "retry_policies": {
        "Resilient": {
            "max_retries": 3,
            "strategy": {"type": "exponential_backoff", "delay_ms": 1000, "multiplier": 1.5,
                         "max_delay_ms": 30000, "jitter": "none"},
        }
    },
    "settings": {"max_workers": 32},
}


@pytest.fixture
def seed_folder(tmp_path: Path) -> Path:
    """A folder with the verbatim seed file and the Claude client it refers to."""
    shutil.copy(SEED, tmp_path / "seed-examples.baml")
    shutil.copy(FIXTURES / "extra" / "claude.baml", tmp_path / "claude.baml")
    return tmp_path


# -- the seed examples ------------------------------------------------------------------------


def test_seed_fixture_is_the_verbatim_seed_file() -> None:
    assert "client<llm> Resilient_LLM {" in SEED.read_text(encoding="utf-8")
    assert parse_baml(SEED.read_text(encoding="utf-8")) == SEED_RAW


def test_seed_file_loads_to_the_expected_raw_dict() -> None:
    assert load_baml(SEED) == SEED_RAW


def test_seed_with_claude_validates_and_canonicalises_to_the_whole_expected_dict(seed_folder: Path) -> None:
    raw = load_baml(seed_folder)
    validate_config(raw, source=str(seed_folder))
    assert canonicalize(raw) == SEED_WITH_CLAUDE_CANONICAL


def test_seed_alone_validates_and_warns_about_the_undefined_claude(caplog: pytest.LogCaptureFixture) -> None:
    # The seed's strategies name "Claude", which it never defines: validate_config accepts
    # that (a member naming no client is a warning, logged by load_config), so it still loads.
    validate_config(load_baml(SEED), source=str(SEED))
    with caplog.at_level(logging.WARNING, logger="llmclient"):
        registry = load_config(SEED)
    try:
        assert registry.names() == list(SEED_RAW["clients"])
        warned = " ".join(record.getMessage() for record in caplog.records)
        assert "'Claude'" in warned
    finally:
        registry.close()


def test_seed_clients_work_against_the_fake_server(
        seed_folder: Path, fake_llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_LLM_BASE_URL", fake_llm_server.openai_base_url)
    monkeypatch.setenv("AZURE_ENDPOINT", fake_llm_server.url)
    monkeypatch.setenv("AZURE_API_KEY", "azure-test-key")
    monkeypatch.setenv("OPENAI_API_KEY", "openai-test-key")
    with load_config(seed_folder) as registry:
        assert registry.client("Claude").complete("hello").text == "Echo: hello"
        # The verbatim AzureGPT block: endpoint and key from the environment.
        assert registry.client("AzureGPT").complete("from azure").text == "Echo: from azure"
        assert registry.client("GPT4").name == "GPT4"  # builds; sending would leave 127.0.0.1
    paths = [request.path for request in fake_llm_server.requests]
    assert paths[0].endswith("/chat/completions")
    assert paths[1] == "/openai/deployments/deployment_name/chat/completions"
    assert fake_llm_server.requests[1].headers.get("api-key") == "azure-test-key"


def test_a_baml_client_with_base_url_and_retry_policy_works_end_to_end(
        tmp_path: Path, fake_llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "openai-test-key")
    (tmp_path / "clients.baml").write_text(f"""
retry_policy Quick {{
  max_retries 2
  strategy {{ type constant_delay  delay_ms 1 }}
}}
client<llm> GPT4 {{
  provider openai
  retry_policy Quick
  options {{
    model gpt-4
    api_key env.OPENAI_API_KEY
    base_url "{fake_llm_server.openai_base_url}"
    max_tokens 1000
  }}
}}
""", encoding="utf-8")
    fake_llm_server.enqueue(Fault.server_error())
    with load_config(tmp_path / "clients.baml") as registry:
        completion = registry.client("GPT4").complete("retry me")
    assert completion.text == "Echo: retry me"
    assert len(fake_llm_server.requests) == 2
    body = fake_llm_server.requests[-1].json()
    assert body["model"] == "gpt-4" and body["max_completion_tokens"] == 1000  # openai renames max_tokens
    assert fake_llm_server.requests[-1].headers.get("authorization") == "Bearer openai-test-key"


# -- a whole baml_src folder ------------------------------------------------------------------


def test_a_realistic_baml_src_folder_loads_skipping_every_other_block() -> None:
    config = load_baml(FIXTURES / "baml_src")
    assert list(config["clients"]) == ["CustomGPT4o", "CustomSonnet", "Local", "OpenaiFallback", "Rotating"]
    assert list(config["retry_policies"]) == ["Quick", "Patient"]  # from nested/, read after the top files
    assert config["clients"]["Local"] == {
        "provider": "openai-generic",
        "retry_policy": "Quick",
        "options": {"base_url": {"env": "FAKE_LLM_BASE_URL"}, "model": "local-model", "temperature": 0.2,
                    "headers": {"x-team": "evals"}},
    }
    assert config["clients"]["OpenaiFallback"]["options"] == {"strategy": ["CustomGPT4o", "CustomSonnet"]}
    assert config["clients"]["Rotating"]["options"] == {"strategy": ["CustomGPT4o", "CustomSonnet"]}
    validate_config(config)


def test_a_baml_src_folder_builds_a_working_client(
        fake_llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_LLM_BASE_URL", fake_llm_server.openai_base_url)
    with load_config(FIXTURES / "baml_src") as registry:
        assert registry.client("Local").complete("folder").text == "Echo: folder"
    request = fake_llm_server.requests[0]
    assert request.headers.get("x-team") == "evals"
    assert request.json()["temperature"] == 0.2


@pytest.mark.parametrize("block", [
    'function F(a: string, b: map<string, int>) -> string {\n  client "openai/gpt-4o"\n'
    '  prompt #"\n    {{ a }} } // not a comment { \n  "#\n}',
    'class C {\n  x string @description("a } brace")\n  y int @assert(ok, {{ this > 0 }})\n  @@dynamic\n}',
    "enum E {\n  A\n  B @alias(\"b}\")\n}",
    'test T {\n  functions [F]\n  args {\n    a #"\n      }}} "quoted" https://x.y/z\n    "#\n  }\n}',
    'generator g {\n  output_type "python/pydantic"\n  output_dir "../"\n  version "0.76.2"\n}',
    'template_string Greet(name: string) #"\n  Hello { {{ name }}\n"#',
    'template_string Tricky() ##"\n  a "#quoted"# b }\n"##',
    "type Json = int | string | Json[] | map<string, Json>",
    'type Status =\n  | "open"  // a comment\n  | "closed"',
    "type Pair = (\n  string,\n  int\n)",
    "dynamic class Later {\n  z string\n}",
    "/* a block comment { at the top level */",
])
def test_other_top_level_blocks_are_skipped(block: str) -> None:
    text = f"{block}\nclient<llm> A {{\n  provider openai\n}}\n{block}\nretry_policy P {{ max_retries 1 }}\n"
    assert parse_baml(text) == {"clients": {"A": {"provider": "openai"}}, "retry_policies": {"P": {"max_retries": 1}}}


def test_an_unknown_top_level_declaration_is_skipped_too() -> None:
    text = "experimental_thing X {\n  a { b [ 1 ] }\n}\nclient<llm> A { provider openai }\n"
    assert parse_baml(text)["clients"] == {"A": {"provider": "openai"}}


def test_a_file_without_clients_gives_empty_sections() -> None:
    assert parse_baml("// nothing here\nclass A {\n  x int\n}\n") == {"clients": {}, "retry_policies": {}}
    assert parse_baml("") == {"clients": {}, "retry_policies": {}}


# -- files and folders ----------------------------------------------------------------------


def test_a_folder_of_files_is_merged_recursively_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.baml").write_text("client<llm> B { provider openai }\n", encoding="utf-8")
    (tmp_path / "a.baml").write_text("client<llm> A { provider openai retry_policy R }\n", encoding="utf-8")
    (tmp_path / "sub" / "policies.baml").write_text("retry_policy R { max_retries 2 }\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("client<llm> Ignored { provider openai }\n", encoding="utf-8")
    config = load_baml(tmp_path)
    assert config == {"clients": {"A": {"provider": "openai", "retry_policy": "R"}, "B": {"provider": "openai"}},
                      "retry_policies": {"R": {"max_retries": 2}}}
    assert list(config["clients"]) == ["A", "B"]
    with load_config(tmp_path) as registry:
        assert registry.names() == ["A", "B"]


@pytest.mark.parametrize(("first", "second", "noun", "name"), [
    ("client<llm> GPT4 { provider openai }\n", "\n  client<llm> GPT4 { provider anthropic }\n", "client", "GPT4"),
    ("retry_policy R { max_retries 1 }\n", "\n  retry_policy R { max_retries 2 }\n", "retry policy", "R"),
])
def test_a_name_defined_in_two_files_names_both_files(
        tmp_path: Path, first: str, second: str, noun: str, name: str) -> None:
    (tmp_path / "one.baml").write_text(first, encoding="utf-8")
    (tmp_path / "two.baml").write_text(second, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_baml(tmp_path)
    message = str(caught.value)
    column = second.index(name)  # 1-based, on line 2 (after the leading newline)
    first_column = first.index(name) + 1
    assert message == (f"{tmp_path / 'two.baml'}:2:{column}: {noun} {name!r} is already defined at "
                       f"{tmp_path / 'one.baml'}:1:{first_column}")


def test_a_syntax_error_in_a_folder_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "ok.baml").write_text("client<llm> A { provider openai }\n", encoding="utf-8")
    (tmp_path / "broken.baml").write_text("client<llm> B {\n  provider\n}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'broken.baml'}:2:11: expected a value")):
        load_config(tmp_path)


def test_folder_and_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds no .baml file"):
        load_baml(tmp_path)
    with pytest.raises(ConfigError, match="cannot read the config"):
        load_baml(tmp_path / "missing.baml")
    (tmp_path / "latin1.baml").write_bytes(b"client<llm> A { provider \xe9 }")
    with pytest.raises(ConfigError, match="must be UTF-8"):
        load_baml(tmp_path / "latin1.baml")


def test_a_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "bom.baml").write_bytes("\ufeffclient<llm> A { provider openai }".encode())
    assert load_baml(tmp_path / "bom.baml")["clients"] == {"A": {"provider": "openai"}}
    assert parse_baml("\ufeffclient<llm> A { provider openai }")["clients"] == {"A": {"provider": "openai"}}


def test_validation_problems_of_a_baml_file_are_reported_by_load_config(tmp_path: Path) -> None:
    (tmp_path / "bad.baml").write_text("client<llm> A {\n  provider opena\n}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="did you mean 'openai'"):
        load_config(tmp_path / "bad.baml")
