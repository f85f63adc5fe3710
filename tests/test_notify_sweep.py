"""`exp sweep --notify CMD` and `[notify]`: one command for the whole sweep, with EXPTOOL_EVENT=sweep."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TRAINERS = textwrap.dedent(
    """
    import time
    from pathlib import Path

    def pt(ctx):
        lr = float(ctx.config["lr"])
        for step in range(1, 4):
            ctx.logger.log({"val_loss": lr * step}, step)
        if lr == 0.3:
            raise ValueError("lr 0.3 diverged")

    def hold(ctx):
        ctx.logger.log({"val_loss": 1.0}, 1)
        (ctx.path / "started").write_text("")
        while not ctx.should_stop:
            time.sleep(0.05)
    """
)
# One line per call (a sweep must call it once), and its EXPTOOL_* variables.
DUMP = "echo called >> {calls}; env | grep '^EXPTOOL_' | sort > {out}"
VARIABLES = ("EXPTOOL_EVENT", "EXPTOOL_SWEEP", "EXPTOOL_EXPERIMENT", "EXPTOOL_SWEEP_PATH", "EXPTOOL_STATUS",
             "EXPTOOL_EXIT_CODE", "EXPTOOL_DURATION_S", "EXPTOOL_POINTS", "EXPTOOL_COMPLETED", "EXPTOOL_FAILED",
             "EXPTOOL_INTERRUPTED", "EXPTOOL_COUNTS", "EXPTOOL_METRIC", "EXPTOOL_BEST", "EXPTOOL_HOST",
             "EXPTOOL_MESSAGE")


@pytest.fixture
def nws(ws: Path) -> Path:
    (ws / "nt.py").write_text(TRAINERS)
    (ws / "config" / "base.json").write_text(json.dumps({"logging": {"writers": ["csv"], "system": False},
                                                         "lr": 0.1}))
    return ws


def _sweep(name: str, *extra: str) -> list[str]:
    return ["sweep", "-e", "e", "--name", name, "-c", "base", "-t", "nt:pt", "--set", "lr=0.1,0.2,0.3",
            "--metric", "val_loss", "-j", "2", *extra]


def _env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_sweep_notifies_once_with_the_documented_variables(nws, exp):
    out, calls = nws / "env.txt", nws / "calls.txt"
    res = exp(*_sweep("s", "--notify", DUMP.format(calls=calls, out=out)))
    assert res.returncode == 1, res.stdout + res.stderr  # the lr=0.3 point failed
    assert calls.read_text().splitlines() == ["called"]  # once for the sweep, never per point
    env = _env(out)
    assert set(VARIABLES) <= set(env)
    assert "EXPTOOL_RUN" not in env
    assert env["EXPTOOL_EVENT"] == "sweep" and env["EXPTOOL_SWEEP"] == "s" and env["EXPTOOL_EXPERIMENT"] == "e"
    assert Path(env["EXPTOOL_SWEEP_PATH"]) == nws / "experiments" / "e" / ".sweeps" / "s"
    assert env["EXPTOOL_STATUS"] == "failed" and env["EXPTOOL_EXIT_CODE"] == "1"
    assert 0 < float(env["EXPTOOL_DURATION_S"]) < 600
    assert (env["EXPTOOL_POINTS"], env["EXPTOOL_COMPLETED"], env["EXPTOOL_FAILED"], env["EXPTOOL_INTERRUPTED"]) == (
        "3", "2", "1", "0")
    counts = json.loads(env["EXPTOOL_COUNTS"])
    assert counts["completed"] == 2 and counts["failed"] == 1 and sum(counts.values()) == 3
    assert env["EXPTOOL_METRIC"] == "val_loss"
    best = json.loads(env["EXPTOOL_BEST"])
    assert best["run"] == "s-000" and best["params"] == {"lr": 0.1} and best["metric"] == "val_loss"
    assert best["value"] == pytest.approx(0.3) and best["index"] == 0
    assert env["EXPTOOL_MESSAGE"].startswith("sweep e/s failed in ")
    assert "2 completed, 1 failed" in env["EXPTOOL_MESSAGE"] and "best e/s-000 val_loss=0.3" in env["EXPTOOL_MESSAGE"]

    # Run again: everything is done or failed earlier; it still ends, so it notifies again, once.
    res = exp(*_sweep("s", "--notify", DUMP.format(calls=calls, out=out)))
    assert res.returncode == 1 and calls.read_text().splitlines() == ["called", "called"]


def test_toml_default_applies_to_the_sweep_and_a_failing_or_slow_notifier_only_warns(nws, exp):
    out, calls = nws / "env.txt", nws / "calls.txt"
    command = DUMP.format(calls=calls, out=out).replace("'", "\\u0027")
    (nws / "exptool.toml").write_text(f'[notify]\ncommand = "{command}"\ntimeout = 1\n')
    args = ["sweep", "-e", "e", "--name", "ok", "-c", "base", "-t", "nt:pt", "--set", "lr=0.1,0.2", "-j", "2"]
    res = exp(*args, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["state"] == "completed"
    env = _env(out)
    assert env["EXPTOOL_STATUS"] == "completed" and env["EXPTOOL_EXIT_CODE"] == "0"
    assert env["EXPTOOL_METRIC"] == "" and env["EXPTOOL_BEST"] == "null"  # no --metric: no best point
    assert calls.read_text().splitlines() == ["called"]

    res = exp(*args, "--notify", "")  # '' turns the default off
    assert res.returncode == 0 and calls.read_text().splitlines() == ["called"]

    res = exp(*args, "--json", "--notify", "echo notifier-ran >&2; exit 7")
    assert res.returncode == 0, res.stderr  # the sweep's outcome, not the notifier's
    assert json.loads(res.stdout)["exit_code"] == 0  # its output stays off stdout
    assert "notifier-ran" in res.stderr and "exited with status 7" in res.stderr

    res = exp(*args, "--notify", "sleep 60")
    assert res.returncode == 0
    assert "did not finish within 1 s and was stopped" in res.stderr


def test_an_interrupted_sweep_notifies_with_130(nws):
    out, calls = nws / "env.txt", nws / "calls.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "exptool", "sweep", "-e", "e", "--name", "i", "-c", "base", "-t", "nt:hold",
         "--set", "lr=0.1,0.2", "-j", "2", "--notify", DUMP.format(calls=calls, out=out)],
        cwd=nws, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = [nws / "experiments" / "e" / f"i-{i:03d}" / "started" for i in range(2)]
    deadline = time.monotonic() + 120
    while not all(p.exists() for p in started):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the points never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    env = _env(out)
    assert env["EXPTOOL_STATUS"] == "interrupted" and env["EXPTOOL_EXIT_CODE"] == "130"
    assert env["EXPTOOL_INTERRUPTED"] == "2" and env["EXPTOOL_COMPLETED"] == "0"
    assert calls.read_text().splitlines() == ["called"]


def test_a_bad_notify_table_stops_the_sweep_before_it_runs(nws, exp):
    (nws / "exptool.toml").write_text('[notify]\ncommand = 3\n')
    res = exp(*_sweep("bad"))
    assert res.returncode == 2 and res.stderr.startswith("error:") and "command must be a string" in res.stderr
    assert not (nws / "experiments" / "e").exists()
