"""A provider added from outside the package: registered in one call, used from a .baml fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import llmclient
from llmclient.client import CallContext
from llmclient.models import ChatRequest, Completion, Usage
from llmclient.providers.options import OptionReader
from llmclient.stream import Stream, chunks_of


class ReverseClient(llmclient.Client):
    """A tiny in-process 'model' that answers with the prompt reversed, behind a prefix."""

    def __init__(self, *, name: str = "reverse", runtime: Any = None, retry_policy: Any = None,
                 **options: Any) -> None:
        super().__init__(name=name, provider="reverse", runtime=runtime)
        read = OptionReader(options, provider="reverse", client_name=name)
        self.prefix = read.ensure_string("prefix", default="") or ""
        self.repeat = read.ensure_int("repeat", default=1, minimum=1) or 1
        read.ensure_known()

    def invoke(self, request: ChatRequest, context: CallContext) -> Completion:
        text = self.prefix + request.messages[-1].text[::-1] * self.repeat
        return Completion(text=text, finish_reason="stop", raw_finish_reason="stop", usage=Usage(1, 1, 2),
                          provider=self.provider, client_name=self.name)

    def open_stream(self, request: ChatRequest, context: CallContext) -> Stream:
        completion = self.invoke(request, context)
        return Stream(iter(chunks_of(completion)), finish=lambda acc: completion, close=lambda: None)


SCHEMA = {"type": "object", "properties": {"prefix": {"$ref": "common.json#/$defs/string_or_env"},
                                           "repeat": {"type": "integer", "minimum": 1}},
          "additionalProperties": False}


@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    llmclient.register_provider("reverse", ReverseClient, SCHEMA)


def test_a_registered_provider_takes_over_from_a_dead_one_in_a_baml_fallback(tmp_path: Path) -> None:
    (tmp_path / "clients.baml").write_text('''
client<llm> Dead {
  provider openai-generic
  options { base_url "http://127.0.0.1:9/v1"  model m  http { connect_timeout_ms 500 } }
}
client<llm> Mirror {
  provider reverse
  options { prefix "mirror: " }
}
client<llm> Safe {
  provider baml-fallback
  options { strategy [Dead, Mirror] }
}
''')
    with llmclient.load_config(tmp_path) as registry:
        reply = registry.client("Safe").complete("abc")
    assert reply.text == "mirror: cba" and reply.client_name == "Mirror"
    assert [a.outcome for a in reply.attempts] == ["TransportError", "ok"]


def test_its_options_are_validated_by_its_schema() -> None:
    with pytest.raises(llmclient.ConfigError) as info:
        llmclient.load_config({"clients": {"R": {"provider": "reverse", "options": {"repeat": 0, "colour": 1}}}})
    text = str(info.value)
    assert "$.clients.R.options.repeat" in text and "unknown key 'colour'" in text


def test_its_constructor_checks_options_with_option_reader() -> None:
    with pytest.raises(llmclient.ConfigError, match="option 'repeat' must be an integer"):
        ReverseClient(repeat="twice")
    with pytest.raises(llmclient.ConfigError, match=r"unknown option\(s\) 'colour'"):
        ReverseClient(colour="red")
    assert ReverseClient(repeat=2).complete("ab").text == "baba"


def test_a_built_in_name_cannot_be_taken() -> None:
    with pytest.raises(ValueError, match="built-in"):
        llmclient.register_provider("openai", ReverseClient)
