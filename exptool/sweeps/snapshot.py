"""What a sweep's files say right now: its state, each point's status and progress, counts, the best point.

:class:`SweepWatcher` reads ``sweep.json``, each point's ``run.json`` and ``progress.json`` and the
last row of its ``logs/metrics.csv`` (plus, for points handed to SLURM, one ``squeue`` at most every
:data:`CLUSTER_REFRESH_S` seconds), so ``exp watch --sweep`` works on a sweep started in another
shell, on another node over a shared file system, or submitted to SLURM. The sweep's exit code
follows ``exp sweep``'s rule: 0 when every point completed, 130 when any was interrupted, 1 otherwise.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK
from ..locking import is_locked
from ..progress_file import describe, read_progress
from ..workspace import Experiment
from .record import SweepRecord, load_sweep
from .results import PointState, sort_points

CLUSTER_REFRESH_S = 10.0
STATE_CODES = {"completed": EXIT_OK, "failed": EXIT_FAILURE, "interrupted": EXIT_INTERRUPTED}
#: Every point status a snapshot counts (``counts`` has each key, zero when none).
COUNTED = ("pending", "queued", "running", "completed", "failed", "interrupted", "stale", "unknown")
_AS_PENDING = ("missing", "created")


def status_counts(points: list[PointState]) -> dict[str, int]:
    """Points per status: every status of :data:`COUNTED` (0 when none), and any other one present."""
    counts = dict.fromkeys(COUNTED, 0)
    for point in points:
        counts[point.status] = counts.get(point.status, 0) + 1
    return counts


def best_point(points: list[PointState], metric: str | None, mode: str = "min") -> dict[str, Any] | None:
    """The completed point with the best last value of ``metric``: ``{"run", "index", "params", "metric", "value"}``."""
    scored = [p for p in points if p.status == "completed" and p.metric is not None]
    if not metric or not scored:
        return None
    best = sort_points(scored, metric, mode)[0]
    return {"run": best.run.name, "index": best.index, "params": {k.lstrip("+"): v for k, v in best.params.items()},
            "metric": metric, "value": best.metric, "trial": best.trial}


def exit_code_of(points: list[PointState], size: int) -> int:
    """``exp sweep``'s rule: 130 when a point was interrupted, 0 when all ``size`` completed, else 1."""
    statuses = [p.status for p in points]
    if "interrupted" in statuses:
        return EXIT_INTERRUPTED
    if len(points) >= size and all(s == "completed" for s in statuses):
        return EXIT_OK
    return EXIT_FAILURE


def _wall_time(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if isinstance(text, str) else None
    except ValueError:
        return None


@dataclass
class SweepSnapshot:
    """One look at a sweep (see :meth:`to_dict` for what ``--json`` prints).

    Attributes:
        record: the sweep's record as read now.
        state: the record's state, ``stale`` when it says running but no process holds its lock; a
            submitted sweep whose jobs have all ended: ``completed``/``failed``/``interrupted`` from its points.
        active: the sweep is still going (running here or elsewhere, or jobs of a submitted one
            are queued or running).
        points: every recorded point, its status the run's own (``pending`` before it starts).
        progress: point index -> ``{"step", "total", "percent", "rate", "eta_s", "elapsed_s"}``.
        remote: the sweep runs on another host (its lock cannot be checked from here).
    """

    record: SweepRecord
    state: str
    active: bool
    points: list[PointState]
    progress: dict[int, dict[str, Any]] = field(default_factory=dict)
    remote: bool = False

    @property
    def exit_code(self) -> int | None:
        """The sweep's exit code once it has ended (None while it is active)."""
        if self.active:
            return None
        if self.state in STATE_CODES:
            return STATE_CODES[self.state]
        return exit_code_of(self.points, self.record.spec.size)

    def counts(self) -> dict[str, int]:
        return status_counts(self.points)

    def best(self) -> dict[str, Any] | None:
        return best_point(self.points, self.record.spec.metric, self.record.spec.mode)

    def to_dict(self) -> dict[str, Any]:
        """The snapshot as ``exp watch --sweep --json`` prints it (keys documented in docs/cli.md)."""
        record, spec = self.record, self.record.spec
        points = []
        for point in self.points:
            full = point.to_dict()
            shown = {k: full[k] for k in ("index", "run", "path", "params", "status", "error", "metric", "trial")}
            shown.update(self.progress.get(point.index, {}), step=point.step)
            points.append(shown)
        return {
            "experiment": record.experiment.name,
            "sweep": record.name,
            "path": str(record.folder),
            "state": self.state,
            "active": self.active,
            "remote": self.remote,
            "host": record.data.get("host"),
            "exit_code": self.exit_code,
            "method": spec.method,
            "size": spec.size,
            "metric": spec.metric,
            "mode": spec.mode,
            "updated": record.data.get("updated"),
            "counts": self.counts(),
            "best": self.best(),
            "points": points,
        }


class SweepWatcher:
    """Takes snapshots of one recorded sweep, asking SLURM at most every :data:`CLUSTER_REFRESH_S` s."""

    def __init__(self, experiment: Experiment, name: str):
        self.experiment, self.name = experiment, name
        self._cluster: dict[str, str] | None = {}
        self._asked: float | None = None
        self.record = load_sweep(experiment, name)  # NotFoundError / ConfigError before any frame

    def _cluster_states(self, records: list[dict[str, Any]]) -> dict[str, str] | None:
        from ..training.launchers.slurm_state import cluster_states, on_slurm  # noqa: PLC0415

        if not any(on_slurm(r) for r in records):
            return {}
        if self._asked is None or time.monotonic() - self._asked >= CLUSTER_REFRESH_S:
            self._cluster, self._asked = cluster_states(records), time.monotonic()
        return self._cluster

    def take(self, now: float | None = None) -> SweepSnapshot:
        """A fresh snapshot (re-reads the record: a tpe sweep adds points as it goes).

        Raises:
            ConfigError: the record cannot be read.
        """
        from ..training.launchers.slurm_state import live_status  # noqa: PLC0415

        now = time.time() if now is None else now
        record = self.record = load_sweep(self.experiment, self.name)
        runs = [record.point_run(p) for p in record.points]
        run_records = [run.read_record() for run in runs]
        cluster = self._cluster_states(run_records)
        points, progress = [], {}
        for raw, run, rec in zip(record.points, runs, run_records, strict=True):
            point = PointState(int(raw["index"]), run, dict(raw.get("params") or {}), trial=raw.get("trial"))
            status = "missing" if not run.exists() else live_status(rec, cluster) or run.status(rec)
            if status == "stale" and rec.get("host") and rec.get("host") != socket.gethostname():
                status = "running"  # trained on another machine, whose lock this one may not see
            point.status = "pending" if status in _AS_PENDING else status
            point.error = rec.get("error") if point.status in ("failed", "interrupted") else None
            if point.status == "unknown":
                point.error = f"cannot read {run.record_path}"
            point.duration_s = rec.get("duration_s")
            progress[point.index] = self._progress(point, rec, record.spec.metric, now)
            points.append(point)
        state, remote = record.state, False
        if state == "running" and not is_locked(record.folder):
            host = record.data.get("host")
            if host and host != socket.gethostname():
                remote = True  # another machine's flock, which this one may not see: trust the record
            else:
                state = "stale"  # its process died without recording how the sweep ended
        active = state == "running" or (state == "submitted" and any(p.status in ("queued", "running")
                                                                     for p in points))
        if state == "submitted" and not active:  # its jobs have all ended: what the points say
            code = exit_code_of(points, record.spec.size)
            state = next(name for name, value in STATE_CODES.items() if value == code)
        return SweepSnapshot(record, state, active, points, progress, remote)

    @staticmethod
    def _progress(point: PointState, rec: dict[str, Any], metric: str | None, now: float) -> dict[str, Any]:
        """Step, metric and elapsed time into ``point``; percent, rate and ETA (from progress.json) returned."""
        step, values = point.run.last_metrics()
        point.step = step
        if metric and metric in values:
            point.metric = values[metric]
        out: dict[str, Any] = {"step": None, "total": None, "percent": None, "rate": None, "eta_s": None,
                               "elapsed_s": None}
        running = point.status == "running"
        if point.status not in ("pending", "unknown"):
            try:
                described = describe(read_progress(point.run.path), now=now)
            except OSError:
                described = {}
            for key in ("step", "total", "percent", "rate"):
                out[key] = described.get(key)
            out["eta_s"] = described.get("eta_s") if running else None
        started = _wall_time(rec.get("started"))
        if running and started is not None:
            out["elapsed_s"] = round(max(0.0, now - started), 1)
            point.started = time.monotonic() - out["elapsed_s"]  # for the table's live elapsed column
        elif point.status != "pending" and isinstance(rec.get("duration_s"), (int, float)):
            out["elapsed_s"] = round(float(rec["duration_s"]), 1)
        if out["step"] is not None:
            point.step = int(out["step"])
        return out
