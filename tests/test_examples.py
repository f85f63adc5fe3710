"""examples/ run as shipped, and a Logger-only script (the template's workflow) is a first-class run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import run_exp
from test_tracking_readers import csv_series, tb_series

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def _record(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


@pytest.mark.slow
def test_trainer_example_trains_resumes_and_keeps_its_checkpoints(tmp_path):
    ws = tmp_path / "trainer"
    shutil.copytree(EXAMPLES / "trainer", ws)
    assert run_exp("trainers", cwd=ws).stdout.count("sine") == 1
    made = run_exp("init-run", "-e", "sine", "-r", "base", "-c", "base", cwd=ws)
    assert made.returncode == 0, made.stderr
    first = run_exp("train", cwd=ws)
    assert first.returncode == 0, first.stderr
    run = ws / "experiments" / "sine" / "base"
    assert _record(run)["status"] == "completed" and _record(run)["trainer"]["name"] == "sine"
    loss = csv_series(run / "logs" / "metrics.csv")["loss"]
    assert [s for s, _ in loss] == list(range(1, 301)) and loss[-1][1] < loss[0][1]
    more = run_exp("train", "--set", "steps=400", cwd=ws)  # continues from step 300
    assert more.returncode == 0, more.stderr
    loss = csv_series(run / "logs" / "metrics.csv")["loss"]
    assert [s for s, _ in loss] == list(range(1, 401))
    manifest = json.loads((run / "checkpoints" / "manifest.json").read_text())
    assert manifest["metric"] == "loss" and len(manifest["checkpoints"]) <= 3  # keep_last 2 + best 1


def _script(ws: Path, body: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], cwd=ws, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow
def test_logger_only_example_is_a_complete_run(ws):
    result = subprocess.run([sys.executable, str(EXAMPLES / "logger_only.py")], cwd=ws, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    run = ws / "experiments" / "sketch" / "logger-only"
    record = _record(run)
    assert record["status"] == "completed" and record["written_by"] == "Logger" and record["exit_code"] == 0
    assert record["host"] and record["versions"]["python"]
    assert json.loads((run / "config.json").read_text()) == {"lr": 0.1, "steps": 50}
    assert [s for s, _ in csv_series(run / "logs" / "metrics.csv")["acc"]] == list(range(1, 51))
    assert [s for s, _ in tb_series(run / "logs")["train/loss"]] == list(range(1, 51))
    assert (run / "visualizations" / "ramp_step000050.png").is_file()
    listed = json.loads(run_exp("ls", "sketch", "--json", cwd=ws).stdout)["runs"]
    assert [(r["name"], r["status"], r["last_step"]) for r in listed] == [("logger-only", "completed", 50)]


def test_a_logger_only_run_is_running_while_it_logs_and_owns_the_run(ws, tmp_path):
    go = tmp_path / "go"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import os, time
            from exptool import Logger
            logger = Logger("mnist", "live")
            logger.initialize_csv()
            logger.log({{"loss": 1.0}}, 1)
            open({str(tmp_path / "ready")!r}, "w").close()
            while not os.path.exists({str(go)!r}):
                time.sleep(0.05)
            logger.finish()
        """)],
        cwd=ws,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        listed = json.loads(run_exp("ls", "mnist", "--json", cwd=ws).stdout)["runs"]
        assert [(r["name"], r["status"]) for r in listed] == [("live", "running")]  # not "stale": it holds the lock
        busy = run_exp("train", "-e", "mnist", "-r", "live", "--trainer", "demo", cwd=ws)
        assert busy.returncode == 1 and "already being trained" in busy.stderr
    finally:
        go.touch()
        proc.wait(timeout=60)
    assert _record(ws / "experiments" / "mnist" / "live")["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("with Logger('e', 'r') as logger:\n    logger.log({'a': 1.0}, 0)\n    raise ValueError('boom')",
         "failed", "ValueError: boom"),
        ("logger = Logger('e', 'r')\nraise RuntimeError('uncaught')", "failed", "RuntimeError: uncaught"),
        ("logger = Logger('e', 'r')\nraise KeyboardInterrupt", "interrupted", "interrupted"),
        ("logger = Logger('e', 'r')\nlogger.log({'a': 1.0}, 0)", "completed", None),  # finished at exit
    ],
)
def test_a_logger_only_run_ends_with_the_scripts_outcome(ws, body, status, error):
    _script(ws, "from exptool import Logger\n" + body)
    record = _record(ws / "experiments" / "e" / "r")
    assert record["status"] == status and record["error"] == error and record["ended"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_marks_a_logger_only_run_interrupted(ws, tmp_path, signum):
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from exptool import Logger
        logger = Logger("e", "term")
        open({str(tmp_path / "ready")!r}, "w").close()
        time.sleep(60)
    """)], cwd=ws)
    deadline = time.monotonic() + 60
    while not (tmp_path / "ready").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signum)
    assert proc.wait(timeout=60) == -signum
    record = _record(ws / "experiments" / "e" / "term")
    assert record["status"] == "interrupted" and record["error"] == f"stopped by {signal.Signals(signum).name}"


def test_loggers_inside_exp_train_leave_the_record_to_it(ws):
    trainer = ws / "tpl.py"
    trainer.write_text(textwrap.dedent("""
        from exptool import Logger

        def train(ctx):
            logger = Logger(ctx.experiment, ctx.run_name)   # template-style, inside exp train
            logger.log_config({"from": "template"})
            logger.initialize_csv()
            logger.log({"x": 1.0}, 1)
            logger.finish()
    """))
    result = run_exp("train", "-e", "e", "-r", "r", "--create", "--trainer", f"{trainer}:train", cwd=ws)
    assert result.returncode == 0, result.stderr
    run = ws / "experiments" / "e" / "r"
    record = _record(run)
    assert record["status"] == "completed" and "written_by" not in record and record["trainer"]
    assert "from" not in json.loads((run / "config.json").read_text())  # exp train's effective config stays


def test_a_logger_outside_any_workspace_uses_experiments_here_as_the_template_did(tmp_path):
    result = _script(tmp_path, "from exptool import Logger\nwith Logger('mnist', 'baseline') as l:\n"
                               "    l.initialize_csv()\n    l.log({'a': 1.0}, 0)\n")
    assert result.returncode == 0, result.stderr
    assert "no exptool workspace here" in result.stderr
    run = tmp_path / "experiments" / "mnist" / "baseline"
    assert _record(run)["status"] == "completed" and (run / "logs" / "metrics.csv").is_file()
    listed = run_exp("ls", "mnist", "--json", cwd=tmp_path)  # and exp finds it as a workspace
    assert json.loads(listed.stdout)["runs"][0]["status"] == "completed"
