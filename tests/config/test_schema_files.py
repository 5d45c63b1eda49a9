"""Tests for llmclient.config.schema_files and the provider side of validation: the schema files,
compiled validators, each provider's schema, plug-in schemas, and jsonschema imported only when used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from schema_helpers import ROOT, SCHEMA_FILES, one_client, problems_of

from llmclient import errors
from llmclient.config import schema_files
from llmclient.config.schema import known_providers, provider_schema_name, register_schema, validate_config
from llmclient.errors import ConfigError
from llmclient.providers import table

# -- the schema files -------------------------------------------------------------------------


def test_schema_files_are_the_expected_set() -> None:
    names = {path.stem for path in SCHEMA_FILES}
    assert names == {
        "config", "common", "retry_policy", "openai", "openai-generic", "azure-openai", "anthropic", "google-ai",
        "vertex-ai", "aws-bedrock", "fallback", "round-robin", "baml-strategy", "openai-responses",
    }


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_every_schema_passes_check_schema_and_has_its_id(path: Path) -> None:
    contents = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(contents)
    assert contents["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert contents["$id"] == f"https://llmclient.invalid/schemas/{path.name}"


def test_error_class_names_in_schema_exist_in_errors_module() -> None:
    common = json.loads((ROOT / "schemas" / "common.json").read_text(encoding="utf-8"))
    names = common["$defs"]["error_class"]["enum"]
    assert set(names) <= set(errors.__all__)
    assert "RateLimitError" in names and "TransportError" in names


def test_schema_text_reads_from_installed_package_when_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def files(package: str) -> Path:
        seen.append(package)
        return ROOT / "schemas"

    monkeypatch.setattr(schema_files.resources, "files", files)
    assert json.loads(schema_files._schema_text("config.json"))["title"] == "llmclient config"
    assert seen == ["llmclient.schemas"]


def test_schema_text_falls_back_to_source_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    def files(package: str) -> Path:
        raise ModuleNotFoundError(package)

    monkeypatch.setattr(schema_files.resources, "files", files)
    # This repository's own schemas/, wherever the package under test is installed.
    monkeypatch.setattr(schema_files, "_SOURCE_TREE_SCHEMAS", Path(__file__).resolve().parents[2] / "schemas")
    assert json.loads(schema_files._schema_text("common.json"))["$defs"]["env_ref"]["required"] == ["env"]


def test_validators_are_compiled_once() -> None:
    assert schema_files.builtin_validator("aws-bedrock") is schema_files.builtin_validator("aws-bedrock")


# -- providers, plug-ins, laziness --------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("openai", "openai"), ("openai-generic", "openai-generic"), ("ollama", "openai"), ("openrouter", "openai"),
        ("azure-openai", "azure-openai"), ("openai/azure", "azure-openai"), ("anthropic", "anthropic"),
        ("google-ai", "google-ai"), ("vertex-ai", "vertex-ai"), ("aws-bedrock", "aws-bedrock"),
        ("fallback", "fallback"), ("baml-fallback", "fallback"), ("round-robin", "round-robin"),
        ("baml-round-robin", "round-robin"), ("baml-strategy", "baml-strategy"), ("mistral", None),
        ("baml-openai-chat", "openai"), ("baml-azure-chat", "azure-openai"), ("baml-anthropic-chat", "anthropic"),
        ("baml-ollama-chat", "openai"), ("openai-responses", "openai-responses"),
    ],
)
def test_provider_schema_name(provider: str, expected: str | None) -> None:
    assert provider_schema_name(provider) == expected


def test_known_providers_lists_canonical_names_then_aliases() -> None:
    assert known_providers()[:20] == [  # plug-ins registered by other test modules follow
        "openai", "azure-openai", "openai-generic", "ollama", "openrouter", "openai-responses", "anthropic",
        "google-ai",
        "vertex-ai", "aws-bedrock", "fallback", "round-robin", "baml-strategy",
        "baml-openai-chat", "openai/azure", "baml-azure-chat", "baml-ollama-chat", "baml-anthropic-chat",
        "baml-fallback", "baml-round-robin",
    ]


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows added by a test are gone after it (the provider table is process-wide)."""
    monkeypatch.setattr(table, "_rows", dict(table._rows))
    monkeypatch.setattr(table, "_aliases", dict(table._aliases))


@pytest.mark.usefixtures("clean_registry")
def test_registered_provider_schema_validates_its_options() -> None:
    plugin = {
        "type": "object",
        "properties": {"model": {"type": "string"}, "http": {"$ref": "common.json#/$defs/http"}},
        "required": ["model"],
        "additionalProperties": False,
    }
    register_schema("my-llm", plugin)
    assert provider_schema_name("my-llm") == "my-llm"
    assert known_providers()[-1] == "my-llm"
    validate_config(one_client("my-llm", {"model": "m", "http": {"verify": False}}))
    problems = problems_of(one_client("my-llm", {"http": {"verify": "no"}, "extra": 1}))
    assert problems == [
        "$.clients.X.options: 'model' is required",
        "$.clients.X.options.extra: unknown key 'extra'",
        "$.clients.X.options.http.verify: must be of type boolean (got string 'no')",
    ]
    register_schema("my-llm", {"type": "object"})  # replacing drops the cached validator
    validate_config(one_client("my-llm", {"extra": 1}))


@pytest.mark.usefixtures("clean_registry")
def test_registered_name_with_slash_still_resolves_common_refs() -> None:
    register_schema("acme/llm", {"properties": {"http": {"$ref": "common.json#/$defs/http"}}})
    problems = problems_of(one_client("acme/llm", {"http": {"verify": 1}}))
    assert problems == ["$.clients.X.options.http.verify: must be of type boolean (got integer 1)"]


@pytest.mark.usefixtures("clean_registry")
def test_register_schema_rejects_invalid_schemas_and_builtin_names() -> None:
    with pytest.raises(ConfigError, match="not a valid JSON Schema"):
        register_schema("my-llm", {"type": "objekt"})
    with pytest.raises(ValueError, match="built-in provider"):
        register_schema("openai/azure", {"type": "object"})
    with pytest.raises(ValueError, match="built-in schema"):
        register_schema("x", {"$id": "https://llmclient.invalid/schemas/common.json"})
    assert provider_schema_name("my-llm") is None


def test_importing_schema_module_does_not_import_jsonschema() -> None:
    code = (
        "import sys, llmclient.config.schema, llmclient.config.canonical\n"
        "assert 'jsonschema' not in sys.modules, 'jsonschema imported'\n"
        "assert 'referencing' not in sys.modules, 'referencing imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
        env={"PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
