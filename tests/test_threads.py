"""exptool.threads: one CPU thread for tiny models, never over a count the user chose."""

from __future__ import annotations

import pytest
import torch

from exptool.errors import UsageError
from exptool.threads import TINY_PARAMETERS, limited_threads, threads_for, use_threads


@pytest.fixture(autouse=True)
def _keep_thread_count(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_auto_picks_one_thread_for_a_tiny_model_on_the_cpu_only():
    tiny = torch.nn.Linear(64, 64)
    big = torch.nn.Linear(1024, TINY_PARAMETERS // 1024 + 1)
    assert threads_for(tiny) == 1 and threads_for(tiny, torch.device("cpu")) == 1 and threads_for(tiny, "cpu") == 1
    assert threads_for(big) is None
    assert threads_for(tiny, "cuda:0") is None and threads_for(tiny, torch.device("mps")) is None
    torch.set_num_threads(2)
    assert use_threads("auto", big) == 2  # left alone
    assert use_threads("auto", tiny) == 1 and torch.get_num_threads() == 1


def test_a_count_the_user_set_in_the_environment_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(2)
    assert threads_for(torch.nn.Linear(4, 4)) is None
    assert use_threads("auto", torch.nn.Linear(4, 4)) == 2


def test_an_explicit_count_and_bad_values():
    assert use_threads(1) == 1 and use_threads("2") == 2 and torch.get_num_threads() == 2
    for bad in (0, -1, "many", 1.5, True, [2]):
        with pytest.raises(UsageError, match="threads must be a positive integer or 'auto'"):
            use_threads(bad)


def test_limited_threads_restores_the_count_even_on_error():
    torch.set_num_threads(2)
    with pytest.raises(RuntimeError), limited_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_the_run_context_takes_the_count_from_its_config(tmp_path):
    from exptool.training.context import RunContext
    from exptool.workspace import Workspace

    ws, _ = Workspace.init(tmp_path / "ws")
    run = ws.run("e", "r")
    tiny = torch.nn.Linear(8, 8)
    torch.set_num_threads(2)
    ctx = RunContext(run=run, config={}, logger=None, checkpoints=None, device=torch.device("cpu"), seed=1)
    assert ctx.use_threads(tiny) == 1  # "auto" by default
    assert RunContext(run=run, config={"threads": 2}, logger=None, checkpoints=None, device="cpu",
                      seed=1).use_threads(tiny) == 2
    assert ctx.use_threads(tiny, threads=1) == 1
    with pytest.raises(UsageError):
        RunContext(run=run, config={"threads": "lots"}, logger=None, checkpoints=None, device="cpu",
                   seed=1).use_threads(tiny)
