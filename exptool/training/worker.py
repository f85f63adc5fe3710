"""Execute a trainer in this process: build its :class:`RunContext`, call it, return the Outcome.

Every launcher ends here, in the process that runs the trainer: the in-process launcher calls
:func:`execute` with the prepared run it already holds; torchrun workers (and other processes
across a boundary) call :func:`execute_request` with the JSON spec from
:meth:`PreparedRun.request`. Only rank 0 writes logs, checkpoints and ``run.json``.

Signals: Ctrl-C (SIGINT) interrupts at once. SIGTERM sets ``ctx.should_stop`` so a trainer that
polls it can checkpoint and return; a trainer that never polls it is interrupted at once. Either
way the status becomes ``interrupted`` and the exit code 130.
"""

from __future__ import annotations

import contextlib
import os
import signal
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .. import runtime
from .._run_checks import exit_status, short_error
from ..errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, CheckpointError, ExptoolError
from ..workspace import Run, Workspace
from .launchers.base import Outcome
from .registry import TrainerSpec, load_trainer
from .replicas import REPLICA_ENV, ReplicaCheck
from .settings import TrainingSettings, read_settings

GRACE_ENV = "EXPTOOL_STOP_GRACE"
DEFAULT_GRACE_S = 60.0


def execute_request(request: Mapping[str, Any]) -> Outcome:
    """Run the trainer described by a :meth:`PreparedRun.request` spec (config read from the run)."""
    from ..config import load_config  # noqa: PLC0415

    run = Workspace(Path(request["workspace"])).run(request["experiment"], request["run"])
    spec = TrainerSpec(**request["trainer"])
    try:
        config = load_config(run.config_path)
        settings = read_settings(config)
        fn = load_trainer(spec, run.workspace.root)
    except ExptoolError as exc:
        return Outcome("failed", exc.exit_code, exc.message, in_trainer=False)
    return execute(run, spec, config, settings, fn, seed=int(request["seed"]), resume=bool(request["resume"]))


def execute(
    run: Run,
    spec: TrainerSpec,
    config: dict[str, Any],
    settings: TrainingSettings,
    fn: Callable[[Any], Any],
    *,
    seed: int,
    resume: bool,
) -> Outcome:
    """Build the :class:`RunContext` and call the trainer here (rank from torchrun's environment).

    Never raises for a trainer's failure or an interrupt: returns the :class:`Outcome` instead.
    """
    from ..checkpoints import CheckpointManager  # noqa: PLC0415
    from ..config_reads import TrackedConfig, unread_keys  # noqa: PLC0415
    from ..reproducibility import set_random_seed  # noqa: PLC0415
    from ..tracking.run_status import TRAINING_ENV  # noqa: PLC0415
    from .context import RunContext  # noqa: PLC0415
    from .settings import OWN_KEYS  # noqa: PLC0415
    from .streams import guarded_streams  # noqa: PLC0415

    ctx = logger = restore = unread = None
    status, code, error = "completed", EXIT_OK, None
    in_trainer = setup_error = distributed = False
    world_size = 1
    tracked = TrackedConfig(config)  # the trainer's reads are reported at the end (never-read --set keys)
    scope = contextlib.ExitStack()
    try:
        scope.enter_context(guarded_streams())  # a closed stdout (| head) or a dropped terminal must not fail it
        scope.enter_context(_env(TRAINING_ENV, str(run.path)))  # template-style Loggers leave run.json to us
        rank, local_rank, world_size = runtime.env_ranks()
        distributed = world_size > 1
        if distributed:
            _init_process_group(local_rank)
        set_random_seed(seed)
        device = _device(settings, local_rank if distributed else None)
        manager = CheckpointManager(run.checkpoints_dir, rank=rank, **settings.checkpoint.manager_options())
        if resume:
            _repair_last(manager, run)
        if distributed and os.environ.get(REPLICA_ENV):
            ReplicaCheck(os.environ[REPLICA_ENV], rank, world_size).attach(manager)
        start_step, start_epoch = _last_checkpoint(manager, run.metrics_path) if resume else (None, 0)
        if resume and rank == 0:
            _say_dropped(run, start_step)
        logger = _make_logger(run, rank, start_step, settings)
        ctx = RunContext(
            run=run,
            config=tracked,
            logger=logger,
            checkpoints=manager,
            device=device,
            seed=seed,
            is_resume=resume,
            start_step=start_step or 0,
            start_epoch=start_epoch,
            rank=rank,
            local_rank=local_rank,
            world_size=world_size,
            trainer_name=spec.name,
        )
        restore = _install_signal_handlers(ctx)
        in_trainer = True
        fn(ctx)
        if ctx._stop_requested:
            status, code, error = "interrupted", EXIT_INTERRUPTED, f"stopped by {ctx._stop_signal}"
        else:
            unread = unread_keys(tracked, ignore=OWN_KEYS)
    except KeyboardInterrupt:
        status, code, error = "interrupted", EXIT_INTERRUPTED, "interrupted"
    except BaseException as exc:  # noqa: BLE001 - a trainer may raise anything, SystemExit included
        if isinstance(exc, SystemExit):
            code, error = exit_status(exc)  # the trainer's own exit code is kept
            status = "failed" if code else "completed"
            if code:
                _report_traceback(run, runtime.current_rank(), traceback.format_exc())
        elif isinstance(exc, ExptoolError) and not in_trainer:  # bad settings: say so, no traceback
            status, code, error = "failed", exc.exit_code, short_error(exc.message)
            setup_error = True
        else:
            status, code = "failed", EXIT_FAILURE
            error = short_error(f"{exc.__class__.__name__}: {exc}".strip().rstrip(":"))
            _report_traceback(run, runtime.current_rank(), traceback.format_exc())
    finally:
        if restore is not None:
            try:
                restore()
            except KeyboardInterrupt:  # a signal landed before restore() could mark the trainer ended
                restore()
        if logger is not None:
            try:
                logger.finish()
            except Exception as exc:  # noqa: BLE001 - a broken writer must not hide the trainer's outcome
                runtime.log.warning("could not finish the logger: %s", exc, exc_info=runtime.debug_enabled())
        if distributed:
            _destroy_process_group(wait_for_peers=status == "completed")
        scope.close()
    start = ctx.start_step if ctx is not None else 0
    return Outcome(status, code, error, start_step=start, world_size=world_size, in_trainer=not setup_error,
                   unread_config=unread)


@contextlib.contextmanager
def _env(name: str, value: str) -> Any:
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _make_logger(run: Run, rank: int, resume_step: int | None, settings: TrainingSettings) -> Any:
    from ..tracking import Logger  # noqa: PLC0415

    system = settings.system_interval if settings.system_interval is not None else False
    logger = Logger(run=run, rank=rank, resume_step=resume_step, system_metrics=system, manage_run=False)
    for name in settings.writers:
        if name == "wandb":
            logger.initialize_wandb(settings.wandb_project or run.experiment.name)
        else:
            logger.initialize(name)
    return logger


def _last_checkpoint(manager: Any, metrics_path: Path) -> tuple[int, int]:
    """Step and epoch of the manager's last checkpoint, without loading it.

    A checkpoint saved without a step gets the one inferred from the logged rows (see
    :mod:`.resume_point`); a missing epoch is 0.
    """
    from .resume_point import last_entry, resume_step  # noqa: PLC0415

    manifest = manager.manifest
    entry = last_entry(manifest)
    found = [resume_step(manifest, metrics_path), entry.get("epoch") or 0]
    for key, value in zip(("step", "epoch"), found, strict=True):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
            raise CheckpointError(
                f"The checkpoint manifest gives {key} {value!r} for {entry.get('file')!r}: not one to resume at.",
                hint=f"Check {manager.directory / 'manifest.json'}, or start over with --clear.",
            )
    return found[0], found[1]


def _repair_last(manager: Any, run: Run) -> None:
    """Fall back from a damaged last checkpoint before the resume step is read from the manifest."""
    moved = manager.repair_last()
    if moved and not manager.has_checkpoints():
        raise CheckpointError(
            f"Every checkpoint of run {run.id!r} is damaged (each was moved aside as *.damaged "
            f"in {run.checkpoints_dir}); `exp train --clear` starts the run over."
        )


def _say_dropped(run: Run, start_step: int) -> None:
    """Rows logged after the checkpoint are replaced by this attempt's: say how many, never silently."""
    from .resume_point import dropped_rows  # noqa: PLC0415

    count, first, last = dropped_rows(run.metrics_path, start_step)
    if count:
        steps = f"step {first}" if first == last else f"steps {first}-{last}"
        runtime.log.warning("resuming after step %d: the %d row%s logged after it (%s) are dropped and logged "
                            "again by this attempt.", start_step, count, "" if count == 1 else "s", steps)


def _device(settings: TrainingSettings, local_rank: int | None) -> Any:
    from ..devices import pick_device  # noqa: PLC0415

    device = pick_device(settings.device)
    if local_rank is not None and getattr(device, "type", None) == "cuda":
        import torch  # noqa: PLC0415

        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def _report_traceback(run: Run, rank: int, text: str) -> None:
    """Rank 0 appends the traceback to ``logs/log.txt``; the other ranks report theirs as a log record.

    With ``EXPTOOL_DEBUG=1`` (``exp --debug``) rank 0 reports it too.
    """
    if rank != 0:
        runtime.log.error("[rank %d] %s", rank, text.rstrip())
        return
    if runtime.debug_enabled():
        runtime.log.error("%s", text.rstrip())
    from .._fs import open_file  # noqa: PLC0415
    from ..tracking.textlog import format_line  # noqa: PLC0415

    try:
        run.logs_dir.mkdir(parents=True, exist_ok=True)
        with open_file(run.logs_dir / "log.txt", "ab") as fh:  # a link in its place is refused, not followed
            fh.write(format_line(f"trainer failed\n{text}", "error").encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
    except (OSError, ExptoolError) as exc:
        runtime.log.error("could not write the traceback to %s (%s):\n%s", run.logs_dir / "log.txt", exc, text.rstrip())


def _install_signal_handlers(ctx: Any) -> Callable[[], None] | None:
    """SIGTERM or SIGHUP (a dropped terminal): ask the trainer to stop (a grace period if it polls
    ``should_stop``), else interrupt."""
    try:
        grace = float(os.environ.get(GRACE_ENV, DEFAULT_GRACE_S))
    except ValueError:
        grace = DEFAULT_GRACE_S

    done = [False]

    def on_term(signum: int, frame: Any) -> None:
        if done[0]:  # the trainer has ended: a late signal (torchrun sends SIGTERM after SIGINT) changes nothing
            return
        if ctx._stop_requested or not ctx._stop_polled:
            raise KeyboardInterrupt
        ctx._stop_signal = signal.Signals(signum).name
        ctx.request_stop()
        if grace > 0 and hasattr(signal, "SIGALRM"):
            signal.setitimer(signal.ITIMER_REAL, grace)

    def on_alarm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    stops = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    try:
        old = {s: signal.signal(s, on_term) for s in stops}
        old_alarm = signal.signal(signal.SIGALRM, on_alarm) if hasattr(signal, "SIGALRM") else None
    except ValueError:  # not the main thread: leave signals alone
        return None

    def restore() -> None:
        done[0] = True
        if hasattr(signal, "SIGALRM"):
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_alarm)
        for s, handler in old.items():
            signal.signal(s, handler)

    return restore


def _init_process_group(local_rank: int) -> None:
    import torch  # noqa: PLC0415
    import torch.distributed as dist  # noqa: PLC0415

    if dist.is_initialized():
        return
    backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)


def _destroy_process_group(wait_for_peers: bool) -> None:
    import torch.distributed as dist  # noqa: PLC0415

    if not dist.is_initialized():
        return
    if wait_for_peers:
        # Leave together: a rank that tears gloo down while a peer is still finishing (rank 0 flushes
        # logs) can make the peer abort on a closed connection. Skipped after a failure, where a peer
        # may be stuck in a collective that will never complete.
        try:
            dist.barrier()
        except Exception:  # noqa: BLE001 - a peer that already left must not turn success into failure
            pass
    dist.destroy_process_group()
