"""Issue item 2 (and 7's `exp show`): files exptool cannot read are never "missing" and never deleted.

The commands run as a real process without DAC override (as root: CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH dropped with setpriv), so a file of mode 000 really cannot be read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import run_exp
from faults_helpers import add_trainer, no_dac_prefix

from exptool.workspace import Workspace

pytestmark = pytest.mark.slow


def exp_no_dac(*args: str) -> subprocess.CompletedProcess:
    """``exp ARGS`` in a process that cannot bypass file permissions."""
    return subprocess.run([*no_dac_prefix(), sys.executable, "-m", "exptool", *args], capture_output=True,
                          text=True, timeout=180, env=dict(os.environ))


@pytest.fixture
def trained(ws):
    """A run with three checkpoints and logged steps."""
    add_trainer(ws)
    assert run_exp("init-run", "-e", "perm", "-r", "r").returncode == 0
    done = run_exp("train", "--trainer", "loop", "--set", "steps=30")
    assert done.returncode == 0, done.stderr
    run = Workspace(ws).run("perm", "r")
    assert len(list(run.checkpoints_dir.glob("*.pth"))) == 3
    return run


@pytest.fixture
def locked_files(trained):
    files = sorted(trained.checkpoints_dir.glob("*.pth"))
    for path in files:
        path.chmod(0o000)
    yield files
    for path in files:
        path.chmod(0o644)


def test_unreadable_checkpoints_are_not_missing_and_clear_deletes_nothing(trained, locked_files):
    before = {p: p.stat().st_size for p in trained.checkpoints_dir.iterdir()}
    again = exp_no_dac("train", "--set", "steps=40")
    assert again.returncode == 1, again.stderr
    assert "Cannot read 3 files of run 'perm/r'" in again.stderr and "Permission denied" in again.stderr
    assert "no checkpoint" not in again.stderr and "--clear" not in again.stderr  # never suggests a delete

    cleared = exp_no_dac("train", "--clear", "--set", "steps=40")
    assert cleared.returncode == 1
    assert "Permission denied" in cleared.stderr and "never deletes files it cannot read" in cleared.stderr
    assert {p: p.stat().st_size for p in trained.checkpoints_dir.iterdir()} == before  # all still there
    assert trained.metrics_path.stat().st_size > 0  # and nothing else was cleared either
    assert trained.read_record()["status"] == "completed"  # the refused attempt left no trace


def test_unreadable_manifest_is_not_rebuilt_over(trained):
    manifest = trained.checkpoints_dir / "manifest.json"
    text = manifest.read_text()
    manifest.chmod(0o000)
    try:
        again = exp_no_dac("train", "--set", "steps=40")
    finally:
        manifest.chmod(0o644)
    assert again.returncode == 1 and "manifest.json (Permission denied)" in again.stderr
    assert manifest.read_text() == text and not (trained.checkpoints_dir / "manifest.json.damaged").exists()


def test_clear_logs_refuses_when_something_in_logs_is_unreadable(trained):
    secret = trained.logs_dir / "notes"
    secret.mkdir()
    (secret / "private.txt").write_text("keep me")
    secret.chmod(0o000)
    try:
        done = exp_no_dac("clear-logs", "--yes")
    finally:
        secret.chmod(0o755)
    assert done.returncode == 1
    assert "notes (Permission denied)" in done.stderr and "nothing was deleted" in done.stderr
    assert (secret / "private.txt").read_text() == "keep me" and trained.metrics_path.exists()


def test_exp_show_on_an_unreadable_run_folder_says_unknown(trained):
    trained.path.chmod(0o000)
    try:
        shown = exp_no_dac("show", "-e", "perm", "-r", "r")
        as_json = exp_no_dac("show", "-e", "perm", "-r", "r", "--json")
    finally:
        trained.path.chmod(0o755)
    assert shown.returncode == 0, shown.stderr
    assert "unknown" in shown.stdout and "cannot read the run folder (Permission denied)" in shown.stdout
    run = json.loads(as_json.stdout)["run"]
    assert run["status"] == "unknown" and run["unreadable"] == "Permission denied"
    assert run["missing_subdirs"] == []  # unknown is not missing


def test_unreadable_run_json_is_never_replaced(trained):
    record = trained.record_path
    text = record.read_text()
    record.chmod(0o000)
    try:
        done = exp_no_dac("train", "--set", "steps=40")
    finally:
        record.chmod(0o644)
    assert done.returncode == 1 and "run.json (Permission denied)" in done.stderr
    assert record.read_text() == text
