"""Guided search through Optuna: its study is a journal file inside the sweep's folder, no server.

Each Optuna trial is one point of the sweep (``point["trial"]``). A trial is told the last value
the run logged for the sweep's metric when the run completes, FAIL when it fails; a trial whose
run was interrupted stays RUNNING, and the next ``exp sweep`` resumes that run and tells it then.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from .record import SweepRecord
from .spec import Axis

JOURNAL_NAME = "optuna.journal"
INSTALL_HINT = "Install it with: pip install 'exptool[optuna]'"


def _optuna() -> Any:
    try:
        import optuna  # noqa: PLC0415
    except ImportError:
        raise UsageError("A tpe sweep needs Optuna, which is not installed.", hint=INSTALL_HINT) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _distribution(optuna: Any, axis: Axis) -> Any:
    dists = optuna.distributions
    if axis.distribution == "uniform":
        return dists.FloatDistribution(float(axis.low), float(axis.high))
    if axis.distribution == "loguniform":
        return dists.FloatDistribution(float(axis.low), float(axis.high), log=True)
    if axis.distribution == "int":
        return dists.IntDistribution(int(axis.low), int(axis.high))
    bad = [v for v in axis.values if v is not None and not isinstance(v, (bool, int, float, str))]
    if bad:
        raise UsageError(f"{axis.name}: Optuna chooses among numbers and strings, not {bad[0]!r}.")
    return dists.CategoricalDistribution(list(axis.values))


class GuidedSearch:
    """The Optuna study behind a tpe sweep."""

    def __init__(self, record: SweepRecord):
        optuna = _optuna()
        from optuna.storages import JournalStorage  # noqa: PLC0415
        from optuna.storages.journal import JournalFileBackend  # noqa: PLC0415

        spec = record.spec
        self._optuna = optuna
        self._distributions = {a.key: _distribution(optuna, a) for a in spec.axes}
        record.folder.mkdir(parents=True, exist_ok=True)
        storage = JournalStorage(JournalFileBackend(str(record.folder / JOURNAL_NAME)))
        self.study = optuna.create_study(
            study_name=record.name,
            storage=storage,
            direction="minimize" if spec.mode == "min" else "maximize",
            load_if_exists=True,
        )
        # A sampler seeded alike in every process would draw the same first points again when a
        # stopped study continues: its seed moves on with the trials already in the study.
        done = len(self.study.get_trials(deepcopy=False))
        self.study.sampler = optuna.samplers.TPESampler(seed=None if spec.seed is None else spec.seed + done)

    def forget_orphans(self, points: list[dict[str, Any]]) -> None:
        """Fail RUNNING trials that no point knows (asked just before a crash)."""
        known = {p.get("trial") for p in points}
        state = self._optuna.trial.TrialState
        for trial in self.study.get_trials(deepcopy=False, states=(state.RUNNING,)):
            if trial.number not in known:
                self.study.tell(trial.number, state=state.FAIL)

    def ask(self, params: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """A new trial: its number and params (``params`` given: a trial with exactly those)."""
        if params is not None:
            self.study.enqueue_trial({k: v for k, v in params.items()}, skip_if_exists=False)
        trial = self.study.ask(self._distributions)
        return trial.number, dict(trial.params)

    def tell(self, trial: int | None, value: float | None, failed: bool) -> None:
        """Record a finished trial (FAIL when it failed or logged no value)."""
        if trial is None:
            return
        state = self._optuna.trial.TrialState
        try:
            if failed or value is None:
                self.study.tell(trial, state=state.FAIL)
            else:
                self.study.tell(trial, value)
        except RuntimeError:  # told already (a point completed before, then rerun with --retry-failed)
            pass

    def best(self) -> dict[str, Any] | None:
        """The best trial so far as ``{"trial", "value", "params"}``, or None."""
        try:
            trial = self.study.best_trial
        except ValueError:
            return None
        return {"trial": trial.number, "value": trial.value, "params": dict(trial.params)}
