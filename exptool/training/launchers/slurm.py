"""Hand prepared runs to SLURM through submitit: one job per run, or one job array for many.

exptool schedules nothing itself. Submitting records each run ``queued`` with its job in
``run.json`` (``"slurm": {"job_id", "array_job_id", "array_index", "logs"}``); the job, where it
runs, takes the run's lock, records ``running`` with its node list and attempt, trains, and records
the outcome itself (:mod:`.slurm_job`), so nothing on the submitting side has to stay alive.
:meth:`SlurmLauncher.poll` only reads those records (and asks ``squeue`` about jobs that vanished).

Options come from ``[launcher.slurm]`` in the workspace's ``exptool.toml``, then the command line::

    [launcher.slurm]
    partition = "gpu"
    time = "4:00:00"            # SLURM's formats: minutes, H:MM:SS, D-HH:MM, ...
    gpus_per_node = 1           # one task (process) per GPU; tasks_per_node = N to choose
    cpus_per_task = 8
    mem = "32G"
    account = "my-lab"
    max_parallel = 8            # a job array's throttle (%K)
    signal_delay_s = 120        # SIGUSR2 this long before the time limit: checkpoint and requeue
    setup = ["module load cuda"]
    [launcher.slurm.args]       # any other sbatch option
    mail-type = "FAIL"
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ...errors import ConfigError, ExptoolError, UsageError
from .base import Job, Launcher, OnOutcome, Outcome

INSTALL_HINT = "Install it with: pip install 'exptool[slurm]'"
DEFAULT_TIME = "60"
FINAL = ("completed", "failed", "interrupted")
SQUEUE_EVERY_S = 5.0
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def time_minutes(text: str | int) -> int:
    """SLURM's time formats (``90``, ``1:30:00``, ``2-00:00``, ...) in whole minutes, rounded up.

    Raises:
        UsageError: not a SLURM time.
    """
    found = _TIME.match(str(text).strip())
    if not found:
        raise UsageError(f"--time {text!r} is not a SLURM time.", hint="e.g. 90 (minutes), 4:00:00, 2-00:00:00.")
    days, a, b, c = found.groups()
    if days is not None:  # D-H, D-H:M, D-H:M:S
        seconds = int(days) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    elif c is not None:  # H:M:S
        seconds = int(a) * 3600 + int(b) * 60 + int(c)
    elif b is not None:  # M:S
        seconds = int(a) * 60 + int(b)
    else:  # M
        seconds = int(a) * 60
    if seconds <= 0:
        raise UsageError(f"--time {text!r} must be longer than zero.")
    return math.ceil(seconds / 60)


def parse_slurm_args(items: Sequence[str] | None) -> dict[str, str]:
    """``--slurm-arg key=value`` items as a mapping (``--slurm-arg exclusive`` alone means a flag)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not key:
            raise UsageError(f"Bad --slurm-arg {item!r}: expected key=value, e.g. --slurm-arg mail-type=FAIL.")
        out[key] = value.strip() if sep else True
    return out


@dataclass
class SlurmOptions:
    """What each job asks SLURM for (see the module docstring for the ``exptool.toml`` table)."""

    partition: str | None = None
    time: str = DEFAULT_TIME
    nodes: int = 1
    gpus_per_node: int = 0
    tasks_per_node: int | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    max_parallel: int | None = None
    signal_delay_s: int = 90
    job_name: str | None = None
    setup: list[str] = field(default_factory=list)
    args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        time_minutes(self.time)
        for name in ("nodes", "max_parallel", "cpus_per_task", "tasks_per_node"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UsageError(f"SLURM option {name} must be a whole number of at least 1, not {value!r}.")
        if not isinstance(self.gpus_per_node, int) or self.gpus_per_node < 0:
            raise UsageError(f"SLURM option gpus_per_node must be 0 or more, not {self.gpus_per_node!r}.")

    @classmethod
    def load(
        cls, workspace_root: str | Path | None, slurm_args: Sequence[str] | None = None, **given: Any
    ) -> SlurmOptions:
        """``[launcher.slurm]`` of ``exptool.toml``, with the command line's non-None values over it.

        Raises:
            ConfigError: the table holds an unknown key or a value of the wrong type.
        """
        table = _toml_table(workspace_root)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - names)
        if unknown:
            raise ConfigError(f"exptool.toml [launcher.slurm]: unknown key {unknown[0]!r}.",
                              hint=f"Known keys: {', '.join(sorted(names))}.")
        values = {k: v for k, v in table.items()}
        values["args"] = {**dict(table.get("args") or {}), **parse_slurm_args(slurm_args)}
        values.update({k: v for k, v in given.items() if v is not None and k in names})
        if "time" in values:
            values["time"] = str(values["time"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"exptool.toml [launcher.slurm]: {exc}") from None

    @property
    def tasks(self) -> int:
        """Tasks (processes of the run) per node: ``tasks_per_node``, else one per GPU, else one."""
        return self.tasks_per_node or max(1, self.gpus_per_node)

    @property
    def world_size(self) -> int:
        return self.nodes * self.tasks

    def executor_parameters(self) -> dict[str, Any]:
        """Keyword arguments for ``submitit.SlurmExecutor.update_parameters``."""
        params: dict[str, Any] = {
            "time": time_minutes(self.time),
            "nodes": self.nodes,
            "ntasks_per_node": self.tasks,
            "signal_delay_s": self.signal_delay_s,
            "job_name": self.job_name or "exptool",
            "additional_parameters": {"requeue": True, **self.args},
        }
        if self.gpus_per_node:
            params["gpus_per_node"] = self.gpus_per_node
        for name in ("partition", "cpus_per_task", "mem", "account", "qos", "constraint"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        if self.max_parallel:
            params["array_parallelism"] = self.max_parallel
        if self.setup:
            params["setup"] = list(self.setup)
        return params

    def sbatch_lines(self, count: int) -> list[str]:
        """The ``#SBATCH`` lines a submission of ``count`` runs gets (what ``--dry-run`` prints)."""
        params = self.executor_parameters()
        extra = params.pop("additional_parameters")
        params.pop("setup", None)
        parallel = params.pop("array_parallelism", None)
        params["signal"] = f"USR2@{params.pop('signal_delay_s')}"
        if count > 1:
            params["array"] = f"0-{count - 1}" + (f"%{min(count, parallel)}" if parallel else "")
        params.update(extra)
        lines = []
        for key in sorted(params):
            value = params[key]
            flag = key.replace("_", "-")
            lines.append(f"#SBATCH --{flag}" if value is True else f"#SBATCH --{flag}={value}")
        return lines + [f"# setup: {line}" for line in self.setup]


def _toml_table(workspace_root: str | Path | None) -> dict[str, Any]:
    if workspace_root is None:
        return {}
    path = Path(workspace_root) / "exptool.toml"
    if not path.is_file():
        return {}
    from ..registry import _read_toml  # noqa: PLC0415

    table = _read_toml(path).get("launcher", {})
    table = table.get("slurm", {}) if isinstance(table, Mapping) else {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: [launcher.slurm] must be a table.")
    return dict(table)


def _submitit() -> Any:
    try:
        import submitit  # noqa: PLC0415
    except ImportError:
        raise UsageError("The SLURM launcher needs submitit, which is not installed.", hint=INSTALL_HINT) from None
    return submitit


class SlurmLauncher(Launcher):
    """Submits prepared runs to SLURM (a job array when there are several); jobs record their outcomes.

    Args:
        options: what to ask SLURM for (default: ``exptool.toml``'s table alone).
        folder: where submitit keeps its files and the jobs' logs (default ``<experiment>/.slurm``).
    """

    name = "slurm"
    records_outcomes = True
    detached = True

    def __init__(self, options: SlurmOptions | None = None, folder: str | Path | None = None, **given: Any):
        self.options = options or SlurmOptions(**given)
        self.folder = Path(folder) if folder is not None else None
        self._last_squeue = 0.0

    @property
    def world_size(self) -> int:
        return self.options.world_size

    @property
    def capacity(self) -> int | None:
        return self.options.max_parallel

    def _folder_for(self, runs: Sequence[Any]) -> Path:
        if self.folder is not None:
            return self.folder
        return runs[0].run.experiment.path / ".slurm"

    def submit(self, runs: Sequence) -> list[Job]:
        """One job (one run) or one job array (several); each run's job id lands in its ``run.json``."""
        if not runs:
            return []
        from ...locking import RunLock  # noqa: PLC0415
        from ...workspace import now_iso  # noqa: PLC0415
        from .slurm_job import run_job  # noqa: PLC0415

        submitit = _submitit()
        folder = self._folder_for(runs)
        folder.mkdir(parents=True, exist_ok=True)
        executor = submitit.SlurmExecutor(folder=str(folder / "%j"), max_num_timeout=1_000_000)
        executor.update_parameters(**self.options.executor_parameters())
        requests = [p.request() for p in runs]
        # The runs' locks, held until every job id is recorded: a job that starts at once waits for them.
        locks = [RunLock(p.run.path).acquire() for p in runs]
        try:
            try:
                if len(runs) == 1:
                    handles = [executor.submit(run_job, requests[0])]
                else:
                    handles = executor.map_array(run_job, requests)
            except Exception as exc:  # sbatch refused: the runs must not stay "queued"
                for p in runs:
                    p.run.update_record(status="failed", error=f"sbatch: {exc}".strip()[:500], ended=now_iso())
                raise ExptoolError(f"SLURM refused the submission: {_first_line(exc)}",
                                   hint="Check the partition, account and limits (sinfo, sacctmgr).") from None
            jobs = []
            for index, (prepared, handle) in enumerate(zip(runs, handles, strict=True)):
                job_id = str(handle.job_id)
                array_id, _, task = job_id.partition("_")
                prepared.run.update_record(
                    launcher="slurm",
                    slurm={
                        "job_id": job_id,
                        "array_job_id": array_id if task else None,
                        "array_index": int(task) if task else None,
                        "logs": str(folder / (f"{array_id}_{task}" if task else job_id)),
                        "submitted": now_iso(),
                    },
                )
                jobs.append(Job(prepared, id=job_id, data={"index": index}))
        finally:
            for lock in locks:
                lock.release()
        return jobs

    def watch(self, runs: Sequence[Any]) -> list[Job]:
        """Jobs for runs already on SLURM (submitted earlier), to :meth:`poll` like the new ones."""
        from .slurm_state import job_id  # noqa: PLC0415

        jobs = []
        for run in runs:
            job = Job(None, id=job_id(run.read_record()) or "")  # type: ignore[arg-type]
            job.data["run"] = run
            jobs.append(job)
        return jobs

    def poll(self, jobs: Sequence[Job], timeout: float | None = None) -> list[Job]:
        """Read the runs' records until one has ended or ``timeout`` passed (SLURM is asked every 5 s)."""
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        while True:
            self._check(jobs)
            ended = [job for job in jobs if job.done]
            if ended or time.monotonic() >= deadline:
                return ended
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    def _check(self, jobs: Sequence[Job]) -> None:
        from .slurm_state import live_status, squeue_states  # noqa: PLC0415

        states = None
        if time.monotonic() - self._last_squeue >= SQUEUE_EVERY_S:
            self._last_squeue = time.monotonic()
            states = squeue_states()
        for job in jobs:
            if job.done:
                continue
            run = _run_of(job)
            record = run.read_record()
            status = record.get("status")
            if status in FINAL:
                job.outcome = Outcome(
                    str(status), int(record.get("exit_code") or (0 if status == "completed" else 1)),
                    record.get("error"), duration_s=float(record.get("duration_s") or 0),
                    resumed=bool(record.get("resumed")), start_step=int(record.get("start_step") or 0),
                    seed=record.get("seed"), world_size=int(record.get("world_size") or 1),
                )
            elif states is not None and live_status(record, states) == "stale":
                logs = (record.get("slurm") or {}).get("logs")
                job.outcome = Outcome("failed", 1, f"SLURM job {job.id} ended without recording how"
                                      + (f" (its log: {logs})" if logs else ""))
                run.update_record(status="failed", error=job.outcome.error)

    def wait(self, jobs: Sequence[Job], on_outcome: OnOutcome | None = None) -> list[Outcome]:
        reported: set[int] = set()
        while not all(job.done for job in jobs):
            for job in self.poll(jobs, timeout=5.0):
                if id(job) not in reported and on_outcome is not None:
                    on_outcome(job)
                reported.add(id(job))
        return [job.outcome for job in jobs]  # type: ignore[misc]

    def cancel(self, jobs: Sequence[Job]) -> None:
        """``scancel`` the jobs; one still waiting in the queue is recorded ``interrupted`` (cancelled)."""
        from .slurm_state import squeue_states  # noqa: PLC0415

        live = [job for job in jobs if not job.done and job.id]
        if not live:
            return
        states = squeue_states() or {}
        scancel([job.id for job in live])
        for job in live:
            if states.get(job.id) in (None, "PENDING", "REQUEUED", "REQUEUE_HOLD"):
                run = _run_of(job)
                from ...workspace import now_iso  # noqa: PLC0415

                run.update_record(status="interrupted", error="cancelled", exit_code=130, ended=now_iso())
                job.outcome = Outcome.interrupted("cancelled")

    def describe(self, count: int) -> list[str]:
        """What a submission of ``count`` runs would ask SLURM for (``--dry-run``)."""
        return self.options.sbatch_lines(count)


def _run_of(job: Job) -> Any:
    return job.prepared.run if job.prepared is not None else job.data["run"]


def scancel(job_ids: Sequence[str]) -> None:
    """Cancel SLURM jobs (``scancel`` sends SIGTERM to running ones; their trainers may checkpoint).

    Raises:
        ExptoolError: ``scancel`` is missing or refused.
    """
    if not job_ids:
        return
    try:
        proc = subprocess.run(["scancel", *job_ids], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise ExptoolError(f"Cannot run scancel: {exc}", hint="Is SLURM installed on this machine?") from None
    if proc.returncode != 0 and "Invalid job id" not in proc.stderr:
        raise ExptoolError(f"scancel failed: {_first_line(proc.stderr)}")


def _first_line(text: Any) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else str(text)
