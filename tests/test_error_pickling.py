"""Every LLMError subclass survives pickling (Dask and multiprocessing ship errors between processes).

The classes are discovered: every module of llmclient is imported and every subclass of
LLMError found is tested, so a new error class is covered the day it is written.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import io
import pickle
import pkgutil
from typing import Any

import pytest

import llmclient
from llmclient.errors import LLMError, LLMTimeoutError, ProviderError
from llmclient.models import Attempt, Completion, Usage

#: Values for the required constructor arguments of the error classes (add one for a new argument).
SAMPLES: dict[str, Any] = {
    "message": "boom",
    "kind": "idle",
    "finish_reason": "content_filter",
    "path": "input.jsonl",
    "duplicates": {"a": [1, 3], 7: [2, 9]},
}

#: The attributes every error carries, each set to a value that is not its default.
COMMON: dict[str, Any] = {
    "provider": "openai", "client_name": "GPT4", "status_code": 503, "request_id": "req_42",
    "retryable": True, "retry_after": 1.5, "body": '{"error": "x"}', "code": "server_error",
}


def _all_error_classes() -> list[type[LLMError]]:
    for info in pkgutil.walk_packages(llmclient.__path__, "llmclient."):
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional dependency (dask...) that is not installed
            continue
    found: list[type[LLMError]] = []
    todo = [LLMError]
    while todo:
        cls = todo.pop()
        if cls not in found:
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return sorted((c for c in found if c.__module__.startswith("llmclient")), key=lambda c: c.__qualname__)


def _build(cls: type[LLMError]) -> LLMError:
    signature = inspect.signature(cls.__init__)
    params = list(signature.parameters.values())[1:]
    takes_context = any(p.kind is p.VAR_KEYWORD for p in params)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in params:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.name in COMMON:
            kwargs[p.name] = COMMON[p.name]
            continue
        if p.default is not p.empty:
            continue
        assert p.name in SAMPLES, f"{cls.__name__}: add a sample value for its argument {p.name!r}"
        if p.kind is p.POSITIONAL_ONLY or (p.kind is p.POSITIONAL_OR_KEYWORD and not kwargs):
            args.append(SAMPLES[p.name])
        else:
            kwargs[p.name] = SAMPLES[p.name]
    if takes_context:
        kwargs.update({k: v for k, v in COMMON.items() if k not in kwargs})
    error = cls(*args, **kwargs)
    for name, value in COMMON.items():  # also for a constructor that takes none of them
        setattr(error, name, value)
    error.should_retry = False
    return error


def _fill_specific(error: LLMError) -> None:
    """Give the attributes of particular classes non-default values (lists of errors, a completion...)."""
    if hasattr(error, "partial_text"):
        error.partial_text = "Hel"
    if hasattr(error, "completion"):
        error.completion = Completion("refused", finish_reason="content_filter", usage=Usage(3, 4),
                                      attempts=(Attempt("GPT4", "openai", 0.25, None, 200),))
    if hasattr(error, "errors"):
        error.errors = [ProviderError("a", status_code=500), LLMTimeoutError("b", kind="request")]
    if hasattr(error, "attempts"):
        error.attempts = [Attempt("A", "openai", 0.1, LLMTimeoutError("b", kind="first_token"), None),
                          Attempt("B", "anthropic", 0.2, None, 200)]


def _same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, BaseException):
        assert type(b) is type(a), where
        assert b.args == a.args and str(b) == str(a) and repr(b) == repr(a), where
        assert set(vars(b)) == set(vars(a)), where
        for key, value in vars(a).items():
            _same(value, vars(b)[key], f"{where}.{key}")
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(b) is type(a), where
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, (list, tuple)):
        assert type(b) is type(a) and len(b) == len(a), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert b == a, where


def _plain_round_trip(value: Any, protocol: int) -> Any:
    """Pickle with the interpreter's own rules: importing dask installs tblib's reducers for every
    exception in ``copyreg``, which would hide what a process without dask does."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=protocol)
    pickler.dispatch_table = {}  # type: ignore[misc]
    pickler.dump(value)
    return pickle.loads(buffer.getvalue())


ERROR_CLASSES = _all_error_classes()


def test_discovery_finds_the_tree_and_the_errors_defined_elsewhere() -> None:
    names = {c.__name__ for c in ERROR_CLASSES}
    assert set(llmclient.errors.__all__) <= names
    assert "DuplicateIdError" in names  # defined in llmclient/batch/jsonl.py


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__qualname__)
def test_every_error_survives_a_pickle_round_trip(cls: type[LLMError]) -> None:
    error = _build(cls)
    _fill_specific(error)
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        for copy in (_plain_round_trip(error, protocol), pickle.loads(pickle.dumps(error, protocol=protocol))):
            _same(error, copy, cls.__name__)
            assert copy.message == error.message and str(copy) == str(error)


def test_a_pickled_error_keeps_its_specific_attributes() -> None:
    error = _plain_round_trip(LLMTimeoutError("slow", kind="first_token", provider="openai"), 4)
    assert (type(error), error.kind, error.provider, error.retryable) == (LLMTimeoutError, "first_token", "openai",
                                                                           True)
    refused = llmclient.FinishReasonError("no", finish_reason="length", completion=Completion("x"))
    copy = _plain_round_trip(refused, 4)
    assert copy.finish_reason == "length" and copy.completion == Completion("x")
    problems = llmclient.ConfigError("2 problems", problems=["a: bad", "b: worse"])
    copy_problems = _plain_round_trip(problems, 4)
    assert str(copy_problems) == str(problems) and copy_problems.problems == ["a: bad", "b: worse"]
