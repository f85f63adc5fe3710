"""The run's ``progress.json``: how far the trainer is, written by its progress helper.

Format (what :meth:`RunContext.progress` writes and ``exp show`` / ``exp watch`` read)::

    {"step": 120, "total": 1000, "rate": 41.7, "updated": 1732530000.12,
     "started": 1732529997.2, "description": "epoch 3/10", "unit": "step", "finished": false}

``step`` counts what the helper counts (steps, by default); ``total`` is null when unknown;
``rate`` is steps per second over the last few seconds (null until measured); ``updated`` and
``started`` are seconds since the epoch; ``finished`` is true once the helper was closed. The
file is replaced atomically at most about once a second, so a reader sees a whole record.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

FILE_NAME = "progress.json"


def read_progress(run_path: str | os.PathLike) -> dict[str, Any] | None:
    """The run's progress record, or None when it has none (or it holds no usable record).

    Raises:
        OSError: the file exists but cannot be read (unreadable is not missing).
    """
    try:
        with open(Path(run_path) / FILE_NAME, "rb") as fh:
            data = json.loads(fh.read())
    except FileNotFoundError:
        return None
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("step"), (int, float)):
        return None
    return data


def describe(progress: dict[str, Any] | None, now: float | None = None) -> dict[str, Any]:
    """Percent done, rate and ETA from a progress record (each None where it cannot be known).

    Returns ``{"step", "total", "percent", "rate", "eta_s", "updated", "age_s"}``; ``eta_s`` is
    the seconds left at the recorded rate, as of ``updated`` (``age_s`` seconds ago).
    """
    out: dict[str, Any] = dict.fromkeys(("step", "total", "percent", "rate", "eta_s", "updated", "age_s"))
    if not progress:
        return out
    step, total, rate = progress.get("step"), progress.get("total"), progress.get("rate")
    updated = progress.get("updated")
    out["step"] = step
    if isinstance(total, (int, float)) and not isinstance(total, bool) and total > 0:
        out["total"] = total
        out["percent"] = round(100.0 * min(step, total) / total, 1)
    if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0:
        out["rate"] = rate
        if out["total"] is not None:
            out["eta_s"] = round(max(0.0, (out["total"] - step) / rate), 1)
    if isinstance(updated, (int, float)):
        out["updated"] = updated
        out["age_s"] = round(max(0.0, (now or time.time()) - updated), 1)
    return out


def format_duration(seconds: float | None) -> str:
    """``1:02:03`` / ``2:03`` style; ``-`` when unknown."""
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
