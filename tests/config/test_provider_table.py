"""The provider table is the one list of providers: everything else derives from it, and it is true.

Each row's dotted paths import, its schema file exists, its key variables are the ones its
module reads; the config spellings, the lazy imports of ``llmclient``, the builders and the
messages for an unknown provider all come from it; BAML's legacy provider names load.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import llmclient
from llmclient.config import canonical
from llmclient.config.builtin import resolve
from llmclient.config.registry import builder_for
from llmclient.config.schema import known_providers, provider_schema_name
from llmclient.providers import table
from llmclient.providers.table import PROVIDERS, ProviderSpec, provider_spec, unknown_provider_message

ROOT = Path(__file__).resolve().parents[2]
SHARED_SCHEMAS = {"common.json", "config.json", "retry_policy.json"}
LEAF_ROWS = [spec for spec in PROVIDERS if not spec.composite]
ROWS_WITH_CLASS = [spec for spec in PROVIDERS if spec.client is not None]


def names(specs: list[ProviderSpec]) -> list[str]:
    return [spec.name for spec in specs]


# -- the rows are true ----------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ROWS_WITH_CLASS, ids=names(ROWS_WITH_CLASS))
def test_each_client_class_imports_and_is_reachable_from_llmclient(spec: ProviderSpec) -> None:
    cls = resolve(spec.client)
    assert isinstance(cls, type) and issubclass(cls, llmclient.Client)
    assert getattr(llmclient, str(spec.client_name)) is cls  # whether it is in __all__ is the pin test's business


@pytest.mark.parametrize("spec", [s for s in PROVIDERS if s.builder], ids=names([s for s in PROVIDERS if s.builder]))
def test_each_composite_builder_imports(spec: ProviderSpec) -> None:
    assert spec.composite and callable(resolve(spec.builder))


def test_every_provider_schema_file_is_named_by_a_row_and_exists() -> None:
    on_disk = {path.name for path in (ROOT / "schemas").glob("*.json")} - SHARED_SCHEMAS
    named = {spec.schema_file for spec in PROVIDERS}
    assert named == on_disk


def test_names_and_aliases_are_unique_and_lower_case() -> None:
    words = [word for spec in PROVIDERS for word in (spec.name, *spec.aliases)]
    assert len(words) == len(set(words))
    assert all(word == word.lower() for word in words)


def test_the_openai_compatible_rows_share_one_class_with_their_provider_name() -> None:
    for name in ("openai-generic", "ollama", "openrouter"):
        spec = provider_spec(name)
        assert spec is not None and spec.client_name == "OpenAIGenericClient" and spec.kwargs == {"provider": name}


def test_the_openai_chat_rows_are_the_openai_compatible_ones_and_the_batch_runner_reads_them() -> None:
    from llmclient.batch import records

    chat = {spec.name for spec in PROVIDERS if spec.wire == "openai-chat"}
    assert chat == {"openai", "azure-openai", "openai-generic", "ollama", "openrouter"}
    assert records._OPENAI_FAMILY == chat


# A row's key variable is the one its module reads: a sentinel set there reaches the signed request.
API_KEY_ROWS = {
    "openai": {"model": "m"},
    "openai-responses": {"model": "m"},
    "openrouter": {"model": "m"},
    "azure-openai": {"resource_name": "r", "deployment_id": "d"},
    "anthropic": {"model": "m"},
    "google-ai": {"model": "m"},
}


def test_every_row_with_one_api_key_variable_is_checked_below() -> None:
    rows = {spec.name for spec in LEAF_ROWS if len(spec.key_env) == 1 and spec.key_env[0].endswith("_API_KEY")}
    assert rows == set(API_KEY_ROWS), "give a new row's minimal options in API_KEY_ROWS"


@pytest.mark.parametrize(("provider", "options"), API_KEY_ROWS.items(), ids=list(API_KEY_ROWS))
def test_the_key_variable_of_a_row_is_the_one_its_client_sends(provider: str, options: dict[str, Any],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    spec = provider_spec(provider)
    assert spec is not None
    [variable] = spec.key_env
    monkeypatch.setenv(variable, "sentinel-key-0123456789")
    with llmclient.load_config({"clients": {"C": {"provider": provider, "options": options}}}) as registry:
        client: Any = registry.client("C")
        request = client.build_request("hi")
    assert any("sentinel-key-0123456789" in str(value) for value in request.headers.values())


def test_the_test_suite_scrubs_every_key_variable_of_the_table(request: pytest.FixtureRequest) -> None:
    scrub = next(plugin for plugin in request.config.pluginmanager.get_plugins()
                 if hasattr(plugin, "_SCRUBBED_PREFIXES"))  # tests/conftest.py
    for spec in PROVIDERS:
        for variable in spec.key_env:
            assert variable in scrub._SCRUBBED or variable.startswith(scrub._SCRUBBED_PREFIXES), variable


# -- what derives from it -------------------------------------------------------------------------


def test_config_spellings_come_from_the_table() -> None:
    assert canonical.CANONICAL_PROVIDERS == tuple(spec.name for spec in PROVIDERS)
    assert dict(canonical.PROVIDER_ALIASES) == {alias: spec.name for spec in PROVIDERS for alias in spec.aliases}
    assert canonical.COMPOSITE_PROVIDERS == {"fallback", "round-robin", "baml-strategy"}
    assert known_providers()[:len(PROVIDERS)] == [spec.name for spec in PROVIDERS]


def test_the_lazy_imports_of_llmclient_are_the_table_and_match_its_type_checking_imports() -> None:
    lazy: dict[str, str] = llmclient._LAZY  # type: ignore[attr-defined]
    for spec in ROWS_WITH_CLASS:
        assert lazy[str(spec.client_name)] == spec.client
    tree = ast.parse((ROOT / "llmclient" / "__init__.py").read_text(encoding="utf-8"))
    guarded = next(node for node in ast.walk(tree) if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    for node in guarded.body:
        assert isinstance(node, ast.ImportFrom)
        for alias in node.names:
            assert lazy[alias.name] == f"llmclient.{node.module}:{alias.name}", alias.name
    public_lazy = {name for name in lazy if name in llmclient.__all__}
    assert {alias.name for node in guarded.body if isinstance(node, ast.ImportFrom) for alias in node.names} \
        == public_lazy


def test_building_one_provider_imports_only_its_module() -> None:
    code = (
        "import sys, llmclient\n"
        "r = llmclient.load_config({'clients': {'A': {'provider': 'anthropic', 'options': {'model': 'm', "
        "'api_key': 'k'}}}})\n"
        "r.client('A'); r.close()\n"
        "print([m for m in ('llmclient.providers.anthropic', 'llmclient.providers.bedrock', "
        "'llmclient.providers.vertex', 'llmclient.strategies.round_robin') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True, env={"PYTHONPATH": str(ROOT)})
    assert json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"')) == ["llmclient.providers.anthropic"]


def test_the_readme_table_lists_every_row_with_its_aliases_class_and_key() -> None:
    readme = (ROOT / "README.rst").read_text(encoding="utf-8")
    start = readme.index("\nProviders\n---------\n")
    section = readme[start:start + 4000]
    lines = {line.split("  ")[0]: line for line in section.splitlines() if line.startswith("``")}
    for spec in PROVIDERS:
        row = lines[f"``{spec.name}``"]
        assert all(f"``{alias}``" in row for alias in spec.aliases), spec.name
        assert spec.client_name is None or f"``{spec.client_name}``" in row, spec.name
        assert all(f"``{variable}``" in row for variable in spec.key_env if not variable.startswith("AWS_")) or \
            "``AWS_BEARER_TOKEN_BEDROCK``" in row, spec.name


# -- BAML's legacy names (issue 12) ---------------------------------------------------------------

#: BAML's parser accepts these (engine/baml-lib/llm-client/src/clientspec.rs, ClientProvider::from_str,
#: BoundaryML/baml, Apache-2.0) and maps each to the provider on the right.
LEGACY = {
    "baml-openai-chat": ("openai", {"model": "gpt-4o"}),
    "baml-azure-chat": ("azure-openai", {"resource_name": "r", "deployment_id": "d", "api_key": "k"}),
    "baml-anthropic-chat": ("anthropic", {"model": "claude-sonnet-4-5", "api_key": "k"}),
    "baml-ollama-chat": ("ollama", {"model": "llama3"}),
    "baml-fallback": ("fallback", {"strategy": ["Plain"]}),
    "baml-round-robin": ("round-robin", {"strategy": ["Plain"]}),
}


def baml_options(options: dict[str, Any]) -> str:
    def value(item: Any) -> str:
        return "[" + ", ".join(item) + "]" if isinstance(item, list) else json.dumps(item)

    return " ".join(f"{key} {value(item)}" for key, item in options.items())


@pytest.mark.parametrize("legacy", LEGACY, ids=list(LEGACY))
def test_a_legacy_baml_name_loads_as_its_provider(legacy: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k" * 10)
    provider, options = LEGACY[legacy]
    path = tmp_path / "clients.baml"
    path.write_text(f"client<llm> Legacy {{\n  provider {legacy}\n  options {{ {baml_options(options)} }}\n}}\n"
                    'client<llm> Plain {\n  provider openai\n  options { model "gpt-4o" }\n}\n', encoding="utf-8")
    with llmclient.load_config(path) as registry:
        assert registry.client("Legacy").provider == provider
    assert canonical.canonical_provider_name(legacy) == provider
    assert provider_schema_name(legacy) == provider_schema_name(provider)


def test_a_legacy_name_works_in_provider_model_shorthand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k" * 10)
    with llmclient.load_config({"clients": {}}) as registry:
        assert registry.client("baml-ollama-chat/llama3").provider == "ollama"
        assert registry.client("baml-openai-chat/gpt-4o").provider == "openai"
        with pytest.raises(llmclient.ConfigError, match="no client named"):
            registry.client("baml-fallback/gpt-4o")  # a composite has no model to take


# -- unknown providers --------------------------------------------------------------------------


def test_a_provider_baml_knows_but_llmclient_does_not_support_yet_is_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table, "NOT_YET_SUPPORTED", {**table.NOT_YET_SUPPORTED, "echo-llm": "an echo API"})
    with pytest.raises(llmclient.ConfigError) as info:
        llmclient.load_config({"clients": {"R": {"provider": "echo-llm", "options": {"model": "m"}}}})
    [problem] = info.value.problems
    assert problem.startswith("$.clients.R.provider: provider 'echo-llm' (an echo API) is not supported yet")
    assert "did you mean" not in problem
    with pytest.raises(llmclient.ConfigError, match="'echo-llm' .* is not supported yet"):
        builder_for("echo-llm")


def test_openai_responses_is_a_row_now_and_no_longer_said_unsupported() -> None:
    assert "openai-responses" not in table.NOT_YET_SUPPORTED
    spec = provider_spec("openai-responses")
    assert spec is not None and spec.client_name == "OpenAIResponsesClient"
    with llmclient.load_config({"clients": {"R": {"provider": "openai-responses",
                                                  "options": {"model": "m", "api_key": "k"}}}}) as registry:
        assert registry.client("R").provider == "openai-responses"


def test_a_row_wins_over_the_not_yet_supported_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table, "NOT_YET_SUPPORTED", {**table.NOT_YET_SUPPORTED, "echo-llm": "an echo"})
    assert "is not supported yet" in unknown_provider_message("echo-llm")
    monkeypatch.setattr(table, "_rows", {**table._rows, "echo-llm": ProviderSpec("echo-llm", schema=None)})
    assert provider_schema_name("echo-llm") == "echo-llm"


@pytest.mark.parametrize(("typo", "meant"), [
    ("opneai", "openai"), ("antropic", "anthropic"), ("baml-openai-caht", "baml-openai-chat"),
    ("baml-antropic-chat", "baml-anthropic-chat"), ("Google-AI", "google-ai"), ("roundrobin", "round-robin"),
])
def test_close_matches_are_suggested_over_names_and_aliases(typo: str, meant: str) -> None:
    message = unknown_provider_message(typo)
    assert message.startswith(f"unknown provider {typo!r}; did you mean {meant!r}?")
    with pytest.raises(llmclient.ConfigError, match="did you mean"):
        builder_for(typo)


def test_the_unknown_provider_message_lists_every_spelling() -> None:
    message = unknown_provider_message("zzz")
    assert message.startswith("unknown provider 'zzz'. Known providers: openai, azure-openai,")
    assert all(word in message for spec in PROVIDERS for word in (spec.name, *spec.aliases))


# -- plug-in rows -------------------------------------------------------------------------------


@pytest.fixture
def scratch_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table, "_rows", dict(table._rows))
    monkeypatch.setattr(table, "_aliases", dict(table._aliases))


@pytest.mark.usefixtures("scratch_table")
def test_a_plug_in_row_takes_aliases_but_no_built_in_or_taken_word() -> None:
    row = ProviderSpec("acme", "llmclient.providers.openai:OpenAIGenericClient", aliases=("acme-chat",))
    table.add_provider(row)
    assert provider_spec("acme-chat") is row and canonical.canonical_provider_name("acme-chat") == "acme"
    assert known_providers()[-2:] == ["acme", "acme-chat"]
    with pytest.raises(ValueError, match="built-in"):
        table.add_provider(ProviderSpec("other", aliases=("baml-openai-chat",)))
    with pytest.raises(ValueError, match="already a name of provider 'acme'"):
        table.add_provider(ProviderSpec("other", aliases=("acme-chat",)))
    table.add_provider(ProviderSpec("acme", aliases=("acme-v2",)))  # replacing drops the old alias
    assert provider_spec("acme-chat") is None and provider_spec("acme-v2") is not None


@pytest.mark.usefixtures("scratch_table")
def test_register_provider_refuses_a_built_in_alias_before_touching_the_table() -> None:
    before = table.provider_specs()
    with pytest.raises(ValueError, match="built-in"):
        llmclient.register_provider("acme", llmclient.OpenAIGenericClient, aliases=["openai/azure"])
    assert table.provider_specs() == before
