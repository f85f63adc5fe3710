"""What a sweep varies: axes (grid values or random distributions), fixed overrides, the method.

On the command line every ``--set`` is one key::

    --set lr=1e-3,3e-3,1e-2        a grid axis: three values (typed like ``exp train --set``)
    --set model.depth=2            a fixed override (one value)
    --set lr=loguniform(1e-5,1e-1) a distribution, for --random N or --method tpe
    --set dropout=uniform(0,0.5)   --set depth=choice(2,4,8)   --set batch=int(16,256)
    --set +warmup=0,100            ``+`` adds a key the config does not have yet

Commas inside brackets or quotes do not split (``--set 'shape=[1,2],[3,4]'`` is two values). A
sweep file says the same in YAML (see :func:`spec_from_file`). A grid sweep runs the cross product
of its axes in the order given (the last axis varies fastest); a random sweep draws ``count`` points,
point ``i`` from its own generator seeded with ``(seed, i)``, so asking for more points later keeps
the first ones; a ``tpe`` sweep asks Optuna for ``count`` trials.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, UsageError

METHODS = ("grid", "random", "tpe")
DISTRIBUTIONS = {"uniform": 2, "loguniform": 2, "int": 2, "choice": None}
_DIST = re.compile(r"^\s*(uniform|loguniform|int|choice)\s*\((.*)\)\s*$", re.DOTALL)


@dataclass(frozen=True)
class Axis:
    """One swept key: a list of ``values`` (grid), or a distribution with its arguments.

    Attributes:
        key: the dotted config key, as written (a leading ``+`` adds a new key).
        values: the grid values (also what ``choice`` draws from).
        distribution: ``uniform``, ``loguniform``, ``int``, ``choice``; None for a grid axis.
    """

    key: str
    values: tuple[Any, ...] = ()
    distribution: str | None = None

    @property
    def name(self) -> str:
        """The key without its ``+``."""
        return self.key.lstrip("+")

    @property
    def low(self) -> Any:
        return self.values[0]

    @property
    def high(self) -> Any:
        return self.values[1]

    def sample(self, rng: random.Random) -> Any:
        """One value drawn with ``rng`` (a grid axis draws like ``choice``)."""
        if self.distribution == "uniform":
            return rng.uniform(self.low, self.high)
        if self.distribution == "loguniform":
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        if self.distribution == "int":
            return rng.randint(self.low, self.high)
        return rng.choice(self.values)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "values": list(self.values)}
        if self.distribution:
            data["distribution"] = self.distribution
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Axis:
        return cls(str(data["key"]), tuple(data.get("values", ())), data.get("distribution"))

    def describe(self) -> str:
        if self.distribution:
            return f"{self.name}={self.distribution}({', '.join(map(repr, self.values))})"
        return f"{self.name}={','.join(map(str, self.values))}"


@dataclass
class SweepSpec:
    """A sweep's definition, as recorded in ``sweep.json`` (see :mod:`exptool.sweeps.record`).

    Attributes:
        method: ``grid``, ``random`` or ``tpe``.
        axes: what varies, in order.
        fixed: dotted key -> value applied to every point (a ``+`` key adds it).
        count: points to draw (random) or trials (tpe); None for a grid.
        seed: the random or TPE sampler's seed.
        metric, mode: what the results are sorted by (and what TPE optimises).
        config: a config name or path the points start from, or None.
        trainer: ``--trainer``, or None for the config's / the only registered one.
    """

    method: str = "grid"
    axes: list[Axis] = field(default_factory=list)
    fixed: dict[str, Any] = field(default_factory=dict)
    count: int | None = None
    seed: int | None = None
    metric: str | None = None
    mode: str = "min"
    config: str | None = None
    trainer: str | None = None

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Refuse contradictions with a message that says what to change.

        Raises:
            UsageError: unknown method, distributions in a grid, a count missing or given to a grid...
        """
        if self.method not in METHODS:
            raise UsageError(f"Unknown sweep method {self.method!r}.", hint=f"Use one of: {', '.join(METHODS)}.")
        if self.mode not in ("min", "max"):
            raise UsageError(f"--mode must be 'min' or 'max', not {self.mode!r}.")
        names = [a.name for a in self.axes]
        twice = sorted({n for n in names if names.count(n) > 1} | (set(names) & {k.lstrip("+") for k in self.fixed}))
        if twice:
            raise UsageError(f"Key {twice[0]!r} is set twice in the sweep.", hint="Give each key one --set.")
        if self.method == "grid":
            drawn = [a for a in self.axes if a.distribution and a.distribution != "choice"]
            if drawn:
                raise UsageError(
                    f"{drawn[0].describe()} is a distribution: a grid needs lists of values.",
                    hint="Add --random N (random search) or --method tpe --trials N (Optuna).",
                )
            if self.count is not None:
                raise UsageError("A grid sweep runs every combination; it takes no --random/--trials count.")
        else:
            if self.count is None or self.count < 1:
                what = "--random N" if self.method == "random" else "--trials N"
                raise UsageError(f"A {self.method} sweep needs a number of points: {what}.")
            if self.method == "tpe" and not self.metric:
                raise UsageError("A tpe sweep optimises a metric: add --metric NAME (and --mode min|max).")
        if not self.axes:
            raise UsageError(
                "The sweep varies nothing.", hint="Give an axis, e.g. --set lr=1e-3,1e-2, or a sweep file."
            )

    @property
    def size(self) -> int:
        """Number of points (trials for tpe)."""
        if self.method == "grid":
            return math.prod(len(a.values) for a in self.axes)
        return int(self.count or 0)

    def points(self) -> Iterator[dict[str, Any]]:
        """The points' params (axis key -> value) in order; tpe points come from Optuna instead."""
        if self.method == "grid":
            for combo in itertools.product(*(a.values for a in self.axes)):
                yield {a.key: v for a, v in zip(self.axes, combo, strict=True)}
        elif self.method == "random":
            for i in range(self.size):
                yield self.random_point(i)

    def random_point(self, index: int) -> dict[str, Any]:
        """Point ``index`` of a random sweep: the same for the same seed, whatever the count."""
        rng = random.Random(f"{self.seed}:{index}")
        return {a.key: a.sample(rng) for a in self.axes}

    def identity(self) -> dict[str, Any]:
        """What must not change for a sweep to continue (the count may grow; sorting may change)."""
        data = self.to_dict()
        data.pop("count")
        if self.method != "tpe":
            data.pop("metric")
            data.pop("mode")
        if self.method == "grid":
            data.pop("seed")
        return data

    def fingerprint(self) -> str:
        """A short hash of :meth:`identity` (the default sweep name uses it)."""
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:6]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "axes": [a.to_dict() for a in self.axes],
            "fixed": dict(self.fixed),
            "count": self.count,
            "seed": self.seed,
            "metric": self.metric,
            "mode": self.mode,
            "config": self.config,
            "trainer": self.trainer,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        return cls(
            method=str(data.get("method", "grid")),
            axes=[Axis.from_dict(a) for a in data.get("axes", [])],
            fixed=dict(data.get("fixed") or {}),
            count=data.get("count"),
            seed=data.get("seed"),
            metric=data.get("metric"),
            mode=str(data.get("mode", "min")),
            config=data.get("config"),
            trainer=data.get("trainer"),
        )


def split_values(text: str) -> list[str]:
    """Split ``text`` at commas outside brackets, braces, parentheses and quotes."""
    parts, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def parse_distribution(key: str, text: str) -> Axis | None:
    """``loguniform(1e-5,1e-1)`` and friends as an :class:`Axis`; None when ``text`` is not one.

    Raises:
        UsageError: a distribution with the wrong arguments.
    """
    from ..config import parse_value  # noqa: PLC0415

    found = _DIST.match(text)
    if not found:
        return None
    name = found.group(1)
    args = [parse_value(a.strip()) for a in split_values(found.group(2)) if a.strip()]
    return make_distribution(key, name, args)


def make_distribution(key: str, name: str, args: Sequence[Any]) -> Axis:
    """Check a distribution's arguments and build its axis."""
    where = f"{key.lstrip('+')}={name}(...)"
    if name not in DISTRIBUTIONS:
        raise UsageError(f"{where}: unknown distribution.", hint=f"Use one of: {', '.join(DISTRIBUTIONS)}.")
    if name == "choice":
        if not args:
            raise UsageError(f"{where}: choice needs at least one value.")
        return Axis(key, tuple(args), "choice")
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise UsageError(f"{where}: expected two numbers, low and high, e.g. {name}(1, 10).")
    low, high = args
    if name == "int":
        if not (float(low).is_integer() and float(high).is_integer()):
            raise UsageError(f"{where}: int takes whole numbers.")
        low, high = int(low), int(high)
    if (high < low) if name == "int" else (high <= low):
        raise UsageError(f"{where}: low must be below high.")
    if name == "loguniform" and low <= 0:
        raise UsageError(f"{where}: loguniform needs a positive low.")
    return Axis(key, (low, high), name)


def parse_set(text: str) -> tuple[str, Axis | None, Any]:
    """One ``--set``: ``(key, axis, None)`` for an axis, ``(key, None, value)`` for a fixed override.

    Raises:
        ConfigError: not ``key=value``.
    """
    from ..config import parse_value  # noqa: PLC0415

    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.lstrip("+") or any(not k for k in key.lstrip("+").split(".")):
        raise ConfigError(f"Bad --set {text!r}: expected key=value or key=v1,v2,...", hint="e.g. --set lr=1e-3,1e-2")
    axis = parse_distribution(key, raw)
    if axis is not None:
        return key, axis, None
    parts = split_values(raw)
    if len(parts) == 1:
        return key, None, parse_value(raw)
    return key, Axis(key, tuple(parse_value(p.strip()) for p in parts)), None


def spec_from_options(
    sets: Sequence[str],
    *,
    method: str | None = None,
    random_count: int | None = None,
    trials: int | None = None,
    seed: int | None = None,
    metric: str | None = None,
    mode: str = "min",
    config: str | None = None,
    trainer: str | None = None,
) -> SweepSpec:
    """The spec an ``exp sweep`` command line describes."""
    axes, fixed = [], {}
    for text in sets:
        key, axis, value = parse_set(text)
        if axis is not None:
            axes.append(axis)
        else:
            fixed[key] = value
    if random_count is not None and trials is not None:
        raise UsageError("--random N and --trials N contradict each other.", hint="--random for random search, "
                         "--method tpe --trials N for Optuna.")
    chosen = method or ("random" if random_count is not None else "tpe" if trials is not None else "grid")
    if chosen == "random" and random_count is None and trials is not None:
        random_count, trials = trials, None
    count = random_count if chosen == "random" else trials
    return SweepSpec(chosen, axes, fixed, count, seed, metric, mode, config, trainer)


def spec_from_file(data: Mapping[str, Any], source: str) -> tuple[SweepSpec, dict[str, Any]]:
    """A sweep file's spec, and its other settings (``name``, ``experiment``, ``jobs``, ``launcher``...).

    Format (every key but ``params`` optional)::

        name: lr-depth
        method: grid            # grid | random | tpe
        count: 20               # random: points; tpe: trials (also 'trials')
        seed: 0
        metric: val_loss
        mode: min
        config: base
        trainer: mnist
        fixed: {steps: 200, optimizer.momentum: 0.9}
        params:
          lr: [1e-3, 3e-3, 1e-2]                 # a grid axis (what choice draws from otherwise)
          model.depth: [2, 4]
          dropout: uniform(0, 0.5)               # a distribution, as on the command line
          wd: {distribution: loguniform, low: 1e-5, high: 1e-1}

    Raises:
        ConfigError: a key of the wrong type; UsageError: a contradiction (see :meth:`SweepSpec.check`).
    """
    known = {"name", "experiment", "method", "count", "trials", "seed", "metric", "mode", "config", "trainer",
             "fixed", "params", "jobs", "launcher", "max_parallel"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}.", hint=f"Known keys: {', '.join(sorted(known))}.")
    params = data.get("params")
    if not isinstance(params, Mapping) or not params:
        raise ConfigError(f"{source}: 'params' must map each swept key to its values or distribution.")
    axes = [_file_axis(str(key), value, source) for key, value in params.items()]
    fixed = data.get("fixed") or {}
    if not isinstance(fixed, Mapping):
        raise ConfigError(f"{source}: 'fixed' must map keys to values.")
    count = data.get("count", data.get("trials"))
    method = data.get("method") or ("random" if count is not None else "grid")
    for key, kind in (("count", int), ("seed", int), ("jobs", int), ("max_parallel", int)):
        value = data.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ConfigError(f"{source}: {key!r} must be a whole number, not {value!r}.")
    spec = SweepSpec(
        str(method), axes, {str(k): v for k, v in fixed.items()}, count, data.get("seed"), data.get("metric"),
        str(data.get("mode", "min")), data.get("config"), data.get("trainer"),
    )
    return spec, {k: data[k] for k in ("name", "experiment", "jobs", "launcher", "max_parallel") if k in data}


def _file_axis(key: str, value: Any, source: str) -> Axis:
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError(f"{source}: params.{key} lists no values.")
        return Axis(key, tuple(value))
    if isinstance(value, str):
        axis = parse_distribution(key, value)
        if axis is not None:
            return axis
    if isinstance(value, Mapping) and "distribution" in value:
        name = str(value["distribution"])
        args = value.get("values") if name == "choice" else [value.get("low"), value.get("high")]
        return make_distribution(key, name, list(args or []))
    raise ConfigError(
        f"{source}: params.{key} must be a list of values or a distribution like 'uniform(0, 1)', not {value!r}.",
        hint="A value that stays the same belongs under 'fixed'.",
    )
