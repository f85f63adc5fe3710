"""Long metrics files: opening reads only the ends, a resume cuts the tail in place, a new column
streams the file in bounded memory. Memory is measured with tracemalloc (deterministic), never time."""

from __future__ import annotations

import csv
import tracemalloc

import pandas as pd
import pytest

from exptool import metrics_file
from exptool.metrics_file import end_of_rows_through, last_row, read_metrics
from exptool.tracking.writers.csv_writer import CsvWriter

ROWS = 150_000  # about 12 MB
CHUNK_BYTES = 256 << 10  # streaming chunks this small make the file dozens of them long


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch):
    monkeypatch.setattr(metrics_file, "CHUNK_BYTES", CHUNK_BYTES)


def _long_file(path, rows=ROWS, metrics=8):
    """A metrics file as exptool writes it, built quickly by hand."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [f"m{i}" for i in range(metrics)]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(["step", "wall_time", *names]) + "\n")
        for step in range(rows):
            fh.write(f"{step},{1.7e9 + step * 0.25!r}," + ",".join(repr(step * 0.5 + i) for i in range(metrics)) + "\n")
    return names


def _peak(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def path(tmp_path):
    return tmp_path / "logs" / "metrics.csv"


def test_opening_a_long_file_reads_its_ends_only(path):
    _long_file(path)
    size = path.stat().st_size
    assert size > 40 * CHUNK_BYTES
    writer, peak = _peak(lambda: CsvWriter(path=path))
    assert peak < CHUNK_BYTES, peak  # not the file (about 12 MB), not even a chunk of it
    assert writer.rewrites == 0 and writer.truncations == 0 and path.stat().st_size == size
    writer.log_metrics(ROWS, {"m0": 1.0}, 2e9)
    writer.close()
    assert last_row(path) == (ROWS, {"m0": 1.0})


def test_a_row_cut_by_a_crash_is_cut_off_in_place(path):
    _long_file(path)
    with open(path, "ab") as fh:
        fh.write(b"150000,1.7e9,0.1,0.")  # killed mid-row
    writer, peak = _peak(lambda: CsvWriter(path=path))
    assert peak < CHUNK_BYTES and writer.rewrites == 0 and writer.truncations == 1
    writer.log_metrics(ROWS, {"m1": 2.0}, 2e9)
    writer.close()
    assert path.read_bytes().endswith(b"\n150000,2000000000.0,,2.0,,,,,,\n")


@pytest.mark.parametrize("resume", [ROWS - 3, ROWS - 20_000])
def test_resume_cuts_the_tail_in_place(path, resume):
    names = _long_file(path)
    writer, peak = _peak(lambda: CsvWriter(path=path, resume_step=resume))
    assert writer.rewrites == 0 and writer.truncations == 1
    assert peak < 3 * CHUNK_BYTES, peak  # chunks read backwards, never the file
    assert last_row(path)[0] == resume
    writer.log_metrics(resume + 1, {"m2": 7.0}, 2e9)
    writer.resume(resume - 1)  # again on the open writer
    writer.log_metrics(resume, {"m2": 8.0}, 2e9)
    writer.close()
    series = read_metrics(path)
    assert [s for s, _ in series["m0"]] == list(range(resume))
    assert series["m2"][-1] == (resume, 8.0) and len(series["m2"]) == resume + 1
    assert set(series) == set(names)


def test_resume_scan_stops_at_the_last_row_at_or_before_the_step(tmp_path):
    path = tmp_path / "m.csv"
    body = b"0,1,0.5\n1,1,0.5\n\n2,1,0.5\r\n3,1,0.5\n"
    path.write_bytes(b"step,wall_time,x\n" + body)
    start = len(b"step,wall_time,x\n")
    with open(path, "rb") as fh:
        end = start + len(body)
        assert end_of_rows_through(fh, 3, start, end) == end
        assert end_of_rows_through(fh, 2, start, end) == start + len(b"0,1,0.5\n1,1,0.5\n\n2,1,0.5\r\n")
        assert end_of_rows_through(fh, 1, start, end) == start + len(b"0,1,0.5\n1,1,0.5\n")
        assert end_of_rows_through(fh, -1, start, end) == start
    path.write_bytes(b"step,wall_time,x\n0,1,0\nbad,1,0\n5,1,0\n")
    with open(path, "rb") as fh:  # a row that does not parse is kept, with everything before it
        assert end_of_rows_through(fh, 1, start, path.stat().st_size) == start + len(b"0,1,0\nbad,1,0\n")


def test_a_late_column_streams_the_rewrite_in_bounded_memory(path):
    names = _long_file(path)
    writer = CsvWriter(path=path)
    writer.log_metrics(ROWS, {"m0": 1.0}, 2e9)
    writer.log_metrics(ROWS, {"val/a": 2.0, "val/b": 3.0, "val/c": 4.0}, 2e9)  # same step, three new columns
    _, peak = _peak(lambda: writer.log_metrics(ROWS + 1, {"late": 5.0}, 2e9))
    writer.close()
    assert writer.rewrites == 2  # one per call that brought new metrics, not one per metric
    assert peak < 4 * CHUNK_BYTES, peak  # a few chunks, whatever the file's size (about 12 MB)
    with open(path, newline="") as fh:
        widths = {len(row) for row in csv.reader(fh)}
    assert widths == {2 + len(names) + 4}  # every old row padded to the new width
    frame = pd.read_csv(path)
    assert len(frame) == ROWS + 2 and frame["step"].tolist()[-3:] == [ROWS - 1, ROWS, ROWS + 1]
    assert (frame["m3"][:ROWS] == frame["step"][:ROWS] * 0.5 + 3).all()
    assert frame.iloc[ROWS][["m0", "val/a", "val/b", "val/c"]].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert frame["late"].notna().sum() == 1 and frame["late"].iloc[-1] == 5.0


def test_ragged_and_blank_rows_are_padded_row_by_row(path):
    path.parent.mkdir(parents=True)
    path.write_bytes(b"step,wall_time,a,b\n0,1.0,0.5\n\n1,2.0,0.25,0.75\n2,3.0\n")  # edited by hand
    writer = CsvWriter(path=path)
    writer.log_metrics(3, {"c": 1.0}, 4.0)
    writer.close()
    assert path.read_bytes() == (b"step,wall_time,a,b,c\n0,1.0,0.5,,\n1,2.0,0.25,0.75,\n2,3.0,,,\n"
                                 b"3,4.0,,,1.0\n")


def test_the_fast_chunk_check_still_stops_at_an_early_step_deep_in_the_tail(path):
    """Chunks whose rows are all after the step are skipped in C; a row at or before it is still found."""
    _long_file(path, rows=60_000)
    with open(path, "ab") as fh:
        fh.write(b"7,1.0,0,0,0,0,0,0,0,0\n")  # an evaluation appended with small steps
        where = fh.tell()
        for step in range(60_000, 70_000):
            fh.write(f"{step},1.0,0,0,0,0,0,0,0,0\n".encode())
    with open(path, "rb") as fh:
        header = len(fh.readline())
        assert end_of_rows_through(fh, 30_000, header, path.stat().st_size) == where
        assert end_of_rows_through(fh, 6, header, path.stat().st_size) == header + len(b"".join(
            f"{s},{1.7e9 + s * 0.25!r},".encode() + b",".join(repr(s * 0.5 + i).encode() for i in range(8)) + b"\n"
            for s in range(7)))
