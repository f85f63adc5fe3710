"""``exp show``: the current experiment and run, where each came from, and the run's state."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import state
from ..errors import UsageError
from ._common import ExperimentOpt, JsonOpt, RunOpt, check_names, workspace
from ._errors import handle_errors
from ._output import STATUS_STYLE, format_metrics, info, print_json, style


@handle_errors
def show(
    ctx: typer.Context,
    experiment: ExperimentOpt = None,
    run: RunOpt = None,
    config: Annotated[bool, typer.Option("--config", help="Print the run's config.json as it is.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Show the current run, where it came from, its status.

    Also its tags, note and flattened config (--config: the config.json file itself).

    \b
    Examples:
      exp show
      exp show -e mnist -r baseline --json
      exp show --config
    """
    ws = workspace(ctx)
    exp_r, run_r = state.resolve_current(ws.root, experiment, run)
    check_names(exp_r, run_r)
    data: dict[str, Any] = {"workspace": str(ws.root), "experiment": None, "run": None}
    if exp_r.value is not None:
        exp = ws.experiment(exp_r.value)
        data["experiment"] = {
            "name": exp.name,
            "source": exp_r.source,
            "path": str(exp.path),
            "exists": exp.exists(),
        }
        if run_r.value is not None:
            run_obj = exp.run(run_r.value)
            record = run_obj.read_record() if run_obj.exists() else {}
            step, metrics = run_obj.last_metrics() if run_obj.exists() else (None, {})
            from .._fs import cannot_read  # noqa: PLC0415

            unreadable = cannot_read(run_obj.path) if run_obj.exists() else None
            data["run"] = {
                "name": run_obj.name,
                "source": run_r.source,
                "path": str(run_obj.path),
                "exists": run_obj.exists(),
                "status": run_obj.status(record) if run_obj.exists() else "missing",
                "created": record.get("created"),
                "missing_subdirs": run_obj.missing_subdirs() if run_obj.exists() else [],
                "last_step": step,
                "last_metrics": metrics,
                "health": record.get("health") if isinstance(record.get("health"), dict) else None,
                "unreadable": unreadable,
                "progress": _progress(run_obj),
                **_run_extras(run_obj, record),
            }
    if data["run"] is not None and data["run"]["exists"]:
        from ..training.launchers.slurm_state import refine_statuses  # noqa: PLC0415 - stdlib only

        refine_statuses([(run_obj, record, data["run"])])
    if config:
        _print_config_file(data)
        return
    if json_out:
        print_json(data)
        return
    info(f"workspace   {ws.root}")
    e = data["experiment"]
    if e is None:
        info("experiment  (none)   set one with: exp set EXP")
    else:
        missing = "" if e["exists"] else style("  (missing)", "31")
        info(f"experiment  {e['name']}  [{e['source']}]{missing}")
    r = data["run"]
    if r is None:
        if e is not None:
            info("run         (none)   set one with: exp set -r RUN")
        return
    missing = "" if r["exists"] else style("  (missing)", "31")
    info(f"run         {r['name']}  [{r['source']}]{missing}")
    info(f"path        {r['path']}")
    if r["exists"]:
        info(f"status      {style(r['status'], STATUS_STYLE.get(r['status'], '0'))}")
        if r["created"]:
            info(f"created     {r['created']}")
        if r["unreadable"]:
            info(style(f"warning     cannot read the run folder ({r['unreadable']})", "33"))
        if r["missing_subdirs"]:
            info(style(f"warning     missing folders: {', '.join(r['missing_subdirs'])}", "33"))
        if r["last_step"] is not None:
            info(f"last step   {r['last_step']}  {format_metrics(r['last_metrics'], limit=8)}")
        if r["health"] and r["health"].get("status") not in (None, "ok"):
            info(style(f"health      {health_line(r['health'])}", "33"))
        if r["status"] == "running" and r["progress"]["step"] is not None:
            info(f"progress    {_progress_text(r['progress'])}")
        if r["sweep"]:
            sweep = r["sweep"]
            params = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in sweep["params"].items())
            info(f"sweep       {sweep['name']}, point {sweep['point']}" + (f": {params}" if params else ""))
        if r["tags"]:
            info(f"tags        {' '.join(r['tags'])}")
        if r["note"]:
            info(f"note        {r['note']}")
        if r["config"]:
            width = max(len(k) for k in r["config"])
            info("config")
            for key, value in r["config"].items():
                info(f"  {key.ljust(width)}  {json.dumps(value, default=str)}")


def health_line(health: dict[str, Any]) -> str:
    """``recovered: csv 10 delayed, 0 lost; tensorboard 10 delayed, 0 lost (No space left on device)``."""
    parts, errors = [], []
    for name, counts in (health.get("writers") or {}).items():
        if not isinstance(counts, dict) or not (counts.get("errors") or counts.get("stopped")):
            continue
        if counts.get("stopped"):
            parts.append(f"{name} stopped")
        else:
            now = " (failing now)" if counts.get("failing_since") else ""
            parts.append(f"{name} {counts.get('delayed', 0)} delayed, {counts.get('lost', 0)} lost{now}")
        why = counts.get("stopped") or counts.get("last_error")
        if why and why not in errors:
            errors.append(str(why))
    text = f"{health.get('status', '?')}: " + ("; ".join(parts) or "no details")
    return text + (f" ({'; '.join(errors)})" if errors else "")


def _progress(run_obj: Any) -> dict[str, Any]:
    """Percent done, steps/s and ETA from the run's progress.json (all None without one)."""
    from ..progress_file import describe, read_progress  # noqa: PLC0415

    try:
        return describe(read_progress(run_obj.path) if run_obj.exists() else None)
    except OSError:  # an unreadable run folder: its status already says so
        return describe(None)


def _progress_text(p: dict[str, Any]) -> str:
    from ..progress_file import format_duration  # noqa: PLC0415

    text = f"step {p['step']:g}" + (f"/{p['total']:g} ({p['percent']:.0f}%)" if p["total"] else "")
    if p["rate"]:
        text += f"  {p['rate']:.3g} steps/s"
    if p["eta_s"] is not None:
        text += f"  ETA {format_duration(p['eta_s'])}"
    return text


def _run_extras(run_obj: Any, record: dict[str, Any]) -> dict[str, Any]:
    """Tags, note, sweep and the flat config of an existing run (``record``: its run.json, read already)."""
    if not run_obj.exists():
        return {"tags": [], "note": None, "sweep": None, "config": {}}
    from ..runs.index import row_for  # noqa: PLC0415

    row = row_for(run_obj.path, parts=("record", "config"))
    return {"tags": row.tags, "note": row.record.get("note"), "sweep": _sweep_of(record), "config": row.config}


def _sweep_of(record: dict[str, Any]) -> dict[str, Any] | None:
    """``{"name", "point", "params"}`` of the sweep the run is a point of (None when it is none's)."""
    name = record.get("sweep")
    if not isinstance(name, str):
        return None
    params = record.get("sweep_params")
    return {"name": name, "point": record.get("sweep_index"), "params": params if isinstance(params, dict) else {}}


def _print_config_file(data: dict[str, Any]) -> None:
    """``exp show --config``: the run's config.json, as it is on disk."""
    if data["run"] is None or not data["run"]["exists"]:
        raise UsageError("No run to show the config of.", hint="Pass -e EXP -r RUN, or run: exp set EXP RUN")
    path = Path(data["run"]["path"]) / "config.json"
    try:
        sys.stdout.write(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist.") from None
