"""Deciding what a sweep invocation does with each point, and building every point's config first.

:class:`SweepPlanner` reads each point's ``run.json`` (and SLURM's word for points it holds):
completed points are skipped, interrupted (or stale) ones resume, failed ones run again only with
``retry_failed``, and a point another process trains right now is ``busy`` and left alone. Every
pending point's config is built and checked here, before the first run is touched.
:class:`~exptool.sweeps.scheduler.SweepRunner` runs what it leaves pending.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..workspace import Workspace
from .record import SweepRecord
from .results import PointState, refresh

if TYPE_CHECKING:
    from ..training.registry import TrainerSpec


class SweepPlanner:
    """The per-point decisions and configs of one recorded sweep.

    Args:
        ws: the workspace.
        record: the sweep (from :func:`~exptool.sweeps.record.open_sweep`).
        retry_failed: run failed points again.
    """

    def __init__(self, ws: Workspace, record: SweepRecord, *, retry_failed: bool = False):
        self.ws, self.record, self.retry_failed = ws, record, retry_failed
        self.points: list[PointState] = []
        self._configs: dict[int, tuple[TrainerSpec, dict[str, Any]]] = {}
        self._base: tuple[TrainerSpec, dict[str, Any]] | None = None
        self._search: Any = None
        self._cluster: dict[str, str] | None = {}

    def plan(self, *, check: bool = True, dry_run: bool = False) -> list[PointState]:
        """Every point with what this invocation will do with it; builds and checks the configs.

        Args:
            check: build and check every pending point's config (False: only report, ``--status``;
                pending points then show their run's own status).
            dry_run: touch nothing on disk (a tpe sweep's study is not opened).

        Raises:
            ConfigError, TrainerError, UsageError: a point's config or the trainer is unusable.
        """
        if self.record.spec.method == "tpe" and self._search is None and check and not dry_run:
            from .guided import GuidedSearch  # noqa: PLC0415

            self._search = GuidedSearch(self.record)
            self._search.forget_orphans(self.record.points)
        from ..training.launchers.slurm_state import cluster_states  # noqa: PLC0415

        records = {int(p["index"]): self.record.point_run(p).read_record() for p in self.record.points}
        self._cluster = cluster_states(records.values())
        self.points = [self._state(p, records[int(p["index"])]) for p in self.record.points]
        if not check:
            for point in self.points:
                if point.status == "pending" and point.run.exists():
                    point.status = point.run.status(records[point.index])
            return self.points
        for point in self.points:
            if point.status == "pending":
                self._configs[point.index] = self._config_for(point)
        if self.record.spec.method == "tpe":
            self.base()  # a trainer and base config that work, before the first trial is asked for
        return self.points

    def _state(self, point: dict[str, Any], record: dict[str, Any]) -> PointState:
        from ..training.launchers.slurm_state import live_status  # noqa: PLC0415

        run = self.record.point_run(point)
        state = PointState(int(point["index"]), run, dict(point["params"]), trial=point.get("trial"))
        status = "missing" if not run.exists() else live_status(record, self._cluster) or run.status(record)
        if status == "stale" and record.get("launcher") == "slurm":  # its job may have just recorded its end
            record = run.read_record()
            status = live_status(record, self._cluster) or run.status(record)
        state.duration_s = record.get("duration_s")
        refresh(state, self.record.spec.metric)
        if status == "completed":
            state.status, state.note = "completed", "done earlier"
        elif status == "failed" and not self.retry_failed:
            state.status, state.error, state.note = "failed", record.get("error"), "failed earlier (--retry-failed)"
        elif status == "running":
            state.status, state.note = "busy", "another process is training it"
        elif status == "queued":
            state.status, state.note = "queued", "queued on SLURM already"
        elif status == "unknown":
            state.status, state.note = "failed", "its run.json cannot be read"
            state.error = f"cannot read {run.record_path}"
        else:
            state.note = {"failed": "retried", "interrupted": "resumes", "stale": "resumes"}.get(status)
        return state

    def base(self) -> tuple[TrainerSpec, dict[str, Any]]:
        """The trainer and the config every new point starts from (defaults < config < fixed)."""
        if self._base is None:
            from ..config import apply_values, load_config  # noqa: PLC0415
            from ..training.prepare import effective_config  # noqa: PLC0415
            from ..training.registry import choose_trainer, registered_trainers  # noqa: PLC0415

            spec = self.record.spec
            config = load_config(self.ws.resolve_config(spec.config)) if spec.config else {}
            trainer = choose_trainer(registered_trainers(self.ws.root), spec.trainer, config.get("trainer"),
                                     base_dir=self.ws.root)
            config = apply_values(effective_config(trainer, config, [], self.ws.root), spec.fixed)
            self._base = (trainer, config)
        return self._base

    def _config_for(self, point: PointState) -> tuple[TrainerSpec, dict[str, Any]]:
        """A new point: base + its params. A point whose run has a config (it started before): that."""
        from ..config import apply_values, load_config  # noqa: PLC0415
        from ..training.registry import choose_trainer, load_trainer, registered_trainers  # noqa: PLC0415
        from ..training.settings import check_trainer_config, read_settings  # noqa: PLC0415

        run = point.run
        saved = load_config(run.config_path) if run.config_path.is_file() else {}
        if saved:
            spec = self.record.spec
            trainer = choose_trainer(registered_trainers(self.ws.root), spec.trainer, saved.get("trainer"),
                                     base_dir=self.ws.root)
            config = saved
        else:
            trainer, base = self.base()
            config = apply_values(base, point.params)
        read_settings(config)
        check_trainer_config(load_trainer(trainer, self.ws.root), config)
        return trainer, config
