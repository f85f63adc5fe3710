"""Everything between parsing ``exp train`` and starting the trainer, and recording how it ended.

:func:`effective_config` builds the config a trainer runs with; :func:`prepare_run` checks it, takes
the run's lock, decides resume / fresh start / clear, chooses the seed, saves ``config.json`` and
marks the run ``running`` in ``run.json``; :func:`finish_run` records the :class:`Outcome`. Nothing on
disk changes before every check has passed.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .._run_checks import check_outputs_readable
from ..errors import EXIT_FAILURE, AlreadyExistsError, NotFoundError, UsageError
from ..locking import RunLock
from ..workspace import RUN_SUBDIRS, Run, Workspace, now_iso
from .launchers.base import Outcome
from .registry import TrainerSpec, load_trainer
from .settings import TrainingSettings, check_trainer_config, read_settings


@dataclass
class PreparedRun:
    """A run ready to start: checked, decided, recorded as ``running``; its lock held here.

    Attributes:
        run: the run.
        spec: the trainer.
        config: the effective config (as saved to ``config.json``).
        settings: exptool's sections of it, checked.
        seed: the seed for this attempt.
        resume: True when the attempt continues from a checkpoint.
        world_size: processes taking part.
        trainer: the loaded trainer function (in-process launchers call it directly).
    """

    run: Run
    spec: TrainerSpec
    config: dict[str, Any]
    settings: TrainingSettings
    seed: int
    resume: bool
    world_size: int = 1
    trainer: Callable[[Any], Any] | None = field(default=None, repr=False)
    started: float = field(default_factory=time.time, repr=False)
    writes_records: bool = True
    _lock: RunLock | None = field(default=None, repr=False)
    _old_sigterm: Any = field(default=None, repr=False)

    def request(self) -> dict[str, Any]:
        """The JSON-able spec another process needs to run it (torchrun workers, pools, clusters)."""
        return {
            "workspace": str(self.run.workspace.root),
            "experiment": self.run.experiment.name,
            "run": self.run.name,
            "trainer": asdict(self.spec),
            "seed": self.seed,
            "resume": self.resume,
        }

    def summary(self) -> dict[str, Any]:
        """What the CLI's banner shows."""
        return {**self.request(), "world_size": self.world_size}

    def release(self) -> None:
        """Give the run's lock back and restore SIGTERM's handler (idempotent)."""
        _set_sigterm(self._old_sigterm)
        self._old_sigterm = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> PreparedRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def effective_config(
    spec: TrainerSpec, config: Mapping[str, Any], overrides: list[str], workspace_root: str | os.PathLike
) -> dict[str, Any]:
    """The config a trainer runs with: its ``default_config`` < ``config`` < ``--set`` overrides.

    A trainer function may carry a ``default_config`` dict attribute; its keys then show up in the
    run's ``config.json`` and can be overridden with ``--set key=value``. The chosen trainer's name
    is stored under ``trainer`` so that a later ``exp train`` picks the same one.
    """
    from ..config import apply_overrides, merge_configs  # noqa: PLC0415

    fn = load_trainer(spec, workspace_root)
    defaults = getattr(fn, "default_config", None)
    base = merge_configs(defaults, config) if isinstance(defaults, Mapping) else dict(config)
    result = apply_overrides(base, overrides)
    result["trainer"] = spec.name
    return result


def resolve_training(
    ws: Workspace,
    experiment: str | None,
    run_name: str | None,
    *,
    trainer: str | None = None,
    config: str | None = None,
    overrides: list[str] | None = None,
    create: bool = False,
) -> tuple[Run, TrainerSpec, dict[str, Any]]:
    """The run, trainer and effective config an ``exp train`` command line asks for.

    The run comes from the names (flag > environment > state file); the config is the run's
    ``config.json`` with ``config`` (a name in ``config/`` or a path) merged over it; the trainer is
    ``--trainer`` > the config's ``trainer`` > the only one registered.

    Raises:
        NotFoundError: the run does not exist and ``create`` is False.
        ConfigError, TrainerError: the config or trainer cannot be used.
    """
    from ..config import load_config, merge_configs  # noqa: PLC0415
    from ..state import resolve_run  # noqa: PLC0415
    from .registry import choose_trainer, registered_trainers  # noqa: PLC0415

    run = resolve_run(ws, experiment, run_name)
    source = ws.resolve_config(config) if config else None
    missing = not run.exists()
    if missing and not create:
        raise NotFoundError(
            f"Run {run.id!r} does not exist.",
            hint=f"Add --create, or create it first: exp init-run -e {run.experiment.name} -r {run.name}",
        )
    base = load_config(run.config_path) if not missing and run.config_path.exists() else {}
    if source is not None:
        base = merge_configs(base, load_config(source))
    spec = choose_trainer(registered_trainers(ws.root), trainer, base.get("trainer"), base_dir=ws.root)
    effective = effective_config(spec, base, overrides or [], ws.root)  # a bad --set fails before --create
    if missing:
        run.create(config_source=source, exist_ok=True)
    return run, spec, effective


def has_checkpoints(run: Run) -> bool:
    """True if the run's ``checkpoints/`` holds a checkpoint to resume from."""
    from ..checkpoints import CheckpointManager  # noqa: PLC0415

    # rank=1: a reader only; it must not tidy or rewrite the manifest of a run it does not own.
    return run.checkpoints_dir.is_dir() and CheckpointManager(run.checkpoints_dir, rank=1).has_checkpoints()


def clear_outputs(run: Run) -> None:
    """Empty the run's checkpoints, logs, visualizations and plots (``--clear``), and drop its summary.

    Nothing is deleted when any of them is a link or holds something exptool cannot read.
    """
    from .._fs import clear_folders  # noqa: PLC0415

    clear_folders(run.path / sub for sub in RUN_SUBDIRS)
    (run.path / "summary.json").unlink(missing_ok=True)  # a summary of the logs just deleted


def choose_seed(requested: int | None, settings: TrainingSettings, previous: Mapping[str, Any], resume: bool) -> int:
    """``--seed`` > the config's ``seed`` > the previous attempt's on resume > a random one."""
    if requested is not None:
        return requested
    if settings.seed is not None:
        return settings.seed
    if resume and isinstance(previous.get("seed"), int):
        return int(previous["seed"])
    return secrets.randbelow(2**31)


def prepare_run(
    run: Run,
    spec: TrainerSpec,
    config: dict[str, Any],
    *,
    seed: int | None = None,
    resume: bool | None = None,
    clear: bool = False,
    world_size: int = 1,
    writes_records: bool = True,
    handle_sigterm: bool = True,
    lock_wait: float = 0.0,
) -> PreparedRun:
    """Check, lock, decide and record a run so it can start; use the result as a context manager.

    Args:
        run: an existing run.
        spec: the trainer.
        config: the effective config; saved to the run's ``config.json``.
        seed: the seed; default the config's ``seed``, else the previous one on resume, else random.
        resume: True/False to force; None resumes when the run has checkpoints.
        clear: delete earlier checkpoints and logs first (a fresh start).
        world_size: processes taking part (recorded in ``run.json``).
        writes_records: False on a follower node of a multi-node run: it neither locks nor writes.
        handle_sigterm: False when the caller handles SIGTERM itself (a sweep running many runs).
        lock_wait: seconds to wait for the run's lock while another process holds it.

    Raises:
        ConfigError: exptool's config sections (or the trainer's ``check_config``) refuse a value.
        RunLockedError: another ``exp train`` holds the run.
        AlreadyExistsError: a fresh start would overwrite checkpoints or logs and ``clear`` is False.
        TrainerError: the trainer cannot be loaded.
    """
    from ..config import save_config  # noqa: PLC0415

    run.require()
    if clear and resume:
        raise UsageError("--resume and --clear contradict each other.", hint="Use --clear alone for a fresh start.")
    fn = load_trainer(spec, run.workspace.root)  # fail before clearing anything
    settings = read_settings(config)
    check_trainer_config(fn, config)
    prepared = PreparedRun(run, spec, config, settings, 0, False, world_size, fn, writes_records=writes_records)
    prepared._lock = RunLock(run.path).acquire(lock_wait) if writes_records else None
    # Until the worker's own handler is in place, SIGTERM interrupts like Ctrl-C, so the record
    # still ends as "interrupted" instead of staying "running".
    prepared._old_sigterm = _set_sigterm(_interrupt) if handle_sigterm else None
    try:
        check_outputs_readable(run)  # unreadable is not missing: decide nothing, delete nothing
        prepared.resume = _decide_resume(run, resume, clear, writes_records)
        if prepared.resume:
            from .resume_point import check_resume_point  # noqa: PLC0415

            check_resume_point(run)  # a checkpoint without a step must not silently drop logged rows
        previous = run.read_record()
        prepared.seed = choose_seed(seed, settings, previous, prepared.resume)
        if writes_records:
            save_config(config, run.config_path)
            _mark_running(prepared, previous)
        prepared.started = time.time()
    except BaseException:
        prepared.release()
        raise
    return prepared


def prepare_submission(
    run: Run,
    spec: TrainerSpec,
    config: dict[str, Any],
    *,
    seed: int | None = None,
    resume: bool | None = None,
    clear: bool = False,
    world_size: int = 1,
    launcher: str = "",
) -> PreparedRun:
    """Check and record a run handed to a detached launcher (a cluster): ``run.json`` says ``queued``.

    The same checks and decisions as :func:`prepare_run` (``clear`` clears now), and the seed is
    chosen now, so every attempt of the job uses it; but no lock is held here: the job takes it
    where it runs (:func:`prepare_run` on the node), and decides resume again there, so a requeued
    job continues from its last checkpoint.

    Raises:
        ConfigError, AlreadyExistsError, TrainerError: as :func:`prepare_run`.
        RunLockedError: a process is training the run right now.
    """
    from ..config import save_config  # noqa: PLC0415

    run.require()
    if clear and resume:
        raise UsageError("--resume and --clear contradict each other.", hint="Use --clear alone for a fresh start.")
    fn = load_trainer(spec, run.workspace.root)
    settings = read_settings(config)
    check_trainer_config(fn, config)
    from .launchers.slurm_state import is_alive, job_id  # noqa: PLC0415

    if is_alive(run.read_record()):
        raise AlreadyExistsError(
            f"Run {run.id!r} is already on SLURM (job {job_id(run.read_record())}).",
            hint=f"Wait for it, or cancel it first: exp cancel -e {run.experiment.name} -r {run.name}",
        )
    with RunLock(run.path):  # refuses a run being trained now, and keeps one from starting meanwhile
        decided = _decide_resume(run, resume, clear, True)
        previous = run.read_record()
        chosen = choose_seed(seed, settings, previous, decided)
        save_config(config, run.config_path)
        run.update_record(
            status="queued",
            queued=now_iso(),
            ended=None,
            exit_code=None,
            error=None,
            duration_s=None,
            seed=chosen,
            trainer=spec.to_dict(),
            world_size=world_size,
            launcher=launcher or None,
        )
    return PreparedRun(run, spec, config, settings, chosen, decided, world_size, fn)


def _decide_resume(run: Run, resume: bool | None, clear: bool, writes_records: bool) -> bool:
    found = has_checkpoints(run)
    if clear:
        if writes_records:
            clear_outputs(run)
        return False
    if resume is None:
        resume = found
    elif resume is False and found:
        raise AlreadyExistsError(
            f"Run {run.id!r} has checkpoints; a fresh start would overwrite them.",
            hint="Pass --clear to delete its checkpoints and logs, or --resume (the default) to continue.",
        )
    elif resume and not found:
        resume = False
    if not resume and _has_logged_steps(run):
        raise AlreadyExistsError(
            f"Run {run.id!r} has logs from an earlier attempt but no checkpoint to resume from.",
            hint="Pass --clear to delete its logs and start over, or train another run.",
        )
    return bool(resume)


def _has_logged_steps(run: Run) -> bool:
    from ..metrics_file import last_row  # noqa: PLC0415

    return last_row(run.metrics_path)[0] is not None


def _mark_running(prepared: PreparedRun, previous: Mapping[str, Any]) -> None:
    from .. import provenance  # noqa: PLC0415

    run = prepared.run
    (run.path / provenance.PATCH_NAME).unlink(missing_ok=True)
    run.update_record(
        status="running",
        started=now_iso(),
        ended=None,
        exit_code=None,
        error=None,
        duration_s=None,
        attempts=int(previous.get("attempts", 0) or 0) + 1,
        health=None,  # the Logger records write errors of this attempt here
        resumed=prepared.resume,
        seed=prepared.seed,
        trainer=prepared.spec.to_dict(),
        world_size=prepared.world_size,
        launcher=None,  # a SLURM job writes its own right after (training.launchers.slurm_job)
        slurm=None,
        worker_pid=None,  # a local sweep's worker writes its own (exp cancel signals it)
        **provenance.collect(run.workspace.root, run.path),
    )


def finish_run(prepared: PreparedRun, outcome: Outcome) -> Outcome:
    """Fill in the attempt's duration, seed and resume flag and record the outcome in ``run.json``."""
    outcome.duration_s = round(time.time() - prepared.started, 3)
    outcome.seed = prepared.seed
    outcome.resumed = prepared.resume
    if prepared.writes_records:
        prepared.run.update_record(
            status=outcome.status,
            ended=now_iso(),
            exit_code=outcome.exit_code,
            error=outcome.error,
            duration_s=outcome.duration_s,
            start_step=outcome.start_step,
            unread_config=outcome.unread_config,
        )
    return outcome


def mark_failed(prepared: PreparedRun, exc: BaseException) -> None:
    """exptool itself failed while the run was ``running``: the record must not stay ``running``."""
    if prepared.writes_records:
        prepared.run.update_record(status="failed", ended=now_iso(), exit_code=EXIT_FAILURE, error=repr(exc))


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _set_sigterm(handler: Any) -> Any:
    """Install a handler for SIGTERM and SIGHUP (a dropped terminal); return the previous ones.

    No-op outside the main thread. ``handler`` may be what an earlier call returned.
    """
    if handler is None:
        return None
    stops = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = handler if isinstance(handler, dict) else dict.fromkeys(stops, handler)
    try:
        return {s: signal.signal(s, h) for s, h in previous.items() if h is not None}
    except ValueError:
        return None

