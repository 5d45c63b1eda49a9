"""What progress looks like: log lines above a bar (never through it), a bar in a notebook, and a
raising progress callback reported once."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import config_for, write_input

from llmclient.batch import run
from llmclient.config.loader import load_config
from llmclient.testing import FakeLLMServer


def test_log_lines_go_through_tqdm_write_while_a_bar_is_shown(
        tmp_path: Path, fake_llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    tqdm = pytest.importorskip("tqdm")
    written: list[str] = []
    monkeypatch.setattr(tqdm.tqdm, "write", classmethod(lambda cls, s, file=None, end="\n", nolock=False:
                                                        written.append(s)))
    console = logging.StreamHandler(sys.stderr)  # what `llmclient batch` installs
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("llmclient")
    logger.addHandler(console)
    try:
        src = write_input(tmp_path / "in.jsonl", 4)
        with open(src, "a", encoding="utf-8") as handle:
            handle.write("not json\n")
        run(config_for(fake_llm_server), client="A", input=src, output=tmp_path / "out.jsonl", progress=True)
        assert logger.handlers[-1] is console  # put back when the bar closed
    finally:
        logger.removeHandler(console)
    assert any(line.startswith("WARNING batch: line 5: invalid JSON") for line in written)


def test_a_notebook_gets_a_bar_without_being_asked(tmp_path: Path, fake_llm_server: FakeLLMServer,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")

    class Kernel:
        config = {"IPKernelApp": {"connection_file": "kernel.json"}}

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: Kernel()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    src = write_input(tmp_path / "in.jsonl", 12)
    run(config_for(fake_llm_server), client="A", input=src, output=tmp_path / "out.jsonl")  # progress=None
    err = capsys.readouterr().err
    assert "12/12" in err and "errors=0" in err


def test_a_raising_progress_callback_is_reported_once_and_not_called_again(
        fake_llm_server: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        raise RuntimeError("display gone")

    with load_config(config_for(fake_llm_server)) as registry:
        client = registry.client("A")
        with caplog.at_level(logging.WARNING):
            results: list[Any] = client.batch([f"p{i}" for i in range(8)], max_workers=2, progress=progress)
    assert [r.text for r in results] == [f"Echo: p{i}" for i in range(8)]
    assert len(calls) == 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "progress callback raised" in warnings[0].getMessage()
    assert warnings[0].exc_info is not None and "display gone" in str(warnings[0].exc_info[1])
