"""Where a resumed run continues, so no logged row is dropped without a word.

A resumed attempt continues after the step of the checkpoint it loads; rows the earlier attempt
logged for later steps are dropped (this attempt logs them again), and the message says how many.
A checkpoint saved without a step (the template's ``save_checkpoint(epoch=...)``) gets one
inferred: the last step logged before the checkpoint was written (``metrics.csv`` has each row's
wall time, the manifest each checkpoint's). When that cannot be told, resuming refuses: guessing
0 would silently drop every logged row.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError


def _logged_rows(path: Path) -> list[tuple[int, float | None]]:
    """(step, wall time) of every complete row of a metrics CSV ([] when there is none)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    rows = []
    for line in data.split(b"\n")[1:-1]:  # the header; a last line without newline was cut by a crash
        cells = line.split(b",", 2)
        try:
            step = int(float(cells[0]))
        except (ValueError, IndexError):
            continue
        try:
            wall = float(cells[1]) if len(cells) > 1 and cells[1] else None
        except ValueError:
            wall = None
        rows.append((step, wall))
    return rows


def _timestamp(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def infer_step(entry: dict[str, Any], metrics_path: str | os.PathLike) -> int:
    """The step to resume after, for a manifest ``entry`` that records none.

    Raises:
        UsageError: rows were logged but none can be matched to the checkpoint (exit 2).
    """
    rows = _logged_rows(Path(metrics_path))
    if not rows:
        return 0  # nothing logged: nothing to drop
    saved = _timestamp(entry.get("saved_at"))
    if saved is not None and all(wall is not None for _, wall in rows):
        # saved_at is taken as the save starts and kept to the millisecond (rounded down); a row logged
        # after the save returned is later than that by the time the (fsynced) write took.
        saved += 0.001
        before = [step for step, wall in rows if wall <= saved]  # type: ignore[operator]
        if before:
            return max(before)
        if min(wall for _, wall in rows) > saved:  # type: ignore[type-var]
            return 0  # everything was logged after this checkpoint: it all belongs to later steps
    name = entry.get("file", "the last checkpoint")
    raise UsageError(
        f"Checkpoint {name!r} records no step, and its time cannot be matched to the {len(rows)} logged rows; "
        f"resuming at step 0 would drop all of them.",
        hint="Save checkpoints with a step (ctx.checkpoints.save(step=step, ...)); to keep this run's files "
             "and start another, train a new run; to start this one over, pass --clear.",
    )


def dropped_rows(metrics_path: str | os.PathLike, start_step: int) -> tuple[int, int | None, int | None]:
    """(count, first, last) step of the logged rows after ``start_step`` that resuming drops."""
    later = [step for step, _ in _logged_rows(Path(metrics_path)) if step > start_step]
    return len(later), (min(later) if later else None), (max(later) if later else None)


def last_entry(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest entry of the ``last`` checkpoint ({} when there is none)."""
    return next((e for e in manifest.get("checkpoints", []) if e.get("file") == manifest.get("last")), {})


def resume_step(manifest: dict[str, Any], metrics_path: str | os.PathLike) -> int:
    """The step of the last checkpoint: recorded in the manifest, else inferred (see :func:`infer_step`)."""
    entry = last_entry(manifest)
    step = entry.get("step")
    return infer_step(entry, metrics_path) if step is None else step


def check_resume_point(run: Any) -> int:
    """Before anything is written: the step a resume of ``run`` continues after (raises if unknowable)."""
    from ..checkpoints import CheckpointManager  # noqa: PLC0415

    manifest = CheckpointManager(run.checkpoints_dir, rank=1).manifest  # a reader: touches nothing
    return resume_step(manifest, run.metrics_path)
