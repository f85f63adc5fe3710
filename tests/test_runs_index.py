"""The per-experiment index: rows from the files, the cache a copy that follows every change."""

from __future__ import annotations

import json
import os
import time

import pytest

from exptool.runs import index
from exptool.runs.index import load_rows
from exptool.tracking import Logger
from exptool.workspace import Workspace


def _age(path, seconds=10):
    """Make a file look older, so the cache may keep it (fresh files are always read again)."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def _make(w, name, config, metrics=None, **record):
    run = w.run("e", name)
    run.create()
    run.config_path.write_text(json.dumps(config))
    if record:
        run.update_record(**record)
    if metrics:
        with Logger(run=run, make_current=False, echo=False) as logger:
            logger.initialize("csv")
            for step, values in enumerate(metrics):
                logger.log(values, step)
    for path in run.path.rglob("*"):
        _age(path)
    return run


@pytest.fixture
def w(ws):
    w = Workspace(ws)
    _make(w, "a", {"optimizer": {"lr": 0.1}, "layers": [1, 2]}, [{"loss": 2.0}, {"loss": 1.0}], tags=["x"])
    _make(w, "b", {"optimizer": {"lr": 0.01}}, [{"loss": 3.0, "acc": 0.5}])
    return w


def test_rows_from_files_and_from_the_cache_agree(w):
    cold = load_rows(w, ["e"])
    assert (w.experiments_dir / "e" / ".index" / "record.json").exists()
    warm = load_rows(w, ["e"])
    for rows in (cold, warm):
        a, b = rows
        assert (a.name, a.tags, a.config, a.last_step) == ("a", ["x"], {"optimizer.lr": 0.1, "layers": [1, 2]}, 1)
        assert a.stats["loss"] == [1.0, 1, 1.0, 1, 2.0, 0]
        assert (b.name, b.tags, b.last_metrics()) == ("b", [], {"loss": 3.0, "acc": 0.5})
        assert a.status == "completed"  # a Logger-only run records how it ended


def test_last_values_without_the_extrema_part(w):
    load_rows(w, ["e"])
    a = load_rows(w, ["e"], parts=("record", "metrics"))[0]
    assert a.stats["loss"][0] == 1.0 and a.stats["loss"][2:] == [None, None, None, None]


def test_the_cache_follows_every_change(w):
    load_rows(w, ["e"])
    a = w.run("e", "a")
    a.update_record(tags=["x", "y"], status="completed")
    a.config_path.write_text(json.dumps({"optimizer": {"lr": 0.5}}))
    with open(a.metrics_path, "a") as fh:
        fh.write("2,3.0,0.25\n")
    rows = load_rows(w, ["e"])
    assert rows[0].tags == ["x", "y"] and rows[0].status == "completed"
    assert rows[0].config == {"optimizer.lr": 0.5}
    assert rows[0].last_step == 2 and rows[0].stats["loss"][2] == 0.25
    # An in-place edit of the same size, in the same second as the last read, is seen too.
    a.config_path.write_text(json.dumps({"optimizer": {"lr": 0.7}}))
    assert load_rows(w, ["e"])[0].config == {"optimizer.lr": 0.7}


def test_removed_and_new_runs(w):
    load_rows(w, ["e"])
    import shutil

    shutil.rmtree(w.run("e", "b").path)
    _make(w, "c", {"k": 1})
    assert [r.name for r in load_rows(w, ["e"])] == ["a", "c"]
    cached = json.loads((w.experiments_dir / "e" / ".index" / "config.json").read_text())
    assert set(cached["runs"]) == {"a", "c"}


def test_a_damaged_cache_is_ignored(w):
    load_rows(w, ["e"])
    path = w.experiments_dir / "e" / ".index" / "config.json"
    cached = json.loads(path.read_text())
    cached["runs"]["a"][1][0] = 99  # stamps still match, the entry no longer decodes
    path.write_text(json.dumps(cached))
    assert load_rows(w, ["e"])[0].config == {"optimizer.lr": 0.1, "layers": [1, 2]}
    path.write_text("{corrupt")
    assert load_rows(w, ["e"])[0].config == {"optimizer.lr": 0.1, "layers": [1, 2]}


def test_unreadable_files_are_problems_not_missing(w):
    a = w.run("e", "a")
    a.record_path.write_text("{corrupt")
    a.config_path.write_text("[1, 2]")
    row = load_rows(w, ["e"])[0]
    assert row.status == "unknown"
    assert row.problems == ["run.json is unreadable", "config.json is not a mapping"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_read_only_experiment_still_lists(w):
    exp_dir = w.experiments_dir / "e"
    os.chmod(exp_dir, 0o555)
    try:
        assert [r.name for r in load_rows(w, ["e"])] == ["a", "b"]
    finally:
        os.chmod(exp_dir, 0o755)


def test_racy_files_are_not_cached(w):
    c = w.run("e", "fresh")
    c.create()  # written just now: may change again within the clock's granularity
    load_rows(w, ["e"])
    cached = json.loads((w.experiments_dir / "e" / ".index" / "record.json").read_text())
    assert "fresh" not in cached["runs"] and "a" in cached["runs"]


def test_flatten():
    assert index.flatten({"a": {"b": 1, "c": {"d": [1]}}, "e": {}, "f": None}) == {"a.b": 1, "a.c.d": [1], "e": {},
                                                                                  "f": None}
