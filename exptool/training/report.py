"""The facts of how an attempt ended, gathered once for ``exp train``'s end-of-run summary and ``--json``.

One duration (the attempt's, as recorded in ``run.json``), one notion of best (the checkpoint
manager's metric and mode, as recorded in the manifest), the last logged row, and the paths a
person copies next.
"""

from __future__ import annotations

import json
from typing import Any


def _manifest(run: Any) -> dict[str, Any]:
    try:
        data = json.loads((run.checkpoints_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _entry(manifest: dict[str, Any], name: Any) -> dict[str, Any] | None:
    return next((e for e in manifest.get("checkpoints", []) if isinstance(e, dict) and e.get("file") == name), None)


def _latest_image(run: Any) -> str | None:
    try:
        images = [p for p in run.visualizations_dir.iterdir() if p.suffix == ".png"]
    except OSError:
        return None
    return str(max(images, key=lambda p: p.stat().st_mtime)) if images else None


def end_of_run(run: Any, outcome: Any) -> dict[str, Any]:
    """``{status, duration_s, start_step, last_step, last_metrics, best, last_checkpoint, image, path,
    tensorboard, unread_config}`` for ``run`` after ``outcome``.

    ``best`` is ``{metric, mode, value, step, epoch, path}`` of the best checkpoint by the manager's
    metric, or None (no metric, or no checkpoint has it); ``last_checkpoint`` is ``{step, epoch,
    path}`` or None.
    """
    step, metrics = run.last_metrics()
    manifest = _manifest(run)
    best = None
    entry = _entry(manifest, manifest.get("best"))
    metric = manifest.get("metric")
    if entry is not None and metric and metric in entry.get("metrics", {}):
        best = {"metric": metric, "mode": manifest.get("mode", "min"), "value": entry["metrics"][metric],
                "step": entry.get("step"), "epoch": entry.get("epoch"),
                "path": str(run.checkpoints_dir / entry["file"])}
    last = _entry(manifest, manifest.get("last"))
    last_checkpoint = None if last is None else {
        "step": last.get("step"), "epoch": last.get("epoch"), "path": str(run.checkpoints_dir / last["file"])}
    return {
        "status": outcome.status,
        "duration_s": outcome.duration_s,
        "start_step": outcome.start_step,
        "last_step": step,
        "last_metrics": metrics,
        "best": best,
        "last_checkpoint": last_checkpoint,
        "image": _latest_image(run),
        "path": str(run.path),
        "tensorboard": f"exp tb {run.experiment.name}",
        "unread_config": outcome.unread_config,
    }
