"""Shared fixtures: every test gets its own state folder, workspace and a clean environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# A test run started in the background by a non-interactive shell inherits SIGINT ignored, and every
# child would too; the tests that press Ctrl-C need it delivered as usual.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ENV_VARS = ("EXP_EXPERIMENT", "EXP_RUN", "CURRENT_EXP", "CURRENT_RUN", "EXPTOOL_ROOT", "EXPTOOL_DEBUG", "NO_COLOR")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """Point the state folder at a temp dir, drop exptool's env vars, keep W&B offline and quiet."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXPTOOL_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path_factory.mktemp("wandb")))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Path:
    """A fresh workspace (config/, data/, experiments/) that is also the current directory."""
    from exptool.workspace import Workspace

    root = tmp_path / "ws"
    Workspace.init(root)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def run(ws):
    """The run ``exp1/run1``, created in the workspace."""
    from exptool.workspace import Workspace

    r = Workspace(ws).run("exp1", "run1")
    r.create()
    return r


def invoke(*args: str, env: dict | None = None):
    """Run ``exp ARGS`` in this process through Typer's CliRunner (fast; for output and exit codes)."""
    from typer.testing import CliRunner

    from exptool.cli.app import app

    return CliRunner().invoke(app, list(args), prog_name="exp", env=env)


def run_exp(*args: str, cwd: Path | str | None = None, env: dict | None = None, input: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real ``exp`` command line in a subprocess (``python -m exptool``)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "exptool", *args],
        cwd=cwd,
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def exp():
    """The ``run_exp`` helper as a fixture."""
    return run_exp
