"""Run a trainer inside a prepared run: in this process, or under torchrun for several processes.

:func:`train` is what ``exp train`` calls. It holds the run's lock, decides resume or fresh start,
saves the effective config, records status and provenance in ``run.json``, then either calls
:func:`execute` here or starts torchrun (``torch.distributed.run ... -m exptool.launch``), whose
workers call :func:`execute` with their rank. Only rank 0 (on node 0) writes logs, checkpoints and
``run.json``.

Signals: Ctrl-C (SIGINT) interrupts at once. SIGTERM sets ``ctx.should_stop`` so a trainer that
polls it can checkpoint and return; a trainer that never polls it is interrupted at once. Either
way the status becomes ``interrupted`` and the exit code 130.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, AlreadyExistsError, ExptoolError, UsageError
from .locking import RunLock
from .trainers import TrainerSpec, load_trainer
from .workspace import RUN_SUBDIRS, Run, Workspace, now_iso, remove_entries

SPEC_ENV = "EXPTOOL_LAUNCH_SPEC"
OUTCOME_ENV = "EXPTOOL_OUTCOME_FILE"
GRACE_ENV = "EXPTOOL_STOP_GRACE"
DEFAULT_GRACE_S = 60.0
DEFAULT_WRITERS = ("csv", "tensorboard")


@dataclass
class DistOptions:
    """torchrun options: processes per node and, for several machines, the rendezvous."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str | None = None
    master_port: int | None = None

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    def torchrun_args(self) -> list[str]:
        """Arguments for ``python -m torch.distributed.run``."""
        args = ["--nproc-per-node", str(self.nproc_per_node)]
        if self.nnodes == 1 and self.master_addr is None and self.master_port is None:
            return ["--standalone", *args]  # a free port on localhost: no clashes between runs
        args += ["--nnodes", str(self.nnodes), "--node-rank", str(self.node_rank)]
        args += ["--master-addr", self.master_addr or "127.0.0.1", "--master-port", str(self.master_port or 29500)]
        return args


@dataclass
class Outcome:
    """How a training attempt ended."""

    status: str  # completed | failed | interrupted
    exit_code: int
    error: str | None = None
    duration_s: float = 0.0
    resumed: bool = False
    start_step: int = 0
    seed: int | None = None
    world_size: int = 1
    in_trainer: bool = True  # False: exptool could not prepare the run (bad writer, device, ...)


def has_checkpoints(run: Run) -> bool:
    """True if the run's ``checkpoints/`` holds a checkpoint to resume from."""
    from .checkpoints import CheckpointManager  # noqa: PLC0415

    # rank=1: a reader only; it must not tidy or rewrite the manifest of a run it does not own.
    return run.checkpoints_dir.is_dir() and CheckpointManager(run.checkpoints_dir, rank=1).has_checkpoints()


def _has_logged_steps(run: Run) -> bool:
    from .metrics_file import last_row  # noqa: PLC0415

    return last_row(run.metrics_path)[0] is not None


def clear_outputs(run: Run) -> None:
    """Empty the run's checkpoints, logs, visualizations and plots (``--clear``)."""
    for sub in RUN_SUBDIRS:
        folder = run.path / sub
        if folder.is_dir():
            remove_entries(folder.iterdir())
        folder.mkdir(exist_ok=True)


def _choose_seed(requested: int | None, config: Mapping[str, Any], previous: Mapping[str, Any], resume: bool) -> int:
    if requested is not None:
        return requested
    if isinstance(config.get("seed"), int) and not isinstance(config.get("seed"), bool):
        return int(config["seed"])
    if resume and isinstance(previous.get("seed"), int):
        return int(previous["seed"])
    return secrets.randbelow(2**31)


def effective_config(
    spec: TrainerSpec, config: Mapping[str, Any], overrides: list[str], workspace_root: str | os.PathLike
) -> dict[str, Any]:
    """The config a trainer runs with: its ``default_config`` < ``config`` < ``--set`` overrides.

    A trainer function may carry a ``default_config`` dict attribute; its keys then show up in the
    run's ``config.json`` and can be overridden with ``--set key=value``. The chosen trainer's name
    is stored under ``trainer`` so that a later ``exp train`` picks the same one.
    """
    from .config import apply_overrides, merge_configs  # noqa: PLC0415

    fn = load_trainer(spec, workspace_root)
    defaults = getattr(fn, "default_config", None)
    base = merge_configs(defaults, config) if isinstance(defaults, Mapping) else dict(config)
    result = apply_overrides(base, overrides)
    result["trainer"] = spec.name
    return result


def train(
    run: Run,
    spec: TrainerSpec,
    config: dict[str, Any],
    *,
    seed: int | None = None,
    resume: bool | None = None,
    clear: bool = False,
    dist: DistOptions | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> Outcome:
    """Run ``spec``'s trainer on ``run`` and record how it went in ``run.json``.

    Args:
        run: an existing run.
        spec: the trainer (loaded here, or by each torchrun worker).
        config: the effective config; saved to the run's ``config.json``.
        seed: the seed; default the config's ``seed``, else the previous one on resume, else random.
        resume: True/False to force; None resumes when the run has checkpoints.
        clear: delete earlier checkpoints and logs first (a fresh start).
        dist: torchrun options; None or one process runs in this process.
        on_start: called with a summary dict right before the trainer starts (for the CLI's banner).

    Raises:
        RunLockedError: another ``exp train`` holds the run.
        AlreadyExistsError: a fresh start would overwrite checkpoints and ``clear`` is False.
        TrainerError: the trainer cannot be loaded.
    """
    from .config import save_config  # noqa: PLC0415

    run.require()
    distributed = dist is not None and dist.world_size > 1
    writer = not distributed or dist.node_rank == 0  # type: ignore[union-attr]
    if clear and resume:
        raise UsageError("--resume and --clear contradict each other.", hint="Use --clear alone for a fresh start.")
    lock = RunLock(run.path).acquire() if writer else None
    # Until the trainer's own handler is in place, SIGTERM interrupts like Ctrl-C, so the record
    # still ends as "interrupted" instead of staying "running".
    old_term = _set_sigterm(_interrupt)
    try:
        fn = None if distributed else load_trainer(spec, run.workspace.root)  # fail before clearing anything
        found = has_checkpoints(run)
        if clear:
            resume = False
            if writer:
                clear_outputs(run)
        elif resume is None:
            resume = found
        elif resume is False and found:
            raise AlreadyExistsError(
                f"Run {run.id!r} has checkpoints; a fresh start would overwrite them.",
                hint="Pass --clear to delete its checkpoints and logs, or --resume (the default) to continue.",
            )
        elif resume and not found:
            resume = False
        if not resume and not clear and _has_logged_steps(run):
            raise AlreadyExistsError(
                f"Run {run.id!r} has logs from an earlier attempt but no checkpoint to resume from.",
                hint="Pass --clear to delete its logs and start over, or train another run.",
            )
        previous = run.read_record()
        seed = _choose_seed(seed, config, previous, bool(resume))
        if writer:
            save_config(config, run.config_path)
        attempts = int(previous.get("attempts", 0) or 0) + 1 if writer else 0
        started = time.time()
        if writer:
            from . import provenance  # noqa: PLC0415

            (run.path / provenance.PATCH_NAME).unlink(missing_ok=True)
            run.update_record(
                status="running",
                started=now_iso(),
                ended=None,
                exit_code=None,
                error=None,
                duration_s=None,
                attempts=attempts,
                resumed=bool(resume),
                seed=seed,
                trainer=spec.to_dict(),
                world_size=dist.world_size if distributed else 1,  # type: ignore[union-attr]
                **provenance.collect(run.workspace.root, run.path),
            )
        request = {
            "workspace": str(run.workspace.root),
            "experiment": run.experiment.name,
            "run": run.name,
            "trainer": asdict(spec),
            "seed": seed,
            "resume": bool(resume),
        }
        try:
            if on_start is not None:
                on_start({**request, "world_size": dist.world_size if distributed else 1})  # type: ignore[union-attr]
            if distributed:
                outcome = _run_torchrun(request, dist)  # type: ignore[arg-type]
            else:
                outcome = execute(request, fn, config=config)
        except KeyboardInterrupt:
            outcome = Outcome("interrupted", EXIT_INTERRUPTED, "interrupted")
        except BaseException as exc:
            if writer:  # the record must not stay "running" after exptool itself failed
                run.update_record(status="failed", ended=now_iso(), exit_code=EXIT_FAILURE, error=repr(exc))
            raise
        outcome.duration_s = round(time.time() - started, 3)
        outcome.seed = seed
        outcome.resumed = bool(resume)
        if writer:
            run.update_record(
                status=outcome.status,
                ended=now_iso(),
                exit_code=outcome.exit_code,
                error=outcome.error,
                duration_s=outcome.duration_s,
                start_step=outcome.start_step,
            )
        return outcome
    finally:
        _set_sigterm(old_term)
        if lock is not None:
            lock.release()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _set_sigterm(handler: Any) -> Any:
    """Install a SIGTERM handler and return the previous one (no-op outside the main thread)."""
    if handler is None:
        return None
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return None


def _rank_info() -> tuple[int, int, int]:
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1))


def _logger_writers(config: Mapping[str, Any]) -> tuple[list[str], str | None]:
    section = config.get("logging") if isinstance(config.get("logging"), Mapping) else {}
    writers = section.get("writers", list(DEFAULT_WRITERS))  # type: ignore[union-attr]
    if isinstance(writers, str):
        writers = [w.strip() for w in writers.split(",") if w.strip()]
    if not isinstance(writers, list) or not all(isinstance(w, str) for w in writers):
        raise UsageError("Config key logging.writers must be a list like [csv, tensorboard, wandb].")
    return writers, section.get("wandb_project")  # type: ignore[union-attr]


def _checkpoint_options(config: Mapping[str, Any]) -> dict[str, Any]:
    section = config.get("checkpoint") if isinstance(config.get("checkpoint"), Mapping) else {}
    allowed = ("keep_last", "keep_best", "metric", "mode")
    options = {"metric": "val_loss", "mode": "min"}
    options.update({k: v for k, v in section.items() if k in allowed})  # type: ignore[union-attr]
    return options


def _make_logger(run: Run, rank: int, resume_step: int | None, config: Mapping[str, Any]) -> Any:
    from .tracking import Logger  # noqa: PLC0415

    writers, project = _logger_writers(config)
    logger = Logger(run=run, rank=rank, resume_step=resume_step)
    for name in writers:
        if name == "wandb":
            logger.initialize_wandb(project or run.experiment.name)
        else:
            logger.initialize(name)
    return logger


def _last_checkpoint(manager: Any) -> tuple[int, int]:
    """Step and epoch recorded for the manager's last checkpoint (0 where missing), without loading it."""
    manifest = manager.manifest
    entry = next((e for e in manifest.get("checkpoints", []) if e.get("file") == manifest.get("last")), {})
    return int(entry.get("step") or 0), int(entry.get("epoch") or 0)


def execute(request: Mapping[str, Any], fn: Callable[[Any], Any] | None = None, config: Any = None) -> Outcome:
    """Build the :class:`RunContext` and call the trainer, in this process (rank from torchrun's env).

    Never raises for a trainer's failure or an interrupt: returns the :class:`Outcome` instead.
    """
    from .checkpoints import CheckpointManager  # noqa: PLC0415
    from .config import load_config  # noqa: PLC0415
    from .devices import pick_device  # noqa: PLC0415
    from .reproducibility import set_random_seed  # noqa: PLC0415
    from .run_context import RunContext  # noqa: PLC0415

    ws = Workspace(Path(request["workspace"]))
    run = ws.run(request["experiment"], request["run"])
    spec = TrainerSpec(**request["trainer"])
    rank, local_rank, world_size = _rank_info()
    if config is None:
        config = load_config(run.config_path)
    if fn is None:
        fn = load_trainer(spec, ws.root)
    distributed = world_size > 1
    ctx = None
    logger = None
    status, code, error = "completed", EXIT_OK, None
    restore = None
    in_trainer = setup_error = False
    try:
        if distributed:
            _init_process_group(local_rank)
        set_random_seed(int(request["seed"]))
        device = _device(pick_device, config, local_rank if distributed else None)
        manager = CheckpointManager(run.checkpoints_dir, rank=rank, **_checkpoint_options(config))
        start_step, start_epoch = _last_checkpoint(manager) if request["resume"] else (None, 0)
        logger = _make_logger(run, rank, start_step, config)
        ctx = RunContext(
            run=run,
            config=config,
            logger=logger,
            checkpoints=manager,
            device=device,
            seed=int(request["seed"]),
            is_resume=bool(request["resume"]),
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
            status, code, error = "interrupted", EXIT_INTERRUPTED, "stopped by SIGTERM"
    except KeyboardInterrupt:
        status, code, error = "interrupted", EXIT_INTERRUPTED, "interrupted"
    except BaseException as exc:  # noqa: BLE001 - a trainer may raise anything, SystemExit included
        if isinstance(exc, SystemExit) and exc.code in (None, 0):
            status, code, error = "completed", EXIT_OK, None
        elif isinstance(exc, ExptoolError) and not in_trainer:  # bad settings: say so, no traceback
            status, code, error = "failed", exc.exit_code, exc.message
            setup_error = True
        else:
            status, code = "failed", EXIT_FAILURE
            error = f"{exc.__class__.__name__}: {exc}".strip().rstrip(":")
            _report_traceback(run, rank, traceback.format_exc())
    finally:
        if restore is not None:
            restore()
        if logger is not None:
            try:
                logger.finish()
            except Exception:  # noqa: BLE001 - a broken writer must not hide the trainer's outcome
                traceback.print_exc()
        if distributed:
            _destroy_process_group(wait_for_peers=status == "completed")
    start = ctx.start_step if ctx is not None else 0
    return Outcome(status, code, error, start_step=start, world_size=world_size, in_trainer=not setup_error)


def _device(pick_device: Callable[..., Any], config: Mapping[str, Any], local_rank: int | None) -> Any:
    prefer = config.get("device") if isinstance(config.get("device"), str) else None
    device = pick_device(prefer)
    if local_rank is not None and getattr(device, "type", None) == "cuda":
        import torch  # noqa: PLC0415

        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def _report_traceback(run: Run, rank: int, text: str) -> None:
    """Rank 0 appends the traceback to ``logs/log.txt``; the other ranks print theirs on stderr.

    With ``EXPTOOL_DEBUG=1`` (``exp --debug``) rank 0 prints it on stderr too.
    """
    if rank != 0:
        sys.stderr.write(f"[rank {rank}] {text}")
        return
    if os.environ.get("EXPTOOL_DEBUG", "").lower() not in ("", "0", "false", "no"):
        sys.stderr.write(text)
    from .tracking.textlog import format_line  # noqa: PLC0415

    try:
        run.logs_dir.mkdir(parents=True, exist_ok=True)
        with open(run.logs_dir / "log.txt", "a", encoding="utf-8") as fh:
            fh.write(format_line(f"trainer failed\n{text}", "error"))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        sys.stderr.write(text)


def _install_signal_handlers(ctx: Any) -> Callable[[], None] | None:
    """SIGTERM: ask the trainer to stop (grace period if it polls ``should_stop``), else interrupt."""
    try:
        grace = float(os.environ.get(GRACE_ENV, DEFAULT_GRACE_S))
    except ValueError:
        grace = DEFAULT_GRACE_S

    def on_term(signum: int, frame: Any) -> None:
        if ctx._stop_requested or not ctx._stop_polled:
            raise KeyboardInterrupt
        ctx.request_stop()
        if grace > 0 and hasattr(signal, "SIGALRM"):
            signal.setitimer(signal.ITIMER_REAL, grace)

    def on_alarm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        old_term = signal.signal(signal.SIGTERM, on_term)
        old_alarm = signal.signal(signal.SIGALRM, on_alarm) if hasattr(signal, "SIGALRM") else None
    except ValueError:  # not the main thread: leave signals alone
        return None

    def restore() -> None:
        if hasattr(signal, "SIGALRM"):
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_alarm)
        signal.signal(signal.SIGTERM, old_term)

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


def _run_torchrun(request: Mapping[str, Any], dist: DistOptions) -> Outcome:
    """Start torchrun with the workers and wait; forward SIGINT/SIGTERM to it."""
    with tempfile.TemporaryDirectory(prefix="exptool-") as tmp:
        env = {**os.environ, SPEC_ENV: json.dumps(dict(request)), OUTCOME_ENV: tmp}
        env.setdefault("OMP_NUM_THREADS", "1")
        cmd = [sys.executable, "-c", _AGENT, *dist.torchrun_args(), "-m", "exptool.launch"]
        proc = subprocess.Popen(cmd, env=env, stdout=_stdout_fd())
        signalled: list[int] = []

        def forward(signum: int, frame: Any) -> None:
            signalled.append(signum)
            try:
                proc.send_signal(signum)
            except OSError:
                pass

        old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            rc = proc.wait()
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
        results = {r: _read_outcome(Path(tmp) / f"outcome-{r}.json") for r in range(dist.nproc_per_node)}
    main = results.get(0) or {}
    failed = [r for r in results.values() if r and r.get("status") == "failed"]
    if failed:
        # The first rank that raised is the cause; the others were stopped by torchrun.
        status, error = "failed", failed[0].get("error")
    elif rc != 0 and not signalled:
        status, error = "failed", f"a worker failed (torchrun exit code {rc}); see the messages above"
    elif signalled or main.get("status") == "interrupted":
        status, error = "interrupted", main.get("error") or "interrupted"
    else:
        status, error = "completed", None
    code = {"completed": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(status, EXIT_FAILURE)
    in_trainer = bool(failed[0].get("in_trainer", True)) if failed else True
    return Outcome(
        status, code, error, start_step=int(main.get("start_step", 0)), world_size=dist.world_size,
        in_trainer=in_trainer,
    )


# torchrun itself (``python -m torch.distributed.run``), minus the traceback it prints when Ctrl-C or
# SIGTERM stops it: it has shut its workers down by then, and `exp train` reports the interruption.
_AGENT = "import sys; from exptool.launch import _agent_main; sys.exit(_agent_main(sys.argv[1:]))"


def _agent_main(argv: list[str]) -> int:
    """Run torchrun's ``main`` with ``argv``; a signal that stops it exits ``128 + signal`` quietly."""
    from torch.distributed.elastic.multiprocessing.api import SignalException  # noqa: PLC0415
    from torch.distributed.run import main  # noqa: PLC0415

    try:
        main(argv)
    except SignalException as exc:
        return 128 + int(exc.sigval)
    return 0


def _stdout_fd() -> int | None:
    """The file descriptor behind ``sys.stdout`` (stderr's under ``redirect_stdout``), for the workers."""
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _read_outcome(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _worker_main() -> int:
    """Entry point of each torchrun worker: ``python -m exptool.launch`` with the spec in the env."""
    request = json.loads(os.environ[SPEC_ENV])
    outcome = execute(request)
    folder = os.environ.get(OUTCOME_ENV)
    if folder:
        from ._atomic import atomic_write_json  # noqa: PLC0415

        rank = int(os.environ.get("LOCAL_RANK", 0))
        atomic_write_json(Path(folder) / f"outcome-{rank}.json", asdict(outcome), fsync=False)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(_worker_main())
