"""The metrics CSV readers that `exp ls`, `exp show` and `exp plot` use."""

from __future__ import annotations

import pytest

from exptool.metrics_file import last_row, metric_names, read_metrics

CSV = "step,wall_time,loss,acc\n0,1.0,2.5,\n1,2.0,1.5,0.25\n2,3.0,,0.5\n"


def test_read_metrics_skips_empty_cells(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(CSV)
    assert read_metrics(path) == {"loss": [(0, 2.5), (1, 1.5)], "acc": [(1, 0.25), (2, 0.5)]}
    assert metric_names(path) == ["loss", "acc"]
    assert last_row(path) == (2, {"acc": 0.5})


def test_a_row_cut_by_a_crash_is_ignored(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(CSV + "3,4.0,0.12")  # the writer died after "0.12" of "0.1234,0.75\n"
    assert read_metrics(path)["loss"] == [(0, 2.5), (1, 1.5)]
    assert last_row(path) == (2, {"acc": 0.5})


def test_nul_bytes_and_garbage_rows_are_skipped(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_bytes(CSV.encode() + b"\x00\x00\x00\n" + b"x,y,z\n" + b"4,5.0,0.5,0.75,99,99\n" + b"5,6.0,0.25,1\n")
    series = read_metrics(path)
    assert series["loss"] == [(0, 2.5), (1, 1.5), (5, 0.25)]
    assert series["acc"][-1] == (5, 1.0)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_metrics(tmp_path / "nope.csv")
    assert last_row(tmp_path / "nope.csv") == (None, {})
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert read_metrics(empty) == {}
    assert last_row(empty) == (None, {})


def test_the_csv_readers_agree_on_a_damaged_file(tmp_path):
    """read_metrics and the run summary's rebuild share one tolerant row loop: same rows kept, same skipped."""
    from exptool.runs import summary

    path = tmp_path / "metrics.csv"
    damaged = b"inf,4.0,9,9\n\x00nan,5.0,9,9\n" + b"x,y,z\n" + b"6,7.0,oops,0.75\n" + b"7,8.0,0.1"
    path.write_bytes(CSV.encode() + damaged)
    series = read_metrics(path)
    assert series == {"loss": [(0, 2.5), (1, 1.5)], "acc": [(1, 0.25), (2, 0.5), (6, 0.75)]}
    stats, last = summary.rebuild(path)
    assert last == 6
    assert summary.as_dicts(stats)["acc"]["max"] == 0.75 and summary.as_dicts(stats)["loss"]["last"] == 1.5
