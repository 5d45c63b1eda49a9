"""A user's baml_src/ folder loads as BAML runs it (issue 12: the parser and the loader).

tests/fixtures/baml/field/ holds clients and declarations in the forms BAML's own
integ-tests folder and `baml init` template use; see the comment at the top of each file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmclient import ConfigError, load_config
from llmclient.cli import main
from llmclient.testing import FakeLLMServer, Fault

FIELD = Path(__file__).resolve().parent.parent / "fixtures" / "baml" / "field"


@pytest.fixture
def field_env(fake_llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> FakeLLMServer:
    monkeypatch.setenv("FIELD_BASE_URL", fake_llm_server.openai_base_url)
    return fake_llm_server


def test_the_folder_loads_and_says_what_it_skipped_or_deferred(field_env: FakeLLMServer,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="llmclient.config")
    with load_config(FIELD) as registry:
        assert set(registry.names()) == {"Fast", "Careful", "FaultyAzure", "Chain", "AfterTheBreak"}
        assert registry.client("Careful").complete("bare form").text == "Echo: bare form"
        assert registry.client("AfterTheBreak").complete("after").text == "Echo: after"
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert "broken.baml:2:1: skipped a 'function' declaration" in warnings
    assert "mutliplier" in warnings and "did you mean 'multiplier'" in warnings
    assert "client 'FaultyAzure' will fail when used" in warnings and "deployment" in warnings


def test_a_client_baml_rejects_only_when_used_fails_when_used(field_env: FakeLLMServer) -> None:
    with load_config(FIELD) as registry:
        with pytest.raises(ConfigError, match="exactly one way to address the Azure deployment") as info:
            registry.client("FaultyAzure")
        assert info.value.client_name == "FaultyAzure"
        field_env.enqueue(Fault.server_error(500))  # the retry policy with the misspelt key still retries
        reply = registry.client("Chain").complete("falls back")
    assert reply.client_name == "Fast" and reply.text == "Echo: falls back"
    assert [(a.client_name, a.outcome) for a in reply.attempts] == [
        ("FaultyAzure", "ConfigError"), ("Fast", "ProviderError"), ("Fast", "ok")]


def test_a_json_config_stays_strict() -> None:
    config = {"clients": {"FaultyAzure": {"provider": "azure-openai", "options": {"api_key": "k" * 12}}},
              "retry_policies": {"P": {"max_retries": 1, "strategy": {"type": "constant_delay", "mutliplier": 2}}}}
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert len(info.value.problems) == 2


def test_what_baml_rejects_at_load_is_still_an_error(tmp_path: Path) -> None:
    (tmp_path / "c.baml").write_text("client<llm> A {\n  provider openai\n  retry_policy Missing\n"
                                     "  options { model m\n  api_key k }\n}\n")
    with pytest.raises(ConfigError, match="retry policy 'Missing' is not defined"):
        load_config(tmp_path)
    (tmp_path / "c.baml").write_text("client<llm> A {\n  provider not-a-provider\n}\n")
    with pytest.raises(ConfigError, match="not-a-provider"):
        load_config(tmp_path)


def test_validate_prints_the_warnings_for_what_it_skipped(field_env: FakeLLMServer,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(FIELD)]) == 0
    err = capsys.readouterr().err
    assert "skipped a 'function' declaration" in err and "will fail when used" in err and "mutliplier" in err
