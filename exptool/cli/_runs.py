"""What the many-runs commands share: --where/--sort/--format options, printing rows, completion.

Completion callbacks here read the file system only (run folders and the experiment index).
"""

from __future__ import annotations

import functools
import gc
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, Optional, TypeVar

import typer

from ..errors import UsageError
from ._complete import _current_experiment, completion_workspace, match_prefix, quiet
from ._output import STATUS_STYLE, use_color

FORMATS = ("table", "json", "csv", "markdown")
F = TypeVar("F", bound=Callable[..., Any])


def many_objects(func: F) -> F:
    """Run a listing command with the cyclic garbage collector paused (restored afterwards).

    Loading 10,000 runs makes a million small objects and none of them form cycles; the collector
    would walk them all several times over (measured: it doubles the time to read the index). They
    are freed by reference counting when the command returns.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return wrapper  # type: ignore[return-value]


def _experiments_on_line(ctx: typer.Context, ws: Any) -> list[str]:
    names: list[str] = []
    exps = ctx.params.get("experiments") or []
    names += [e for e in exps if isinstance(e, str)]
    if ctx.params.get("experiment"):
        names.append(ctx.params["experiment"])
    for ref in ctx.params.get("runs") or []:
        if isinstance(ref, str) and "/" in ref:
            names.append(ref.partition("/")[0])
    if ctx.params.get("all_runs"):
        names += ws.experiment_names()
    if not names:
        current = _current_experiment(ws)
        names = [current] if current else ws.experiment_names()
    known = set(ws.experiment_names())
    return [n for n in dict.fromkeys(names) if n in known]


def _rows_for_completion(ctx: typer.Context, parts: tuple[str, ...]) -> list[Any]:
    from ..runs.index import load_rows  # noqa: PLC0415

    ws = completion_workspace(ctx)
    if ws is None:
        return []
    return load_rows(ws, _experiments_on_line(ctx, ws), parts=parts)


@quiet
def complete_ref(ctx: typer.Context, incomplete: str) -> list[str]:
    """``RUN`` of the experiment on the line (or the current one), or ``EXP/RUN`` once a slash is typed."""
    ws = completion_workspace(ctx)
    if ws is None:
        return []
    if "/" in incomplete:
        exp, _, prefix = incomplete.partition("/")
        if exp not in ws.experiment_names():
            return []
        return [f"{exp}/{r}" for r in match_prefix(ws.experiment(exp).run_names(), prefix)]
    exp = ctx.params.get("experiment") or _current_experiment(ws)
    runs = ws.experiment(exp).run_names() if exp and exp in ws.experiment_names() else []
    return match_prefix(runs, incomplete) + [f"{e}/" for e in match_prefix(ws.experiment_names(), incomplete)]


@quiet
def complete_tag(ctx: typer.Context, incomplete: str) -> list[str]:
    """Tags already used in the experiments on the line (or the current one)."""
    tags: dict[str, None] = {}
    for row in _rows_for_completion(ctx, ("record",)):
        for tag in row.tags:
            tags.setdefault(tag, None)
    return match_prefix(sorted(tags), incomplete)


@quiet
def complete_tag_or_run(ctx: typer.Context, incomplete: str) -> list[str]:
    """``exp tag [RUN] TAG...``: tags in use; for the first word, run names too."""
    first = not ctx.params.get("words")
    return complete_tag(ctx, incomplete) + (complete_ref(ctx, incomplete) if first else [])


@quiet
def complete_trashed(ctx: typer.Context, incomplete: str) -> list[str]:
    """``EXP/RUN`` of the runs in the trash."""
    from ..runs.lifecycle import trash_entries  # noqa: PLC0415

    ws = completion_workspace(ctx)
    return match_prefix(list(dict.fromkeys(e.run_id for e in trash_entries(ws))), incomplete) if ws else []


def _key_names(ctx: typer.Context) -> list[str]:
    from ..runs.query import FIELDS, Keys  # noqa: PLC0415

    keys = Keys(_rows_for_completion(ctx, ("config", "metrics")))
    names = [*FIELDS, *keys.metrics, *(f"min({m})" for m in keys.metrics), *(f"max({m})" for m in keys.metrics),
             *keys.config]
    return list(dict.fromkeys(names))


_STATUSES = ("completed", "running", "failed", "interrupted", "stale", "created", "unknown")


@quiet
def complete_key(ctx: typer.Context, incomplete: str) -> list[str]:
    """Keys for --where/--columns (fields, metrics and min(...)/max(...), config keys); after
    ``status=`` or ``tag=`` their values."""
    import re  # noqa: PLC0415

    op = re.search(r"(!=|==|=|!~|~)", incomplete)
    if op:
        key, prefix = incomplete[: op.start()], incomplete[op.end():]
        head = incomplete[: op.end()]
        if key == "status":
            return [head + v for v in match_prefix(list(_STATUSES), prefix)]
        if key in ("tag", "tags"):
            return [head + v for v in complete_tag(ctx, prefix)]
        return []
    return match_prefix(_key_names(ctx), incomplete)


@quiet
def complete_sort(ctx: typer.Context, incomplete: str) -> list[str]:
    """Keys for --sort, with or without a leading '-'."""
    sign = "-" if incomplete.startswith("-") else ""
    return [sign + k for k in match_prefix(_key_names(ctx), incomplete[len(sign):])]


def split_run(ws: Any, words: list[str], experiment: str | None, run: str | None) -> tuple[Any, list[str]]:
    """(run, the other words) for ``exp tag``/``exp note``: a first word names the run when more words
    follow and it is one (``EXP/RUN``, or an existing run of the experiment); else the current run."""
    from ..errors import ExptoolError  # noqa: PLC0415
    from ..runs.refs import current_run, parse_ref  # noqa: PLC0415

    if run is None and len(words) >= 2:
        try:
            candidate = parse_ref(ws, words[0], experiment)
        except ExptoolError:
            candidate = None
        if "/" in words[0] or (candidate is not None and candidate.exists()):
            if candidate is None:
                candidate = parse_ref(ws, words[0], experiment)  # raises the clear error
            return candidate.require(), words[1:]
    return current_run(ws, experiment, run).require(), words


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def ask(question: str, yes: bool, what: str) -> None:
    """Ask on a terminal; refuse (exit 2) off one without --yes; a 'no' exits 1 having changed nothing."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"Refusing to {what} without confirmation.", hint="Pass --yes to confirm when there is no terminal."
        )
    from ._output import confirm, info  # noqa: PLC0415

    if not confirm(question):
        info("Nothing changed.")
        raise typer.Exit(1)


WhereOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--where", "-w", metavar="EXPR", autocompletion=complete_key,
        help="Keep runs where EXPR holds, e.g. val_acc>0.9, optimizer.lr<=1e-3, status=completed, tag=baseline "
        "(repeat: all must hold; see docs/cli.md).",
    ),
]
SortOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--sort", "-s", metavar="[-]KEY", autocompletion=complete_sort,
        help="Order by KEY (-KEY: descending); repeat for ties. Runs without the key come last.",
    ),
]
FormatOpt = Annotated[
    str,
    typer.Option("--format", "-f", metavar="FORMAT", help="table, json, csv or markdown."),
]


def check_format(fmt: str, json_out: bool) -> str:
    """The output format (``--json`` means json)."""
    if json_out:
        return "json"
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"Unknown --format {fmt!r}.", hint=f"Choose one of: {', '.join(FORMATS)}.")
    return fmt


def status_styles(values: list[Any]) -> list[str | None]:
    return [STATUS_STYLE.get(str(v)) for v in values]


def print_rows(
    headers: list[str],
    columns: list[list[Any]],
    fmt: str,
    styled: set[int] = frozenset(),  # type: ignore[assignment]
    what: str = "columns",
    priorities: list[float] | None = None,
) -> None:
    """Print a table given column by column (raw values) as text fitting the terminal, CSV or Markdown.

    ``priorities``: which columns to leave out first when the terminal is too narrow (higher first).
    """
    from ..runs.table import (  # noqa: PLC0415
        Column,
        format_column,
        is_number,
        render_csv,
        render_markdown,
        render_text,
    )
    from ._output import _ellipsis, terminal_columns  # noqa: PLC0415

    if fmt == "csv":
        cols = [[",".join(v) if h in ("tag", "tags") and isinstance(v, list) else v for v in c]
                for h, c in zip(headers, columns, strict=True)]
        sys.stdout.write(render_csv(headers, list(zip(*cols, strict=True))))
        return
    table = []
    for i, (header, raw) in enumerate(zip(headers, columns, strict=True)):
        present = [v for v in raw if v is not None]
        numeric = bool(present) and all(is_number(v) for v in present)
        table.append(Column(header, format_column(raw), numeric, status_styles(raw) if i in styled else None,
                            priorities[i] if priorities else None))
    if fmt == "markdown":
        rows = [list(r) for r in zip(*(c.cells for c in table), strict=True)]
        sys.stdout.write(render_markdown(headers, rows, [c.numeric for c in table]))
        return
    columns_now = terminal_columns()  # None off a terminal: every cell whole
    width = columns_now - 1 if columns_now else None  # the last column stays clear of the edge
    dots = _ellipsis()
    text, dropped = render_text(table, width, color=use_color(), dots=dots)
    sys.stdout.write(text)
    if dropped and width:
        lines = [f"note: {len(dropped)} {what} left out to fit {columns_now} characters: {', '.join(dropped)}",
                 "  see them with --columns KEYS, --format csv or --json"]
        sys.stderr.write("".join((ln if len(ln) <= width else ln[: width - len(dots)] + dots) + "\n" for ln in lines))


def dump_json(data: Any, compact: bool = False) -> None:
    """``--json`` output; NaN and infinity become null so every JSON parser reads it.

    ``compact``: one line, through the C encoder (an indented dump of 10,000 runs takes seconds).
    """
    try:
        text = json.dumps(data, allow_nan=False, indent=None if compact else 2, default=str)
    except ValueError:  # a NaN or infinity somewhere: the slow walk, only then
        text = json.dumps(_finite(data), indent=None if compact else 2, default=str)
    sys.stdout.write(text + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value

