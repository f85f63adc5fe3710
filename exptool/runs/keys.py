"""What can be asked of a run: built-in fields, metrics (last/min/max) and config keys.

A :class:`Keys` is built from the rows at hand and resolves a key as the user spells it
(``status``, ``val_acc``, ``max(val_acc)``, ``optimizer.lr``, ``config.lr``) into a :class:`Key`:
a column label and a reader. Unknown keys raise :class:`QueryError` naming the known ones.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any

from ..errors import UsageError
from .index import RunRow


class QueryError(UsageError):
    """A ``--where`` or ``--sort`` expression that cannot be understood."""


MISSING: Any = object()

# Built-in fields: name -> how to read it from a row.
FIELDS: dict[str, Callable[[RunRow], Any]] = {
    "name": lambda r: r.name,
    "experiment": lambda r: r.experiment,
    "id": lambda r: r.id,
    "status": lambda r: r.status,
    "tag": lambda r: r.record.get("tags", []),
    "note": lambda r: r.record.get("note", MISSING),
    "trainer": lambda r: r.record.get("trainer", MISSING),
    "seed": lambda r: r.record.get("seed", MISSING),
    "host": lambda r: r.record.get("host", MISSING),
    "created": lambda r: r.record.get("created", MISSING),
    "started": lambda r: r.record.get("started", MISSING),
    "ended": lambda r: r.record.get("ended", MISSING),
    "duration": lambda r: r.record.get("duration_s", MISSING),
    "exit_code": lambda r: r.record.get("exit_code", MISSING),
    "commit": lambda r: r.record.get("commit", MISSING),
    "dirty": lambda r: r.record.get("dirty", MISSING),
    "torch": lambda r: r.record.get("torch", MISSING),
    "exptool": lambda r: r.record.get("exptool", MISSING),
    "python": lambda r: r.record.get("python", MISSING),
    "from": lambda r: r.record.get("from", MISSING),
    "step": lambda r: MISSING if r.last_step is None else r.last_step,
    "sweep": lambda r: r.record.get("sweep", MISSING),
    "point": lambda r: r.record.get("sweep_index", MISSING),
    # Progress of running runs (None for the others): see exptool.runs.index.attach_progress.
    "percent": lambda r: _progress(r, "percent"),
    "rate": lambda r: _progress(r, "rate"),
    "eta": lambda r: _progress(r, "eta_s"),
}
ALIASES = {"run": "name", "exp": "experiment", "tags": "tag", "duration_s": "duration", "last_step": "step",
           "sweep_index": "point", "eta_s": "eta", "steps_per_s": "rate"}
PROGRESS_FIELDS = ("percent", "rate", "eta")


def _progress(row: RunRow, name: str) -> Any:
    progress = row.progress
    value = None if progress is None else progress.get(name)
    return MISSING if value is None else value


AGGREGATES = {"last": 0, "min": 2, "max": 4}

FUNC_RE = re.compile(r"(last|min|max)\(\s*(?:\"([^\"]*)\"|'([^']*)'|([^()\"']*?))\s*\)")


class Key:
    """A resolved key: its canonical spelling (a column label) and how to read it from a row.

    ``column(rows)`` reads it from many rows at once (a comprehension instead of a call per row).
    """

    __slots__ = ("label", "kind", "get", "_column")

    def __init__(
        self,
        label: str,
        kind: str,
        get: Callable[[RunRow], Any],
        column: Callable[[Sequence[RunRow]], list[Any]] | None = None,
    ):
        self.label, self.kind, self.get, self._column = label, kind, get, column

    def column(self, rows: Sequence[RunRow]) -> list[Any]:
        """The value of every row (``MISSING`` where a row has none)."""
        if self._column is not None:
            return self._column(rows)
        get = self.get
        return [get(row) for row in rows]

    def __repr__(self) -> str:
        return f"Key({self.label!r}, {self.kind})"


class Keys:
    """The keys known for a set of rows: fields, metrics and config keys, in order of appearance."""

    def __init__(self, rows: Iterable[RunRow]):
        rows = list(rows)
        metrics = dict.fromkeys(chain.from_iterable(row.stats for row in rows))
        config = dict.fromkeys(chain.from_iterable(row.config for row in rows))
        self.metrics = list(metrics)
        self.config = list(config)
        self._metric_set, self._config_set = metrics, config

    def metric(self, name: str, aggregate: str = "last") -> Key:
        index = AGGREGATES[aggregate]
        bare = aggregate == "last" and name not in self._config_set and name not in FIELDS and name not in ALIASES
        label = name if bare else f"{aggregate}({name})"

        def get(row: RunRow, _n: str = name, _i: int = index) -> Any:
            entry = row.stats.get(_n)
            if entry is None:
                return MISSING
            value = entry[_i]
            return MISSING if value is None else value

        def column(rows: Sequence[RunRow], _n: str = name, _i: int = index) -> list[Any]:
            entries = [row.stats.get(_n) for row in rows]
            return [MISSING if e is None or e[_i] is None else e[_i] for e in entries]

        return Key(label, "metric", get, column)

    def config_key(self, name: str) -> Key:
        clash = name in self._metric_set or name in FIELDS or name in ALIASES or name.startswith("config.")
        label = f"config.{name}" if clash else name
        return Key(
            label,
            "config",
            lambda row, _n=name: row.config.get(_n, MISSING),
            lambda rows, _n=name: [row.config.get(_n, MISSING) for row in rows],
        )

    def resolve(self, text: str, where: str | None = None) -> Key:
        """The key spelled ``text``; :class:`QueryError` naming the known keys when there is none."""
        text = text.strip()
        func = FUNC_RE.fullmatch(text)
        if func:
            name = next(g for g in func.groups()[1:] if g is not None).strip()
            if name in self._metric_set:
                return self.metric(name, func.group(1))
            raise self._unknown(name, where, kind="metric")
        if text in FIELDS or text in ALIASES:
            name = ALIASES.get(text, text)
            return Key(name, "field", FIELDS[name])
        if text.startswith("config.") and text[7:] in self._config_set:
            return self.config_key(text[7:])
        in_metrics, in_config = text in self._metric_set, text in self._config_set
        if in_metrics and in_config:
            raise QueryError(
                f"{text!r} is both a metric and a config key{_context(where)}.",
                hint=f"Write last({text}) (or min/max) for the metric, config.{text} for the config value.",
            )
        if in_metrics:
            return self.metric(text)
        if in_config:
            return self.config_key(text)
        raise self._unknown(text, where)

    def known(self) -> list[str]:
        return [*FIELDS, *self.metrics, *self.config]

    def _unknown(self, text: str, where: str | None, kind: str = "key") -> QueryError:
        pool = self.metrics if kind == "metric" else self.known()
        close = difflib.get_close_matches(text, pool, n=3)
        guess = f" Did you mean {', '.join(close)}?" if close else ""
        hint = (
            f"Fields: {_some(list(FIELDS))}. Metrics: {_some(self.metrics) or 'none'}. "
            f"Config keys: {_some(self.config) or 'none'}."
        )
        return QueryError(f"Unknown {kind} {text!r}{_context(where)}.{guess}", hint=hint)


def _some(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def _context(where: str | None) -> str:
    return f" in {where!r}" if where else ""
