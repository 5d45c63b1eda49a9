"""The Dask batch runner: the same JSONL job spread over a Dask cluster the user already runs.

The driver reads the input, sends small partitions of lines to workers as tasks, and writes
every record itself as partitions complete, with the same resume guarantees as the
one-machine runner. The config travels as data; each worker process builds its registry once
(cached by a hash of the config), so sessions and pools are never pickled. A cluster-wide cap
on calls in flight uses ``distributed.Semaphore``. A task is a pure function of its lines:
when a worker dies, Dask reruns its unfinished partitions elsewhere, and no finished
partition is lost because its records were already written. Needs ``llmclient[dask]``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from ..config.loader import ConfigSource
from ..config.registry import Registry
from ..errors import ConfigError
from ..ratelimit import RateLimiter
from ..runtime import Runtime
from .jsonl import InputLine, OutputFile, PathLike, dumps, estimate_tokens, prepare_output, read_input
from .progress import BatchSummary, LineResult, Progress, Tally
from .records import check_output_format, input_error_record
from .runner import BatchControl, check_arguments, execute_line

__all__ = ["run_dask", "run_partition"]

log = logging.getLogger(__name__)

try:
    #: ``distributed`` (untyped), imported by name so that type checks need no stubs for it.
    _dd: Any = importlib.import_module("distributed")
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("llmclient.batch.run_dask needs Dask: pip install 'llmclient[dask]'") from exc

#: Per worker process: config hash -> (registry, rate limiter). Never pickled.
_WORKER_STATE: dict[str, tuple[Registry, RateLimiter | None]] = {}
_WORKER_LOCK = threading.Lock()


def _worker_state(config: Mapping[str, Any], key: str, pool: int, rpm: float | None,
                  tpm: float | None) -> tuple[Registry, RateLimiter | None]:
    with _WORKER_LOCK:
        state = _WORKER_STATE.get(key)
        if state is None:
            limiter = RateLimiter(rpm, tpm) if rpm or tpm else None
            state = _WORKER_STATE[key] = (Registry(config, runtime=Runtime(max_workers=pool)), limiter)
        return state


def run_partition(config: Mapping[str, Any], key: str, client_name: str, items: list[InputLine], *,
                  params: Mapping[str, Any] | None = None, threads: int = 8, semaphore_name: str | None = None,
                  max_concurrency: int = 0, pool: int = 32, requests_per_minute: float | None = None,
                  tokens_per_minute: float | None = None, output_format: str = "llmclient") -> list[LineResult]:
    """Run one partition's lines on a worker; returns their results (the task Dask runs, idempotent).

    At most ``threads`` calls of this partition are in flight, each holding a lease of the
    cluster-wide semaphore ``semaphore_name`` (acquired and released on the task's own thread;
    built here, not unpickled, so that its leases are refreshed while held).
    """
    registry, limiter = _worker_state(config, key, pool, requests_per_minute, tokens_per_minute)
    semaphore = _dd.Semaphore(max_leases=max_concurrency, name=semaphore_name) if semaphore_name else None
    client = registry.client(client_name)
    executor = registry.runtime.executor
    results: list[LineResult] = []
    pending: set[Future[LineResult]] = set()

    def collect(block: bool) -> None:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED) if block else (
            {f for f in pending if f.done()}, None)
        for future in finished:
            pending.discard(future)
            results.append(future.result())
            if semaphore is not None:
                semaphore.release()

    for item in items:
        while len(pending) >= threads:
            collect(True)
        collect(False)
        estimate = estimate_tokens(item.messages, {**(params or {}), **item.params})
        if limiter is not None:
            limiter.acquire(estimate, wait=_pause)
        # Poll, so that the leases of calls finishing meanwhile are given back (no deadlock
        # between partitions each holding leases of finished calls while waiting for one more).
        while semaphore is not None and not semaphore.acquire(timeout=0.05):
            collect(False)
        pending.add(executor.submit(execute_line, client, item, params=params, limiter=limiter, estimate=estimate,
                                    output_format=output_format))
    try:
        while pending:
            collect(True)
    finally:
        refresh = getattr(semaphore, "refresh_callback", None)
        if refresh is not None:
            refresh.stop()
    return results


def _pause(seconds: float) -> None:
    """Wait without the runtime (a plain timed wait on a private event)."""
    threading.Event().wait(seconds)


def _canonical(config: ConfigSource) -> tuple[dict[str, Any], str]:
    from ..config.canonical import canonicalize
    from ..config.loader import read_config
    from ..config.schema import validate_config

    if isinstance(config, Registry):
        raise ConfigError("run_dask takes the config as data (a dict or a path), not a Registry: "
                          "each worker builds its own clients from it")
    raw, name = read_config(config)
    validate_config(raw, source=name)
    return canonicalize(raw), name


def _partitions(input: PathLike, done: Any, size: int, on_malformed: Any) -> Iterator[list[InputLine]]:
    chunk: list[InputLine] = []
    for item in read_input(input):
        if done.has(item):
            continue
        if item.problem is not None:
            on_malformed(item)
            continue
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_dask(config: ConfigSource, input: PathLike, output: PathLike, *, client: Any, client_name: str,
             partitions: int | None = None, partition_size: int = 50, max_concurrency: int | None = None,
             threads_per_partition: int = 8, requests_per_minute: float | None = None,
             tokens_per_minute: float | None = None, params: Mapping[str, Any] | None = None,
             max_pending: int | None = None, retries: int = 3, progress: bool | None = None,
             progress_every: float = 10.0, control: BatchControl | None = None,
             handle_sigint: bool = True, retry_failed: bool = False, output_format: str = "llmclient") -> BatchSummary:
    """Run every line of a JSONL input on a Dask cluster, appending records to one output file.

    Same input and output formats, resume rules and Ctrl-C behaviour as :func:`llmclient.batch.run`;
    only this process writes the output.

    Args:
        config: The config as data: a dict, or a ``.json``/``.baml`` path read here (workers
            need not see the file). Secrets should be ``{"env": ...}`` references that each
            worker resolves from its own environment.
        input: The JSONL input.
        output: The JSONL output (created, or resumed when it exists).
        client: A connected ``distributed.Client``, or a scheduler address to connect to
            (and disconnect from at the end).
        client_name: The llmclient client (by config name) to run each line through.
        partitions: Split the remaining lines into about this many partitions (default:
            ``partition_size`` lines each). Small partitions lose less work to a dead worker.
        partition_size: Lines per partition when ``partitions`` is not given.
        max_concurrency: Cluster-wide cap on calls in flight (a ``distributed.Semaphore``).
        threads_per_partition: Calls in flight within one partition.
        requests_per_minute: Request budget, split evenly between the workers present at start.
        tokens_per_minute: Token budget, split the same way.
        params: Call parameters for every line (a line's own ``params`` win).
        max_pending: Partitions submitted and not yet written (default: 2 per worker thread),
            which bounds the driver's memory.
        retries: Times Dask reruns a failed partition (a lost worker does not count).
        progress: As for :func:`llmclient.batch.run`.
        progress_every: Seconds between progress log lines.
        control: Stop or cancel the run from another thread.
        handle_sigint: Make Ctrl-C stop (then cancel) the run.
        retry_failed: Redo the lines whose record is a failure, as for :func:`llmclient.batch.run`.
        output_format: ``"llmclient"`` or ``"openai"``, as for :func:`llmclient.batch.run`.

    Raises:
        ValueError: A bad number (``max_concurrency`` < 1...) or output format.
        DuplicateIdError: Some ids repeat in the input (before any task is sent).
        ConfigError: A bad config, or a client name it does not define.
    """
    check_arguments(partitions=partitions, partition_size=partition_size, max_concurrency=max_concurrency,
                    threads_per_partition=threads_per_partition, requests_per_minute=requests_per_minute,
                    tokens_per_minute=tokens_per_minute, max_pending=max_pending, retries=retries,
                    progress_every=progress_every)
    check_output_format(output_format)
    if isinstance(client, str):
        with _dd.Client(client) as connected:
            return run_dask(config, input, output, client=connected, client_name=client_name, partitions=partitions,
                            partition_size=partition_size, max_concurrency=max_concurrency,
                            threads_per_partition=threads_per_partition, requests_per_minute=requests_per_minute,
                            tokens_per_minute=tokens_per_minute, params=params, max_pending=max_pending,
                            retries=retries, progress=progress, progress_every=progress_every, control=control,
                            handle_sigint=handle_sigint, retry_failed=retry_failed, output_format=output_format)
    started = time.monotonic()
    canonical, source = _canonical(config)
    if client_name not in (canonical.get("clients") or {}) and "/" not in client_name:
        raise ConfigError(f"{source}: no client named {client_name!r}")
    key = hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()
    control = control or BatchControl()
    done, scan = prepare_output(input, output, retry_failed=retry_failed)
    todo = scan.lines - scan.done - scan.malformed
    size = max(1, math.ceil(todo / partitions)) if partitions else max(1, partition_size)
    nthreads = client.nthreads()
    n_workers, total_threads = max(1, len(nthreads)), max(1, sum(nthreads.values()))
    max_pending = max_pending or 2 * total_threads
    share = {"requests_per_minute": requests_per_minute / n_workers if requests_per_minute else None,
             "tokens_per_minute": tokens_per_minute / n_workers if tokens_per_minute else None}
    semaphore = (_dd.Semaphore(max_leases=max_concurrency, name=f"llmclient-batch-{uuid.uuid4().hex}",
                           scheduler_rpc=client.scheduler, loop=client.loop) if max_concurrency else None)
    pool = max(32, threads_per_partition * max(nthreads.values(), default=1))
    summary = BatchSummary(str(input), str(output), total=scan.lines, skipped=scan.done,
                           skipped_failed=scan.done_failed, retried=len(scan.redo))
    tally = Tally(summary)
    display = Progress(tally, mode=progress, every=progress_every)
    restore = control.install_sigint() if handle_sigint else (lambda: None)
    run_id = uuid.uuid4().hex[:12]
    log.info("batch (dask): %d line(s) in %s, %d already done; partitions of %d line(s) on %d worker(s)",
             scan.lines, input, scan.done, size, n_workers)

    with OutputFile(output) as out:
        def write(result: LineResult) -> None:
            out.write(result.data)
            tally.add(result)
            display.update()

        def malformed(item: InputLine) -> None:
            log.warning("batch: %s", item.problem)
            write(LineResult(item.id, item.line, dumps(input_error_record(item, output_format)), "input_error",
                             error_class="InputError"))

        chunks = _partitions(input, done, size, malformed)
        running = _dd.as_completed(loop=client.loop)
        index = 0

        def submit_more() -> None:
            nonlocal index
            while running.count() < max_pending and not control.stopping.is_set():
                chunk = next(chunks, None)
                if chunk is None:
                    return
                running.add(client.submit(
                    run_partition, canonical, key, client_name, chunk, params=params,
                    threads=threads_per_partition, semaphore_name=semaphore.name if semaphore else None,
                    max_concurrency=max_concurrency or 0, pool=pool, output_format=output_format, **share,
                    key=f"llmclient-batch-{run_id}-{index}", pure=False, retries=retries))
                index += 1

        try:
            submit_more()
            while not running.is_empty():
                if control.cancelled:
                    break
                batch = running.next_batch(block=False) if running.has_ready() else []
                if not batch:
                    display.tick()
                    _pause(0.05)
                    continue
                for future in batch:
                    try:
                        results = future.result()
                    except Exception as exc:  # e.g. KilledWorker after too many lost workers
                        log.error("batch (dask): a partition failed (%s: %s); its lines stay undone",
                                  type(exc).__name__, exc)
                        continue
                    for result in results:
                        write(result)
                submit_more()
        finally:
            if control.cancelled:
                leftover = list(running.futures)
                if leftover:
                    client.cancel(leftover)
                running.clear()
            restore()
            summary.wall_s = time.monotonic() - started
            if control.cancelled:
                summary.interrupted = "cancelled"
            elif control.stopping.is_set():
                summary.interrupted = "stopped"
            display.close()
            if semaphore is not None:
                try:
                    semaphore.close()
                except Exception:  # the scheduler may be gone already
                    log.debug("batch (dask): could not close the semaphore", exc_info=True)
    log.info("batch (dask): %d written (%d ok, %d errors, %d input errors), %d remaining, %.1fs", summary.written,
             summary.ok, summary.failed, summary.input_errors, summary.remaining, summary.wall_s)
    return summary
