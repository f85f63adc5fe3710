"""A sweep's points while it runs: params, status, step, the metric; and the order its results come in.

The live view shows these; the results table at the end is ``exp compare``'s, in this order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..workspace import Run


@dataclass
class PointState:
    """What a sweep knows about one point while it runs and after.

    Attributes:
        index: the point's index; ``run`` its run.
        params: the swept values (key as written -> value).
        status: ``pending``, ``running``, ``queued``, ``completed``, ``failed``, ``interrupted``,
            ``busy`` (another process trains it now).
        error: what went wrong, when it did.
        note: a word on what happened to it this time (``skipped``, ``resumed``, ``retried``...).
        metric: the last value of the sweep's metric, once known.
        step: the last logged step.
        duration_s: wall time of the last attempt.
        trial: the Optuna trial number (tpe).
    """

    index: int
    run: Run
    params: dict[str, Any]
    status: str = "pending"
    error: str | None = None
    note: str | None = None
    metric: float | None = None
    step: int | None = None
    duration_s: float | None = None
    trial: int | None = None
    started: float | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The point as ``--json`` prints it (keys documented in docs/cli.md)."""
        return {
            "index": self.index,
            "run": self.run.name,
            "path": str(self.run.path),
            "params": {k.lstrip("+"): v for k, v in self.params.items()},
            "status": self.status,
            "error": self.error,
            "note": self.note,
            "metric": self.metric,
            "last_step": self.step,
            "duration_s": self.duration_s,
            "trial": self.trial,
        }


def final_metric(run: Run, name: str | None) -> float | None:
    """The last value the run logged for ``name`` (None when it logged none)."""
    if not name:
        return None
    from ..metrics_file import read_metrics  # noqa: PLC0415

    try:
        series = read_metrics(run.metrics_path).get(name) or []
    except OSError:
        return None
    value = series[-1][1] if series else None
    return value if value is not None and not math.isnan(value) else None


def refresh(point: PointState, metric: str | None) -> None:
    """Read the point's last step (and metric) from its metrics file."""
    step, values = point.run.last_metrics()
    point.step = step
    if metric and metric in values:
        point.metric = values[metric]


def sort_points(points: list[PointState], metric: str | None, mode: str = "min") -> list[PointState]:
    """Completed points best first by ``metric``, then the others the same way; index order without one."""
    if not metric:
        return sorted(points, key=lambda p: p.index)
    sign = 1.0 if mode == "min" else -1.0
    return sorted(points, key=lambda p: (p.status != "completed", p.metric is None, sign * (p.metric or 0.0),
                                         p.index))


def format_value(value: Any) -> str:
    """A param or metric value, short: ``0.001``, ``3e-05``, ``4``, ``adam``."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
