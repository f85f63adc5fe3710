"""``exp diff``: two runs side by side: config, metrics (last and best), provenance, and the source."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from ._common import ExperimentOpt, JsonOpt, workspace
from ._errors import handle_errors
from ._output import info, style
from ._runs import complete_ref, dump_json


@handle_errors
def diff(
    ctx: typer.Context,
    first: Annotated[str, typer.Argument(metavar="A", help="RUN or EXP/RUN.", autocompletion=complete_ref)],
    second: Annotated[
        Optional[str],
        typer.Argument(metavar="[B]", help="RUN or EXP/RUN (with one run given: A is the current run).",
                       autocompletion=complete_ref),
    ] = None,
    experiment: ExperimentOpt = None,
    patch: Annotated[
        bool, typer.Option("--patch", "-p", help="Also show how the recorded source differs (git commit + git.patch).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Show what differs between two runs.

    Config keys added, removed and changed; every metric's last and best value; provenance (git
    commit, dirty tree, trainer, versions, seed, host). --patch also diffs the recorded source.

    \b
    Examples:
      exp diff base wide
      exp diff mnist/base cifar/base --patch
      exp diff wide --json
    """
    from ..runs.compare import diff as build  # noqa: PLC0415
    from ..runs.refs import current_run, parse_ref  # noqa: PLC0415

    ws = workspace(ctx)
    if second is None:
        a, b = current_run(ws, experiment), parse_ref(ws, first, experiment)
    else:
        a, b = parse_ref(ws, first, experiment), parse_ref(ws, second, experiment)
    a.require()
    b.require()
    data = build(a.path, b.path)
    if patch:
        from ..runs.source_diff import source_diff  # noqa: PLC0415

        data["source"] = source_diff(ws.root, (a.read_record(), a.path), (b.read_record(), b.path))
    if json_out:
        dump_json(data)
        return
    _print(data, a.id, b.id)


def _fmt(value: Any) -> str:
    from ..runs.table import format_value  # noqa: PLC0415

    return format_value(value)


def _print(data: dict[str, Any], a_id: str, b_id: str) -> None:
    from ..runs.table import Column, render_text  # noqa: PLC0415
    from ._output import _ellipsis, terminal_columns  # noqa: PLC0415

    info(f"a: {a_id}  ({data['a']['status']})")
    info(f"b: {b_id}  ({data['b']['status']})")
    cfg = data["config"]
    counts = f"{len(cfg['changed'])} changed, {len(cfg['added'])} only in b, {len(cfg['removed'])} only in a"
    info(f"\nconfig: {counts}, {cfg['same']} the same")
    width = max([len(k) for k in [*cfg["changed"], *cfg["added"], *cfg["removed"]]] + [0])
    for key, (va, vb) in cfg["changed"].items():
        info(f"  {key.ljust(width)}  {_fmt(va)} -> {_fmt(vb)}")
    for key, value in cfg["removed"].items():
        info(style(f"- {key.ljust(width)}  {_fmt(value)}", "31"))
    for key, value in cfg["added"].items():
        info(style(f"+ {key.ljust(width)}  {_fmt(value)}", "32"))
    if data["metrics"]:
        info("\nmetrics:")
        ms = data["metrics"]
        cols = [
            Column("  metric", ["  " + m["name"] for m in ms]),
            Column("a last", [_fmt(m["a_last"]) for m in ms], numeric=True),
            Column("b last", [_fmt(m["b_last"]) for m in ms], numeric=True),
            Column("a best", [_fmt(m["a_best"]) for m in ms], numeric=True),
            Column("b best", [_fmt(m["b_best"]) for m in ms], numeric=True),
            Column("best is", [m["best_is"] for m in ms]),
        ]
        columns_now = terminal_columns()
        text, _ = render_text(cols, columns_now - 1 if columns_now else None, dots=_ellipsis())
        sys.stdout.write(text)
    prov = data["provenance"]
    if prov:
        info("\nprovenance:")
        width = max(len(k) for k in prov)
        for key, (va, vb) in prov.items():
            info(f"  {key.ljust(width)}  {_fmt(va)} -> {_fmt(vb)}")
    else:
        info("\nprovenance: the same (commit, dirty, trainer, versions, seed, host)")
    source = data.get("source")
    if source is not None:
        info("\nsource:")
        info(f"  a: {source['a']['commit'] or '-'}{' + git.patch' if source['a']['patch'] else ''}")
        info(f"  b: {source['b']['commit'] or '-'}{' + git.patch' if source['b']['patch'] else ''}")
        if source["diff"] is not None:
            sys.stdout.write(source["diff"] if source["diff"] else "  (the same source)\n")
        else:
            info(f"  no diff: {source['note']}")
            for side in ("a", "b"):
                if source[side]["patch"]:
                    info(f"\n{side}'s git.patch:")
                    sys.stdout.write(source[side]["patch"])
