"""What a Logger does with steps an earlier process already logged in the same run.

A script restarted after a crash (before it saved a checkpoint) logs its first steps again; appended
to the old rows they would appear twice in the CSV and TensorBoard. ``Logger(history=...)``:

- ``"continue"`` (the default): the first ``log`` call decides. Without a step it continues after
  the last step in ``logs/metrics.csv``; with a step at or before that one, the rows and points
  from that step on are dropped first (the new attempt replaces them). No step appears twice.
- ``"restart"``: every writer drops what was logged before, as soon as it starts.

``resume_step`` (what ``exp train`` passes) says it exactly and overrides both.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..runtime import log as _log

CHOICES = ("continue", "restart")


def check(history: str) -> str:
    if history not in CHOICES:
        raise UsageError(f"history must be 'continue' or 'restart', not {history!r}.")
    return history


def first_step(logger: Any, step: int | None) -> None:
    """Called once, before the first step is logged (``history="continue"``, no ``resume_step``)."""
    from ..metrics_file import last_row  # noqa: PLC0415

    if _shares_run(logger):
        return  # another logger of this process writes the run right now: its steps are this run's
    last = last_row(logger.run.metrics_path)[0]
    if last is None:
        return
    if step is None:
        logger._step = last  # the next default step is last + 1
        return
    if step <= last:
        _log.warning(
            "%s already has steps up to %d logged; this logger starts at step %d, so what was logged "
            "from step %d on is replaced (Logger(history='restart') drops all of it).",
            logger.run.id, last, step, step,
        )
        logger._drop_after(step - 1)


def _shares_run(logger: Any) -> bool:
    """True when another live logger of this process writes the same run (template code inside ``exp train``)."""
    from . import _shutdown  # noqa: PLC0415

    with _shutdown._lock:
        others = [other for other, _ in _shutdown._live.values() if other is not logger]
    return any(getattr(o, "run", None) == logger.run and not o.finished for o in others)
