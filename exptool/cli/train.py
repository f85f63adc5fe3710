"""``exp train``: run a registered trainer inside a run."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ._common import ExperimentOpt, JsonOpt, RunOpt, workspace
from ._complete import complete_config, completion_workspace, match_prefix, quiet
from ._errors import handle_errors, silence_stdout
from ._output import STATUS_STYLE, confirm, info, print_error, print_json, status_line, style, warn

if TYPE_CHECKING:
    from ..training.launchers.base import Outcome
    from ..training.registry import TrainerSpec
    from ..workspace import Run


@quiet
def complete_trainer(ctx: typer.Context, incomplete: str) -> list[str]:
    """Registered trainer names (reads metadata and TOML only; imports no user code, no torch)."""
    from ..training.registry import registered_trainers  # noqa: PLC0415

    ws = completion_workspace(ctx)
    return match_prefix(sorted(registered_trainers(ws.root if ws else None)), incomplete)


@handle_errors
def train(
    ctx: typer.Context,
    experiment: ExperimentOpt = None,
    run: RunOpt = None,
    trainer: Annotated[
        Optional[str],
        typer.Option(
            "--trainer",
            "-t",
            help="Registered name, module:function or path/to/file.py:function.",
            autocompletion=complete_trainer,
        ),
    ] = None,
    config: Annotated[
        Optional[str],
        typer.Option(
            "--config", "-c", help="Config (name in config/ or a path) merged over the run's config.",
            autocompletion=complete_config,
        ),
    ] = None,
    overrides: Annotated[
        Optional[list[str]],
        typer.Option("--set", "-s", help="Override a config value: key.sub=value (+key=value adds a key)."),
    ] = None,
    resume: Annotated[
        Optional[bool],
        typer.Option(
            "--resume/--fresh",
            help="Continue from the last checkpoint (the default when there is one), or start over.",
        ),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Delete the run's checkpoints, logs and images first (a fresh start).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --clear deletes.")] = False,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed (default: config 'seed', else random).")] = None,
    create: Annotated[bool, typer.Option("--create", help="Create the run if it does not exist.")] = False,
    nproc_per_node: Annotated[
        int, typer.Option("--nproc-per-node", min=1, help="Processes on this machine (runs under torchrun).")
    ] = 1,
    nnodes: Annotated[int, typer.Option("--nnodes", min=1, help="Machines taking part (torchrun).")] = 1,
    node_rank: Annotated[int, typer.Option("--node-rank", min=0, help="This machine's index (torchrun).")] = 0,
    master_addr: Annotated[
        Optional[str], typer.Option("--master-addr", help="Address of node 0 (torchrun, several machines).")
    ] = None,
    master_port: Annotated[
        Optional[int], typer.Option("--master-port", help="Free port on node 0 (torchrun, several machines).")
    ] = None,
    notify_cmd: Annotated[
        Optional[str],
        typer.Option(
            "--notify",
            metavar="CMD",
            help="Shell command to run when the run ends, with EXPTOOL_STATUS etc. set (docs/cli.md); "
            "default: [notify] in exptool.toml; '' for none.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a trainer in the current run.

    Resumes from the last checkpoint when there is one, saves the effective config, records
    status and provenance in run.json, and ends with one summary. --set values must fit the
    type they replace; keys set but never read by the trainer are named at the end.

    \b
    Examples:
      exp train
      exp train --trainer demo --set epochs=20
      exp train -e mnist -r baseline --clear --yes
      exp train --nproc-per-node 2
    """
    from ..notify import read_settings as notify_settings  # noqa: PLC0415
    from ..training import train as launch_train  # noqa: PLC0415
    from ..training.launchers import default_launcher  # noqa: PLC0415
    from ..training.launchers.torchrun import DistOptions  # noqa: PLC0415
    from ..training.prepare import resolve_training  # noqa: PLC0415

    launcher = default_launcher(DistOptions(nproc_per_node, nnodes, node_rank, master_addr, master_port))
    ws = workspace(ctx)
    notify = notify_settings(ws.root, notify_cmd)  # a bad [notify] table stops us before anything runs
    run_obj, spec, effective = resolve_training(
        ws, experiment, run, trainer=trainer, config=config, overrides=overrides, create=create
    )
    if clear:
        _confirm_clear(run_obj, spec, effective, resume, yes)

    def banner(summary: dict[str, Any]) -> None:
        if json_out:
            return
        how = "resuming from the last checkpoint" if summary["resume"] else "fresh start"
        procs = f", {summary['world_size']} processes" if summary["world_size"] > 1 else ""
        info(f"Training {run_obj.id} with {spec.name!r} ({spec.source}): {how}, seed {summary['seed']}{procs}.")

    # With --json, stdout carries only the JSON: whatever the trainer prints goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext():
        outcome = launch_train(
            run_obj, spec, effective, seed=seed, resume=resume, clear=clear, launcher=launcher, on_start=banner
        )
    try:
        _report(run_obj, spec, outcome, json_out, overrides or [], effective)
    except OSError:  # the reader is gone (`| head`, a dropped terminal): the exit code and run.json still tell
        silence_stdout()
    if notify.command:
        notify_end(notify, run_obj, outcome)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def notify_end(settings: Any, run_obj: Run, outcome: Outcome) -> None:
    """Run the --notify / [notify] command with the outcome; a failure is only a warning."""
    from ..notify import notify, run_environment  # noqa: PLC0415

    step, metrics = run_obj.last_metrics()
    variables = run_environment(
        run_obj, outcome.status, outcome.exit_code, outcome.duration_s, outcome.error, step, metrics
    )
    notify(settings.command, variables, settings.timeout)


def _confirm_clear(run_obj: Run, spec: TrainerSpec, effective: dict[str, Any], resume: bool | None,
                   yes: bool) -> None:
    """--clear deletes a run's outputs: say what, ask on a terminal, refuse off one without --yes."""
    from ..deletion import plan_clear  # noqa: PLC0415
    from ..errors import UsageError  # noqa: PLC0415
    from ..workspace import RUN_SUBDIRS  # noqa: PLC0415

    if resume:
        raise UsageError("--resume and --clear contradict each other.", hint="Use --clear alone for a fresh start.")
    from ..training.registry import load_trainer  # noqa: PLC0415
    from ..training.settings import check_trainer_config, read_settings  # noqa: PLC0415

    read_settings(effective)  # refuse bad settings before asking to delete anything
    check_trainer_config(load_trainer(spec, run_obj.workspace.root), effective)
    plan = plan_clear(run_obj, RUN_SUBDIRS)
    if plan.empty or yes:
        if not plan.empty:
            status_line(f"--clear: deleting {plan.describe(run_obj.id)}.")
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"--clear would delete {plan.describe(run_obj.id)}; refusing without confirmation.",
            hint="Pass --yes to confirm when there is no terminal.",
        )
    if not confirm(f"--clear deletes {plan.describe(run_obj.id)}. Delete?"):
        info("Nothing deleted.")
        raise typer.Exit(1)


def _report(run_obj: Run, spec: TrainerSpec, outcome: Outcome, json_out: bool, overrides: list[str],
            effective: dict[str, Any]) -> None:
    """How the training ended: the --json object, or one summary for people."""
    from ..training.prepare import has_checkpoints  # noqa: PLC0415
    from ..training.report import end_of_run  # noqa: PLC0415
    from ._summary import completed_lines, unread_lines, unread_set_keys  # noqa: PLC0415

    facts = end_of_run(run_obj, outcome)
    never_set = unread_set_keys(overrides, effective, outcome.unread_config)
    if json_out:
        print_json(
            {
                "experiment": run_obj.experiment.name,
                "run": run_obj.name,
                "path": str(run_obj.path),
                "trainer": spec.to_dict(),
                "status": outcome.status,
                "exit_code": outcome.exit_code,
                "error": outcome.error,
                "resumed": outcome.resumed,
                "start_step": outcome.start_step,
                "seed": outcome.seed,
                "world_size": outcome.world_size,
                "duration_s": outcome.duration_s,
                "last_step": facts["last_step"],
                "last_metrics": facts["last_metrics"],
                "health": run_obj.read_record().get("health"),
                "best_checkpoint": facts["best"],
                "last_checkpoint": facts["last_checkpoint"],
                "unread_config": outcome.unread_config,
                "unread_overrides": never_set,
            }
        )
    if outcome.status == "completed":
        for line in unread_lines(never_set, outcome.unread_config):  # stderr first: stdout may be gone
            warn(line)
        if not json_out:
            for line in completed_lines(run_obj, facts, style("completed", STATUS_STYLE["completed"])):
                info(line)
    elif json_out:
        return
    elif outcome.status == "interrupted":
        if has_checkpoints(run_obj):
            again = "run `exp train` again to resume from the last checkpoint"
        else:
            again = "it saved no checkpoint to resume from: `exp train --clear` starts it over"
        status_line(f"interrupted: {run_obj.id} stopped; {again}.")
    elif not outcome.in_trainer:
        print_error(f"could not start the trainer: {outcome.error}")
    else:
        print_error(
            f"trainer {spec.name!r} failed: {outcome.error}",
            f"The traceback is in {run_obj.logs_dir / 'log.txt'}.",
        )

