"""The Client contract: Stream, StreamAccumulator, chunks_of, submit and batch (on a scripted client)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from llmclient import (
    CallContext,
    ChatRequest,
    Chunk,
    Client,
    Completion,
    InvalidRequestError,
    LLMError,
    ProviderError,
    Runtime,
    Stream,
    StreamError,
    ToolCall,
    Usage,
)
from llmclient.models import ToolCallDelta
from llmclient.stream import StreamAccumulator, chunks_of


class Scripted(Client):
    """Answers "re: <prompt>", fails on prompts starting with "fail", tracks concurrency."""

    def __init__(self, delay: float = 0.0, runtime: Runtime | None = None) -> None:
        super().__init__(name="scripted", provider="test", runtime=runtime)
        self.delay = delay
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def invoke(self, request: ChatRequest, context: CallContext) -> Completion:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            if self.delay:
                time.sleep(self.delay)
            prompt = request.messages[-1].text
            if prompt.startswith("fail"):
                raise ProviderError(f"failed on {prompt}", status_code=500)
            if prompt.startswith("crash"):
                raise ValueError("not an LLMError")
            return Completion(f"re: {prompt}", client_name=self.name, provider=self.provider)
        finally:
            with self._lock:
                self.active -= 1

    def open_stream(self, request: ChatRequest, context: CallContext) -> Stream:
        completion = self.invoke(request, context)
        return Stream(iter(chunks_of(completion)), finish=lambda acc: completion, close=lambda: None)


# -- StreamAccumulator ---------------------------------------------------------------------------
def test_accumulator_joins_text_tool_calls_refusal_thinking_finish_and_usage() -> None:
    acc = StreamAccumulator()
    assert not acc.has_content
    for chunk in [
        Chunk(thinking="let me "), Chunk(thinking="think"),
        Chunk(text="Hel"), Chunk(text="lo"),
        Chunk(tool_calls=(ToolCallDelta(0, "call_a", "get_weather", '{"ci'),)),
        Chunk(tool_calls=(ToolCallDelta(1, "call_b", "get_time", ""), ToolCallDelta(0, None, None, 'ty":"Oslo"}'))),
        Chunk(tool_calls=(ToolCallDelta(1, None, None, '{"tz":"CET"}'),)),
        Chunk(refusal="no"),
        Chunk(finish_reason="tool_calls", raw_finish_reason="tool_calls"),
        Chunk(usage=Usage(3, 4, 7)),
    ]:
        acc.add(chunk)
    assert acc.has_content and acc.text == "Hello"
    completion = acc.completion(model="m", client_name="c")
    assert completion.text == "Hello" and completion.thinking == "let me think" and completion.refusal == "no"
    assert completion.tool_calls == (ToolCall("call_a", "get_weather", {"city": "Oslo"}, '{"city":"Oslo"}'),
                                     ToolCall("call_b", "get_time", {"tz": "CET"}, '{"tz":"CET"}'))
    assert (completion.finish_reason, completion.raw_finish_reason) == ("tool_calls", "tool_calls")
    assert completion.usage == Usage(3, 4, 7) and completion.model == "m" and completion.client_name == "c"


def test_accumulator_defaults() -> None:
    completion = StreamAccumulator().completion()
    assert completion == Completion("", usage=Usage())
    assert completion.refusal is None and completion.thinking is None


def test_chunks_of_round_trips_a_completion() -> None:
    original = Completion("text", "stop", "end_turn", (ToolCall("i", "f", {"a": 1}),), Usage(1, 2, 3),
                          refusal="r", thinking="t")
    acc = StreamAccumulator()
    for chunk in chunks_of(original):
        acc.add(chunk)
    rebuilt = acc.completion()
    assert (rebuilt.text, rebuilt.finish_reason, rebuilt.raw_finish_reason, rebuilt.usage) == (
        "text", "stop", "end_turn", Usage(1, 2, 3))
    assert rebuilt.tool_calls[0].arguments == {"a": 1} and rebuilt.refusal == "r" and rebuilt.thinking == "t"


# -- Stream ---------------------------------------------------------------------------------------
class Tracker:
    def __init__(self) -> None:
        self.closed = 0
        self.finished: list[StreamAccumulator] = []

    def close(self) -> None:
        self.closed += 1

    def finish(self, acc: StreamAccumulator) -> Completion:
        self.finished.append(acc)
        return acc.completion(client_name="x")


def make_stream(chunks: Iterator[Chunk], tracker: Tracker) -> Stream:
    return Stream(chunks, finish=tracker.finish, close=tracker.close)


def test_stream_iterates_then_gives_the_completion_and_closes_once() -> None:
    tracker = Tracker()
    stream = make_stream(iter([Chunk("a"), Chunk("b"), Chunk(raw_finish_reason="stop", finish_reason="stop")]),
                         tracker)
    assert iter(stream) is stream
    assert [c.text for c in stream] == ["a", "b", ""]
    assert stream.text == "ab"
    assert stream.completion.text == "ab" and stream.completion.finish_reason == "stop"
    assert stream.completion is stream.completion
    assert list(stream) == []
    assert tracker.closed == 1 and len(tracker.finished) == 1
    stream.close()
    assert tracker.closed == 1


def test_completion_reads_the_rest_first() -> None:
    tracker = Tracker()
    stream = make_stream(iter([Chunk("a"), Chunk("b"), Chunk("c")]), tracker)
    assert next(stream).text == "a"
    assert stream.completion.text == "abc"


def test_context_manager_closes_early_and_completion_then_fails() -> None:
    tracker = Tracker()
    produced = []

    def chunks() -> Iterator[Chunk]:
        for i in range(100):
            produced.append(i)
            yield Chunk(str(i))

    with make_stream(chunks(), tracker) as stream:
        assert next(stream).text == "0"
    assert tracker.closed == 1 and produced == [0]
    assert list(stream) == []
    with pytest.raises(StreamError, match="closed before") as info:
        _ = stream.completion
    assert info.value.partial_text == "0"


def test_error_before_content_passes_through_unchanged() -> None:
    tracker = Tracker()

    def chunks() -> Iterator[Chunk]:
        yield Chunk(usage=Usage(1, 0, 1))
        raise ProviderError("boom", status_code=503)

    stream = make_stream(chunks(), tracker)
    next(stream)
    with pytest.raises(ProviderError) as info:
        next(stream)
    assert type(info.value) is ProviderError and tracker.closed == 1


def test_error_after_content_becomes_stream_error_with_partial_text_and_cause() -> None:
    tracker = Tracker()
    cause = ProviderError("connection lost", provider="openai", client_name="c", status_code=500, request_id="r")

    def chunks() -> Iterator[Chunk]:
        yield Chunk("Hel")
        yield Chunk("lo")
        raise cause

    stream = make_stream(chunks(), tracker)
    with pytest.raises(StreamError) as info:
        list(stream)
    err = info.value
    assert err.partial_text == "Hello" and err.__cause__ is cause
    assert (err.provider, err.client_name, err.status_code, err.request_id) == ("openai", "c", 500, "r")
    assert err.retryable is False and "connection lost" in str(err)
    assert tracker.closed == 1


def test_a_stream_error_is_not_wrapped_twice_and_other_exceptions_close() -> None:
    tracker = Tracker()
    original = StreamError("already", partial_text="x")

    def chunks() -> Iterator[Chunk]:
        yield Chunk("x")
        raise original

    with pytest.raises(StreamError) as info:
        list(make_stream(chunks(), tracker))
    assert info.value is original

    tracker2 = Tracker()

    def broken() -> Iterator[Chunk]:
        raise KeyboardInterrupt
        yield Chunk("never")  # pragma: no cover

    with pytest.raises(KeyboardInterrupt):
        list(make_stream(broken(), tracker2))
    assert tracker2.closed == 1


def test_a_failing_finish_still_closes_the_stream() -> None:
    tracker = Tracker()

    def refuse(acc: StreamAccumulator) -> Completion:
        raise LLMError("refused")

    stream = Stream(iter([Chunk("a")]), finish=refuse, close=tracker.close)
    with pytest.raises(LLMError, match="refused"):
        list(stream)
    assert tracker.closed == 1


def test_client_stream_and_complete_normalise_messages() -> None:
    with Scripted() as client:
        assert client.complete("hello").text == "re: hello"
        assert client.complete([{"role": "user", "content": "dict"}]).text == "re: dict"
        with client.stream("streamed") as stream:
            assert "".join(c.text for c in stream) == "re: streamed"
        with pytest.raises(InvalidRequestError):
            client.complete([])
        assert repr(client) == "<Scripted 'scripted' provider='test'>"


def test_call_context_remaining() -> None:
    assert CallContext().remaining() is None
    remaining = CallContext(deadline=time.monotonic() + 10).remaining()
    assert remaining is not None and 9 < remaining <= 10


# -- submit and batch ----------------------------------------------------------------------------
def test_submit_returns_a_future() -> None:
    with Scripted() as client:
        future = client.submit("async")
        assert isinstance(future, Future)
        assert future.result(timeout=5).text == "re: async"
        failing = client.submit("fail now")
        assert isinstance(failing.exception(timeout=5), ProviderError)


def test_batch_keeps_input_order() -> None:
    with Scripted(delay=0.001) as client:
        prompts = [f"p{i}" for i in range(50)]
        results = client.batch(prompts)
    assert [r.text for r in results if isinstance(r, Completion)] == [f"re: p{i}" for i in range(50)]


def _recorder(calls: list[tuple[int, int]]) -> Any:
    return lambda done, total: calls.append((done, total))


def test_batch_results_are_complete_when_it_returns() -> None:
    # Instant calls race the done-callbacks: every slot and every progress call must be in when batch returns.
    with Scripted() as client:
        for _ in range(20):
            calls: list[tuple[int, int]] = []
            results = client.batch([f"q{i}" for i in range(64)], progress=_recorder(calls))
            assert all(isinstance(r, Completion) for r in results)
            assert len(calls) == 64 and calls[-1] == (64, 64)


def test_batch_return_exceptions_true_puts_errors_in_their_slots() -> None:
    with Scripted() as client:
        results = client.batch(["a", "fail b", "c"])
    assert isinstance(results[0], Completion) and results[0].text == "re: a"
    assert isinstance(results[1], ProviderError) and "fail b" in str(results[1])
    assert isinstance(results[2], Completion) and results[2].text == "re: c"


def test_batch_lets_a_bug_that_is_not_an_llm_error_propagate() -> None:
    with Scripted() as client, pytest.raises(ValueError, match="not an LLMError"):
        client.batch(["a", "crash d"])


def test_batch_return_exceptions_false_raises_the_first_error() -> None:
    with Scripted() as client, pytest.raises(ProviderError, match="fail 1"):
        client.batch(["ok", "fail 1", "fail 2"], return_exceptions=False)


def test_batch_progress_counts_every_call() -> None:
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def progress(done: int, total: int) -> None:
        with lock:
            seen.append((done, total))

    with Scripted(delay=0.002) as client:
        client.batch([f"x{i}" for i in range(20)], progress=progress)
    assert sorted(seen) == [(i, 20) for i in range(1, 21)]


def test_batch_max_workers_bounds_concurrency() -> None:
    client = Scripted(delay=0.02)
    with client:
        client.batch([f"x{i}" for i in range(24)], max_workers=3)
        assert 1 <= client.peak <= 3
        client.peak = 0
        client.batch([f"x{i}" for i in range(24)], max_workers=8)
        assert 3 < client.peak <= 8


def test_batch_default_bound_is_the_pool_size() -> None:
    runtime = Runtime(max_workers=4)
    client = Scripted(delay=0.02, runtime=runtime)
    client.batch([f"x{i}" for i in range(16)])
    assert client.peak <= 4
    client.close()  # does not own the runtime
    assert not runtime.closed
    runtime.close()
    assert runtime.closed


def test_batch_passes_params_and_handles_empty_input() -> None:
    seen: list[Any] = []

    class Params(Scripted):
        def invoke(self, request: ChatRequest, context: CallContext) -> Completion:
            seen.append(dict(request.params))
            return super().invoke(request, context)

    with Params() as client:
        assert client.batch([]) == []
        client.batch(["a"], temperature=0.1)
    assert seen == [{"temperature": 0.1}]
