"""``exp submit``: hand one run to a cluster (SLURM through submitit) instead of training it here."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from . import _launch as L
from ._common import ExperimentOpt, JsonOpt, RunOpt, workspace
from ._complete import complete_config
from ._errors import handle_errors, print_error
from ._output import info, note, print_json


@handle_errors
def submit(
    ctx: typer.Context,
    experiment: ExperimentOpt = None,
    run: RunOpt = None,
    launcher: L.LauncherOpt = None,
    trainer: Annotated[Optional[str], typer.Option("--trainer", "-t", help="Trainer name or module:function.")] = None,
    config: Annotated[
        Optional[str],
        typer.Option("--config", "-c", help="Config merged over the run's config.", autocompletion=complete_config),
    ] = None,
    overrides: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override a config value.")] = None,
    resume: Annotated[
        Optional[bool], typer.Option("--resume/--fresh", help="Continue from the last checkpoint, or start over.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Delete the run's checkpoints and logs first.")] = False,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed (default: config 'seed', else random).")] = None,
    create: Annotated[bool, typer.Option("--create", help="Create the run if it does not exist.")] = False,
    partition: L.PartitionOpt = None,
    time_limit: L.TimeOpt = None,
    nodes: L.NodesOpt = None,
    gpus_per_node: L.GpusPerNodeOpt = None,
    cpus_per_task: L.CpusOpt = None,
    mem: L.MemOpt = None,
    account: L.AccountOpt = None,
    qos: L.QosOpt = None,
    constraint: L.ConstraintOpt = None,
    slurm_arg: L.SlurmArgOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the job to end and report like exp train.")] = False,
    notify_cmd: Annotated[
        Optional[str],
        typer.Option("--notify", metavar="CMD",
                     help="Shell command to run when the job ends (on its node unless --wait), with EXPTOOL_STATUS "
                     "etc. set; default: [notify] in exptool.toml; '' for none."),
    ] = None,
    dry_run: L.DryRunOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Submit the run to SLURM instead of training it here.

    The job trains the run on its node, records queued/running/how it ended in run.json, and
    requeues itself ahead of its time limit after a checkpoint. Options default to
    [launcher.slurm] in exptool.toml.

    \b
    Examples:
      exp submit -e mnist -r big --partition gpu --gpus-per-node 4 --time 12:00:00
      exp submit --set lr=3e-4 --dry-run
    """
    from ..notify import read_settings as notify_settings  # noqa: PLC0415
    from ..notify_on_node import arm, disarm  # noqa: PLC0415
    from ..training.prepare import prepare_submission, resolve_training  # noqa: PLC0415

    ws = workspace(ctx)
    notify = notify_settings(ws.root, notify_cmd)  # a bad [notify] table stops us before anything is submitted
    name = launcher or "slurm"
    run_obj, spec, effective = resolve_training(
        ws, experiment, run, trainer=trainer, config=config, overrides=overrides, create=create and not dry_run
    )
    slurm = L.slurm_options(
        ws.root, partition=partition, time=time_limit, nodes=nodes, gpus_per_node=gpus_per_node,
        cpus_per_task=cpus_per_task, mem=mem, account=account, qos=qos, constraint=constraint, slurm_arg=slurm_arg,
        job_name=run_obj.id,
    ) if name == "slurm" else None
    chosen = L.make_launcher(name, jobs=None, gpus=None, gpus_per_run=1, slurm=slurm, folder=run_obj.path / "slurm")
    if not chosen.detached:
        from ..errors import UsageError  # noqa: PLC0415

        raise UsageError(f"Launcher {name!r} runs here, not on a cluster.", hint="Use exp train for that.")
    if dry_run:
        lines = chosen.describe(1) if hasattr(chosen, "describe") else []
        if json_out:
            print_json({"experiment": run_obj.experiment.name, "run": run_obj.name, "dry_run": True,
                        "launcher": name, "trainer": spec.to_dict(), "sbatch": lines})
        else:
            info(f"Would submit {run_obj.id} ({spec.name!r}) to {name} with:")
            for line in lines:
                info(f"  {line}")
        return
    prepared = prepare_submission(run_obj, spec, effective, seed=seed, resume=resume, clear=clear,
                                  world_size=chosen.world_size, launcher=name)
    disarm(run_obj.path)  # an earlier submission's word; this one says its own
    if notify.command and not wait:  # armed before the job can start, so a quick job still finds it
        arm(run_obj.path, notify.command, notify.timeout)
    job = chosen.submit([prepared])[0]
    record = run_obj.read_record()
    logs = (record.get("slurm") or {}).get("logs")
    if not wait:
        _report(run_obj, job.id, "queued", logs, json_out, None)
        if notify.command:
            note("the notify command runs when the job ends, on its node.")
        return
    if not json_out:
        info(f"Submitted {run_obj.id} as SLURM job {job.id}; waiting for it (Ctrl-C stops waiting, not the job).")
    try:
        outcome = chosen.wait([job])[0]
    except KeyboardInterrupt:
        print_error(f"stopped waiting; job {job.id} carries on (exp cancel -e {run_obj.experiment.name} "
                    f"-r {run_obj.name} cancels it).")
        raise typer.Exit(130) from None
    _report(run_obj, job.id, outcome.status, logs, json_out, outcome)
    if notify.command:
        from .train import notify_end  # noqa: PLC0415

        notify_end(notify, run_obj, outcome)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def _report(run_obj: Any, job_id: str, status: str, logs: str | None, json_out: bool, outcome: Any) -> None:
    if json_out:
        data = {"experiment": run_obj.experiment.name, "run": run_obj.name, "path": str(run_obj.path),
                "launcher": "slurm", "job_id": job_id, "status": status, "logs": logs}
        if outcome is not None:
            data.update(exit_code=outcome.exit_code, error=outcome.error, duration_s=outcome.duration_s)
        print_json(data)
        return
    if outcome is None:
        info(f"Submitted {run_obj.id} as SLURM job {job_id} (queued).")
        if logs:
            info(f"Job logs: {logs}")
        info(f"Follow it with: exp show -e {run_obj.experiment.name} -r {run_obj.name}")
    elif status == "completed":
        info(f"completed {run_obj.id} (SLURM job {job_id}) in {outcome.duration_s:.1f} s")
    elif status == "failed":
        print_error(f"{run_obj.id} failed on SLURM: {outcome.error}", f"Job logs: {logs}" if logs else None)
    else:
        print_error(f"{run_obj.id} was {status} on SLURM: {outcome.error}")
