"""exp clear-logs: refuses without a terminal or --yes, asks on a terminal, never touches checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from exptool.locking import RunLock
from exptool.workspace import Workspace


@pytest.fixture
def run_dir(ws):
    run = Workspace(ws).run("e", "r")
    run.create()
    (run.logs_dir / "metrics.csv").write_text("step,wall_time,loss\n0,1.0,0.5\n")
    (run.logs_dir / "tensorboard").mkdir()
    (run.logs_dir / "tensorboard" / "events.out.tfevents.1").write_bytes(b"\x00" * 16)
    (run.logs_dir / "train.log").write_text("hello\n")
    (run.checkpoints_dir / "last.pt").write_bytes(b"weights")
    return run.path


def _exp_no_tty(*args, cwd):
    return subprocess.run([sys.executable, "-m", "exptool", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


def test_refuses_without_terminal_and_without_yes(ws, run_dir):
    result = _exp_no_tty("clear-logs", "-e", "e", "-r", "r", cwd=ws)
    assert result.returncode == 2
    assert "Refusing to delete 3 entries" in result.stderr and "--yes" in result.stderr
    assert sorted(p.name for p in (run_dir / "logs").iterdir()) == ["metrics.csv", "tensorboard", "train.log"]


def test_yes_clears_logs_and_keeps_everything_else(ws, run_dir, exp):
    assert exp("set", "e", "r").returncode == 0
    result = _exp_no_tty("clear-logs", "--yes", "--json", cwd=ws)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"experiment": "e", "run": "r",
                                         "deleted": ["metrics.csv", "tensorboard", "train.log"]}
    assert (run_dir / "logs").is_dir() and list((run_dir / "logs").iterdir()) == []
    assert (run_dir / "checkpoints" / "last.pt").read_bytes() == b"weights"
    assert (run_dir / "config.json").exists() and (run_dir / "run.json").exists()
    again = _exp_no_tty("clear-logs", "-e", "e", "-r", "r", cwd=ws)  # nothing left: no question needed
    assert again.returncode == 0 and "Cleared 0 entries" in again.stdout


def test_missing_logs_folder_is_recreated(ws, run_dir, exp):
    import shutil

    shutil.rmtree(run_dir / "logs")
    result = exp("clear-logs", "-e", "e", "-r", "r")
    assert result.returncode == 0
    assert (run_dir / "logs").is_dir()


def test_no_current_run_and_missing_run(ws, run_dir, exp):
    none = exp("clear-logs", "--yes")
    assert none.returncode == 2 and "none is current" in none.stderr
    missing = exp("clear-logs", "--yes", "-e", "e", "-r", "ghost")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_refuses_while_the_run_is_training(ws, run_dir, exp):
    Workspace(ws).run("e", "r").update_record(status="running")
    with RunLock(run_dir):
        result = exp("clear-logs", "--yes", "-e", "e", "-r", "r")
    assert result.returncode == 2 and "training right now" in result.stderr
    assert (run_dir / "logs" / "metrics.csv").exists()


def _spawn(ws, *args):
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "TERM": "dumb"}
    return pexpect.spawn(sys.executable, ["-m", "exptool", "clear-logs", "-e", "e", "-r", "r", *args], cwd=str(ws),
                         env=env, encoding="utf-8", timeout=30)


def _exit_status(child) -> int:
    child.read()  # until the process ends
    child.close()
    return child.exitstatus


@pytest.mark.parametrize(("answer", "code", "cleared"), [("y", 0, True), ("yes", 0, True), ("n", 1, False),
                                                         ("", 1, False)])
def test_terminal_asks_for_confirmation(ws, run_dir, answer, code, cleared):
    child = _spawn(ws)
    child.expect(r"Delete 3 entries in .*logs\? \[y/N\]: ")
    child.sendline(answer)
    assert _exit_status(child) == code
    assert (list((run_dir / "logs").iterdir()) == []) is cleared
    assert (run_dir / "checkpoints" / "last.pt").exists()


def test_ctrl_c_at_the_prompt_exits_130_and_deletes_nothing(ws, run_dir):
    child = _spawn(ws)
    child.expect(r"\[y/N\]: ")
    child.sendintr()
    assert _exit_status(child) == 130
    assert len(list((run_dir / "logs").iterdir())) == 3


def test_end_of_input_at_the_prompt_deletes_nothing(ws, run_dir):
    child = _spawn(ws)
    child.expect(r"\[y/N\]: ")
    child.sendeof()
    assert _exit_status(child) == 1
    assert len(list((run_dir / "logs").iterdir())) == 3


def test_training_started_during_the_question_keeps_its_logs(ws, run_dir):
    child = _spawn(ws)
    child.expect(r"\[y/N\]: ")
    with RunLock(run_dir):  # `exp train` starts while the user reads the question
        child.sendline("y")
        code = _exit_status(child)
    assert code == 2
    assert len(list((run_dir / "logs").iterdir())) == 3
