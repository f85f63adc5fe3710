"""The run summary (<run>/summary.json): written by the Logger, exact against the CSV, rebuilt when stale."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from exptool.runs import summary, tracker
from exptool.tracking import Logger
from exptool.workspace import Workspace


def _expected(rows: list[tuple[int, dict[str, float]]]) -> dict[str, dict]:
    """Last/min/max (and their steps) computed the obvious way."""
    out: dict[str, dict] = {}
    for step, values in rows:
        for name, v in values.items():
            e = out.setdefault(name, {"last": None, "step": None, "min": None, "min_step": None, "max": None,
                                      "max_step": None})
            e["last"], e["step"] = v, step
            if v != v:
                continue
            if e["min"] is None or v < e["min"]:
                e["min"], e["min_step"] = v, step
            if e["max"] is None or v > e["max"]:
                e["max"], e["max_step"] = v, step
    return out


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for name in a:
        for k in a[name]:
            x, y = a[name][k], b[name][k]
            if not (x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))):
                return False
    return True


def _read_file(run) -> dict:
    return json.loads((run.path / "summary.json").read_text())


def test_logger_writes_an_exact_summary(run):
    rng = random.Random(1)
    logged = []
    with Logger(run=run, make_current=False, echo=False) as logger:
        logger.initialize("csv")
        for step in range(300):
            values = {"loss": rng.random(), "acc": rng.random()}
            if step == 0:
                values["loss"] = float("nan")  # a leading NaN must not hide the real minimum
            if step == 7:
                values["acc"] = float("inf")
            logger.log(values, step)
            logged.append((step, values))
            if step % 25 == 0:  # another metric at the same step: one CSV row, its own key group
                extra = {"val_acc": rng.random()}
                logger.log(extra, step)
                logged.append((step, extra))
    data = _read_file(run)
    assert data["format"] == 1 and data["last_step"] == 299
    assert _same(data["metrics"], _expected(logged))
    assert data["metrics"]["acc"]["max"] == math.inf and data["metrics"]["acc"]["max_step"] == 7
    assert data["metrics"]["val_acc"]["step"] == 275
    # The same numbers when rebuilt from the CSV alone.
    stats, last = summary.rebuild(run.metrics_path)
    assert last == 299 and _same(summary.as_dicts(stats), data["metrics"])
    assert summary.read(run.path)[2] == "summary"  # fresh: trusted as is


def test_all_nan_metric_has_no_min_or_max(run):
    with Logger(run=run, make_current=False, echo=False) as logger:
        logger.initialize("csv")
        for step in range(3):
            logger.log({"bad": float("nan")}, step)
    m = _read_file(run)["metrics"]["bad"]
    assert m["min"] is None and m["max"] is None and math.isnan(m["last"]) and m["step"] == 2


def test_written_at_most_about_once_a_second(run, monkeypatch):
    writes = []
    real = tracker.write
    monkeypatch.setattr(tracker, "write", lambda *a, **k: writes.append(time.monotonic()) or real(*a, **k))
    start = time.monotonic()
    with Logger(run=run, make_current=False, echo=False) as logger:
        logger.initialize("csv")
        for step in range(20_000):
            logger.log({"x": float(step)}, step)
    elapsed = time.monotonic() - start
    # The first call writes at once, then at most one a second, plus the final one at finish.
    assert 2 <= len(writes) <= 2 + int(elapsed / tracker.WRITE_INTERVAL_S) + 1
    assert _read_file(run)["metrics"]["x"]["last"] == 19_999.0


def test_a_resumed_logger_continues_the_summary_and_drops_later_steps(run):
    with Logger(run=run, make_current=False, echo=False) as logger:
        logger.initialize("csv")
        for step in range(10):
            logger.log({"loss": 10.0 - step}, step)  # min 1.0 at step 9
    with Logger(run=run, make_current=False, echo=False, resume_step=4) as logger:
        logger.initialize("csv")
        for step in range(5, 8):
            logger.log({"loss": 20.0}, step)
    m = _read_file(run)["metrics"]["loss"]
    assert (m["min"], m["min_step"], m["max"], m["max_step"], m["last"], m["step"]) == (6.0, 4, 20.0, 5, 20.0, 7)


def test_a_second_session_appending_adopts_the_summary(run):
    with Logger(run=run, make_current=False, echo=False) as logger:
        logger.initialize("csv")
        logger.log({"a": 1.0}, 0)
    with Logger(run=run, make_current=False, echo=False) as logger:  # e.g. an evaluation script later
        logger.initialize("csv")
        logger.log({"b": 5.0}, 1)
    data = _read_file(run)
    assert set(data["metrics"]) == {"a", "b"} and data["last_step"] == 1


def test_two_loggers_of_one_run_share_one_summary(run):
    first = Logger(run=run, make_current=False, echo=False)
    first.initialize("csv")
    second = Logger(run=run, make_current=False, echo=False)
    second.initialize("csv")
    first.log({"a": 1.0}, 0)
    second.log({"b": 2.0}, 1)
    first.finish()
    second.finish()
    assert set(_read_file(run)["metrics"]) == {"a", "b"}


def test_only_rank_zero_keeps_a_summary(run):
    with Logger(run=run, rank=1, make_current=False, echo=False) as logger:
        logger.initialize("csv")
        logger.log({"a": 1.0}, 0)
    assert not (run.path / "summary.json").exists()


def test_a_tensorboard_only_run_has_a_summary_too(run):
    with Logger(run=run, make_current=False, echo=False) as logger:
        logger.initialize("tensorboard")
        logger.log({"loss": 0.5}, 3)
    data = _read_file(run)
    assert data["csv"] is None and data["metrics"]["loss"]["last"] == 0.5
    assert summary.read(run.path)[:2] == ({"loss": [0.5, 3, 0.5, 3, 0.5, 3]}, 3)


def test_reader_folds_rows_appended_since_and_rebuilds_after_a_rewrite(run):
    with Logger(run=run, make_current=False, echo=False) as logger:
        logger.initialize("csv")
        logger.log({"loss": 1.0}, 0)
    with open(run.metrics_path, "a") as fh:  # rows the summary has not seen (a run killed mid-second)
        fh.write("1,2.0,0.25\n2,3.0,0.5\n")
    stats, last, source = summary.read(run.path)
    assert source == "summary+tail" and last == 2 and stats["loss"] == [0.5, 2, 0.25, 1, 1.0, 0]
    # A rewritten CSV (a new column, a spreadsheet edit) is not an append: rebuilt from scratch.
    run.metrics_path.write_text("step,wall_time,loss,acc\n0,1.0,3.0,\n1,2.0,4.0,0.5\n")
    stats, last, source = summary.read(run.path)
    assert source == "csv" and last == 1 and stats["loss"][2:] == [3.0, 0, 4.0, 1] and stats["acc"][0] == 0.5


@pytest.mark.parametrize("content", [None, "{corrupt", '{"format": 99, "metrics": {}}'])
def test_reader_rebuilds_a_missing_or_unreadable_summary(run, content):
    run.metrics_path.write_text("step,wall_time,loss\n0,1.0,2.0\n5,2.0,1.0\n")
    if content is not None:
        (run.path / "summary.json").write_text(content)
    stats, last, source = summary.read(run.path)
    assert (source, last, stats["loss"]) == ("csv", 5, [1.0, 5, 1.0, 5, 2.0, 0])


def test_summary_of_a_killed_run_is_still_exact(ws, tmp_path):
    """SIGKILL between two summary writes: the CSV has rows the summary lacks; readers fold them in."""
    r = Workspace(ws).run("e", "killed")
    r.create()
    script = tmp_path / "train.py"
    script.write_text(
        "import sys, time\n"
        "from exptool.tracking import Logger\n"
        f"logger = Logger(run={str(r.path)!r}, make_current=False, echo=False)\n"
        "logger.initialize('csv')\n"
        "for step in range(100000):\n"
        "    logger.log({'loss': 1.0 / (step + 1)}, step)\n"
        "    if step == 2000:\n"
        "        print('ready', flush=True)\n"
        "    time.sleep(0.0005)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (r.path / "summary.json").exists()
    stats, last, _ = summary.read(r.path)
    expected, expected_last = summary.rebuild(r.metrics_path)
    assert last == expected_last and last > 2000 and stats == expected


def test_clear_logs_and_train_clear_drop_the_summary(run, exp):
    with Logger(run=run, make_current=False, echo=False) as logger:
        logger.initialize("tensorboard")
        logger.log({"loss": 0.5}, 3)
    assert (run.path / "summary.json").exists()
    result = exp("clear-logs", "-e", run.experiment.name, "-r", run.name, "--yes")
    assert result.returncode == 0, result.stderr
    assert not (run.path / "summary.json").exists()
    from exptool.training.prepare import clear_outputs

    (run.path / "summary.json").write_text("{}")
    clear_outputs(run)
    assert not (run.path / "summary.json").exists()


def test_a_summary_that_cannot_be_written_warns_once_and_training_goes_on(run, monkeypatch):
    import logging

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("exptool").addHandler(handler)
    monkeypatch.setattr(tracker, "write", fail)
    try:
        with Logger(run=run, make_current=False, echo=False) as logger:
            logger.initialize("csv")
            for step in range(5):
                logger.log({"loss": 1.0}, step)
    finally:
        logging.getLogger("exptool").removeHandler(handler)
    assert len([m for m in seen if "run summary" in m]) == 1
    assert summary.read(run.path)[1] == 4  # listings rebuild it from the CSV
