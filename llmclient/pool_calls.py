"""Calls on a runtime's shared thread pool: ``Client.submit`` and ``Client.batch``.

Why it is more than ``executor.submit``: every call on the pool carries the runtime's calls
token, so that a KeyboardInterrupt reaching any wait (a future's ``result()``, ``batch()``)
can cancel every call in flight or queued (:meth:`Runtime.interrupt`) and a script ends at
once instead of waiting for stalled requests when the interpreter joins the pool's threads.
A ``batch()`` that ends early for any reason cancels the calls it still had running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from .cancel import CancelToken
from .errors import ClientClosedError, LLMError
from .models import Completion, MessagesInput

if TYPE_CHECKING:
    from .client import Client
    from .runtime import Runtime

__all__ = ["CallFuture", "submit", "batch"]

log = logging.getLogger(__name__)


def submit(client: Client, messages: MessagesInput, params: dict[str, Any]) -> CallFuture:
    """``client.complete(messages, **params)`` on the pool, cancelled with the runtime's calls token."""
    runtime = client.runtime
    caller = params.get("cancel")
    if caller is None:
        params["cancel"] = runtime.calls_token()
        return _submit(client, messages, params, _nothing)
    params["cancel"], unlink = _linked_token(runtime.calls_token(), caller)
    return _submit(client, messages, params, unlink)


def _submit(client: Client, messages: MessagesInput, params: dict[str, Any],
            unlink: Callable[[], None]) -> CallFuture:
    future = CallFuture(client.runtime)

    def run() -> None:
        try:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(client.complete(messages, **params))
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)
        finally:
            unlink()

    try:
        queued = client.runtime.executor.submit(run)
    except RuntimeError:  # shut down between the closed check and submit
        unlink()
        raise ClientClosedError("this client was closed; create a new one") from None
    except BaseException:
        unlink()
        raise
    queued.add_done_callback(lambda done: future.cancel() if done.cancelled() else None)
    return future


def batch(client: Client, items: list[MessagesInput], *, max_workers: int | None, return_exceptions: bool,
          progress: Callable[[int, int], None] | None, params: dict[str, Any]) -> list[Completion | LLMError]:
    """What :meth:`Client.batch` does (see there)."""
    total = len(items)
    window = threading.BoundedSemaphore(max_workers or client.runtime.max_workers)
    lock = threading.Lock()
    done = [0]
    report = _reported_once(progress)
    caller = params.pop("cancel", None)
    batch_token, unlink = _linked_token(client.runtime.calls_token(), *([caller] if caller is not None else []))

    def finished(_: Future[Completion]) -> None:
        window.release()
        with lock:
            done[0] += 1
            count = done[0]
        if report is not None:
            report(count, total)

    futures: list[CallFuture] = []
    try:
        for item in items:
            window.acquire()
            future = _submit(client, item, {**params, "cancel": batch_token}, _nothing)
            future.add_done_callback(finished)
            futures.append(future)
        results: list[Completion | LLMError] = []
        for future in futures:
            error = future.exception()
            if error is None:
                results.append(future.result())
            elif isinstance(error, LLMError):
                if not return_exceptions:
                    raise error
                results.append(error)
            else:
                raise error
        return results
    except BaseException as exc:
        batch_token.cancel("the batch ended early")
        for future in futures:
            future.cancel()
        if isinstance(exc, KeyboardInterrupt):
            client.runtime.interrupt()
        raise
    finally:
        unlink()


def _reported_once(progress: Callable[[int, int], None] | None) -> Callable[[int, int], None] | None:
    """Wrap a ``batch`` progress callback: its first exception is logged as a warning, and it
    is not called again (rather than one traceback per finished call)."""
    if progress is None:
        return None
    lock = threading.Lock()
    broken = [False]

    def report(done: int, total: int) -> None:
        if broken[0]:
            return
        try:
            progress(done, total)
        except Exception:
            with lock:
                first, broken[0] = not broken[0], True
            if first:
                log.warning(
                    "batch: the progress callback raised; it will not be called again", exc_info=True)

    return report


class CallFuture(Future[Completion]):
    """The future :meth:`Client.submit` returns: a ``concurrent.futures.Future`` that knows
    its runtime, so that a KeyboardInterrupt while waiting on it interrupts the runtime's calls."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self._runtime = runtime

    def result(self, timeout: float | None = None) -> Completion:
        try:
            return super().result(timeout)
        except KeyboardInterrupt:
            self._runtime.interrupt()
            raise

    def exception(self, timeout: float | None = None) -> BaseException | None:
        try:
            return super().exception(timeout)
        except KeyboardInterrupt:
            self._runtime.interrupt()
            raise


def _linked_token(*parents: CancelToken) -> tuple[CancelToken, Callable[[], None]]:
    """A new token cancelled with any of ``parents``, and how to unlink it from them."""
    child = CancelToken()
    def relay(parent: CancelToken) -> Callable[[], None]:
        return lambda: child.cancel(parent.reason)

    unlinks = [parent.on_cancel(relay(parent)) for parent in parents]

    def unlink() -> None:
        for each in unlinks:
            each()

    return child, unlink


def _nothing() -> None:
    return None
