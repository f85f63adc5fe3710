"""The --where/--sort language: keys, operators, types, missing values, errors naming the known keys."""

from __future__ import annotations

import pytest

from exptool.errors import EXIT_USAGE
from exptool.runs.index import RunRow
from exptool.runs.query import Keys, QueryError, select


def _row(name, status="completed", tags=(), config=None, metrics=None, **record):
    row = RunRow("e", name, f"/nowhere/e/{name}")
    row.status = status
    row.record = {"tags": list(tags), **record}
    row.config = config or {}
    row.stats = {k: list(v) for k, v in (metrics or {}).items()}  # [last, step, min, min_step, max, max_step]
    row.last_step = max((v[1] for v in row.stats.values()), default=None)
    return row


@pytest.fixture
def rows():
    return [
        _row("a", tags=["baseline"], config={"optimizer.lr": 1e-3, "model.width": 64, "name": "resnet", "aug": True},
             metrics={"val_acc": [0.91, 9, 0.5, 0, 0.93, 7], "loss": [0.2, 9, 0.2, 9, 2.0, 0]}, seed=1,
             trainer="demo", created="2026-01-01T00:00:00+00:00"),
        _row("b", status="failed", config={"optimizer.lr": 1e-2, "model.width": 128, "aug": False},
             metrics={"val_acc": [0.5, 3, 0.4, 0, 0.6, 2]}, seed=2, trainer="demo",
             created="2026-02-01T00:00:00+00:00"),
        _row("c", tags=["baseline", "wide"], config={"optimizer.lr": 3e-4, "model.width": 256, "layers": [1, 2]},
             metrics={"val_acc": [0.95, 9, 0.5, 0, 0.95, 9], "loss": [0.1, 9, 0.1, 9, 1.0, 0]}, note="best one",
             trainer="other", created="2026-03-01T00:00:00+00:00"),
        _row("d", status="created"),
    ]


def names(rows):
    return [r.name for r in rows]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("val_acc>0.9", ["a", "c"]),
        ("val_acc >= 0.95", ["c"]),
        ("optimizer.lr<=1e-3", ["a", "c"]),
        ("status=completed", ["a", "c"]),
        ("status!=completed", ["b", "d"]),
        ("tag=baseline", ["a", "c"]),
        ("tag!=baseline", ["b", "d"]),
        ("tags=wide", ["c"]),
        ("trainer=demo", ["a", "b"]),
        ("max(val_acc)>0.9", ["a", "c"]),
        ("min(loss)<0.15", ["c"]),
        ("last(val_acc)<0.6", ["b"]),
        ("name~[ab]", ["a", "b"]),
        ("name!~a*", ["b", "c", "d"]),
        ("note~*best*", ["c"]),
        ('note="best one"', ["c"]),
        ("aug=true", ["a"]),
        ("aug=false", ["b"]),
        ("aug=1", []),  # a setting of true is not the number 1
        ("layers=2", ["c"]),  # = on a list means "contains"
        ("note=null", ["a", "b", "d"]),
        ("created>2026-01-15", ["b", "c"]),
        ("step>5", ["a", "c"]),
        ("seed=2", ["b"]),
        ("config.name=resnet", ["a"]),
        ("val_acc>0.9 and tag=wide", ["c"]),
        ("val_acc>0.9 && tag=wide", ["c"]),
        ("status=failed or tag=wide", ["b", "c"]),
        ("not (status=completed)", ["b", "d"]),
        ("(status=failed or status=created) and not name=d", ["b"]),
        ("model.width>100 and (optimizer.lr<0.005 or aug=false)", ["b", "c"]),
        ("val_acc>0.9 and note=x", []),
    ],
)
def test_where(rows, where, expected):
    assert names(select(rows, [where])) == expected


def test_several_where_must_all_hold(rows):
    assert names(select(rows, ["tag=baseline", "val_acc<0.93"])) == ["a"]


def test_a_bare_key_that_is_a_field_wins_over_the_config(rows):
    assert names(select(rows, ["name=resnet"])) == []  # the run name; config.name is the config's
    assert names(select(rows, ["config.name=resnet"])) == ["a"]


def test_sort(rows):
    assert names(select(rows, sort=["-val_acc"])) == ["c", "a", "b", "d"]  # no value: last, either way
    assert names(select(rows, sort=["val_acc"])) == ["b", "a", "c", "d"]
    assert names(select(rows, sort=["trainer", "-val_acc"])) == ["a", "b", "c", "d"]
    assert names(select(rows, sort=["-trainer", "name"])) == ["c", "a", "b", "d"]
    assert names(select(rows, ["status=completed"], ["-min(loss)"])) == ["a", "c"]
    assert names(select(rows, sort=["-created"])) == ["c", "b", "a", "d"]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("val_accc>0.9", "Unknown key 'val_accc'"),
        ("max(nope)>1", "Unknown metric 'nope'"),
        ("val_acc>", "expected a value"),
        ("val_acc 0.9", "expected an operator"),
        ("(val_acc>0.9", "never closed"),
        ("val_acc>0.9 extra", "unexpected"),
        ('note="x', "never closed"),
    ],
)
def test_bad_expressions_are_usage_errors(rows, where, message):
    with pytest.raises(QueryError) as info:
        select(rows, [where])
    assert message in info.value.message
    assert info.value.exit_code == EXIT_USAGE


def test_unknown_key_names_the_known_ones_and_a_close_match(rows):
    with pytest.raises(QueryError) as info:
        select(rows, ["val_accc>0.9"])
    assert "Did you mean val_acc?" in info.value.message
    hint = info.value.hint
    assert "Fields: name, experiment" in hint and "Metrics: val_acc, loss" in hint and "optimizer.lr" in hint


def test_a_key_both_metric_and_config_must_be_spelled_out():
    rows = [_row("a", config={"lr": 0.1}, metrics={"lr": [0.05, 3, 0.05, 3, 0.1, 0]})]
    with pytest.raises(QueryError) as info:
        select(rows, ["lr>0.01"])
    assert "both a metric and a config key" in info.value.message and "config.lr" in info.value.hint
    assert names(select(rows, ["config.lr>0.09"])) == ["a"]
    assert names(select(rows, ["last(lr)<0.09"])) == ["a"]


def test_bad_sort(rows):
    with pytest.raises(QueryError):
        select(rows, sort=["-"])
    with pytest.raises(QueryError):
        select(rows, sort=["-nope"])


def test_key_labels():
    keys = Keys([_row("a", config={"seed": 1, "x": 2}, metrics={"m": [1, 1, 1, 1, 1, 1], "x": [1, 1, 1, 1, 1, 1]})])
    assert keys.config_key("seed").label == "config.seed"  # seed is also a field
    assert keys.config_key("x").label == "config.x" and keys.metric("x").label == "last(x)"
    assert keys.metric("m").label == "m" and keys.metric("m", "max").label == "max(m)"
