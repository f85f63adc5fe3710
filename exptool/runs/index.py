"""One row of facts per run (record, flat config, metric summary), cached per experiment for speed.

Reading ``run.json``, ``config.json`` and ``summary.json`` of 10,000 runs means 30,000 file opens;
a stat is several times cheaper than an open. So each experiment keeps a cache,
``experiments/<exp>/.index/<part>.json``, one file per part (see :mod:`.parts`), mapping each run
to the stamps (mtime, size, inode) of the files its part came from and the part itself. A part
whose files changed is read again; so is one whose files changed less than two seconds before
the cache was written (a file rewritten within the same clock tick could otherwise
go unnoticed). The cache is only ever a copy: deleting it loses nothing, an unreadable one is
ignored, and one that cannot be written (a read-only workspace) is simply not kept.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_bytes
from ..workspace import Workspace
from .parts import PARTS as PARTS_BY_NAME
from .parts import Shapes, Stamp, flatten, read_json, stamp  # noqa: F401 - flatten: part of this API

INDEX_DIR = ".index"
FORMAT = 4  # 4: run.json's sweep and sweep_index joined the record part
PARTS = ("record", "config", "metrics", "extrema")
_RACY_S = 2.0

# -- rows -----------------------------------------------------------------------------------------
class RunRow:
    """Everything listings, queries and comparisons know about one run.

    Attributes:
        experiment, name: the run's names; ``id`` is ``exp/run``.
        path: the run folder.
        record: selected ``run.json`` fields (``tags`` always a list; ``unreadable`` when corrupt).
        config: the flat config (``{}`` when not loaded or unreadable).
        stats: ``{metric: [last, step, min, min_step, max, max_step]}``.
        last_step: step of the last row of ``logs/metrics.csv`` (None: nothing logged).
        status: as ``exp ls`` shows it (``stale`` for a ``running`` run whose process is gone).
        problems: one-line descriptions of files that could not be read.
        progress: percent/rate/ETA of a running run (:func:`exptool.progress_file.describe`), once
            :func:`attach_progress` has read it; None otherwise.
    """

    __slots__ = ("experiment", "name", "path", "record", "config", "stats", "last_step", "status", "problems",
                 "progress")

    def __init__(self, experiment: str, name: str, path: str):
        self.experiment, self.name, self.path = experiment, name, path
        self.record: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.stats: dict[str, list] = {}
        self.last_step: int | None = None
        self.status = "created"
        self.problems: list[str] = []
        self.progress: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return f"{self.experiment}/{self.name}"

    @property
    def tags(self) -> list[str]:
        return self.record.get("tags", [])

    def last_metrics(self) -> dict[str, float]:
        """The last value of every metric."""
        return {name: e[0] for name, e in self.stats.items()}

    def __repr__(self) -> str:
        return f"<RunRow {self.id} {self.status}>"


def _status(row: RunRow) -> str:
    record = row.record
    if record.get("unreadable"):
        return "unknown"
    status = str(record.get("status", "created"))
    if status == "running" and not record.get("slurm"):  # a SLURM job's lock lives on its node
        from ..locking import is_locked  # noqa: PLC0415 - only for the rare running run

        if not is_locked(row.path):
            return "stale"
    return status


def _index_path(exp_dir: str, part: str) -> str:
    return os.path.join(exp_dir, INDEX_DIR, f"{part}.json")


def _load_index(path: str) -> tuple[dict[str, list], Shapes]:
    try:
        data = read_json(path)
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("runs"), dict):
        return {}, Shapes()
    return data["runs"], Shapes(data.get("shapes"))


def _save_index(path: str, entries: dict[str, list], shapes: Shapes) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        payload = json.dumps({"format": FORMAT, "shapes": shapes.keys, "runs": entries}, separators=(",", ":"))
        atomic_write_bytes(path, payload.encode("utf-8"), fsync=False)
    except (OSError, ValueError):
        pass  # a cache that cannot be written is not kept; nothing is lost


def _cacheable(stamps: list[Stamp], now_ns: int) -> bool:
    limit = now_ns - int(_RACY_S * 1e9)
    return all(s is None or (s[0] < limit and s[1] >= 0) for s in stamps)


def _fill(exp_dir: str, rows: list[RunRow], part: str, full_scan: bool, memo: dict[Any, list]) -> None:
    """Set one part on every row, from the cache where its files are unchanged.

    ``memo`` keeps the stamps of one load, so parts from the same files (metrics, extrema) stat them once.
    """
    stamps_of, read, encode, decode = PARTS_BY_NAME[part]
    apply = _APPLY[part]
    path = _index_path(exp_dir, part)
    cached, shapes = _load_index(path)
    changed = full_scan and len(cached) != len(rows)
    now_ns = time.time_ns()
    fresh: dict[str, list] = {} if full_scan else cached
    known = memo.setdefault(stamps_of, [None] * len(rows))
    for i, row in enumerate(rows):
        name = row.name
        entry = cached.get(name)
        stamps = known[i]
        if stamps is None:
            stamps = known[i] = stamps_of(row.path)
        try:
            if entry is not None and entry[0] == stamps:
                value = decode(entry[1], shapes)
                if full_scan:
                    fresh[name] = entry
                apply(row, value)
                continue
        except (TypeError, IndexError, KeyError, ValueError):
            pass  # a damaged cache entry: read the files instead
        value = read(row.path)
        if _cacheable(stamps, now_ns):
            fresh[name] = [stamps, encode(value, shapes)]
            changed = True
        elif name in fresh:
            del fresh[name]
            changed = True
        apply(row, value)
    if changed:
        _save_index(path, fresh, shapes)


def _apply_record(row: RunRow, value: Any) -> None:
    row.record = value
    if "unreadable" in value:
        row.problems.append("run.json is unreadable")


def _apply_config(row: RunRow, value: Any) -> None:
    row.config, problem = value
    if problem:
        row.problems.append(problem)


def _apply_metrics(row: RunRow, value: Any) -> None:
    row.last_step, row.stats = value


def _apply_extrema(row: RunRow, value: Any) -> None:  # after metrics
    stats = row.stats
    for name, ext in value[1].items():
        entry = stats.get(name)
        if entry is None:
            entry = stats[name] = [None, None, None, None, None, None]
        entry[1:] = ext[1:] if len(ext) == 6 else ext  # 6: straight from the files, the whole entry


_APPLY = {"record": _apply_record, "config": _apply_config, "metrics": _apply_metrics, "extrema": _apply_extrema}


def refine_cluster_statuses(rows: list[RunRow]) -> None:
    """Set ``queued``/``running``/``stale`` of runs on SLURM from SLURM itself (one ``squeue`` at most)."""
    from ..training.launchers.slurm_state import on_slurm, refine_statuses  # noqa: PLC0415 - stdlib only
    from ..workspace import Run  # noqa: PLC0415

    items = []
    for row in rows:
        record = row.record
        if record.get("slurm") or record.get("launcher") == "slurm":
            view = {"status": record.get("status"), "launcher": record.get("launcher"), "slurm": record.get("slurm")}
            if on_slurm(view):
                items.append((Run.from_path(row.path), view, {"status": row.status, "_row": row}))
    refine_statuses(items)
    for _, _, summary in items:
        summary["_row"].status = summary["status"]


def attach_progress(rows: Iterable[RunRow]) -> None:
    """Read ``progress.json`` of the running runs (never cached: it changes every second).

    Other runs keep ``progress`` None: a finished run's percent and ETA say nothing.
    """
    from ..progress_file import describe, read_progress  # noqa: PLC0415 - only when a run is running

    for row in rows:
        if row.status != "running":
            continue
        try:
            row.progress = describe(read_progress(row.path))
        except OSError as exc:
            row.problems.append(f"progress.json is unreadable ({exc.strerror or exc})")


def refine_live(rows: list[RunRow]) -> None:
    """What the files alone cannot say: SLURM's word on queued/running runs, then running runs' progress.

    Call it before ``--where``, so that ``status=queued`` or ``percent>50`` see it.
    """
    refine_cluster_statuses(rows)
    attach_progress(rows)


def load_rows(
    ws: Workspace,
    experiments: Iterable[str] | None = None,
    *,
    runs: Iterable[tuple[str, str]] | None = None,
    parts: Iterable[str] = PARTS,
) -> list[RunRow]:
    """Rows of every run of ``experiments`` (default: all), or of the given ``(exp, run)`` pairs.

    ``parts`` limits what is loaded (``exp ls`` needs no config). Rows come sorted by experiment and
    run name, pairs in the order given (duplicates dropped). Runs must exist; names must be valid.
    """
    parts = tuple(p for p in PARTS if p in set(parts))
    plan: dict[str, list[str]] = {}
    full: set[str] = set()
    if runs is not None:
        for exp_name, run_name in runs:
            names = plan.setdefault(exp_name, [])
            if run_name not in names:
                names.append(run_name)
    else:
        for exp_name in ws.experiment_names() if experiments is None else experiments:
            plan[exp_name] = ws.experiment(exp_name).run_names()
            full.add(exp_name)
    out: list[RunRow] = []
    for exp_name, names in plan.items():
        exp_dir = str(ws.experiments_dir / exp_name)
        rows = [RunRow(exp_name, n, f"{exp_dir}/{n}") for n in names]
        memo: dict[Any, list] = {}
        for part in parts:
            _fill(exp_dir, rows, part, exp_name in full, memo)
        for row in rows:
            row.status = _status(row) if "record" in parts else "created"
        out.extend(rows)
    return out


def row_for(run_path: str | os.PathLike, parts: Iterable[str] = PARTS) -> RunRow:
    """One run's row read straight from its files (no cache): for ``exp show`` and ``exp diff``."""
    path = Path(run_path)
    row = RunRow(path.parent.name, path.name, str(path))
    wanted = set(parts)
    for part in PARTS:
        if part in wanted and not (part == "extrema" and "metrics" in wanted):  # metrics read whole here
            _APPLY[part](row, PARTS_BY_NAME[part][1](str(path)))
    row.status = _status(row)
    return row
