"""Batch runs: a JSONL file of requests through one client, resumable, rate-limited, with progress.

``run`` works on one machine with the client's shared thread pool; ``run_dask`` hands the
same job to a Dask cluster. Dask is optional: ``import llmclient.batch`` never imports it
(``run_dask`` imports :mod:`llmclient.batch.dask_runner` when called).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .jsonl import DuplicateIdError
from .progress import BatchSummary
from .runner import BatchControl, run

if TYPE_CHECKING:
    from .jsonl import PathLike

__all__ = ["run", "run_dask", "BatchSummary", "BatchControl", "DuplicateIdError"]


def run_dask(config: Any, input: PathLike, output: PathLike, **kwargs: Any) -> BatchSummary:
    """Run a batch on a Dask cluster; see :func:`llmclient.batch.dask_runner.run_dask` for the arguments.

    Needs ``pip install llmclient[dask]``.
    """
    from .dask_runner import run_dask as _run_dask

    return _run_dask(config, input, output, **kwargs)
