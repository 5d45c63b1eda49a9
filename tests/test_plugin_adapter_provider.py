"""A new provider is one module and one row: adapter, client, schema and row all live in this file.

``tiny-chat`` is a made-up provider with its own adapter (over FakeLLMServer's OpenAI format,
so there is a real server to talk to). It is added with one ``register_provider`` call and
then used from a dict, a ``.json`` and a ``.baml`` config, with its alias, its schema, its key
variable, retries, a fallback and streaming: nothing else in the repository knows about it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import llmclient
from llmclient import ChatRequest, Chunk, Completion, HttpRequest, HttpResponse, Usage
from llmclient.providers.table import provider_spec
from llmclient.secrets import resolve
from llmclient.testing import FakeLLMServer, Fault
from llmclient.wire.sse import SSEDecoder

PROVIDER = "tiny-chat"
KEY_ENV = "TINY_CHAT_API_KEY"


# -- the adapter: pure translation between llmclient's values and the wire --------------------------


class TinyChatAdapter(llmclient.ProviderAdapter):
    """Chat requests as ``POST {base_url}/chat/completions``; answers, errors and SSE streams back."""

    provider = PROVIDER

    def __init__(self, base_url: Any, model: Any, body: dict[str, Any]) -> None:
        self.base_url, self.model, self.body = base_url, model, body

    def build_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        base = str(resolve(self.base_url, what="base_url of tiny-chat")).rstrip("/")
        body = {**self.body, **request.params, "model": resolve(self.model, what="model of tiny-chat"),
                "messages": [{"role": m.role, "content": m.text} for m in request.messages], "stream": stream}
        return HttpRequest("POST", f"{base}/chat/completions", {"content-type": "application/json"},
                           json.dumps(body).encode(), stream=stream)

    def parse_response(self, response: HttpResponse, secrets: tuple[str, ...]) -> Completion:
        data = json.loads(response.body)
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return Completion(text=choice["message"]["content"] or "", finish_reason=choice.get("finish_reason"),
                          raw_finish_reason=choice.get("finish_reason"), model=data.get("model"), provider=PROVIDER,
                          usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
                                      usage.get("total_tokens", 0)))

    def parse_error(self, response: HttpResponse, secrets: tuple[str, ...]) -> llmclient.LLMError:
        status = response.status_code
        cls = {401: llmclient.AuthError, 429: llmclient.RateLimitError}.get(status, llmclient.ProviderError)
        return cls(f"tiny-chat answered HTTP {status}", provider=PROVIDER, status_code=status,
                   retryable=status == 429 or status >= 500)

    def stream_decoder(self, secrets: tuple[str, ...]) -> TinyChatStream:
        return TinyChatStream()


class TinyChatStream:
    """Server-sent events of ``chat.completion.chunk`` objects, ending with ``data: [DONE]``."""

    def __init__(self) -> None:
        self.sse = SSEDecoder()
        self.model: str | None = None
        self.done = False

    def feed(self, data: bytes) -> list[Chunk]:
        chunks = []
        for event in self.sse.feed(data):
            if event.data == "[DONE]":
                self.done = True
                continue
            payload = json.loads(event.data)
            self.model = payload.get("model", self.model)
            for choice in payload.get("choices") or ():
                reason = choice.get("finish_reason")
                chunks.append(Chunk(text=(choice.get("delta") or {}).get("content") or "", finish_reason=reason,
                                    raw_finish_reason=reason))
        return chunks

    def finish(self) -> list[Chunk]:
        if not self.done:
            raise llmclient.StreamError("tiny-chat stream ended before [DONE]", provider=PROVIDER, kind="cut")
        return []

    def response_id_of(self, headers: Any) -> str | None:
        return None


# -- the client: reads its options, picks its auth, hands the rest to the adapter ---------------------


class TinyChatClient(llmclient.LeafClient):
    """A ``tiny-chat`` endpoint; the key comes from ``api_key`` or ``TINY_CHAT_API_KEY``."""

    def __init__(self, *, name: str = PROVIDER, runtime: Any = None, retry_policy: Any = None, auth: Any = None,
                 **options: Any) -> None:
        read = llmclient.OptionReader(options, provider=PROVIDER, client_name=name)
        base_url = read.ensure_string("base_url", required=True)
        model = read.ensure_string("model", default="tiny-1")
        key_auth = read.ensure_api_key(default_env=KEY_ENV)
        super().__init__(TinyChatAdapter(base_url, model, read.unread()), name=name, options=options,
                         auth=auth or key_auth, runtime=runtime, retry_policy=retry_policy)


# -- the schema and the row ---------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "base_url": {"$ref": "common.json#/$defs/string_or_env"},
        "model": {"$ref": "common.json#/$defs/string_or_env"},
        "api_key": {"$ref": "common.json#/$defs/string_or_env"},
        "temperature": {"type": "number"},
        "http": {"$ref": "common.json#/$defs/http"},
    },
    "required": ["base_url"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module", autouse=True)
def row() -> None:
    llmclient.register_provider(PROVIDER, TinyChatClient, SCHEMA, aliases=["tiny"], key_env=[KEY_ENV],
                                title="the tiny chat API")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(KEY_ENV, "tiny-key-0123456789")
    with FakeLLMServer(api_key="tiny-key-0123456789") as fake:
        yield fake


# -- used from every front end --------------------------------------------------------------------


def test_from_a_dict(server: FakeLLMServer) -> None:
    config = {"clients": {"T": {"provider": PROVIDER,
                                "options": {"base_url": server.openai_base_url, "temperature": 0.5}}}}
    with llmclient.load_config(config) as registry:
        reply = registry.client("T").complete("hello", max_tokens=5)
    assert reply.text == "Echo: hello" and reply.provider == PROVIDER and reply.client_name == "T"
    sent = server.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json()["temperature"] == 0.5 and sent.json()["max_tokens"] == 5 and sent.json()["model"] == "tiny-1"


def test_from_a_json_file_by_its_alias_with_retries(server: FakeLLMServer, tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({
        "clients": {"T": {"provider": "tiny", "retry_policy": "Twice",
                          "options": {"base_url": server.openai_base_url, "model": "tiny-2"}}},
        "retry_policies": {"Twice": {"max_retries": 2, "strategy": {"type": "constant_delay", "delay_ms": 1}}},
    }), encoding="utf-8")
    server.enqueue(Fault.server_error(503))
    with llmclient.load_config(path) as registry:
        reply = registry.client("T").complete("again")
    assert reply.text == "Echo: again" and reply.model == "tiny-2"
    assert [attempt.outcome for attempt in reply.attempts] == ["ProviderError", "ok"]


def test_from_a_baml_folder_in_a_fallback_and_streaming(server: FakeLLMServer, tmp_path: Path) -> None:
    (tmp_path / "clients.baml").write_text(f'''
client<llm> Dead {{
  provider openai-generic
  options {{ base_url "http://127.0.0.1:9/v1"  model m  http {{ connect_timeout_ms 500 }} }}
}}
client<llm> Tiny {{
  provider tiny-chat
  options {{
    base_url "{server.openai_base_url}"
    api_key env.{KEY_ENV}
  }}
}}
client<llm> Safe {{
  provider baml-fallback
  options {{ strategy [Dead, Tiny] }}
}}
''', encoding="utf-8")
    with llmclient.load_config(tmp_path) as registry:
        with registry.client("Safe").stream("one two three") as stream:
            text = "".join(chunk.text for chunk in stream)
    assert text == "Echo: one two three" and stream.completion.client_name == "Tiny"


def test_its_key_variable_is_what_the_row_says_and_a_missing_key_is_an_auth_error(
        server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = provider_spec("tiny")
    assert spec is not None and spec.name == PROVIDER and spec.key_env == (KEY_ENV,)
    monkeypatch.setenv(KEY_ENV, "wrong-key-0123456789")
    config = {"clients": {"T": {"provider": PROVIDER, "options": {"base_url": server.openai_base_url}}}}
    with llmclient.load_config(config) as registry, pytest.raises(llmclient.AuthError) as info:
        registry.client("T").complete("hi")
    assert info.value.status_code == 401 and "wrong-key" not in str(info.value)


# -- and it is a first-class provider in messages -------------------------------------------------


def test_its_schema_checks_its_options_at_their_paths() -> None:
    with pytest.raises(llmclient.ConfigError) as info:
        llmclient.load_config({"clients": {"T": {"provider": "tiny", "options": {"temprature": 1}}}})
    assert info.value.problems == [
        "$.clients.T.options: 'base_url' is required",
        "$.clients.T.options.temprature: unknown key 'temprature'; did you mean 'temperature'?",
    ]


def test_a_misspelt_name_suggests_it() -> None:
    with pytest.raises(llmclient.ConfigError) as info:
        llmclient.load_config({"clients": {"T": {"provider": "tiny-caht", "options": {}}}})
    [problem] = info.value.problems
    assert problem.startswith("$.clients.T.provider: unknown provider 'tiny-caht'; did you mean 'tiny-chat'?")
    assert ", tiny-chat, tiny" in problem  # its name and alias are listed with the built-in ones
