"""Issue item 7: what the user reads when things go wrong (real `exp` processes).

The full-disk checkpoint message is in test_faults_full_disk.py, the weights_only one in
test_faults_checkpoints.py and `exp show` on an unreadable run in test_faults_permissions.py.
"""

from __future__ import annotations

import pytest
from conftest import run_exp
from faults_helpers import add_trainer

from exptool.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def loop_ws(ws):
    add_trainer(ws)
    assert run_exp("init-run", "-e", "msg", "-r", "r").returncode == 0
    return ws


def test_a_trainers_own_exit_code_is_kept(loop_ws):
    done = run_exp("train", "--trainer", "loop", "--set", "fail=exit3")
    assert done.returncode == 3
    assert "exited with code 3" in done.stderr
    record = Workspace(loop_ws).run("msg", "r").read_record()
    assert record["status"] == "failed" and record["exit_code"] == 3


def test_a_huge_error_message_is_trimmed_and_kept_whole_in_log_txt(loop_ws):
    done = run_exp("train", "--trainer", "loop", "--set", "fail=long")
    assert done.returncode == 1
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(line) < 400 and "ValueError: xxx" in line and "full text in logs/log.txt" in line
    assert "END-OF-LONG-MESSAGE" not in done.stderr
    run = Workspace(loop_ws).run("msg", "r")
    assert "x" * 5000 + " END-OF-LONG-MESSAGE" in (run.logs_dir / "log.txt").read_text()
    assert len(run.read_record()["error"]) < 400


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "--seed", "abc"], "Invalid value for '--seed'"),
        (["train", "--nproc-per-node", "0"], "Invalid value for '--nproc-per-node'"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["show", "--bogus"], "No such option: --bogus"),
    ],
)
def test_usage_errors_are_one_error_line_and_a_hint(loop_ws, args, expected):
    done = run_exp(*args)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]
    command = "exp" if args[0] == "frobnicate" else f"exp {args[0]}"
    assert lines[1] == f"  Run '{command} -h' for help."
    assert "Usage:" not in done.stderr and "Try '" not in done.stderr


def test_state_dir_that_is_a_file_is_named_as_the_state_folder(loop_ws, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    done = run_exp("set", "msg", "r", env={"EXPTOOL_STATE_DIR": str(blocker)})
    assert done.returncode == 2
    assert f"The state folder {blocker} (EXPTOOL_STATE_DIR) exists but is not a folder" in done.stderr
    assert "File exists" not in done.stderr


def test_plot_smooth_1_is_refused(loop_ws):
    assert run_exp("train", "--trainer", "loop", "--set", "steps=3").returncode == 0
    done = run_exp("plot", "--smooth", "1")
    assert done.returncode == 2
    assert "Invalid smoothing 1" in done.stderr and "K >= 2" in done.stderr
    assert run_exp("plot", "--smooth", "2").returncode == 0
