"""CSV writer: late columns, same-step rows, resume, repairs; read back with csv, pandas and exptool's readers."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from exptool.metrics_file import last_row, read_metrics
from exptool.tracking.writers.csv_writer import CsvWriter


@pytest.fixture
def path(tmp_path):
    return tmp_path / "logs" / "metrics.csv"


def test_late_column_keeps_values_in_place_and_rewrites_once(path):
    writer = CsvWriter(path=path)
    for step in range(6000):
        metrics = {"loss": step * 0.25}
        if step >= 5000:
            metrics["val"] = -float(step)
        writer.log_metrics(step, metrics, 1000.0 + step)
    writer.close()
    assert writer.rewrites == 2  # the first column, then "val" at step 5000: never once per row
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["step", "wall_time", "loss", "val"]
    assert len(frame) == 6000 and frame["step"].tolist() == list(range(6000))
    assert (frame["loss"] == frame["step"] * 0.25).all()
    assert frame["val"][:5000].isna().all() and (frame["val"][5000:] == -frame["step"][5000:]).all()
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert all(len(row) == 4 for row in rows)  # older rows were padded, not left ragged


def test_same_step_calls_share_one_row_and_order_does_not_matter(path):
    writer = CsvWriter(path=path)
    writer.log_metrics(0, {"a": 1.0, "b": 2.0}, 1.0)
    writer.log_metrics(0, {"c": 3.0}, 1.5)  # new column and same step: merged after the rewrite
    writer.log_metrics(1, {"b": 5.0, "a": 4.0}, 2.0)  # keys in another order than the columns
    writer.log_metrics(1, {"a": 6.0}, 2.5)  # same step but "a" again: a second row
    writer.close()
    frame = pd.read_csv(path).fillna(-1.0)
    assert frame.to_dict("list") == {
        "step": [0, 1, 1],
        "wall_time": [1.0, 2.0, 2.5],
        "a": [1.0, 4.0, 6.0],
        "b": [2.0, 5.0, -1.0],
        "c": [3.0, -1.0, -1.0],
    }
    assert last_row(path) == (1, {"a": 6.0})


def test_resume_drops_later_rows_and_appends(path):
    writer = CsvWriter(path=path)
    for step in range(10):
        writer.log_metrics(step, {"loss": float(step)}, float(step))
    writer.close()
    writer = CsvWriter(path=path, resume_step=4)
    for step in range(5, 8):
        writer.log_metrics(step, {"loss": 100.0 + step, "new": 1.0}, float(step))
    writer.close()
    series = read_metrics(path)
    assert [s for s, _ in series["loss"]] == list(range(8))
    assert series["loss"][4] == (4, 4.0) and series["loss"][5] == (5, 105.0)
    assert series["new"] == [(5, 1.0), (6, 1.0), (7, 1.0)]


def test_resume_method_on_an_open_writer(path):
    writer = CsvWriter(path=path)
    for step in range(5):
        writer.log_metrics(step, {"x": float(step)}, 0.0)
    writer.resume(1)
    writer.log_metrics(2, {"x": 20.0}, 0.0)
    writer.close()
    assert read_metrics(path)["x"] == [(0, 0.0), (1, 1.0), (2, 20.0)]


def test_row_cut_short_by_a_crash_is_dropped_on_reopen(path):
    path.parent.mkdir(parents=True)
    path.write_text("step,wall_time,loss\n0,1.0,0.5\n1,2.0,0.4\n2,3.0,0.3", encoding="utf-8")
    writer = CsvWriter(path=path)
    writer.log_metrics(2, {"loss": 0.25}, 3.5)
    writer.close()
    assert read_metrics(path) == {"loss": [(0, 0.5), (1, 0.4), (2, 0.25)]}


def test_foreign_file_is_moved_aside_not_overwritten(path):
    path.parent.mkdir(parents=True)
    path.write_text("epoch;loss\n1;2\n", encoding="utf-8")
    writer = CsvWriter(path=path)
    writer.log_metrics(0, {"loss": 1.0}, 0.0)
    writer.close()
    backups = list(path.parent.glob("metrics.csv.*.bak"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == "epoch;loss\n1;2\n"
    assert read_metrics(path) == {"loss": [(0, 1.0)]}


def test_awkward_names_and_special_values(path):
    writer = CsvWriter(path=path)
    writer.log_metrics(0, {'acc, "top-1"': 0.5, "nan": float("nan"), "inf": float("inf"), "big": 1e300}, 0.0)
    writer.close()
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["step", "wall_time", 'acc, "top-1"', "nan", "inf", "big"]
    row = frame.iloc[0]
    assert row['acc, "top-1"'] == 0.5 and pd.isna(row["nan"]) and row["inf"] == float("inf") and row["big"] == 1e300


def test_reopening_appends_and_keeps_history(path):
    for run in range(2):
        writer = CsvWriter(path=path)
        writer.log_metrics(run, {"loss": float(run)}, 0.0)
        writer.close()
    assert read_metrics(path) == {"loss": [(0, 0.0), (1, 1.0)]}


def test_a_file_saved_again_with_a_byte_order_mark_is_read_and_continued(path):
    """Excel saves CSVs as UTF-8 with a BOM: it used to turn ``wall_time`` into a metric and make the
    writer move the file aside."""
    from exptool.metrics_file import metric_names

    path.parent.mkdir(parents=True)
    path.write_bytes("\ufeffstep,wall_time,loss\n0,1.0,0.5\n1,2.0,0.4\n".encode())
    assert read_metrics(path) == {"loss": [(0, 0.5), (1, 0.4)]}
    assert metric_names(path) == ["loss"] and last_row(path) == (1, {"loss": 0.4})
    writer = CsvWriter(path=path)
    writer.log_metrics(2, {"loss": 0.3}, 3.0)
    writer.close()
    assert not list(path.parent.glob("*.bak"))
    assert read_metrics(path) == {"loss": [(0, 0.5), (1, 0.4), (2, 0.3)]}


def test_crlf_line_endings_are_normalised_before_padding_a_new_column(path):
    """Rows saved with CRLF used to get the new column's padding after their CR, breaking the row."""
    import pandas as pd

    path.parent.mkdir(parents=True)
    path.write_bytes(b"step,wall_time,loss\r\n0,1.0,0.5\r\n1,2.0,0.4\r\n")
    writer = CsvWriter(path=path)
    writer.log_metrics(2, {"loss": 0.3, "acc": 0.9}, 3.0)
    writer.close()
    assert b"\r" not in path.read_bytes()
    frame = pd.read_csv(path)
    assert frame["step"].tolist() == [0, 1, 2] and frame["loss"].tolist() == [0.5, 0.4, 0.3]
    assert frame["acc"].isna().tolist() == [True, True, False]
