"""``exp rerun``: train a new run with another run's recorded config, seed and trainer."""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated, Any, Optional

import typer

from ..errors import AlreadyExistsError, UsageError
from ._common import ExperimentOpt, JsonOpt, workspace
from ._errors import handle_errors, silence_stdout
from ._output import STATUS_STYLE, format_metrics, info, print_error, print_json, style, warn
from ._runs import complete_ref


@handle_errors
def rerun(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="SRC", help="The run to repeat: RUN or EXP/RUN.",
                                          autocompletion=complete_ref)],
    experiment: ExperimentOpt = None,
    new: Annotated[
        Optional[str],
        typer.Option("--run", "-r", help="Name of the new run: NEW or EXP/NEW (default: SRC-rerun, -rerun2, ...)."),
    ] = None,
    overrides: Annotated[
        Optional[list[str]],
        typer.Option("--set", "-s", help="Change a config value: key.sub=value (+key=value adds a key)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse when the source code differs from the recorded one.")
    ] = False,
    nproc_per_node: Annotated[
        int, typer.Option("--nproc-per-node", min=1, help="Processes on this machine (runs under torchrun).")
    ] = 1,
    json_out: JsonOpt = False,
) -> None:
    """Train a new run like SRC: same config, seed and trainer.

    Says when the source code now differs from SRC's recorded git commit and git.patch (--strict
    refuses then). --set changes config values.

    \b
    Examples:
      exp rerun mnist/base
      exp rerun base -r base-lr4 --set optimizer.lr=1e-4
      exp rerun base --strict
    """
    from ..config import load_config  # noqa: PLC0415
    from ..runs.refs import parse_ref  # noqa: PLC0415
    from ..runs.rerun import default_name, recorded_seed, recorded_trainer, source_differences  # noqa: PLC0415
    from ..training import train as launch_train  # noqa: PLC0415
    from ..training.launchers import default_launcher  # noqa: PLC0415
    from ..training.launchers.torchrun import DistOptions  # noqa: PLC0415
    from ..training.prepare import effective_config  # noqa: PLC0415
    from ..training.registry import choose_trainer, registered_trainers  # noqa: PLC0415

    ws = workspace(ctx)
    src = parse_ref(ws, source, experiment).require()
    record = src.read_record()
    if record.get("_unreadable"):
        raise UsageError(f"{src.record_path} cannot be read; nothing to rerun from.")
    config = load_config(src.config_path) if src.config_path.exists() else {}
    differences = source_differences(ws, record, src.path)
    if differences and strict:
        raise UsageError(
            f"The source differs from when {src.id} was trained: {'; '.join(differences)}.",
            hint="Check out the recorded commit (and apply its git.patch), or rerun without --strict.",
        )
    target = parse_ref(ws, new, src.experiment.name) if new else default_name(src)
    if target.path.exists():
        raise AlreadyExistsError(f"Run {target.id!r} already exists.", hint="Choose another name with -r NEW.")
    spec = choose_trainer(registered_trainers(ws.root), recorded_trainer(record), config.get("trainer"),
                          base_dir=ws.root)
    effective = effective_config(spec, config, overrides or [], ws.root)
    seed = recorded_seed(record)
    launcher = default_launcher(DistOptions(nproc_per_node))
    target.create(config_source=src.config_path if src.config_path.exists() else None)
    target.update_record(**{"from": src.id, "rerun_of": src.id})
    for line in differences:
        warn(f"source differs from {src.id}'s: {line}")

    def banner(summary: dict[str, Any]) -> None:
        if not json_out:
            info(f"Rerunning {src.id} as {target.id} with {spec.name!r}, seed {summary['seed']}.")

    with contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext():
        outcome = launch_train(target, spec, effective, seed=seed, resume=False, launcher=launcher, on_start=banner)
    step, metrics = target.last_metrics()
    try:
        if json_out:
            print_json({
                "experiment": target.experiment.name, "run": target.name, "path": str(target.path),
                "from": src.id, "trainer": spec.to_dict(), "seed": outcome.seed, "source_differs": differences,
                "status": outcome.status, "exit_code": outcome.exit_code, "error": outcome.error,
                "duration_s": outcome.duration_s, "last_step": step, "last_metrics": metrics,
            })
        elif outcome.status == "completed":
            last = f"; last step {step}: {format_metrics(metrics, limit=6)}" if step is not None else ""
            info(f"{style('completed', STATUS_STYLE['completed'])} {target.id} in {outcome.duration_s:.1f} s{last}")
            info(f"Compare them with: exp diff {src.id} {target.id}")
        elif outcome.status == "interrupted":
            info(f"interrupted: {target.id} stopped; continue it with: exp train -e {target.experiment.name} "
                 f"-r {target.name}")
        else:
            print_error(f"rerun {target.id} failed: {outcome.error}",
                        f"The traceback is in {target.logs_dir / 'log.txt'}.")
    except BrokenPipeError:
        silence_stdout()
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)
