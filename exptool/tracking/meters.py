"""Running averages over an epoch: the template's ``MetricTracker`` and ``AverageMeter``.

::

    tracker = MetricTracker()
    for batch in loader:
        tracker.update("loss", loss.item())
        tracker.update("class_iou", per_class_iou)        # a list: one average per entry
    logger.log(tracker.get_average(), step)               # {"loss": 0.31, "class_iou": [...]}
    tracker.reset()

As in the template, a meter's ``val``, ``sum`` and ``avg`` are lists (one entry per value given
to ``update``); ``MetricTracker.get_average()`` returns a plain number for a metric updated with
single numbers and a list for one updated with lists.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

__all__ = ["AverageMeter", "MetricTracker"]


def _number(value: Any) -> float:
    if hasattr(value, "item"):  # numpy scalars, one-element tensors
        value = value.item()
    if not isinstance(value, Real) or isinstance(value, bool):
        from ..errors import UsageError  # noqa: PLC0415

        raise UsageError(f"AverageMeter: {value!r} is not a number.")
    return float(value)


class AverageMeter:
    """Current value, sum and average of ``i`` numbers updated together.

    Args:
        i: how many numbers each update carries.
        precision: decimals in ``repr``.
    """

    def __init__(self, i: int = 1, precision: int = 3):
        self.meters = int(i)
        self.precision = precision
        self.reset()

    def reset(self, i: int | None = None) -> None:
        """Forget everything (and, with ``i``, change how many numbers an update carries)."""
        if i is not None:
            self.meters = int(i)
        self.val = [0.0] * self.meters
        self.sum = [0.0] * self.meters
        self.avg = [0.0] * self.meters
        self.count = 0

    def update(self, val: Any, n: int = 1) -> None:
        """Add ``val`` (a number, or a list of ``i`` numbers) seen ``n`` times."""
        values = list(val) if isinstance(val, (list, tuple)) else [val]
        if len(values) != self.meters:
            from ..errors import UsageError  # noqa: PLC0415

            raise UsageError(f"AverageMeter holds {self.meters} value(s) per update, got {len(values)}.")
        self.count += n
        for index, raw in enumerate(values):
            value = _number(raw)
            self.val[index] = value
            self.sum[index] += value * n
            self.avg[index] = self.sum[index] / self.count

    def __repr__(self) -> str:
        val = " ".join(f"{v:.{self.precision}f}" for v in self.val)
        avg = " ".join(f"{a:.{self.precision}f}" for a in self.avg)
        return f"{val} ({avg})"


class MetricTracker:
    """Named :class:`AverageMeter` objects, created on first update."""

    def __init__(self) -> None:
        self.metrics: dict[str, AverageMeter] = {}
        self._scalar: dict[str, bool] = {}

    def reset(self) -> None:
        """Drop every metric (start of an epoch)."""
        self.metrics = {}
        self._scalar = {}

    def update(self, name: str, val: Any, n: int = 1) -> None:
        """Add a value (a number or a list of numbers) to metric ``name``."""
        if name not in self.metrics:
            many = isinstance(val, (list, tuple))
            self.metrics[name] = AverageMeter(len(val) if many else 1)
            self._scalar[name] = not many
        self.metrics[name].update(val, n)

    def _pick(self, name: str | None, field: str) -> Any:
        def one(key: str) -> Any:
            values = getattr(self.metrics[key], field)
            return values[0] if self._scalar[key] else list(values)

        if name is None:
            return {key: one(key) for key in self.metrics}
        if name not in self.metrics:
            from ..errors import UsageError  # noqa: PLC0415

            known = ", ".join(self.metrics) or "none yet"
            raise UsageError(f"MetricTracker has no metric {name!r} (known: {known}).")
        return one(name)

    def get_average(self, name: str | None = None) -> Any:
        """The average of ``name`` (a number, or a list), or a dict of every metric's average."""
        return self._pick(name, "avg")

    def get_sum(self, name: str | None = None) -> Any:
        """The sum of ``name``, or a dict of every metric's sum."""
        return self._pick(name, "sum")
