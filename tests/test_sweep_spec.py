"""Sweep specs: --set parsing, distributions, grid and random points, sweep files, the sweep record."""

from __future__ import annotations

import json
import math

import pytest

from exptool.errors import ConfigError, UsageError
from exptool.sweeps.record import load_sweep, open_sweep, run_name
from exptool.sweeps.spec import SweepSpec, parse_set, spec_from_file, spec_from_options, split_values
from exptool.workspace import Workspace


def test_split_values_respects_brackets_and_quotes():
    assert split_values("1e-3,3e-3,1e-2") == ["1e-3", "3e-3", "1e-2"]
    assert split_values("[1,2],[3,4]") == ["[1,2]", "[3,4]"]
    assert split_values("'a,b',c") == ["'a,b'", "c"]
    assert split_values("f(1,2),3") == ["f(1,2)", "3"]


def test_parse_set_axes_fixed_and_distributions():
    key, axis, value = parse_set("lr=1e-3,3e-3")
    assert key == "lr" and axis.values == (0.001, 0.003) and value is None
    key, axis, value = parse_set("model.depth=4")
    assert axis is None and value == 4
    _, axis, _ = parse_set("lr=loguniform(1e-5, 1e-1)")
    assert axis.distribution == "loguniform" and axis.values == (1e-5, 0.1)
    _, axis, _ = parse_set("depth=choice(2,4,8)")
    assert axis.distribution == "choice" and axis.values == (2, 4, 8)
    _, axis, _ = parse_set("batch=int(16,256)")
    assert axis.distribution == "int" and axis.values == (16, 256)
    _, axis, _ = parse_set("+shape=[1,2],[3,4]")
    assert axis.key == "+shape" and axis.name == "shape" and axis.values == ([1, 2], [3, 4])


@pytest.mark.parametrize(
    "text",
    ["lr=loguniform(0,1)", "lr=uniform(1,1)", "lr=uniform(1)", "n=int(1.5,3)", "x=choice()", "lr=uniform(a,b)"],
)
def test_bad_distributions_are_usage_errors(text):
    with pytest.raises(UsageError):
        parse_set(text)


@pytest.mark.parametrize("text", ["lr", "=3", "a..b=1"])
def test_bad_set_is_a_config_error(text):
    with pytest.raises(ConfigError):
        parse_set(text)


def test_grid_is_the_cross_product_in_order():
    spec = spec_from_options(["lr=1,2", "depth=a,b,c", "steps=5"])
    assert spec.method == "grid" and spec.size == 6 and spec.fixed == {"steps": 5}
    points = list(spec.points())
    assert points[0] == {"lr": 1, "depth": "a"} and points[1] == {"lr": 1, "depth": "b"}
    assert points[-1] == {"lr": 2, "depth": "c"}


def test_grid_refuses_distributions_and_counts():
    with pytest.raises(UsageError, match="a grid needs lists") as err:
        spec_from_options(["lr=uniform(0,1)"])
    assert "--random N" in err.value.hint
    with pytest.raises(UsageError, match="varies nothing"):
        spec_from_options(["lr=1"])
    with pytest.raises(UsageError, match="set twice"):
        spec_from_options(["lr=1,2", "lr=3,4"])
    with pytest.raises(UsageError, match="--metric"):
        spec_from_options(["lr=uniform(0,1)"], method="tpe", trials=3)


def test_random_points_are_reproducible_and_a_larger_count_keeps_them():
    sets = ["lr=loguniform(1e-5,1e-1)", "dropout=uniform(0,0.5)", "depth=choice(2,4,8)", "batch=int(16,256)"]
    small = list(spec_from_options(sets, random_count=3, seed=7).points())
    large = list(spec_from_options(sets, random_count=5, seed=7).points())
    assert large[:3] == small and len(large) == 5
    other = list(spec_from_options(sets, random_count=3, seed=8).points())
    assert other != small
    for point in large:
        assert 1e-5 <= point["lr"] <= 0.1 and 0 <= point["dropout"] <= 0.5
        assert point["depth"] in (2, 4, 8) and isinstance(point["batch"], int) and 16 <= point["batch"] <= 256
    logs = [math.log10(p["lr"]) for p in spec_from_options(sets, random_count=200, seed=1).points()]
    assert min(logs) < -4 and max(logs) > -2  # spread over the decades, not bunched at the top


def test_identity_ignores_count_and_sorting():
    a = spec_from_options(["lr=1,2"], metric="loss")
    b = spec_from_options(["lr=1,2"], metric="acc", mode="max")
    assert a.identity() == b.identity() and a.fingerprint() == b.fingerprint()
    r1 = spec_from_options(["lr=uniform(0,1)"], random_count=3, seed=1)
    r2 = spec_from_options(["lr=uniform(0,1)"], random_count=9, seed=1)
    assert r1.identity() == r2.identity()
    assert spec_from_options(["lr=1,3"]).identity() != a.identity()
    assert SweepSpec.from_dict(json.loads(json.dumps(a.to_dict()))) == a


def test_sweep_file():
    data = {
        "name": "lr-depth",
        "fixed": {"steps": 3, "optimizer.momentum": 0.9},
        "params": {"lr": [0.1, 0.2], "model.depth": [2, 4], "dropout": "uniform(0, 0.5)",
                   "wd": {"distribution": "loguniform", "low": 1e-5, "high": 1e-1}},
        "count": 4,
        "seed": 1,
        "jobs": 2,
    }
    spec, extra = spec_from_file(data, "sweep.yaml")
    assert spec.method == "random" and spec.count == 4 and spec.fixed["optimizer.momentum"] == 0.9
    assert [a.name for a in spec.axes] == ["lr", "model.depth", "dropout", "wd"]
    assert extra == {"name": "lr-depth", "jobs": 2}
    with pytest.raises(ConfigError, match="unknown key 'parms'"):
        spec_from_file({"parms": {}}, "s.yaml")
    with pytest.raises(ConfigError, match="params.lr"):
        spec_from_file({"params": {"lr": 3}}, "s.yaml")


def test_record_keeps_runs_of_known_points_and_refuses_a_changed_spec(tmp_path):
    ws = Workspace.init(tmp_path / "ws")[0]
    exp = ws.experiment("e")
    exp.create()
    record = open_sweep(exp, "s", spec_from_options(["lr=1,2"]))
    assert [p["run"] for p in record.points] == ["s-000", "s-001"]
    record.save(state="created")
    with pytest.raises(UsageError, match="another spec") as err:
        open_sweep(exp, "s", spec_from_options(["lr=1,2,3"]))
    assert "--update-spec" in err.value.hint
    grown = open_sweep(exp, "s", spec_from_options(["lr=2,3"]), update_spec=True)
    assert [(p["run"], p["params"]) for p in grown.points] == [("s-001", {"lr": 2}), ("s-002", {"lr": 3})]
    assert grown.data["retired"] == [{"index": 0, "run": "s-000", "params": {"lr": 1}, "trial": None}]
    grown.save()
    again = open_sweep(exp, "s", spec_from_options(["lr=1,2,3"]), update_spec=True)
    assert [p["run"] for p in again.points] == ["s-000", "s-001", "s-002"]  # the retired point comes back
    assert load_sweep(exp, "s").spec.identity() == spec_from_options(["lr=2,3"]).identity()
    assert run_name("s", 1234) == "s-1234"


def test_unreadable_record_is_an_error_not_missing(tmp_path):
    ws = Workspace.init(tmp_path / "ws")[0]
    exp = ws.experiment("e")
    folder = exp.path / ".sweeps" / "s"
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text("{not json")
    with pytest.raises(ConfigError, match="Cannot read the sweep record"):
        open_sweep(exp, "s", spec_from_options(["lr=1,2"]))
    assert (folder / "sweep.json").read_text() == "{not json"
