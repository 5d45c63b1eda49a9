"""OpenTelemetry: a span per call, a child span per attempt, GenAI attributes and metrics, no credentials.

Uses the OpenTelemetry SDK's in-memory exporter and metric reader (the ``otel`` extra, in ``test``).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import llmclient
from llmclient import otel
from llmclient.errors import LLMError
from llmclient.hooks import PROCESS_HOOKS
from llmclient.retry import RetryPolicy
from llmclient.strategies.fallback import FallbackClient
from llmclient.testing import FakeLLMServer, Fault

KEY = "sk-otel-secret-0123456789abcdef"


class Telemetry:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)
        return out


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    otel.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    yield t
    otel.uninstrument()


def _client(server: FakeLLMServer, name: str = "gpt", model: str = "gpt-4o", **kw: Any) -> llmclient.OpenAIClient:
    return llmclient.OpenAIClient(model, base_url=server.openai_base_url, api_key=KEY, name=name, **kw)


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return sorted((s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id),
                  key=lambda s: s.start_time or 0)


def test_a_call_is_a_span_with_one_child_per_attempt(telemetry: Telemetry, fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.server_error(500))
    with _client(fake_llm_server, retry_policy=RetryPolicy(max_retries=2, delay_ms=0)) as client:
        reply = client.complete("hi", max_tokens=7, temperature=0.5)
    spans = telemetry.spans()
    (call,) = [s for s in spans if s.parent is None]
    assert call.name == "chat gpt-4o" and call.kind == SpanKind.INTERNAL
    a = call.attributes
    assert a is not None
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o" and a["gen_ai.response.model"] == reply.model
    assert a["gen_ai.usage.input_tokens"] == reply.usage.input_tokens
    assert a["gen_ai.usage.output_tokens"] == reply.usage.output_tokens
    assert tuple(a["gen_ai.response.finish_reasons"]) == (reply.finish_reason,)
    assert a["gen_ai.request.max_tokens"] == 7 and a["gen_ai.request.temperature"] == 0.5
    assert a["llmclient.cost_usd"] == pytest.approx(float(reply.cost))
    assert call.status.status_code != StatusCode.ERROR
    assert [e.name for e in call.events] == ["llmclient.retry"]

    first, second = _children(spans, call)
    assert first.kind == SpanKind.CLIENT and first.name == "chat gpt-4o"
    assert first.attributes["error.type"] == "ProviderError" and first.status.status_code == StatusCode.ERROR
    assert first.attributes["http.response.status_code"] == 500
    assert second.attributes["http.response.status_code"] == 200 and "error.type" not in second.attributes
    assert second.attributes["server.address"] == "127.0.0.1"
    assert [first.attributes["llmclient.attempt"], second.attributes["llmclient.attempt"]] == [1, 2]
    assert call.start_time <= first.start_time <= first.end_time <= second.start_time <= call.end_time


def test_a_fallback_calls_attempts_are_children_across_members(telemetry: Telemetry,
                                                               fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.server_error(503), match="gpt-4o")
    primary = _client(fake_llm_server, "primary", "gpt-4o")
    backup = _client(fake_llm_server, "backup", "gpt-4o-mini")
    with FallbackClient([primary, backup], name="resilient") as chain:
        chain.complete("hi")
    spans = telemetry.spans()
    (call,) = [s for s in spans if s.parent is None]
    assert call.attributes["llmclient.client_name"] == "resilient"
    assert call.attributes["gen_ai.response.model"] == "gpt-4o-mini"
    members = _children(spans, call)
    assert [m.attributes["llmclient.client_name"] for m in members] == ["primary", "backup"]
    assert [m.attributes["gen_ai.request.model"] for m in members] == ["gpt-4o", "gpt-4o-mini"]
    assert all(m.context.trace_id == call.context.trace_id for m in members)
    (fallback,) = [e for e in call.events if e.name == "llmclient.fallback"]
    assert fallback.attributes["llmclient.from_client"] == "primary"
    assert fallback.attributes["llmclient.to_client"] == "backup"


def test_a_failed_call_has_error_status_and_type(telemetry: Telemetry, fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.enqueue(Fault.status(400))
    with _client(fake_llm_server) as client, pytest.raises(LLMError):
        client.complete("hi")
    (call,) = [s for s in telemetry.spans() if s.parent is None]
    assert call.status.status_code == StatusCode.ERROR
    assert call.attributes["error.type"] == "InvalidRequestError"
    points = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert points[0].attributes["error.type"] == "InvalidRequestError"


def test_streams_and_the_genai_metrics(telemetry: Telemetry, fake_llm_server: FakeLLMServer) -> None:
    with _client(fake_llm_server) as client:
        with client.stream("one two three", stream_options={"include_usage": True}) as stream:
            list(stream)
        client.complete("again")
    calls = [s for s in telemetry.spans() if s.parent is None]
    assert len(calls) == 2
    metrics = telemetry.metrics()
    (duration,) = [p for p in metrics["gen_ai.client.operation.duration"]
                   if p.attributes["gen_ai.request.model"] == "gpt-4o"]
    assert duration.count == 2
    kinds = {p.attributes["gen_ai.token.type"]: p for p in metrics["gen_ai.client.token.usage"]}
    assert set(kinds) == {"input", "output"} and kinds["input"].count == 2 and kinds["input"].sum > 0


def test_no_content_by_default_and_redacted_content_when_asked(fake_llm_server: FakeLLMServer) -> None:
    t = Telemetry()
    otel.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    try:
        with _client(fake_llm_server) as client:
            client.complete("my secret plan")
        otel.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider, capture_content=True)
        with _client(fake_llm_server) as client:
            client.complete(f"the key is {KEY}")
    finally:
        otel.uninstrument()
    plain, captured = sorted((s for s in t.spans() if s.parent is None), key=lambda s: s.start_time or 0)
    assert "gen_ai.input.messages" not in plain.attributes and "gen_ai.output.messages" not in plain.attributes
    assert "my secret plan" not in json.dumps({k: str(v) for s in t.spans() for k, v in s.attributes.items()})
    assert "the key is" in captured.attributes["gen_ai.input.messages"]
    assert json.loads(captured.attributes["gen_ai.output.messages"])[0]["role"] == "assistant"
    everything = json.dumps([{k: str(v) for k, v in s.attributes.items()} for s in t.spans()]
                            + [e.name for s in t.spans() for e in s.events])
    assert KEY not in everything and "Bearer" not in everything


def test_uninstrument_stops_tracing_and_leaves_no_hook(fake_llm_server: FakeLLMServer) -> None:
    t = Telemetry()
    hook = otel.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    otel.uninstrument()
    from llmclient import hooks

    assert hook not in hooks.PROCESS_HOOKS and PROCESS_HOOKS == ()
    with _client(fake_llm_server) as client:
        client.complete("hi")
    assert t.spans() == []


def test_the_core_does_not_import_opentelemetry() -> None:
    import subprocess
    import sys

    code = ("import llmclient, llmclient.events, llmclient.strategies.fallback, sys\n"
            "print([m for m in sys.modules if m.startswith('opentelemetry')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
