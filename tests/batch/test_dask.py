"""llmclient.batch.run_dask on a LocalCluster of 2 worker processes against FakeLLMServer."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import ROOT, assert_exactly_once, config_for, read_records, write_input
from helpers import eventually

from llmclient.batch import BatchSummary, run_dask
from llmclient.errors import ConfigError
from llmclient.testing import FakeLLMServer, Fault

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow  # a LocalCluster of worker processes


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + old if old else "")
    # Leases of a killed worker expire quickly, so the cluster-wide cap does not stall the rest.
    with dask.config.set({"distributed.scheduler.locks.lease-timeout": "2s",
                          "distributed.scheduler.locks.lease-validation-interval": "0.5s"}):
        with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=4, dashboard_address=None,
                                      silence_logs=40) as cluster, distributed.Client(cluster) as client:
            yield client
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def test_three_hundred_lines_complete_exactly_once_under_a_cluster_wide_cap(
        tmp_path: Path, fake_llm_server: FakeLLMServer, dask_client: Any) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 300), tmp_path / "out.jsonl"
    with open(src, "a") as handle:
        handle.write("{broken\n")
    fake_llm_server.random_faults(0.1, [Fault.server_error(500)], seed=5)
    summary = run_dask(config_for(fake_llm_server), src, out, client=dask_client, client_name="A",
                       partition_size=20, max_concurrency=6)
    records = read_records(out)
    assert_exactly_once([r for r in records if r["id"] is not None], [f"q{i}" for i in range(300)])
    assert [r["line"] for r in records if r["id"] is None] == [301]
    failed = [r for r in records if r["id"] is not None and not r["ok"]]
    assert len(failed) == sum(1 for r in fake_llm_server.requests if r.fault is not None) > 0
    assert all(r["completion"]["text"] == f"Echo: item {int(r['id'][1:])}" for r in records if r["ok"])
    assert summary.written == 301 and summary.failed == len(failed) and summary.input_errors == 1
    assert summary.complete and summary.errors_by_class == {"ProviderError": len(failed), "InputError": 1}

    # the cap held cluster-wide: never more than 6 requests open at the fake server at once
    fake_llm_server.clear()
    peak = _peak_concurrency(fake_llm_server, lambda: run_dask(
        config_for(fake_llm_server), src, tmp_path / "again.jsonl", client=dask_client, client_name="A",
        partitions=10, max_concurrency=3))
    assert 1 <= peak <= 3

    fake_llm_server.clear()
    resumed = run_dask(config_for(fake_llm_server), src, out, client=dask_client, client_name="A")
    assert resumed.written == 0 and resumed.skipped == 301 and fake_llm_server.requests == []
    assert resumed.skipped_failed == len(failed) + 1 and not resumed.all_ok

    retried = run_dask(config_for(fake_llm_server), src, out, client=dask_client, client_name="A",
                       retry_failed=True, output_format="openai")
    assert retried.retried == len(failed) + 1 and retried.ok == len(failed) and retried.input_errors == 1
    assert len(fake_llm_server.requests) == len(failed)
    records = read_records(out)
    redone = [r for r in records if "custom_id" in r]
    assert sorted(r["custom_id"] for r in redone if r["custom_id"] is not None) == sorted(r["id"] for r in failed)
    assert all(r["response"]["status_code"] == 200 for r in redone if r["custom_id"] is not None)
    assert len(records) == 301  # one record per line, the newest


def _peak_concurrency(server: FakeLLMServer, job: Any) -> int:
    """Run ``job`` with every request stalled 30 ms, sampling how many requests are open at once."""
    server.random_faults(1.0, [Fault.stall(0.03)])
    result: list[BatchSummary] = []
    thread = threading.Thread(target=lambda: result.append(job()))
    thread.start()
    peak = 0
    while thread.is_alive():
        now = time.monotonic()
        peak = max(peak, sum(1 for r in list(server.requests) if now - r.received_at < 0.03))
        time.sleep(0.002)
    thread.join()
    assert result and result[0].complete
    return peak


def test_a_worker_killed_mid_run_loses_no_line(tmp_path: Path, fake_llm_server: FakeLLMServer,
                                               dask_client: Any) -> None:
    src, out = write_input(tmp_path / "in.jsonl", 300), tmp_path / "out.jsonl"
    fake_llm_server.random_faults(1.0, [Fault.stall(0.05)])
    result: list[BatchSummary] = []
    thread = threading.Thread(target=lambda: result.append(run_dask(
        config_for(fake_llm_server), src, out, client=dask_client, client_name="A", partition_size=10,
        max_concurrency=8, threads_per_partition=2, handle_sigint=False)))
    thread.start()
    assert eventually(lambda: out.exists() and out.read_bytes().count(b"\n") >= 30, timeout=30)
    pids = dask_client.run(os.getpid)
    victim = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    written_at_kill = out.read_bytes().count(b"\n")
    thread.join(60)
    assert not thread.is_alive()
    assert 30 <= written_at_kill < 300
    records = read_records(out)
    assert_exactly_once(records, [f"q{i}" for i in range(300)])
    assert all(r["ok"] for r in records) and result[0].complete
    dask_client.wait_for_workers(2, timeout=30)  # the nanny restarts it


def test_a_registry_is_refused_the_config_travels_as_data(tmp_path: Path, fake_llm_server: FakeLLMServer,
                                                          dask_client: Any) -> None:
    from llmclient.config.loader import load_config

    src = write_input(tmp_path / "in.jsonl", 2)
    with load_config(config_for(fake_llm_server)) as registry, pytest.raises(ConfigError, match="as data"):
        run_dask(registry, src, tmp_path / "out.jsonl", client=dask_client, client_name="A")
    with pytest.raises(ConfigError, match="no client named"):
        run_dask(config_for(fake_llm_server), src, tmp_path / "out.jsonl", client=dask_client, client_name="B")
