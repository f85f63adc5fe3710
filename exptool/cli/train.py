"""``exp train`` (run a registered trainer inside a run) and ``exp trainers`` (list them)."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..errors import NotFoundError, UsageError
from ._common import (
    STATUS_STYLE,
    ExperimentOpt,
    JsonOpt,
    RunOpt,
    format_metrics,
    info,
    print_json,
    print_table,
    resolve_run,
    style,
    workspace,
)
from ._complete import complete_config, completion_workspace, match_prefix, quiet
from ._errors import handle_errors, print_error, silence_stdout

if TYPE_CHECKING:
    from ..launch import Outcome
    from ..trainers import TrainerSpec
    from ..workspace import Run


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("trainers")(trainers)


@quiet
def complete_trainer(ctx: typer.Context, incomplete: str) -> list[str]:
    """Registered trainer names (reads metadata and TOML only; imports no user code, no torch)."""
    from ..trainers import registered_trainers  # noqa: PLC0415

    ws = completion_workspace(ctx)
    return match_prefix(sorted(registered_trainers(ws.root if ws else None)), incomplete)


@handle_errors
def trainers(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List the trainers `exp train` can run: name, target and where each is registered."""
    from ..errors import NotAWorkspaceError  # noqa: PLC0415
    from ..trainers import TrainerError, choose_trainer, registered_trainers  # noqa: PLC0415

    try:
        root = workspace(ctx).root
    except NotAWorkspaceError:
        root = None
    found = registered_trainers(root)
    try:
        default = choose_trainer(found).name
    except TrainerError:
        default = None
    items = [{**spec.to_dict(), "default": spec.name == default} for spec in found.values()]
    items.sort(key=lambda item: (item["source"] == "built-in", item["name"]))
    if json_out:
        print_json({"workspace": str(root) if root else None, "trainers": items})
        return
    if not items:
        info("No trainers registered. Add one to [trainers] in exptool.toml, or pass --trainer module:function.")
        return
    rows = [[("* " if i["default"] else "  ") + i["name"], i["target"], i["source"]] for i in items]
    print_table(["  name", "target", "source"], rows)


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
    json_out: JsonOpt = False,
) -> None:
    """Run a trainer in the current run: logs, checkpoints, resume, run.json; torchrun with --nproc-per-node."""
    from ..config import load_config, merge_configs  # noqa: PLC0415
    from ..launch import DistOptions, effective_config  # noqa: PLC0415
    from ..launch import train as launch_train  # noqa: PLC0415
    from ..trainers import choose_trainer, registered_trainers  # noqa: PLC0415

    if node_rank >= nnodes:
        raise UsageError(f"--node-rank {node_rank} must be below --nnodes {nnodes}.")
    if nnodes > 1 and not master_addr:
        raise UsageError("--nnodes above 1 needs --master-addr: the address of the machine with --node-rank 0.")
    ws = workspace(ctx)
    run_obj = resolve_run(ws, experiment, run)
    source = ws.resolve_config(config) if config else None
    if not run_obj.exists():
        if not create:
            raise NotFoundError(
                f"Run {run_obj.id!r} does not exist.",
                hint=f"Add --create, or create it first: exp init-run -e {run_obj.experiment.name} -r {run_obj.name}",
            )
        run_obj.create(config_source=source, exist_ok=True)
    base = load_config(run_obj.config_path) if run_obj.config_path.exists() else {}
    if source is not None:
        base = merge_configs(base, load_config(source))
    spec = choose_trainer(registered_trainers(ws.root), trainer, base.get("trainer"), base_dir=ws.root)
    effective = effective_config(spec, base, overrides or [], ws.root)
    dist = DistOptions(nproc_per_node, nnodes, node_rank, master_addr, master_port)

    def banner(summary: dict[str, Any]) -> None:
        if json_out:
            return
        how = "resuming from the last checkpoint" if summary["resume"] else "fresh start"
        procs = f", {summary['world_size']} processes" if summary["world_size"] > 1 else ""
        info(f"Training {run_obj.id} with {spec.name!r} ({spec.source}): {how}, seed {summary['seed']}{procs}.")

    # With --json, stdout carries only the JSON: whatever the trainer prints goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext():
        outcome = launch_train(
            run_obj, spec, effective, seed=seed, resume=resume, clear=clear, dist=dist, on_start=banner
        )
    try:
        _report(run_obj, spec, outcome, json_out)
    except BrokenPipeError:  # the reader is gone (Ctrl-C also stopped `| tee`): the exit code still tells
        silence_stdout()
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def _report(run_obj: Run, spec: TrainerSpec, outcome: Outcome, json_out: bool) -> None:
    """How the training ended: the --json object, or a line or two for people."""
    from ..launch import has_checkpoints  # noqa: PLC0415

    step, metrics = run_obj.last_metrics()
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
                "last_step": step,
                "last_metrics": metrics,
            }
        )
    elif outcome.status == "completed":
        last = f"; last step {step}: {format_metrics(metrics, limit=6)}" if step is not None else ""
        info(f"{style('completed', STATUS_STYLE['completed'])} {run_obj.id} in {outcome.duration_s:.1f} s{last}")
        info(f"Logs: {run_obj.logs_dir}  (tensorboard --logdir {run_obj.logs_dir})")
    elif outcome.status == "interrupted":
        if has_checkpoints(run_obj):
            again = "run `exp train` again to resume from the last checkpoint"
        else:
            again = "it saved no checkpoint to resume from: `exp train --clear` starts it over"
        print(f"interrupted: {run_obj.id} stopped; {again}.", file=sys.stderr)
    elif not outcome.in_trainer:
        print_error(f"could not start the trainer: {outcome.error}")
    else:
        print_error(
            f"trainer {spec.name!r} failed: {outcome.error}",
            f"The traceback is in {run_obj.logs_dir / 'log.txt'}.",
        )
