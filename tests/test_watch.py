"""`exp watch` on runs trained by another process: --once, --json, the exit code, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TRAINER = textwrap.dedent(
    """
    import time
    from pathlib import Path

    def slow(ctx):
        '''One step every 0.1 s until the file named by config 'until' appears; then end as told.'''
        until = Path(ctx.config["until"])
        with ctx.progress(total=10000) as bar:
            step = 0
            while not until.exists():
                step += 1
                ctx.logger.log({"loss": 1.0 / step, "acc": step / 10000}, step)
                ctx.logger.log_info(f"line {step}")
                bar.update(step, loss=1.0 / step)
                time.sleep(0.1)
        end = until.read_text()
        if end == "fail":
            raise RuntimeError("told to fail")
        if end == "interrupt":
            raise KeyboardInterrupt
    """
)


@pytest.fixture
def wws(ws: Path) -> Path:
    (ws / "wt.py").write_text(TRAINER)
    return ws


def _start(ws: Path, name: str) -> tuple[subprocess.Popen, Path]:
    until = ws / f"until-{name}"
    cfg = ws / "config" / f"{name}.json"
    cfg.write_text(json.dumps({"until": str(until), "logging": {"writers": ["csv"]}}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "exptool", "train", "-e", "w", "-r", name, "--create", "-c", str(cfg),
         "--trainer", "wt.py:slow"],
        cwd=ws, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    return proc, until


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _snap(exp, ws, name):
    res = exp("watch", f"w/{name}", "--json", cwd=ws)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _running(exp, ws, name):
    def check():
        try:
            snap = _snap(exp, ws, name)
        except AssertionError:
            return False
        return snap["status"] == "running" and (snap["step"] or 0) >= 2
    return check


def test_once_and_json_show_a_running_run_advancing(wws, exp):
    proc, until = _start(wws, "adv")
    try:
        _wait_for(_running(exp, wws, "adv"))
        first = _snap(exp, wws, "adv")
        time.sleep(2.5)
        second = _snap(exp, wws, "adv")
        assert second["step"] > first["step"]
        assert first["status"] == "running" and first["exit_code"] is None
        assert first["total"] == 10000 and 0 < first["percent"] < 100
        assert second["rate"] and 1 < second["rate"] < 20  # about 10 steps/s
        assert second["eta_s"] > 0 and second["elapsed_s"] > 0
        assert second["metrics"]["loss"] == pytest.approx(1.0 / second["last_step"])
        assert len(second["history"]["loss"]) > 5
        assert any(line.endswith(f"line {second['last_step']}") or "line " in line for line in second["log_tail"])
        once = exp("watch", "w/adv", "--once", cwd=wws)
        assert once.returncode == 0, once.stderr
        assert "w/adv" in once.stdout and "running" in once.stdout and "loss" in once.stdout
        assert "steps/s" in once.stdout and "ETA" in once.stdout
        show = exp("show", "-e", "w", "-r", "adv", cwd=wws)
        assert show.returncode == 0, show.stderr
        line = next(li for li in show.stdout.splitlines() if li.startswith("progress"))
        assert "/10000 (" in line and "steps/s" in line and "ETA" in line
        shown = json.loads(exp("show", "-e", "w", "-r", "adv", "--json", cwd=wws).stdout)["run"]["progress"]
        assert shown["total"] == 10000 and shown["rate"] > 0 and shown["eta_s"] > 0 and 0 < shown["percent"] < 100
    finally:
        until.write_text("ok")
        assert proc.wait(60) == 0, proc.stderr.read()
    done = _snap(exp, wws, "adv")
    assert done["status"] == "completed" and done["exit_code"] == 0 and done["eta_s"] is None


@pytest.mark.parametrize(("end", "code", "status"), [("ok", 0, "completed"), ("fail", 1, "failed"),
                                                     ("interrupt", 130, "interrupted")])
def test_watch_exits_with_the_runs_code_when_it_ends(wws, exp, end, code, status):
    proc, until = _start(wws, end)
    try:
        _wait_for(_running(exp, wws, end))
        watcher = subprocess.Popen([sys.executable, "-m", "exptool", "watch", f"w/{end}"], cwd=wws,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert watcher.poll() is None  # still watching a running run
    finally:
        until.write_text(end)
    assert proc.wait(60) == code
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == code, err
    assert status in out


def test_ctrl_c_stops_watching_and_leaves_the_run_alone(wws, exp):
    proc, until = _start(wws, "ctrlc")
    try:
        _wait_for(_running(exp, wws, "ctrlc"))
        watcher = subprocess.Popen([sys.executable, "-m", "exptool", "watch", "w/ctrlc"], cwd=wws,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        watcher.send_signal(signal.SIGINT)
        out, err = watcher.communicate(timeout=30)
        assert watcher.returncode == 130
        assert "the run goes on" in err
        step = _snap(exp, wws, "ctrlc")["step"]
        time.sleep(1.0)
        after = _snap(exp, wws, "ctrlc")
        assert after["status"] == "running" and after["step"] > step and proc.poll() is None
    finally:
        until.write_text("ok")
        assert proc.wait(60) == 0


def test_stale_run_ends_the_watch_with_1(ws, exp):
    from exptool.workspace import Workspace

    run = Workspace.find().run("w", "dead")
    run.create()
    run.update_record(status="running", host=os.uname().nodename)  # no process holds its lock
    res = exp("watch", "w/dead", cwd=ws)
    assert res.returncode == 1 and "without recording how it ended" in res.stderr
    assert json.loads(exp("watch", "w/dead", "--json", cwd=ws).stdout)["status"] == "stale"


def test_watch_a_missing_run_is_a_usage_error(ws, exp):
    res = exp("watch", "w/nope", cwd=ws)
    assert res.returncode == 2 and res.stderr.startswith("error:")


def test_once_fits_a_small_terminal(ws):
    import re

    pexpect = pytest.importorskip("pexpect")
    from exptool.tracking import Logger
    from exptool.workspace import Workspace

    run = Workspace.find().run("w", "fit")
    run.create()
    with Logger(run=run, echo=False) as logger:
        logger.initialize("csv")
        for step in range(1, 30):
            logger.log({f"metric_with_a_long_name_{i}": step * (i + 1) for i in range(12)}, step)
            logger.log_info("a long log line " + "x" * 200)
    run.update_record(status="completed", exit_code=0, duration_s=3.0)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # the pty's size decides
    child = pexpect.spawn(sys.executable, ["-m", "exptool", "watch", "w/fit", "--once"], cwd=str(ws), env=env,
                          encoding="utf-8", timeout=60, dimensions=(14, 50))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before)
    lines = [line for line in plain.replace("\r", "").split("\n") if line]
    assert "w/fit" in lines[0] and "completed" in lines[0]
    assert len(lines) <= 14
    assert max(len(line) for line in lines) <= 50
    assert any(line.startswith("metric_with") for line in lines)
