"""Options shared by ``exp sweep`` and ``exp submit``: the launcher, the local pool, SLURM's requests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

LauncherOpt = Annotated[
    Optional[str],
    typer.Option("--launcher", "-l", help="Where runs execute: pool (local workers), slurm, or an installed one."),
]
JobsOpt = Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Runs at once in the local pool.")]
GpusOpt = Annotated[
    Optional[str], typer.Option("--gpus", help="GPUs to share out, e.g. 0,1,2,3 (each run gets its own).")
]
GpusPerRunOpt = Annotated[int, typer.Option("--gpus-per-run", min=1, help="GPUs per run with --gpus.")]
PartitionOpt = Annotated[Optional[str], typer.Option("--partition", help="SLURM partition.")]
TimeOpt = Annotated[
    Optional[str], typer.Option("--time", help="SLURM time limit (90, 4:00:00, 1-00:00:00).")
]
NodesOpt = Annotated[Optional[int], typer.Option("--nodes", min=1, help="SLURM nodes per run.")]
GpusPerNodeOpt = Annotated[
    Optional[int],
    typer.Option("--gpus-per-node", min=0, help="GPUs per node (one task per GPU)."),
]
CpusOpt = Annotated[
    Optional[int], typer.Option("--cpus-per-task", min=1, help="CPUs per task.")
]
MemOpt = Annotated[Optional[str], typer.Option("--mem", help="Memory per node, e.g. 32G.")]
AccountOpt = Annotated[Optional[str], typer.Option("--account", help="SLURM account.")]
QosOpt = Annotated[Optional[str], typer.Option("--qos", help="SLURM quality of service.")]
ConstraintOpt = Annotated[
    Optional[str], typer.Option("--constraint", help="SLURM node features.")
]
SlurmArgOpt = Annotated[
    Optional[list[str]],
    typer.Option("--slurm-arg", help="Any other sbatch option: key=value (repeatable)."),
]
MaxParallelOpt = Annotated[
    Optional[int],
    typer.Option("--max-parallel", min=1, help="SLURM: array throttle (runs at once)."),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print what would run or be submitted; change nothing.")]


def slurm_options(
    root: Path,
    *,
    partition: str | None = None,
    time: str | None = None,
    nodes: int | None = None,
    gpus_per_node: int | None = None,
    cpus_per_task: int | None = None,
    mem: str | None = None,
    account: str | None = None,
    qos: str | None = None,
    constraint: str | None = None,
    slurm_arg: list[str] | None = None,
    max_parallel: int | None = None,
    job_name: str | None = None,
) -> Any:
    """``exptool.toml``'s ``[launcher.slurm]`` with these command-line values over it."""
    from ..training.launchers.slurm import SlurmOptions  # noqa: PLC0415

    return SlurmOptions.load(
        root, slurm_arg, partition=partition, time=time, nodes=nodes, gpus_per_node=gpus_per_node,
        cpus_per_task=cpus_per_task, mem=mem, account=account, qos=qos, constraint=constraint,
        max_parallel=max_parallel, job_name=job_name,
    )


def make_launcher(name: str, *, jobs: int | None, gpus: str | None, gpus_per_run: int, slurm: Any,
                  folder: Path | None = None) -> Any:
    """The launcher ``--launcher`` names, built from the options that apply to it."""
    from ..training.launchers import get_launcher  # noqa: PLC0415

    if name == "pool":
        return get_launcher("pool", jobs=jobs, gpus=gpus, gpus_per_run=gpus_per_run)
    if name == "slurm":
        return get_launcher("slurm", options=slurm, folder=folder)
    return get_launcher(name)
