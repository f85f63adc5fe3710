"""Issue item 6: smaller data hazards, each with a real process and real files.

- one non-UTF-8 byte in the CSV header keeps the history (no .bak, no restart);
- a damaged run.json is kept beside the new one;
- orphan temp files of a killed column rewrite are removed when the writer opens;
- a library Logger restarted before the first checkpoint never duplicates steps (history choice).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import run_exp
from faults_helpers import add_trainer
from test_tracking_readers import csv_series, tb_series

from exptool.workspace import Workspace

pytestmark = pytest.mark.slow

LOGGER_CHILD = """
import sys, time
from exptool.tracking import Logger
path, first, last, history, explicit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
logger = Logger(run=path, history=history)
logger.initialize("csv", "tensorboard")
for step in range(first, last + 1):
    if explicit == "yes":
        logger.log({"loss": step * 1.0, "attempt": float(sys.argv[6])}, step)
    else:
        logger.log({"loss": logger.step + 1.0 if logger.step is not None else 0.0, "attempt": float(sys.argv[6])})
    print(logger.step, flush=True)
if len(sys.argv) > 7:
    time.sleep(60)  # wait to be killed
logger.finish()
"""


def _child(tmp_path, run, first, last, *, history="continue", explicit="yes", attempt=1, hang=False):
    script = tmp_path / "child.py"
    script.write_text(LOGGER_CHILD, encoding="utf-8")
    args = [sys.executable, str(script), str(run.path), str(first), str(last), history, explicit, str(attempt)]
    return args + (["hang"] if hang else [])


@pytest.fixture
def run(ws):
    run = Workspace(ws).run("data", "r")
    run.create()
    return run


def test_a_non_utf8_byte_in_the_csv_header_keeps_the_history(run, tmp_path):
    rows = "".join(f"{s},{1000.0 + s},{s * 0.5}\n" for s in range(1, 51))
    run.metrics_path.write_bytes(b"step,wall_time,lo\xffss\n" + rows.encode())
    done = subprocess.run(_child(tmp_path, run, 51, 60), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "not an exptool metrics file" not in done.stderr
    assert not list(run.logs_dir.glob("*.bak"))
    series = csv_series(run.metrics_path)
    damaged = next(name for name in series if name.startswith("lo"))
    assert [s for s, _ in series[damaged]] == list(range(1, 51))  # steps 1-50 are still there
    assert [s for s, _ in series["loss"]] == list(range(51, 61))
    shown = run_exp("show", "-e", "data", "-r", "r")
    assert "last step   60" in shown.stdout


def test_a_damaged_run_json_is_kept_beside_the_new_one(ws):
    add_trainer(ws)
    assert run_exp("init-run", "-e", "data", "-r", "j").returncode == 0
    run = Workspace(ws).run("data", "j")
    run.record_path.write_bytes(b'{"status": "comp\x00 half a record')
    done = run_exp("train", "--trainer", "loop", "--set", "steps=3")
    assert done.returncode == 0, done.stderr
    assert (run.path / "run.json.damaged").read_bytes() == b'{"status": "comp\x00 half a record'
    assert "run.json was damaged; its old content is kept in run.json.damaged" in done.stderr
    assert run.read_record()["status"] == "completed"


def test_orphan_temp_files_of_a_column_rewrite_are_removed_when_the_writer_opens(run, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = "".join(c for c in os.uname().nodename if c.isalnum())[:32]
    killed = run.logs_dir / f".metrics.csv.{host}-{int(dead.stdout)}-x1y2.tmp"  # its writer died
    old = run.logs_dir / ".metrics.csv.abc123.tmp"  # from an older exptool, an hour ago
    live = run.logs_dir / f".metrics.csv.{host}-{os.getpid()}-live.tmp"  # a live process: left alone
    for path in (killed, old, live):
        path.write_text("step,wall_time\n")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    done = subprocess.run(_child(tmp_path, run, 0, 2), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not killed.exists() and not old.exists() and live.exists()


def test_a_restarted_library_logger_never_duplicates_steps(run, tmp_path):
    proc = subprocess.Popen(_child(tmp_path, run, 1, 50, attempt=1, hang=True), stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.strip() == "50":
            break
    proc.send_signal(signal.SIGKILL)  # killed before it saved any checkpoint
    proc.wait(timeout=60)
    again = subprocess.run(_child(tmp_path, run, 1, 30, attempt=2), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "already has steps up to 50 logged" in again.stderr

    series = csv_series(run.metrics_path)
    assert [s for s, _ in series["loss"]] == list(range(1, 31))  # the new attempt replaced the old rows
    assert {v for _, v in series["attempt"]} == {2.0}
    tb = tb_series(run.logs_dir)
    assert [s for s, _ in tb["loss"]] == list(range(1, 31)) and {v for _, v in tb["attempt"]} == {2.0}


def test_history_continue_without_steps_and_restart(run, tmp_path):
    first = subprocess.run(_child(tmp_path, run, 0, 9, explicit="no"), capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    more = subprocess.run(_child(tmp_path, run, 0, 4, explicit="no", attempt=2), capture_output=True, text=True,
                          timeout=120)
    assert more.stdout.split() == ["10", "11", "12", "13", "14"]  # continues after the last logged step
    assert [s for s, _ in csv_series(run.metrics_path)["loss"]] == list(range(15))

    over = subprocess.run(_child(tmp_path, run, 5, 7, history="restart", attempt=3), capture_output=True,
                          text=True, timeout=120)
    assert over.returncode == 0, over.stderr
    series = csv_series(run.metrics_path)
    assert [s for s, _ in series["loss"]] == [5, 6, 7] and {v for _, v in series["attempt"]} == {3.0}
    assert [s for s, _ in tb_series(run.logs_dir)["loss"]] == [5, 6, 7]
