"""``exp sweep``: many runs over a grid, random draws or an Optuna search; locally or on SLURM."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from . import _launch as L
from ._common import ExperimentOpt, JsonOpt, workspace
from ._complete import complete_config, complete_sweep
from ._errors import handle_errors, silence_stdout
from ._output import info, note, print_json, warn

if TYPE_CHECKING:
    from ..sweeps.record import SweepRecord
    from ..sweeps.spec import SweepSpec


@handle_errors
def sweep(
    ctx: typer.Context,
    spec_file: Annotated[
        Optional[Path], typer.Argument(help="A sweep file (YAML): params, fixed values, method (see docs/sweeps.md).")
    ] = None,
    experiment: ExperimentOpt = None,
    name: Annotated[
        Optional[str],
        typer.Option("--name", "-n", help="The sweep's name (its runs are NAME-000, NAME-001...).",
                     autocompletion=complete_sweep),
    ] = None,
    config: Annotated[
        Optional[str],
        typer.Option("--config", "-c", help="Config every point starts from.", autocompletion=complete_config),
    ] = None,
    trainer: Annotated[Optional[str], typer.Option("--trainer", "-t", help="Trainer name or module:function.")] = None,
    sets: Annotated[
        Optional[list[str]],
        typer.Option("--set", "-s", help="key=v1,v2 (an axis), key=uniform(a,b)/loguniform/int/choice, or key=v."),
    ] = None,
    random_count: Annotated[
        Optional[int], typer.Option("--random", min=1, help="Random search: draw N points.")
    ] = None,
    method: Annotated[Optional[str], typer.Option("--method", help="grid, random or tpe (Optuna).")] = None,
    trials: Annotated[Optional[int], typer.Option("--trials", min=1, help="Trials of a tpe search.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the random draws / TPE sampler.")] = None,
    metric: Annotated[
        Optional[str], typer.Option("--metric", help="Metric the results are sorted by (and tpe optimises).")
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="min or max: which way --metric is better.")] = "min",
    launcher: L.LauncherOpt = None,
    jobs: L.JobsOpt = None,
    gpus: L.GpusOpt = None,
    gpus_per_run: L.GpusPerRunOpt = 1,
    max_parallel: L.MaxParallelOpt = None,
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
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run failed points again.")] = False,
    update_spec: Annotated[
        bool, typer.Option("--update-spec", help="Accept a changed spec for an existing sweep.")
    ] = False,
    wait: Annotated[
        Optional[bool],
        typer.Option("--wait/--no-wait", help="Wait for SLURM jobs to end (default: return once submitted)."),
    ] = None,
    status_only: Annotated[
        bool, typer.Option("--status", help="Show the sweep's points and results; run nothing.")
    ] = False,
    dry_run: L.DryRunOpt = False,
    notify_cmd: Annotated[
        Optional[str],
        typer.Option(
            "--notify",
            metavar="CMD",
            help="Shell command to run once when the whole sweep ends, with EXPTOOL_STATUS etc. set "
            "(docs/sweeps.md); default: [notify] in exptool.toml; '' for none.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a sweep: one run per point, locally or on SLURM.

    Points are a grid (--set key=v1,v2), random draws (--random N with key=uniform(a,b),
    loguniform, int, choice) or an Optuna search (--method tpe --trials N --metric M). Running it
    again skips completed points, resumes interrupted ones and retries failed ones only with
    --retry-failed. Exit 0 only when every point completed.

    \b
    Examples:
      exp sweep -e lr --set lr=1e-3,1e-2 --set depth=2,4 -j 2 --metric val_loss
      exp sweep -e lr --name rnd --set 'lr=loguniform(1e-5,1e-1)' --random 20
      exp sweep sweep.yaml -e lr --launcher slurm --partition gpu --time 4:00:00
      exp sweep -e lr --name rnd --status
    """
    from ..notify import read_settings as notify_settings  # noqa: PLC0415
    from ..state import resolve_experiment  # noqa: PLC0415
    from ..sweeps.record import open_sweep  # noqa: PLC0415
    from ..sweeps.scheduler import SweepRunner  # noqa: PLC0415

    ws = workspace(ctx)
    notify = notify_settings(ws.root, notify_cmd)  # a bad [notify] table stops us before anything runs
    spec, extra = _spec(spec_file, sets or [], method, random_count, trials, seed, metric, mode, config, trainer)
    exp = resolve_experiment(ws, experiment or extra.get("experiment"))
    sweep_name = name or extra.get("name") or (spec_file.stem if spec_file else None)
    if sweep_name is None:
        if spec is None:
            raise_usage("Which sweep? Give --name NAME to continue one, or describe a new one with --set.")
        sweep_name = f"sweep-{spec.fingerprint()}"
    from ..sweeps.record import check_name  # noqa: PLC0415

    check_name(sweep_name)
    record = open_sweep(exp, sweep_name, spec, update_spec=update_spec)
    if spec is None:
        _continue(record, method, random_count or trials, metric, mode)
    launcher_name = launcher or extra.get("launcher") or "pool"
    detached = launcher_name == "slurm"
    slurm = L.slurm_options(
        ws.root, partition=partition, time=time_limit, nodes=nodes, gpus_per_node=gpus_per_node,
        cpus_per_task=cpus_per_task, mem=mem, account=account, qos=qos, constraint=constraint, slurm_arg=slurm_arg,
        max_parallel=max_parallel or extra.get("max_parallel"), job_name=f"{exp.name}/{sweep_name}",
    ) if detached else None
    chosen = L.make_launcher(launcher_name, jobs=jobs or extra.get("jobs"), gpus=gpus, gpus_per_run=gpus_per_run,
                             slurm=slurm, folder=record.folder / "slurm")
    # A guided search on a cluster must watch its trials: TPE asks for the next ones as they end.
    wait = bool(wait) if wait is not None else (not chosen.detached or record.spec.method == "tpe")
    from ._sweep_view import make_view  # noqa: PLC0415

    runner = SweepRunner(ws, record, chosen, retry_failed=retry_failed, wait=wait)
    if status_only:
        points = runner.plan(check=False)
        _report(record, points, json_out, status_only=True)
        return
    if dry_run:
        _dry_run(record, runner, chosen, json_out)
        return
    exp.create()
    from ..notify_on_node import arm, disarm  # noqa: PLC0415

    disarm(record.folder)  # what an earlier submission asked for: this run of the sweep says its own word
    if record.state != "completed":  # start the workers (torch imports) while the points are planned
        chosen.warm_up(record.spec.size)
    try:
        points = runner.plan()
    except BaseException:
        chosen.close()
        raise
    view = make_view(record.spec.metric, points, json_out)
    runner.on_event = view.event
    todo = sum(p.status == "pending" for p in points) + max(0, record.spec.size - len(points))
    header = (f"Sweep {record.name} ({record.spec.method}, {record.spec.size} points) in {exp.name}: "
              f"{todo} to run, {sum(p.status == 'completed' for p in points)} done; {_where(chosen)}.")
    view.say(header)
    started = time.monotonic()
    # Submitted and left: the last job to end sends the word. Armed first, so a quick job finds it.
    deferred = bool(notify.command) and chosen.detached and not wait
    if deferred:
        arm(record.folder, notify.command, notify.timeout)
    try:
        with contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext(), view:
            result = runner.run()
    except BaseException:
        if deferred:
            disarm(record.folder)
        raise
    duration = time.monotonic() - started
    try:
        _final_report(record, result, json_out)
    except OSError:  # the terminal is gone (a dropped SSH session): the records say it all
        silence_stdout(stderr=True)
    if deferred and result.state == "submitted":
        note("the notify command runs when the sweep's last job ends, on that job's node.")
    elif notify.command:
        if deferred:
            disarm(record.folder)  # nothing was left to submit: the word is said here
        _notify(notify, record, result, duration)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _final_report(record: SweepRecord, result: Any, json_out: bool) -> None:
    from ._sweep_view import print_results, summary_line  # noqa: PLC0415

    if json_out:
        _report(record, result.points, True, exit_code=result.exit_code, submitted=result.submitted, best=result.best)
        return
    if result.state == "submitted":
        info(f"Submitted {len(result.submitted)} point(s) to SLURM: {_ids(result.submitted)}. "
             f"Follow with: exp watch --sweep {record.name} -e {record.experiment.name}")
    else:
        print_results(result.points, record.spec.metric, record.spec.mode)
    info(summary_line(result.points))
    _advise(record, result.points, result.exit_code)


def _notify(settings: Any, record: SweepRecord, result: Any, duration_s: float) -> None:
    """Run the --notify / [notify] command once for the whole sweep; a failure is only a warning."""
    from ..notify import notify, sweep_environment  # noqa: PLC0415
    from ..sweeps.snapshot import best_point, status_counts  # noqa: PLC0415

    best = best_point(result.points, record.spec.metric, record.spec.mode)
    variables = sweep_environment(record, result.state, result.exit_code, duration_s,
                                  status_counts(result.points), best)
    notify(settings.command, variables, settings.timeout)


def raise_usage(message: str, hint: str | None = None) -> None:
    from ..errors import UsageError  # noqa: PLC0415

    raise UsageError(message, hint=hint)


def _spec(spec_file: Path | None, sets: list[str], method: str | None, random_count: int | None,
          trials: int | None, seed: int | None, metric: str | None, mode: str, config: str | None,
          trainer: str | None) -> tuple[SweepSpec | None, dict[str, Any]]:
    """The spec from the file (command-line values over it) or the options; None: continue the recorded one."""
    from ..sweeps.spec import SweepSpec, spec_from_options  # noqa: PLC0415

    if spec_file is None:
        if not sets:  # continue the recorded sweep (a new count or metric may come with it)
            return None, {}
        return spec_from_options(sets, method=method, random_count=random_count, trials=trials, seed=seed,
                                 metric=metric, mode=mode, config=config, trainer=trainer), {}
    from ..config import load_config  # noqa: PLC0415
    from ..sweeps.spec import spec_from_file  # noqa: PLC0415

    spec, extra = spec_from_file(load_config(spec_file), str(spec_file))
    data = spec.to_dict()
    if sets:
        more = spec_from_options(sets, method=spec.method, random_count=spec.count if spec.method == "random" else None,
                                 trials=spec.count if spec.method == "tpe" else None, metric=spec.metric or "-")
        data["axes"] += [a.to_dict() for a in more.axes]
        data["fixed"].update(more.fixed)
    for key, value in (("seed", seed), ("metric", metric), ("config", config), ("trainer", trainer),
                       ("method", method)):
        if value is not None:
            data[key] = value
    if random_count is not None or trials is not None:
        data["count"] = random_count or trials
    if mode != "min":
        data["mode"] = mode
    return SweepSpec.from_dict(data), extra


def _continue(record: SweepRecord, method: str | None, count: int | None, metric: str | None, mode: str) -> None:
    """A recorded sweep continued without its axes: a larger count, or another metric to sort by."""
    spec = record.spec
    if method is not None and method != spec.method:
        raise_usage(f"Sweep {record.name!r} is a {spec.method} sweep, not {method}.")
    if count is not None:
        if spec.method == "grid":
            raise_usage(f"Sweep {record.name!r} is a grid: it has no count to change.")
        spec.count = count
    if metric and (spec.method != "tpe" or metric == spec.metric):
        spec.metric, spec.mode = metric, mode
    elif metric:
        raise_usage(f"A tpe sweep optimises the metric it started with ({spec.metric}).",
                    hint="Start a new sweep to optimise another one.")
    spec.check()
    record.ensure_points()


def _where(launcher: Any) -> str:
    if launcher.name == "pool":
        slots = [s for s in launcher.slots if s is not None]
        gpus = f" on GPUs {' | '.join(slots)}" if slots else ""
        return f"{launcher.capacity} local worker{'s' if launcher.capacity != 1 else ''}{gpus}"
    if launcher.name == "slurm":
        return "submitting to SLURM" + (f" (at most {launcher.capacity} at once)" if launcher.capacity else "")
    return f"launcher {launcher.name}"


def _ids(ids: list[str]) -> str:
    arrays = sorted({i.split("_")[0] for i in ids if "_" in i})
    single = [i for i in ids if "_" not in i]
    return ", ".join([f"job array {a}" for a in arrays] + [f"job {i}" for i in single])


def _dry_run(record: SweepRecord, runner: Any, launcher: Any, json_out: bool) -> None:
    from ._sweep_view import params_text  # noqa: PLC0415

    points = runner.plan(check=True, dry_run=True)
    todo = [p for p in points if p.status == "pending"]
    lines = launcher.describe(len(todo)) if hasattr(launcher, "describe") else []
    if json_out:
        print_json({"experiment": record.experiment.name, "sweep": record.name, "dry_run": True,
                    "spec": record.spec.to_dict(), "launcher": launcher.name, "sbatch": lines,
                    "points": [p.to_dict() for p in points]})
        return
    info(f"Sweep {record.name} ({record.spec.method}) in {record.experiment.name}: would run {len(todo)} of "
         f"{record.spec.size} points with {_where(launcher)}:")
    for point in points:
        action = "run" if point.status == "pending" else f"skip ({point.status})"
        info(f"  {point.run.name:<14} {action:<22} {params_text(point)}")
    if record.spec.method == "tpe" and len(points) < record.spec.size:
        info(f"  ... and {record.spec.size - len(points)} new trial(s) asked from Optuna as earlier ones end")
    if lines:
        info("Each job would be submitted with:")
        for line in lines:
            info(f"  {line}")


def _report(record: SweepRecord, points: list[Any], json_out: bool, *, status_only: bool = False,
            exit_code: int | None = None, submitted: list[str] | None = None, best: Any = None) -> None:
    from ._sweep_view import print_results, summary_line  # noqa: PLC0415

    state = record.state
    if status_only and record.path.exists():  # what it is now, as exp watch --sweep says it
        from ..sweeps.snapshot import SweepWatcher  # noqa: PLC0415

        state = SweepWatcher(record.experiment, record.name).take().state
    if json_out:
        payload = {
            "experiment": record.experiment.name,
            "sweep": record.name,
            "path": str(record.folder),
            "state": state,
            "spec": record.spec.to_dict(),
            "metric": record.spec.metric,
            "mode": record.spec.mode,
            "points": [p.to_dict() for p in points],
            "best": best if best is not None else record.data.get("best"),
        }
        if not status_only:
            payload["exit_code"] = exit_code
            payload["submitted"] = submitted or []
        print_json(payload)
        return
    info(f"Sweep {record.name} ({record.spec.method}, {record.spec.size} points) in {record.experiment.name}: "
         f"{state}")
    print_results(points, record.spec.metric, record.spec.mode)
    info(summary_line(points))


def _advise(record: SweepRecord, points: list[Any], code: int) -> None:
    again = f"exp sweep -e {record.experiment.name} --name {record.name}"
    if code == 130:
        note(f"interrupted: run `{again}` again to resume.")
    elif any(p.status == "failed" for p in points):
        warn(f"some points failed; `{again} --retry-failed` runs them again.")
    elif any(p.status == "busy" for p in points):
        warn("some points are being trained by another process; they were left alone.")
