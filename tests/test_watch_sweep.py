"""`exp watch --sweep NAME` on sweeps run by another `exp sweep` process: --once, --json, exit codes, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
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

    def slow(ctx):
        '''A step every 0.1 s until the workspace has a file 'release'; then end as it says.'''
        release = ctx.run.workspace.root / "release"
        lr = float(ctx.config["lr"])
        with ctx.progress(total=10000) as bar:
            step = 0
            while not release.exists() and not ctx.should_stop:
                step += 1
                ctx.logger.log({"val_loss": lr * step}, step)
                bar.update(step)
                time.sleep(0.1)
        if release.exists() and release.read_text() == "fail" and lr == 0.2:
            raise RuntimeError("lr 0.2 told to fail")
    """
)
JSON_KEYS = {"experiment", "sweep", "path", "state", "active", "remote", "host", "exit_code", "method", "size",
             "metric", "mode", "updated", "counts", "best", "points"}
POINT_KEYS = {"index", "run", "path", "params", "status", "error", "metric", "trial", "step", "total", "percent",
              "rate", "eta_s", "elapsed_s"}
COUNT_KEYS = {"pending", "queued", "running", "completed", "failed", "interrupted", "stale", "unknown"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def wws(ws: Path) -> Path:
    (ws / "wt.py").write_text(TRAINER)
    (ws / "config" / "base.json").write_text(json.dumps({"logging": {"writers": ["csv"], "system": False},
                                                         "lr": 0.1}))
    return ws


def _start(ws: Path, name: str, lrs: str = "0.1,0.2,0.3", jobs: str = "2") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "exptool", "sweep", "-e", "e", "--name", name, "-c", "base", "-t", "wt:slow",
         "--set", f"lr={lrs}", "--metric", "val_loss", "-j", jobs],
        cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _snap(exp, ws: Path, name: str) -> dict:
    res = exp("watch", "--sweep", name, "-e", "e", "--json", cwd=ws)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _wait_running(exp, ws: Path, name: str, proc: subprocess.Popen, points: int = 2) -> dict:
    """Until ``points`` points are running with a few steps logged; the snapshot then."""
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep's points never got going"
        res = exp("watch", "--sweep", name, "-e", "e", "--json", cwd=ws)
        if res.returncode == 0:
            snap = json.loads(res.stdout)
            going = [p for p in snap["points"] if p["status"] == "running" and (p["step"] or 0) >= 2]
            if snap["state"] == "running" and len(going) >= points:
                return snap
        time.sleep(0.2)


def _end(ws: Path, proc: subprocess.Popen, how: str) -> int:
    if how == "interrupt":
        proc.send_signal(signal.SIGINT)
    else:
        (ws / "release").write_text(how)
    proc.communicate(timeout=120)
    return proc.returncode


def test_once_and_json_show_a_running_sweep_advancing(wws, exp):
    proc = _start(wws, "adv")
    try:
        first = _wait_running(exp, wws, "adv", proc)
        time.sleep(2.0)
        second = _snap(exp, wws, "adv")
        assert set(first) == JSON_KEYS and set(first["counts"]) == COUNT_KEYS
        assert all(set(p) == POINT_KEYS for p in first["points"])
        assert first["state"] == "running" and first["active"] and first["exit_code"] is None
        assert first["method"] == "grid" and first["size"] == 3 and first["metric"] == "val_loss"
        assert first["counts"]["running"] == 2 and first["counts"]["pending"] == 1
        steps = {p["run"]: p["step"] for p in first["points"]}
        for point in second["points"][:2]:
            assert point["status"] == "running" and point["step"] > steps[point["run"]]
            assert point["total"] == 10000 and 0 < point["percent"] < 100
            assert point["rate"] > 0 and point["eta_s"] > 0 and point["elapsed_s"] > 0
            assert point["metric"] is not None
        assert second["points"][2]["status"] == "pending" and second["points"][2]["step"] is None
        assert second["points"][1]["params"] == {"lr": 0.2}

        once = exp("watch", "--sweep", "adv", "-e", "e", "--once", cwd=wws)
        assert once.returncode == 0, once.stderr
        lines = once.stdout.splitlines()
        assert lines[0].startswith("sweep e/adv") and "running" in lines[0] and "3 points" in lines[0]
        assert "2 running, 1 pending" in lines[1]
        assert re.match(r"point +params +status +step +% +steps/s +ETA +val_loss +elapsed", lines[2])
        assert re.match(r"adv-000 +lr=0.1 +running +\d+ +\d+% +[\d.]+ +\d+:\d\d +[\d.]+ +\d+s", lines[3]), lines[3]
        assert re.match(r"adv-002 +lr=0.3 +pending +- ", lines[5])
    finally:
        (wws / "release").write_text("ok")
        proc.communicate(timeout=120)
    assert proc.returncode == 0
    done = _snap(exp, wws, "adv")
    assert done["state"] == "completed" and not done["active"] and done["exit_code"] == 0
    assert done["counts"]["completed"] == 3 and done["best"]["run"] in {p["run"] for p in done["points"]}
    assert all(p["eta_s"] is None for p in done["points"])


@pytest.mark.parametrize(("how", "code", "state"), [("ok", 0, "completed"), ("fail", 1, "failed"),
                                                    ("interrupt", 130, "interrupted")])
def test_watch_exits_with_the_sweeps_code_when_it_ends(wws, exp, how, code, state):
    proc = _start(wws, how, lrs="0.1,0.2")
    try:
        _wait_running(exp, wws, how, proc)
        watcher = subprocess.Popen([sys.executable, "-m", "exptool", "watch", "--sweep", how, "-e", "e"], cwd=wws,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert watcher.poll() is None  # still watching a running sweep
    finally:
        assert _end(wws, proc, how) == code
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == code, out + err
    first = out.splitlines()[0]
    assert first.startswith(f"sweep e/{how}") and state in first and f"exit {code}" in first


def test_ctrl_c_stops_watching_and_leaves_the_sweep_alone(wws, exp):
    proc = _start(wws, "cc", lrs="0.1,0.2")
    try:
        _wait_running(exp, wws, "cc", proc)
        watcher = subprocess.Popen([sys.executable, "-m", "exptool", "watch", "--sweep", "cc", "-e", "e"], cwd=wws,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        watcher.send_signal(signal.SIGINT)
        out, err = watcher.communicate(timeout=30)
        assert watcher.returncode == 130 and "the sweep goes on" in err
        step = _snap(exp, wws, "cc")["points"][0]["step"]
        time.sleep(1.5)
        after = _snap(exp, wws, "cc")
        assert after["state"] == "running" and after["points"][0]["step"] > step and proc.poll() is None
    finally:
        assert _end(wws, proc, "ok") == 0


def test_a_sweep_whose_process_died_is_stale(wws, exp):
    proc = _start(wws, "dead", lrs="0.1,0.2")
    assert _end(wws, proc, "fail") == 1  # released at once: lr=0.2 fails
    record_path = wws / "experiments" / "e" / ".sweeps" / "dead" / "sweep.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "state": "running"}))  # as if killed before recording its end
    res = exp("watch", "--sweep", "dead", "-e", "e", cwd=wws)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "stopped without recording how it ended" in res.stderr
    snap = _snap(exp, wws, "dead")
    assert snap["state"] == "stale" and not snap["active"] and snap["exit_code"] == 1


def test_bad_usage(wws, exp):
    res = exp("watch", "--sweep", "nope", "-e", "e", cwd=wws)
    assert res.returncode == 2 and res.stderr.startswith("error: ") and "has no sweep 'nope'" in res.stderr
    assert len(res.stderr.splitlines()) <= 2
    res = exp("watch", "e/run", "--sweep", "nope", "-e", "e", cwd=wws)
    assert res.returncode == 2 and res.stderr.startswith("error: ") and "not both" in res.stderr
    (wws / "experiments" / "e" / ".sweeps" / "bad").mkdir(parents=True)
    (wws / "experiments" / "e" / ".sweeps" / "bad" / "sweep.json").write_text("{not json")
    res = exp("watch", "--sweep", "bad", "-e", "e", cwd=wws)
    assert res.returncode == 2 and "Cannot read the sweep record" in res.stderr  # unreadable is not missing


def test_once_fits_a_small_terminal(wws, exp):
    pexpect = pytest.importorskip("pexpect")
    (wws / "release").write_text("ok")
    res = exp("sweep", "-e", "e", "--name", "many", "-c", "base", "-t", "wt:slow", "--metric", "val_loss",
              "--set", "lr=" + ",".join(f"0.{i}1" for i in range(1, 10)), "--set", "+a_long_parameter_name=1,2",
              "-j", "2", cwd=wws)
    assert res.returncode == 0, res.stdout + res.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # the pty's size decides
    child = pexpect.spawn(sys.executable, ["-m", "exptool", "watch", "--sweep", "many", "-e", "e", "--once"],
                          cwd=str(wws), env=env, encoding="utf-8", timeout=60, dimensions=(12, 60))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    lines = [line for line in ANSI.sub("", child.before).replace("\r", "").split("\n") if line]
    assert lines[0].startswith("sweep e/many") and "completed" in lines[0]
    assert len(lines) <= 12 and max(len(line) for line in lines) <= 60
    assert lines[-1].lstrip().startswith("... ") and "more" in lines[-1]


def test_live_view_on_a_terminal_redraws_and_exits_with_the_code(wws, exp):
    pexpect = pytest.importorskip("pexpect")
    proc = _start(wws, "live", lrs="0.1,0.2")
    try:
        _wait_running(exp, wws, "live", proc)
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
        env["TERM"] = "xterm"
        child = pexpect.spawn(sys.executable, ["-m", "exptool", "watch", "--sweep", "live", "-e", "e"],
                              cwd=str(wws), env=env, encoding="utf-8", timeout=60, dimensions=(10, 70))
        child.expect(r"live-001")  # a frame is on the screen while the sweep runs
        assert child.isalive()
    finally:
        assert _end(wws, proc, "fail") == 1
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1, child.before
    text = ANSI.sub("\n", child.before).replace("\r", "\n")  # the redraws move the cursor between lines
    assert "failed" in text and "exit 1" in text
    assert max(len(line) for line in text.split("\n")) <= 70
