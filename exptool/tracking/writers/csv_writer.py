"""CSV writer: the run's ``logs/metrics.csv`` in the wide format of :mod:`exptool.metrics_file`.

Every ``log_metrics`` call leaves its row in the operating system's hands (one ``write`` and flush),
so a killed process loses nothing already logged. Two calls for the same step with different
metrics share one row: the last row is rewritten in place (it only grows, so a crash in between
leaves either the old or the new row). A metric seen for the first time adds a column: the file is
rewritten once, atomically (temp file + ``os.replace``), with older rows padded with empty cells.

After a failed write (a full disk) :meth:`CsvWriter.recover` cuts the file back to its last complete
row, so the Logger can replay what failed. ``metrics.csv`` is never written through a link.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..._atomic import atomic_write_bytes, remove_orphan_temps
from ..._fs import open_file
from ...metrics_file import RESERVED_COLUMNS
from ...runtime import warn
from .base import _FileWriter

_HEADER_PREFIX = list(RESERVED_COLUMNS)
_OPEN: dict[tuple[int, str], CsvWriter] = {}  # (pid, real path) -> this process's open writer of that file


def _key(path: str | os.PathLike) -> tuple[int, str]:
    # The pid keeps a forked child (a DataLoader worker) from sharing the parent's writer.
    return os.getpid(), os.path.realpath(path)


def _header_line(columns: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(_HEADER_PREFIX + columns)
    return buf.getvalue().encode("utf-8")


def _backup_name(path: Path) -> Path:
    """``metrics.csv.20260101-120000.bak`` (``...-2.bak`` and on when taken: a backup is never overwritten)."""
    stem = f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}"
    backup, n = path.with_name(f"{stem}.bak"), 1
    while os.path.lexists(backup):
        n += 1
        backup = path.with_name(f"{stem}-{n}.bak")
    return backup


def _row_step(line: bytes) -> int | None:
    try:
        return int(float(line.split(b",", 1)[0]))
    except ValueError:
        return None


class CsvWriter(_FileWriter):
    """Write metrics to ``run.metrics_path`` (or ``path``) as a wide CSV.

    One writer per file and process: creating a second one for a file that is open (say a
    template-style ``Logger(exp, run)`` inside ``exp train``, whose ``ctx.logger`` writes the same
    run) returns the open writer, shared; it closes when its last user closes it. Two handles on
    one file would lose rows: a new column rewrites the file under the other handle.

    Args:
        run: the run whose ``logs/metrics.csv`` to write.
        resume_step: drop rows for steps after this one before appending.
        path: write here instead (tests, custom layouts).
    """

    name = "csv"
    _users = 0  # loggers holding this open writer

    def __new__(cls, run: Any = None, resume_step: int | None = None, path: str | os.PathLike | None = None):
        if path is None and run is None:
            raise TypeError("CsvWriter needs a run or a path")
        shared = _OPEN.get(_key(path if path is not None else run.metrics_path))
        return shared if shared is not None else super().__new__(cls)

    def __init__(self, run: Any = None, resume_step: int | None = None, path: str | os.PathLike | None = None):
        if self._users:  # an open writer handed out again by __new__
            self._users += 1
            if resume_step is not None:
                self.resume(resume_step)
            return
        self.path = Path(path) if path is not None else Path(run.metrics_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rewrites = 0  # whole-file rewrites so far (new columns, resume): tests and benchmarks read it
        self._columns: list[str] = []
        self._index: dict[str, int] = {}
        self._formats: dict[tuple[str, ...], str | None] = {}
        self._last: tuple[int, float, dict[str, float], int] | None = None  # step, time, values, offset
        self._fh: Any = None
        self._size = 0
        self._load(resume_step)
        self._key = _key(self.path)
        self._users = 1
        _OPEN[self._key] = self

    # -- opening and rewriting -------------------------------------------------------------
    def _load(self, resume_step: int | None) -> None:
        """Adopt an existing file's columns, repair a cut-off last line, apply ``resume_step``."""
        remove_orphan_temps(self.path)  # left by a process killed while adding a column
        data = self._read_all()
        if not data:
            self._reopen(new=True)
            return
        first, _, rest = data.partition(b"\n")
        try:  # a stray non-UTF-8 byte (an edit in another program) must not cost the history
            header = next(csv.reader(io.StringIO(first.decode("utf-8-sig", errors="replace"))), [])
        except csv.Error:
            header = []
        if header[:2] != _HEADER_PREFIX:
            backup = _backup_name(self.path)
            os.replace(self.path, backup)
            warn(f"{self.path} was not an exptool metrics file; moved it to {backup.name}")
            self._reopen(new=True)
            return
        self._set_columns(header[2:])
        lines = rest.split(b"\n")
        cut = bool(lines and lines[-1])  # a row without its newline: cut short by a crash
        lines = [ln.rstrip(b"\r") for ln in lines[:-1]]
        lines = [ln for ln in lines if ln]
        kept = lines if resume_step is None else [ln for ln in lines if (_row_step(ln) or 0) <= resume_step]
        if cut or b"\r" in data or len(kept) != len(lines):  # CRLF (saved by a spreadsheet): back to LF
            self._rewrite(kept)
        else:
            self._reopen()

    def _set_columns(self, columns: list[str]) -> None:
        self._columns = list(columns)
        self._index = {name: i for i, name in enumerate(self._columns)}
        self._formats.clear()

    def _read_all(self) -> bytes:
        try:
            with open_file(self.path, "rb") as fh:  # a link in its place is refused, not followed
                return fh.read()
        except FileNotFoundError:
            return b""

    def _reopen(self, new: bool = False) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if new:
            self._fh = open_file(self.path, "w+b")  # held open for the writer's lifetime
            self._fh.write(_header_line(self._columns))
            self._fh.flush()
        else:
            self._fh = open_file(self.path, "r+b")
        self._size = self._fh.seek(0, os.SEEK_END)

    def _read_rows(self) -> list[bytes]:
        self._fh.flush()
        data = self._read_all()
        return [ln for ln in data.partition(b"\n")[2].split(b"\n") if ln]

    def recover(self) -> None:
        """After a failed write: reopen the file and cut it back to the last row written completely.

        The Logger then replays the calls that failed. A failure during a column rewrite (the file
        on disk still has the old header) starts again from what is on disk.
        """
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()  # may try to write the failed buffer once more: cut off below
            except OSError:
                pass
        try:
            with open_file(self.path, "rb") as disk:
                first = disk.readline()
        except FileNotFoundError:
            first = b""
        if fh is None or first != _header_line(self._columns):
            self._last = None  # (the next row for the same step gets a row of its own)
            self._load(None)
            return
        self._fh = open_file(self.path, "r+b")
        last = self._last
        good = last[3] if last is not None else self._size
        self._fh.truncate(good)
        self._fh.seek(good)
        if last is not None:  # an in-place merge may have overwritten part of the last row
            self._fh.write(self._line(last[0], last[1], last[2]))
        self._fh.flush()
        self._size = self._fh.tell()

    def _rewrite(self, rows: list[bytes]) -> None:
        """Replace the file atomically with the current header and ``rows`` padded to its width."""
        width = len(self._columns) + 2
        out = [_header_line(self._columns)]
        for row in rows:
            cells = row.count(b",") + 1  # rows hold numbers only, so commas are cell separators
            out.append(row + b"," * max(0, width - cells) + b"\n")
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        # With no rows there is nothing a power cut could lose: skip the (slow) fsync.
        atomic_write_bytes(self.path, b"".join(out), fsync=bool(rows))
        self.rewrites += 1
        self._reopen()
        if self._last is not None:
            step, wall_time, values, _ = self._last
            self._last = (step, wall_time, values, self._size - len(out[-1]))

    def _add_columns(self, names: list[str]) -> None:
        rows = self._read_rows()
        self._set_columns(self._columns + names)
        self._rewrite(rows)

    # -- rows --------------------------------------------------------------------------------
    def _format_for(self, keys: tuple[str, ...]) -> str | None:
        """A %-format for rows holding exactly ``keys`` in column order (None: keys out of order)."""
        positions = [self._index[k] for k in keys]
        if any(b <= a for a, b in zip(positions, positions[1:], strict=False)):
            fmt = None
        else:
            cells = ["%d", "%r"] + [""] * len(self._columns)
            for p in positions:
                cells[p + 2] = "%r"
            fmt = ",".join(cells) + "\n"
        self._formats[keys] = fmt
        return fmt

    def _line(self, step: int, wall_time: float, metrics: Mapping[str, float]) -> bytes:
        keys = tuple(metrics)
        fmt = self._formats[keys] if keys in self._formats else self._format_for(keys)
        if fmt is not None:
            return (fmt % (step, wall_time, *metrics.values())).encode()
        cells = [""] * len(self._columns)
        for name, value in metrics.items():
            cells[self._index[name]] = repr(value)
        return f"{step},{wall_time!r},{','.join(cells)}\n".encode()

    def log_metrics(self, step: int, metrics: Mapping[str, float], wall_time: float) -> None:
        index = self._index
        new = [name for name in metrics if name not in index]
        if new:
            self._add_columns(new)
        last = self._last
        # The writer's state changes only once the row is flushed: after a failure, recover()
        # cuts the file back to the state below and the same call is replayed.
        if last is not None and last[0] == step and last[2].keys().isdisjoint(metrics):
            merged = {**last[2], **metrics}
            line = self._line(step, last[1], merged)
            self._fh.seek(last[3])
            self._fh.write(line)
            self._fh.flush()
            self._size = last[3] + len(line)
            self._last = (step, last[1], merged, last[3])
        else:
            line = self._line(step, wall_time, metrics)
            self._fh.write(line)
            self._fh.flush()
            self._last = (step, wall_time, metrics, self._size)
            self._size += len(line)

    def resume(self, step: int) -> None:
        rows = self._read_rows()
        kept = [ln for ln in rows if (_row_step(ln) or 0) <= step]
        self._last = None
        if len(kept) != len(rows):
            self._rewrite(kept)

    def close(self) -> None:
        self._users -= 1
        if self._users > 0:
            self.flush()
            return
        super().close()
        if _OPEN.get(self._key) is self:
            del _OPEN[self._key]
