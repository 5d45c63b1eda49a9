"""OpenTelemetry for llmclient: every call a span, every attempt a child span, GenAI metrics.

Optional (``pip install llmclient[otel]``) and off until :func:`instrument` is called; the
core never imports OpenTelemetry. :func:`instrument` adds one event hook for the whole
process (see :mod:`llmclient.events`); it keeps each call's events until the call finishes,
then writes its spans with the times the events recorded, following the OpenTelemetry GenAI
semantic conventions:

* one span per call, ``chat {model}`` (kind INTERNAL), with ``gen_ai.operation.name``,
  ``gen_ai.provider.name`` (and the older ``gen_ai.system``), ``gen_ai.request.model``,
  ``gen_ai.response.model``, ``gen_ai.response.id``, ``gen_ai.response.finish_reasons``,
  ``gen_ai.usage.input_tokens`` / ``output_tokens``, ``llmclient.cost_usd`` when priced, and
  ``error.type`` with an ERROR status when the call failed; retries
  (``llmclient.retry``), fallbacks (``llmclient.fallback``) and hedges (``llmclient.hedge``)
  are span events on it;
* one child span per HTTP attempt, ``chat {model}`` (kind CLIENT), of whichever member made
  it, with its provider, model, ``server.address`` / ``server.port``, ``llmclient.attempt``,
  ``http.response.status_code`` and ``error.type`` when it failed;
* the histograms ``gen_ai.client.operation.duration`` (seconds) and
  ``gen_ai.client.token.usage`` (``gen_ai.token.type`` input / output).

Message content is not recorded unless ``capture_content=True``; then the request body the
first attempt sent (``gen_ai.input.messages``) and the answer's text
(``gen_ai.output.messages``) are recorded after :func:`~llmclient.redaction.redact_text`,
like every body llmclient logs. No header, key or token is ever put on a span: only the
host and port of the URL are.

A call's span is parented to the span that is current on the thread where the call ends
(for ``complete``: the caller's); a stream's when it ends.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .events import (
    AttemptFailed,
    CallFinished,
    Event,
    FallbackTaken,
    HedgeStarted,
    RequestSent,
    ResponseReceived,
    RetryScheduled,
)
from .hooks import add_process_hook, remove_process_hook
from .redaction import redact_text

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["instrument", "uninstrument", "OTelHook", "PROVIDER_NAMES"]

log = logging.getLogger(__name__)

#: llmclient's provider names as ``gen_ai.provider.name`` values (others are passed as they are).
PROVIDER_NAMES = {"openai": "openai", "openai-generic": "openai", "azure-openai": "azure.ai.openai",
                  "anthropic": "anthropic", "google-ai": "gcp.gemini", "vertex-ai": "gcp.vertex_ai",
                  "aws-bedrock": "aws.bedrock"}

#: Calls whose events are kept while they run; beyond it the oldest are dropped (a stream never closed).
MAX_PENDING_CALLS = 10_000
_MAX_CONTENT_CHARS = 16_000
_MODEL_IN_URL = re.compile(r"/models?/([^/:?]+)")
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)

_installed: OTelHook | None = None
_install_lock = threading.Lock()


def instrument(*, tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None,
               capture_content: bool = False) -> OTelHook:
    """Trace every call of every client in this process (until :func:`uninstrument`).

    Calling it again replaces the previous instrumentation.

    Args:
        tracer_provider: Where spans go; default the global one (``trace.set_tracer_provider``).
        meter_provider: Where metrics go; default the global one.
        capture_content: Record the request body and the answer's text (redacted).

    Raises:
        ImportError: ``opentelemetry-api`` is not installed (``pip install llmclient[otel]``).
    """
    global _installed
    hook = OTelHook(tracer_provider=tracer_provider, meter_provider=meter_provider, capture_content=capture_content)
    with _install_lock:
        if _installed is not None:
            remove_process_hook(_installed)
        _installed = hook
        add_process_hook(hook)
    return hook


def uninstrument() -> None:
    """Stop tracing new calls (calls already running still end their spans)."""
    global _installed
    with _install_lock:
        if _installed is not None:
            remove_process_hook(_installed)
            _installed = None


class OTelHook:
    """The event hook behind :func:`instrument`; usable alone as ``on_event=OTelHook(...)``."""

    def __init__(self, *, tracer_provider: TracerProvider | None = None,
                 meter_provider: MeterProvider | None = None, capture_content: bool = False) -> None:
        try:
            from opentelemetry import metrics, trace
        except ImportError as err:  # pragma: no cover - exercised only without the extra
            raise ImportError("llmclient.otel needs OpenTelemetry: pip install 'llmclient[otel]'") from err
        from . import __version__

        self._trace = trace
        self.tracer = trace.get_tracer("llmclient", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("llmclient", __version__, meter_provider=meter_provider)
        self.duration = _histogram(meter, "gen_ai.client.operation.duration", "s",
                                   "GenAI operation duration", _DURATION_BUCKETS)
        self.tokens = _histogram(meter, "gen_ai.client.token.usage", "{token}",
                                 "Number of input and output tokens used", _TOKEN_BUCKETS)
        self.capture_content = capture_content
        self._lock = threading.Lock()
        self._calls: OrderedDict[int, list[Event]] = OrderedDict()

    def __call__(self, event: Event) -> None:
        if not isinstance(event, CallFinished):
            if isinstance(event, (RequestSent, ResponseReceived, AttemptFailed, RetryScheduled, FallbackTaken,
                                  HedgeStarted)):
                with self._lock:
                    events = self._calls.get(event.call_id)
                    if events is None:
                        events = self._calls[event.call_id] = []
                        if len(self._calls) > MAX_PENDING_CALLS:
                            self._calls.popitem(last=False)
                    events.append(event)
            return
        with self._lock:
            events = self._calls.pop(event.call_id, [])
        self._write(events, event)

    # -- writing one finished call ---------------------------------------------------------------
    def _write(self, events: list[Event], done: CallFinished) -> None:
        trace = self._trace
        wall_ns, mono = time.time_ns(), time.monotonic()

        def ns(at: float) -> int:
            return wall_ns - int((mono - at) * 1e9)

        sent = [e for e in events if isinstance(e, RequestSent)]
        bodies = [_body(s) for s in sent]  # each request body parsed once
        models = [_request_model(s, b) for s, b in zip(sent, bodies, strict=True)]
        first_model = models[0] if sent else None
        completion, error = done.completion, done.error
        provider = completion.provider if completion is not None and completion.provider else \
            (sent[-1].provider if sent else done.provider)
        request_model = first_model or (completion.model if completion is not None else None)
        attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": _provider(provider),
                                 "gen_ai.system": _provider(provider), "llmclient.client_name": done.client_name,
                                 "llmclient.attempts": len(sent)}
        if request_model:
            attrs["gen_ai.request.model"] = request_model
        if sent:
            attrs.update(_request_params(bodies[0]))
        answered = _completion_attrs(completion) if completion is not None else {}
        attrs.update(answered)
        if completion is not None:
            if self.capture_content:
                attrs["gen_ai.output.messages"] = json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": _clip(redact_text(completion.text))}],
                      "finish_reason": completion.finish_reason}])
        if self.capture_content and sent:
            attrs["gen_ai.input.messages"] = _clip(redact_text(sent[0].body))
        if error is not None:
            attrs["error.type"] = type(error).__name__
        start = ns(done.at - done.latency_s)
        call = self.tracer.start_span(f"chat {request_model}" if request_model else "chat", start_time=start,
                                      kind=trace.SpanKind.INTERNAL, attributes=attrs)
        parent = trace.set_span_in_context(call)
        for event in events:
            if isinstance(event, RetryScheduled):
                call.add_event("llmclient.retry", {"llmclient.client_name": event.client_name,
                                                   "llmclient.retry_number": event.retry_number,
                                                   "llmclient.delay_s": event.delay_s,
                                                   "llmclient.reason": event.reason}, timestamp=ns(event.at))
            elif isinstance(event, FallbackTaken):
                call.add_event("llmclient.fallback", {"llmclient.from_client": event.from_client,
                                                      "llmclient.to_client": event.to_client,
                                                      "llmclient.reason": event.reason}, timestamp=ns(event.at))
            elif isinstance(event, HedgeStarted):
                call.add_event("llmclient.hedge", {"llmclient.to_client": event.to_client,
                                                   "llmclient.after_s": event.after_s}, timestamp=ns(event.at))
        for index, request in enumerate(sent):
            self._attempt_span(request, models[index], answered, events, done, parent, ns,
                               last=index == len(sent) - 1)
        if error is not None:
            call.set_status(trace.Status(trace.StatusCode.ERROR, error.message[:500]))
        call.end(end_time=ns(done.at))
        self._record_metrics(attrs, done)

    def _attempt_span(self, sent: RequestSent, model: str | None, answered: dict[str, Any], events: list[Event],
                      done: CallFinished, parent: Any, ns: Any, *, last: bool) -> None:
        trace = self._trace
        same = [e for e in events if getattr(e, "attempt", None) == sent.attempt
                and e.client_name == sent.client_name and e.at >= sent.at]
        answer = next((e for e in same if isinstance(e, ResponseReceived)), None)
        failure = next((e for e in same if isinstance(e, AttemptFailed)), None)
        attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": _provider(sent.provider),
                                 "llmclient.client_name": sent.client_name, "llmclient.attempt": sent.attempt}
        if model:
            attrs["gen_ai.request.model"] = model
        attrs.update(_server(sent.url))
        if answer is not None and answer.status_code is not None:
            attrs["http.response.status_code"] = answer.status_code
        completion = done.completion
        won = failure is None and completion is not None and completion.client_name == sent.client_name and last
        if won:
            attrs.update(answered)
        if failure is not None:
            attrs["error.type"] = type(failure.error).__name__
        if failure is not None:
            end = failure.at
        elif sent.stream and won:
            end = done.at
        elif answer is not None:
            end = answer.at
        else:
            end = done.at
        span: Span = self.tracer.start_span(f"chat {model}" if model else "chat", context=parent,
                                            start_time=ns(sent.at), kind=trace.SpanKind.CLIENT, attributes=attrs)
        if failure is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, failure.error.message[:500]))
        elif done.error is not None and last and answer is None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, done.error.message[:500]))
        span.end(end_time=ns(max(end, sent.at)))

    def _record_metrics(self, attrs: dict[str, Any], done: CallFinished) -> None:
        keys = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model",
                "error.type")
        common = {k: attrs[k] for k in keys if k in attrs}
        self.duration.record(done.latency_s, common)
        usage = done.completion.usage if done.completion is not None else None
        if usage is not None and usage.known:
            self.tokens.record(usage.input_tokens, {**common, "gen_ai.token.type": "input"})
            self.tokens.record(usage.output_tokens, {**common, "gen_ai.token.type": "output"})


def _histogram(meter: Any, name: str, unit: str, description: str, buckets: tuple[float, ...]) -> Any:
    try:
        return meter.create_histogram(name, unit=unit, description=description,
                                      explicit_bucket_boundaries_advisory=list(buckets))
    except TypeError:  # an API older than 1.23 takes no bucket advice
        return meter.create_histogram(name, unit=unit, description=description)


def _provider(name: str) -> str:
    return PROVIDER_NAMES.get(name, name)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_CONTENT_CHARS else text[:_MAX_CONTENT_CHARS] + "...[truncated]"


def _body(sent: RequestSent) -> dict[str, Any]:
    try:
        parsed = json.loads(sent.body) if sent.body else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _request_model(sent: RequestSent, body: dict[str, Any]) -> str | None:
    """The model a request asked for: the body's ``model``, else the URL's (Gemini, Vertex, Bedrock)."""
    model = body.get("model")
    if isinstance(model, str) and model:
        return model
    found = _MODEL_IN_URL.search(urlsplit(sent.url).path)
    return found.group(1) if found else None


def _request_params(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("generationConfig") or body.get("inferenceConfig") or {}
    out: dict[str, Any] = {}
    for attr, names in (("gen_ai.request.max_tokens", ("max_tokens", "max_completion_tokens", "max_output_tokens",
                                                         "maxOutputTokens", "maxTokens")),
                        ("gen_ai.request.temperature", ("temperature",)), ("gen_ai.request.top_p", ("top_p", "topP"))):
        for name in names:
            value = body.get(name, config.get(name) if isinstance(config, dict) else None)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[attr] = value
                break
    return out


def _completion_attrs(completion: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if completion.model:
        out["gen_ai.response.model"] = completion.model
    if completion.response_id:
        out["gen_ai.response.id"] = completion.response_id
    if completion.finish_reason:
        out["gen_ai.response.finish_reasons"] = [completion.finish_reason]
    usage = completion.usage
    if usage.known:
        out["gen_ai.usage.input_tokens"] = usage.input_tokens
        out["gen_ai.usage.output_tokens"] = usage.output_tokens
    cost = completion.cost
    if cost is not None:
        out["llmclient.cost_usd"] = float(cost)
    return out


def _server(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    out: dict[str, Any] = {}
    if parts.hostname:
        out["server.address"] = parts.hostname
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None and parts.scheme in ("http", "https"):
        port = 443 if parts.scheme == "https" else 80
    if port is not None:
        out["server.port"] = port
    return out
