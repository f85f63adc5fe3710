"""exp compare (and exp ls --where/--sort) through the real command line, table widths in a real pty."""

from __future__ import annotations

import csv
import io
import json
import os
import sys

import pytest

from exptool.tracking import Logger
from exptool.workspace import Workspace


@pytest.fixture
def sweep(ws):
    """Experiment `sweep`: four runs differing in lr and width, with loss/val_acc curves and tags."""
    w = Workspace(ws)
    settings = [("lr1", 1e-2, 64, "completed"), ("lr2", 3e-3, 64, "completed"), ("lr3", 3e-4, 128, "failed"),
                ("lr4", 1e-4, 128, "completed")]
    for i, (name, lr, width, status) in enumerate(settings):
        run = w.run("sweep", name)
        run.create()
        config = {"optimizer": {"name": "adam", "lr": lr}, "model": {"width": width, "act": "relu"},
                  "data": {"root": "/datasets/a-rather-long-folder-name-for-the-data"}, "seed": 0}
        run.config_path.write_text(json.dumps(config))
        with Logger(run=run, make_current=False, echo=False) as logger:
            logger.initialize("csv")
            for step in range(5):
                logger.log({"loss": 1.0 / (step + 1 + i), "val_acc": 0.5 + 0.1 * i - 0.01 * (4 - step) ** 2}, step)
        run.update_record(status=status, tags=["sweep"] + (["baseline"] if i == 0 else []))  # after: the
        # Logger of a run without exp train records how it ended
    other = w.run("other", "x")
    other.create()
    other.config_path.write_text(json.dumps({"optimizer": {"lr": 0.5}}))
    return ws


def _json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compare_shows_only_the_keys_that_differ(sweep, exp):
    data = _json(exp("compare", "sweep", "--json"))
    assert data["differing"] == ["optimizer.lr", "model.width"]
    assert data["columns"] == ["name", "status", "tag", "optimizer.lr", "model.width", "loss", "val_acc"]
    assert data["total"] == data["shown"] == 4
    first = data["runs"][0]
    assert set(first) == {"experiment", "name", "path", "status", "created", "tags", "note", "trainer", "last_step",
                          "progress", "config", "metrics", "values", "problems"}
    assert first["config"]["model.act"] == "relu"  # JSON carries the whole config
    assert first["metrics"]["val_acc"] == pytest.approx({"last": 0.5, "step": 4, "min": 0.34, "min_step": 0,
                                                         "max": 0.5, "max_step": 4})
    assert first["values"] == {"name": "lr1", "status": "completed", "tag": ["sweep", "baseline"],
                               "optimizer.lr": 0.01, "model.width": 64, "loss": 0.2, "val_acc": 0.5}
    table = exp("compare", "sweep")
    assert table.returncode == 0
    header = table.stdout.splitlines()[0].split()
    assert header == ["NAME", "STATUS", "TAG", "OPTIMIZER.LR", "MODEL.WIDTH", "LOSS", "VAL_ACC"]
    everything = _json(exp("compare", "sweep", "--all-params", "--json"))["columns"]
    assert "model.act" in everything and "data.root" in everything and "config.seed" in everything


def test_where_sort_limit_columns(sweep, exp):
    data = _json(exp("compare", "sweep", "--where", "optimizer.lr<=3e-3", "--where", "status=completed",
                     "--sort", "-val_acc", "--json"))
    assert [r["name"] for r in data["runs"]] == ["lr4", "lr2"]
    data = _json(exp("compare", "sweep", "-s", "min(loss)", "-n", "2", "-c", "name,max(val_acc),min(loss)",
                     "--json"))
    assert data["total"] == 4 and data["shown"] == 2
    assert data["columns"] == ["name", "max(val_acc)", "min(loss)"]
    assert [r["name"] for r in data["runs"]] == ["lr4", "lr3"]
    assert data["runs"][0]["values"]["min(loss)"] == pytest.approx(1 / 8)
    limited = exp("compare", "sweep", "-n", "1")
    assert "showing 1 of 4 runs" in limited.stderr
    tagged = _json(exp("compare", "sweep", "-w", "tag=baseline", "--json"))
    assert [r["name"] for r in tagged["runs"]] == ["lr1"]


def test_runs_from_several_experiments(sweep, exp):
    data = _json(exp("compare", "sweep", "-r", "other/x", "--json"))
    assert data["columns"][0] == "id" and len(data["runs"]) == 5
    assert "model.width" in data["differing"]  # missing from other/x counts as different
    assert _json(exp("compare", "--all", "--json"))["shown"] == 5
    # Default: the current experiment.
    exp("set", "sweep", "lr1")
    assert _json(exp("compare", "--json"))["shown"] == 4


def test_formats(sweep, exp):
    out = exp("compare", "sweep", "--format", "csv")
    assert out.returncode == 0
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["name", "status", "tag", "optimizer.lr", "model.width", "loss", "val_acc"]
    assert rows[1][:5] == ["lr1", "completed", "sweep,baseline", "0.01", "64"]
    assert float(rows[1][5]) == 0.2  # full precision, not the table's 6 digits
    md = exp("compare", "sweep", "--format", "markdown").stdout.splitlines()
    assert md[0] == "| name | status | tag | optimizer.lr | model.width | loss | val_acc |"
    assert md[1] == "| --- | --- | --- | ---: | ---: | ---: | ---: |"
    assert md[2].startswith("| lr1 | completed | sweep,baseline | 0.01 | 64 |")
    bad = exp("compare", "sweep", "--format", "xml")
    assert bad.returncode == 2 and "Unknown --format 'xml'" in bad.stderr


def test_bad_expressions_exit_2_naming_known_keys(sweep, exp):
    result = exp("compare", "sweep", "--where", "val_accc>0.9")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: Unknown key 'val_accc' in 'val_accc>0.9'. Did you mean val_acc?")
    assert "Metrics: loss, val_acc" in result.stderr and "optimizer.lr" in result.stderr
    assert exp("compare", "sweep", "--sort", "-nope").returncode == 2
    assert exp("ls", "sweep", "--where", "status=").returncode == 2
    assert exp("compare", "nope").returncode == 2


def test_ls_takes_the_same_where_and_sort(sweep, exp):
    data = _json(exp("ls", "sweep", "--where", "val_acc>0.6", "--sort", "-val_acc", "--json"))
    assert [r["name"] for r in data["runs"]] == ["lr4", "lr3"]
    assert data["runs"][0]["tags"] == ["sweep"]
    everywhere = _json(exp("ls", "--where", "optimizer.lr>=0.01", "--json"))  # no EXP: every experiment
    assert [(r["experiment"], r["name"]) for r in everywhere["runs"]] == [("other", "x"), ("sweep", "lr1")]
    table = exp("ls", "sweep", "-w", "tag=baseline")
    assert table.stdout.splitlines()[0].split() == ["RUN", "CREATED", "STATUS", "TAGS", "STEP", "LAST", "METRICS"]
    assert exp("ls", "sweep", "-w", "status=running").stdout.strip() == "No runs match."


def _in_pty(cwd, args, width):
    pexpect = pytest.importorskip("pexpect")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["NO_COLOR"] = "1"
    child = pexpect.spawn(sys.executable, ["-m", "exptool", *args], cwd=str(cwd), env=env, dimensions=(40, width),
                          encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return [ln for ln in child.before.replace("\r\n", "\n").split("\n") if ln]


def test_table_fits_a_real_terminal(sweep):
    """In a narrow pty: whole numbers, dropped columns named (metrics kept before plain config)."""
    lines = _in_pty(sweep, ["compare", "sweep", "--all-params"], 60)
    assert max(len(ln) for ln in lines) < 60  # clear of the edge, as every table of exp
    table = [ln for ln in lines if not ln.startswith(("note:", "  see them"))]
    header = table[0].split()
    assert header[:2] == ["NAME", "STATUS"] and header[-2:] == ["LOSS", "VAL_ACC"]  # metrics outrank config
    assert header[2].startswith("OPTIMIZER")  # a long header over numbers may be cut, never the numbers
    assert "0.0003" in table[3] and "0.0001" in table[4]  # numbers never cut
    assert lines[-2].startswith("note: 5 columns left out to fit 60 characters: tag, ")
    assert lines[-1] == "  see them with --columns KEYS, --format csv or --json"


def test_text_cells_are_cut_with_an_ellipsis(sweep):
    lines = _in_pty(sweep, ["compare", "sweep", "-c", "name,data.root,optimizer.lr"], 40)
    assert max(len(ln) for ln in lines) < 40
    assert lines[1].split()[0] == "lr1" and lines[1].split()[1].endswith("…") and lines[1].endswith("0.01")
    assert not any(ln.startswith("note:") for ln in lines)  # everything fit once cut
    wide = _in_pty(sweep, ["compare", "sweep"], 200)
    assert not any("…" in ln or ln.startswith("note:") for ln in wide) and "0.0003" in wide[3]
