"""What a run's files say right now: status, progress, recent metrics, system metrics, log tail.

:func:`snapshot` reads only files (``run.json``, ``progress.json``, the tails of
``logs/metrics.csv``, ``logs/system.csv`` and ``logs/log.txt``), so it works on a run trained in
another shell, on another node over a shared file system, or under SLURM. ``exp watch`` draws it
and prints it with ``--json``; the keys are documented in docs/cli.md.
"""

from __future__ import annotations

import csv
import io
import math
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK
from .metrics_file import RESERVED_COLUMNS
from .progress_file import describe, read_progress
from .system_file import FILE_NAME as SYSTEM_FILE
from .system_file import last_sample
from .workspace import Run

ENDED = ("completed", "failed", "interrupted", "stale")
_STATUS_CODES = {"completed": EXIT_OK, "failed": EXIT_FAILURE, "interrupted": EXIT_INTERRUPTED, "stale": EXIT_FAILURE}
_METRICS_TAIL_BYTES = 64 * 1024
_LOG_TAIL_BYTES = 8 * 1024
HISTORY_POINTS = 40


def _read_tail(path: Path, size: int) -> tuple[bytes, bytes] | None:
    """First line and last ``size`` bytes of a file; None when it is missing (OSError when unreadable)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return None
    with fh:
        first = fh.readline()
        end = fh.seek(0, os.SEEK_END)
        fh.seek(max(len(first), end - size))
        return first, fh.read()


def metrics_tail(path: Path, points: int = HISTORY_POINTS) -> tuple[int | None, dict[str, float], dict[str, list[Any]]]:
    """Last step, last values and the last ``points`` values of each metric, from the file's end."""
    got = _read_tail(path, _METRICS_TAIL_BYTES)
    if got is None:
        return None, {}, {}
    first, tail = got
    header = next(csv.reader(io.StringIO(first.decode("utf-8-sig", errors="replace"))), [])
    if not header:
        return None, {}, {}
    lines = tail.decode("utf-8", errors="replace").replace("\x00", "").splitlines()
    if not tail.endswith(b"\n"):
        lines = lines[:-1]  # a row still being written
    if len(tail) >= _METRICS_TAIL_BYTES and lines:
        lines = lines[1:]  # the first line of the window may be cut
    names = [(i, name) for i, name in enumerate(header) if name not in RESERVED_COLUMNS]
    history: dict[str, list[Any]] = {name: [] for _, name in names}
    last: dict[str, float] = {}
    step = None
    for row in csv.reader(lines):
        if not row or len(row) > len(header):
            continue
        try:
            row_step = int(float(row[0]))
        except ValueError:
            continue
        step = row_step
        for i, name in names:
            if i < len(row) and row[i] != "":
                try:
                    value = float(row[i])
                except ValueError:
                    continue
                history[name].append(value)
                last[name] = value
    history = {
        name: [v if math.isfinite(v) else None for v in values[-points:]] for name, values in history.items() if values
    }
    return step, last, history


def log_tail(path: Path, lines: int = 20) -> list[str]:
    """The last ``lines`` lines of a text log ([] when missing; OSError when unreadable)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return []
    with fh:
        end = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, end - _LOG_TAIL_BYTES))
        data = fh.read()
    out = data.decode("utf-8", errors="replace").splitlines()
    if end > _LOG_TAIL_BYTES and out:
        out = out[1:]  # the window's first line may be cut
    return out[-lines:] if lines > 0 else []


def _parse_time(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def exit_code_for(status: str, record: dict[str, Any]) -> int | None:
    """The exit code a run's end stands for (None while it has not ended)."""
    if status not in ENDED:
        return None
    code = record.get("exit_code")
    if isinstance(code, int) and not isinstance(code, bool) and status != "stale":
        return code
    return _STATUS_CODES[status]


def snapshot(run: Run, log_lines: int = 20, now: float | None = None) -> dict[str, Any]:
    """Everything ``exp watch`` shows about ``run``, from its files (keys in docs/cli.md).

    Raises:
        OSError: a file exists but cannot be read.
    """
    now = time.time() if now is None else now
    record = run.read_record()
    if record.get("_unreadable"):
        raise OSError(f"cannot read {run.record_path}")
    status = run.status(record)
    remote = False
    host = record.get("host")
    if status == "stale" and host and host != socket.gethostname():
        # The lock is another machine's flock, which this one may not see: trust the record.
        status, remote = "running", True
    last_step, metrics, history = metrics_tail(run.metrics_path)
    progress = describe(read_progress(run.path), now=now)
    system_time, system = last_sample(run.logs_dir / SYSTEM_FILE)
    started = _parse_time(record.get("started"))
    if status == "running" and started is not None:
        elapsed = max(0.0, now - started)
    else:
        elapsed = record.get("duration_s")
    step = progress["step"] if progress["step"] is not None else last_step
    return {
        "experiment": run.experiment.name,
        "run": run.name,
        "path": str(run.path),
        "status": status,
        "remote": remote,
        "host": host,
        "exit_code": exit_code_for(status, record),
        "error": record.get("error"),
        "started": record.get("started"),
        "ended": record.get("ended"),
        "elapsed_s": None if elapsed is None else round(float(elapsed), 1),
        "step": step,
        "total": progress["total"],
        "percent": progress["percent"],
        "rate": progress["rate"],
        "eta_s": progress["eta_s"] if status == "running" else None,
        "progress_age_s": progress["age_s"],
        "last_step": last_step,
        "metrics": {k: v if math.isfinite(v) else str(v) for k, v in metrics.items()},
        "history": history,
        "system": system,
        "system_time": system_time,
        "log_tail": log_tail(run.logs_dir / "log.txt", log_lines),
    }
