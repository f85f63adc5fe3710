"""``exp init``, ``exp init-exp`` and ``exp init-run``: create the layout on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import state
from ..errors import UsageError
from ..workspace import Workspace
from ._common import ExperimentOpt, JsonOpt, workspace
from ._complete import complete_config, complete_experiment, complete_run
from ._errors import handle_errors
from ._output import info, print_json
from ._runs import complete_ref

KEEP_SKIP = {".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules", "wandb"}


@handle_errors
def init(
    path: Annotated[Path, typer.Argument(help="Folder to make a workspace (default: here).")] = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Make a workspace (safe to run again).

    Creates config/, data/, experiments/ and exptool.toml in PATH (default: here).

    \b
    Examples:
      exp init
      exp init ~/projects/mnist && cd ~/projects/mnist
    """
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} exists and is not a folder.")
    ws, created = Workspace.init(path)
    if json_out:
        print_json({"workspace": str(ws.root), "created": [str(p) for p in created]})
        return
    if created:
        info(f"Initialised workspace {ws.root} ({len(created)} new: {', '.join(p.name for p in created)}).")
    else:
        info(f"Workspace {ws.root} already set up; nothing changed.")


@handle_errors
def init_exp(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Argument(help="Experiment name.", autocompletion=complete_experiment)] = None,
    experiment: ExperimentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an experiment folder.

    \b
    Examples:
      exp init-exp mnist
    """
    if name and experiment and name != experiment:
        raise UsageError(f"Two different names given: {name!r} and -e {experiment!r}.")
    name = name or experiment
    if not name:
        raise UsageError("Give the experiment name: exp init-exp NAME")
    ws = workspace(ctx)
    exp = ws.experiment(name)
    created = exp.create()
    if json_out:
        print_json({"experiment": exp.name, "path": str(exp.path), "created": created})
    else:
        info(f"{'Created' if created else 'Experiment already exists:'} {exp.path}")


@handle_errors
def init_run(
    ctx: typer.Context,
    run: Annotated[str, typer.Option("--run", "-r", help="Run name.", autocompletion=complete_run)],
    experiment: Annotated[
        Optional[str],
        typer.Option("--experiment", "-e", help="Experiment name (default: the current one).",
                     autocompletion=complete_experiment),
    ] = None,
    config: Annotated[
        Optional[str],
        typer.Option(
            "--config", "-c", help="Config name from config/ or a YAML/JSON path.", autocompletion=complete_config
        ),
    ] = None,
    from_run: Annotated[
        Optional[str],
        typer.Option("--from", help="Start from another run's config (EXP/RUN, or RUN in -e's experiment); "
                     "no logs or checkpoints.", autocompletion=complete_ref),
    ] = None,
    exist_ok: Annotated[bool, typer.Option("--exist-ok", help="An existing run is fine (it is kept as is).")] = False,
    no_switch: Annotated[bool, typer.Option("--no-switch", help="Do not make the run current.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Create a run and make it current.

    Makes experiments/EXP/RUN with checkpoints/, logs/, visualizations/, plots/, config.json
    (from --config) and run.json. -e defaults to the current experiment.

    \b
    Examples:
      exp init-run -e mnist -r baseline -c default
      exp init-run -r wide -c default        # another run of the current experiment
    """
    from ..state import resolve_experiment  # noqa: PLC0415

    ws = workspace(ctx)
    run_obj = resolve_experiment(ws, experiment).run(run)  # -e, else the current experiment (as everywhere)
    origin = None
    if from_run is not None:
        if config:
            raise UsageError("--config and --from both give the config; use one.")
        from ..runs.refs import parse_ref  # noqa: PLC0415

        origin = parse_ref(ws, from_run, experiment).require()
        if not origin.config_path.is_file():
            raise UsageError(f"Run {origin.id!r} has no config.json to start from.")
    source = origin.config_path if origin is not None else (ws.resolve_config(config) if config else None)
    applied = source is not None and not run_obj.config_path.exists()
    created = run_obj.create(config_source=source, exist_ok=exist_ok)
    if origin is not None and created:
        run_obj.update_record(**{"from": origin.id})
    if not no_switch:
        state.save_state(ws.root, experiment=run_obj.experiment.name, run=run_obj.name)
    if json_out:
        print_json(
            {
                "experiment": run_obj.experiment.name,
                "run": run_obj.name,
                "path": str(run_obj.path),
                "created": created,
                "config": str(source) if applied else None,
                "current": not no_switch,
            }
        )
        return
    verb = "Created run" if created else "Run already exists:"
    info(f"{verb} {run_obj.id} at {run_obj.path}")
    if applied:
        info(f"Config: {source} -> {run_obj.config_path.name}")
    elif source:
        info(f"Kept its {run_obj.config_path.name}; --config is not applied to an existing run.")
    if not no_switch:
        info(f"Current run is now {run_obj.id}.")
