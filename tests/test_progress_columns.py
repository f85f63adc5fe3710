"""Percent done, steps/s and ETA of running runs in `exp ls` and `exp compare` (a real run in another process)."""

from __future__ import annotations

import json
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
        until = Path(ctx.config["until"])
        with ctx.progress(total=10000) as bar:
            step = 0
            while not until.exists():
                step += 1
                ctx.logger.log({"loss": 1.0 / step}, step)
                bar.update(step)
                time.sleep(0.05)

    def quick(ctx):
        with ctx.progress(total=3) as bar:
            for step in (1, 2, 3):
                ctx.logger.log({"loss": 1.0 / step}, step)
                bar.update(step)
    """
)


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


@pytest.fixture
def running(ws: Path, exp):
    """A finished run `done` and a run `live` training in another process until the test ends."""
    (ws / "pt.py").write_text(TRAINER)
    until = ws / "until"
    cfg = ws / "config" / "p.json"
    cfg.write_text(json.dumps({"until": str(until), "logging": {"writers": ["csv"]}}))
    done = exp("train", "-e", "p", "-r", "done", "--create", "-c", str(cfg), "--trainer", "pt.py:quick")
    assert done.returncode == 0, done.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "exptool", "train", "-e", "p", "-r", "live", "--create", "-c", str(cfg),
         "--trainer", "pt.py:slow"],
        cwd=ws, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )

    def live_has_a_rate() -> bool:
        res = exp("ls", "p", "--json")
        runs = {r["name"]: r for r in json.loads(res.stdout)["runs"]} if res.returncode == 0 else {}
        progress = runs.get("live", {}).get("progress") or {}
        return runs["live"]["status"] == "running" and bool(progress.get("rate")) if runs.get("live") else False

    try:
        _wait_for(live_has_a_rate)
        yield ws
    finally:
        until.write_text("")
        assert proc.wait(60) == 0, proc.stderr.read()


def test_ls_shows_percent_rate_and_eta_of_running_runs_only(running, exp):
    runs = {r["name"]: r for r in json.loads(exp("ls", "p", "--json").stdout)["runs"]}
    live, done = runs["live"]["progress"], runs["done"]["progress"]
    assert done is None  # a finished run's percent and ETA say nothing
    assert live["total"] == 10000 and 0 < live["percent"] < 100
    assert 1 < live["rate"] < 40 and live["eta_s"] > 100  # about 20 steps/s, 10,000 steps
    table = exp("ls", "p")
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split()[:6] == ["RUN", "CREATED", "STATUS", "STEP", "DONE", "STEPS/S"]
    row = {line.lstrip("* ").split()[0]: line.split() for line in lines}
    assert row["live"][row["live"].index("running") + 2].endswith("%")
    assert row["done"][row["done"].index("completed") + 2: row["done"].index("completed") + 5] == ["-", "-", "-"]
    # the fields can be asked for like any other: only the running run has them
    chosen = json.loads(exp("ls", "p", "--where", "percent>0", "--json").stdout)["runs"]
    assert [r["name"] for r in chosen] == ["live"]


def test_compare_adds_the_progress_columns_while_a_run_runs(running, exp):
    res = exp("compare", "p", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["columns"][:5] == ["name", "status", "percent", "rate", "eta"]
    by_name = {r["name"]: r for r in data["runs"]}
    assert by_name["done"]["values"]["percent"] is None and by_name["done"]["progress"] is None
    live = by_name["live"]["values"]
    assert 0 < live["percent"] < 100 and live["rate"] > 0 and live["eta"] > 0
    assert [r["name"] for r in json.loads(exp("compare", "p", "--sort", "eta", "--json").stdout)["runs"]] == [
        "live", "done"]  # runs without an ETA come last
    picked = exp("compare", "p", "--columns", "name,percent,eta", "--format", "csv")
    assert picked.returncode == 0, picked.stderr
    assert picked.stdout.splitlines()[0] == "name,percent,eta"


def test_no_progress_columns_when_nothing_runs(ws, exp):
    (ws / "pt.py").write_text(TRAINER)
    res = exp("train", "-e", "p", "-r", "done", "--create", "--trainer", "pt.py:quick")
    assert res.returncode == 0, res.stderr
    assert "DONE" not in exp("ls", "p").stdout.splitlines()[0]
    assert "percent" not in json.loads(exp("compare", "p", "--json").stdout)["columns"]
