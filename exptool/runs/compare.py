"""``exp compare`` and ``exp diff`` as data: which runs, which columns, what differs.

:func:`compare` selects rows (``--where``, ``--sort``, ``--limit``) and chooses columns: name,
status, tags, the config keys whose values differ among the shown runs, and every metric's last
value. :func:`diff` sets two runs side by side: config added/removed/changed, metrics (last and
best), provenance. Rendering is the caller's (``runs.table``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .index import RunRow, flatten, row_for
from .keys import PROGRESS_FIELDS
from .query import FIELDS, MISSING, Key, Keys, QueryError, compile_where, sort_rows


class Comparison:
    """The outcome of :func:`compare`.

    Attributes:
        rows: the runs shown, in order.
        total: how many runs matched before ``limit``.
        columns: the columns, as resolved keys.
        differing: config keys whose values differ among the shown runs.
        keys: every key known for the shown runs (fields, metrics, config).
    """

    def __init__(self, rows: list[RunRow], total: int, columns: list[Key], differing: list[str], keys: Keys):
        self.rows, self.total, self.columns, self.differing, self.keys = rows, total, columns, differing, keys

    def values(self, row: RunRow) -> list[Any]:
        """The row's value for each column (None where it has none)."""
        out = []
        for key in self.columns:
            value = key.get(row)
            out.append(None if value is MISSING else value)
        return out

    def value_rows(self) -> list[list[Any]]:
        """Every shown row's values, row by row: ``value_rows()[r][c]``."""
        return [list(r) for r in zip(*self.table(), strict=True)] if self.columns else [[] for _ in self.rows]

    def table(self) -> list[list[Any]]:
        """Every shown row's values, column by column: ``table()[c][r]`` (None where missing)."""
        return [[None if v is MISSING else v for v in key.column(self.rows)] for key in self.columns]


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b if (type(a) is bool or type(b) is bool) else a == b


def differing_keys(rows: Sequence[RunRow], keys: Sequence[str]) -> list[str]:
    """The config keys whose values are not the same in every row (missing counts as a value)."""
    if len(rows) < 2:
        return []
    out = []
    for key in keys:
        values = [row.config.get(key, MISSING) for row in rows]
        first = values[0]
        # count() compares in C; True == 1 in Python, but as settings they differ.
        if values.count(first) != len(values) or len({type(v) is bool for v in values}) != 1:
            out.append(key)
    return out


def _split_columns(specs: Sequence[str]) -> list[str]:
    """``--columns a,b --columns max(c)`` -> ["a", "b", "max(c)"] (commas inside parentheses kept)."""
    out: list[str] = []
    for spec in specs:
        out.extend(p.strip() for p in re.split(r",(?![^(]*\))", spec) if p.strip())
    return out


def compare(
    rows: list[RunRow],
    *,
    where: Sequence[str] = (),
    sort: Sequence[str] = (),
    limit: int | None = None,
    columns: Sequence[str] = (),
    all_params: bool = False,
) -> Comparison:
    """Select, order and choose the columns of a comparison.

    Raises:
        QueryError: a bad ``where``/``sort``/``columns`` expression (exit 2).
    """
    keys = Keys(rows)
    pred = compile_where(where, keys)
    chosen = [row for row in rows if pred(row)] if where else list(rows)
    if sort:
        chosen = sort_rows(chosen, sort, keys)
    total = len(chosen)
    if limit is not None:
        if limit < 0:
            raise QueryError(f"--limit must be 0 or more, not {limit}.")
        chosen = chosen[:limit]
    shown = Keys(chosen) if chosen else keys
    differing = differing_keys(chosen, shown.config)
    if columns:
        cols = [keys.resolve(spec, "--columns") for spec in _split_columns(columns)]
    else:
        several = len({r.experiment for r in chosen}) > 1
        cols = [Key("id" if several else "name", "field", FIELDS["id" if several else "name"])]
        cols.append(Key("status", "field", FIELDS["status"]))
        if any(r.progress for r in chosen):  # a run is running: how far, how fast, how long still
            cols += [Key(name, "field", FIELDS[name]) for name in PROGRESS_FIELDS]
        if any(r.tags for r in chosen):
            cols.append(Key("tag", "field", FIELDS["tag"]))
        cols += [shown.config_key(k) for k in (shown.config if all_params else differing)]
        cols += [shown.metric(m) for m in shown.metrics]
    return Comparison(chosen, total, cols, differing, shown)


# -- exp diff -------------------------------------------------------------------------------------
_MIN_WORDS = re.compile(r"loss|err|mse|mae|rmse|nll|perplexity|ppl|wer|cer|fid|lpips|dist|time|latency|regret")


def best_mode(metric: str, config: dict[str, Any] | None = None) -> str:
    """Whether a lower (``"min"``) or higher (``"max"``) value of ``metric`` is better.

    The run config's ``checkpoint.metric``/``checkpoint.mode`` decides for its metric; otherwise names
    that look like a loss, an error, a distance or a time are minimised and the rest maximised.
    """
    flat = flatten(config or {})
    if flat.get("checkpoint.metric") == metric and flat.get("checkpoint.mode") in ("min", "max"):
        return str(flat["checkpoint.mode"])
    return "min" if _MIN_WORDS.search(metric.lower()) else "max"


PROVENANCE = (
    ("commit", ("git", "commit")),
    ("branch", ("git", "branch")),
    ("dirty", ("git", "dirty")),
    ("trainer", ("trainer", "name")),
    ("torch", ("versions", "torch")),
    ("exptool", ("versions", "exptool")),
    ("python", ("versions", "python")),
    ("seed", ("seed",)),
    ("host", ("host",)),
    ("world_size", ("world_size",)),
    ("status", ("status",)),
)


def _dig(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if path == ("trainer", "name") and value is None and isinstance(record.get("trainer"), str):
        return record["trainer"]
    return value


def _read_record(path: Path) -> dict[str, Any]:
    from .parts import read_json  # noqa: PLC0415

    try:
        data = read_json(str(path / "run.json"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_config(path: Path) -> dict[str, Any]:
    from .parts import read_json  # noqa: PLC0415

    try:
        data = read_json(str(path / "config.json"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def diff(a_path: str | Path, b_path: str | Path) -> dict[str, Any]:
    """Two runs side by side (the ``exp diff --json`` object less ``patch``); see docs/cli.md."""
    a_path, b_path = Path(a_path), Path(b_path)
    a_row, b_row = row_for(a_path), row_for(b_path)
    a_cfg, b_cfg = a_row.config, b_row.config
    config: dict[str, Any] = {"added": {}, "removed": {}, "changed": {}, "same": 0}
    for key in [*a_cfg, *(k for k in b_cfg if k not in a_cfg)]:
        if key not in b_cfg:
            config["removed"][key] = a_cfg[key]
        elif key not in a_cfg:
            config["added"][key] = b_cfg[key]
        elif not _same(a_cfg[key], b_cfg[key]):
            config["changed"][key] = [a_cfg[key], b_cfg[key]]
        else:
            config["same"] += 1
    raw_a = _read_config(a_path)
    metrics = []
    for name in [*a_row.stats, *(m for m in b_row.stats if m not in a_row.stats)]:
        mode = best_mode(name, raw_a or _read_config(b_path))
        index = 2 if mode == "min" else 4
        a_e, b_e = a_row.stats.get(name), b_row.stats.get(name)
        metrics.append({
            "name": name,
            "best_is": mode,
            "a_last": a_e[0] if a_e else None,
            "b_last": b_e[0] if b_e else None,
            "a_best": a_e[index] if a_e else None,
            "b_best": b_e[index] if b_e else None,
            "a_best_step": a_e[index + 1] if a_e else None,
            "b_best_step": b_e[index + 1] if b_e else None,
        })
    rec_a, rec_b = _read_record(a_path), _read_record(b_path)
    provenance = {}
    for label, path in PROVENANCE:
        va, vb = _dig(rec_a, path), _dig(rec_b, path)
        if va != vb or type(va) is not type(vb):
            provenance[label] = [va, vb]
    return {
        "a": {"experiment": a_row.experiment, "name": a_row.name, "path": str(a_path), "status": a_row.status},
        "b": {"experiment": b_row.experiment, "name": b_row.name, "path": str(b_path), "status": b_row.status},
        "config": config,
        "metrics": metrics,
        "provenance": provenance,
    }
