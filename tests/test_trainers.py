"""The trainer registry: entry points, workspace tables, direct targets, precedence, lazy listing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from exptool.errors import ConfigError, TrainerError
from exptool.training.registry import TrainerSpec, choose_trainer, load_trainer, registered_trainers

TRAINER_SRC = textwrap.dedent(
    """
    import json

    def main(ctx):
        for step in range(ctx.start_step + 1, 4):
            ctx.logger.log({"loss": 1.0 / step}, step)
        (ctx.path / "seen.json").write_text(json.dumps({
            "trainer": ctx.trainer_name, "experiment": ctx.experiment, "run": ctx.run_name,
            "rank": ctx.rank, "world_size": ctx.world_size, "is_main": ctx.is_main,
            "device": str(ctx.device), "seed": ctx.seed, "config": ctx.config,
        }))
    """
)
CSV_ONLY = {"logging": {"writers": ["csv"]}}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _new_run(exp, ws: Path, name: str = "r1", config: dict | None = None) -> Path:
    cfg = _write(ws / "config" / f"{name}.json", json.dumps(config if config is not None else CSV_ONLY))
    res = exp("init-run", "-e", "e", "-r", name, "-c", str(cfg))
    assert res.returncode == 0, res.stderr
    return ws / "experiments" / "e" / name


def _seen(run_path: Path) -> dict:
    return json.loads((run_path / "seen.json").read_text())


def test_builtin_demo_is_registered_without_a_workspace():
    found = registered_trainers(None)
    assert found["demo"].target == "exptool.examples.demo:train"
    assert found["demo"].builtin and found["demo"].source == "built-in"


def test_workspace_tables_are_read_and_exptool_toml_wins(ws):
    _write(ws / "exptool.toml", '[trainers]\nshared = "a.mod:f"\nonly_toml = "b.py:g"\n')
    _write(ws / "pyproject.toml", '[tool.exptool.trainers]\nshared = "c.mod:h"\nonly_pp = "d:i"\n')
    found = registered_trainers(ws)
    assert found["shared"].target == "a.mod:f" and found["shared"].source == "exptool.toml"
    assert found["only_pp"].source == "pyproject.toml"
    assert found["only_toml"].target == "b.py:g"
    assert "demo" in found


def test_workspace_table_can_shadow_an_entry_point(ws):
    _write(ws / "exptool.toml", '[trainers]\ndemo = "mine:train"\n')
    assert registered_trainers(ws)["demo"].source == "exptool.toml"


def test_bad_table_values_are_config_errors(ws):
    _write(ws / "exptool.toml", "[trainers]\nx = 3\n")
    with pytest.raises(ConfigError, match="must be a string"):
        registered_trainers(ws)
    _write(ws / "exptool.toml", "[trainers\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        registered_trainers(ws)


def test_choice_precedence():
    demo = TrainerSpec("demo", "exptool.examples.demo:train", "built-in")
    mine = TrainerSpec("mine", "m:f", "exptool.toml")
    other = TrainerSpec("other", "o:f", "exptool.toml")
    assert choose_trainer({"demo": demo}).name == "demo"
    # the user's own single trainer beats the built-in demo when nothing is asked for
    assert choose_trainer({"demo": demo, "mine": mine}).name == "mine"
    both = {"demo": demo, "mine": mine, "other": other}
    with pytest.raises(TrainerError, match="Several trainers"):
        choose_trainer(both)
    assert choose_trainer(both, config_trainer="other").name == "other"
    assert choose_trainer(both, requested="demo", config_trainer="other").name == "demo"
    direct = choose_trainer(both, requested="pkg.mod:fn")
    assert (direct.target, direct.source) == ("pkg.mod:fn", "--trainer")
    with pytest.raises(TrainerError, match="Unknown trainer 'nope'") as err:
        choose_trainer(both, requested="nope")
    assert "demo, mine, other" in err.value.hint
    with pytest.raises(TrainerError, match="No trainer"):
        choose_trainer({})


def test_load_errors_are_one_line_trainer_errors(ws):
    _write(ws / "broken.py", "raise RuntimeError('bad import')\n")
    _write(ws / "fine.py", "x = 1\n")
    cases = {
        "no_such_module_xyz:f": "no module named 'no_such_module_xyz'",
        "fine:missing": "has no attribute 'missing'",
        "fine:x": "is not callable",
        "broken:f": "RuntimeError: bad import",
        "nowhere/file.py:f": "not found",
        "broken.py:f": "RuntimeError: bad import",
    }
    for target, message in cases.items():
        with pytest.raises(TrainerError, match=message):
            load_trainer(TrainerSpec(target, target, "--trainer", str(ws)), ws)


def test_load_file_target_relative_to_workspace(ws, tmp_path, monkeypatch):
    _write(ws / "src" / "helper.py", "VALUE = 7\n")
    _write(ws / "src" / "train.py", "from helper import VALUE\n\ndef main(ctx):\n    return VALUE\n")
    monkeypatch.chdir(tmp_path)  # not the workspace: the target is found through base_dir
    fn = load_trainer(TrainerSpec("t", "src/train.py:main", "exptool.toml", str(ws)), ws)
    assert fn(None) == 7


def test_listing_imports_no_user_code_and_no_torch(ws):
    _write(ws / "heavy_user_mod.py", "import torch\nraise SystemExit('imported!')\n")
    _write(ws / "exptool.toml", '[trainers]\nheavy = "heavy_user_mod:main"\n')
    code = (
        "import sys; from exptool.training.registry import registered_trainers; "
        f"names = sorted(registered_trainers({str(ws)!r})); "
        "from exptool.cli.train import complete_trainer; "
        "assert 'torch' not in sys.modules and 'heavy_user_mod' not in sys.modules, 'imported'; print(names)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ws)
    assert res.returncode == 0, res.stderr
    assert "heavy" in res.stdout and "demo" in res.stdout


def test_exp_trainers_lists_sources_and_default(exp, ws):
    _write(ws / "exptool.toml", '[trainers]\nmine = "tt:main"\n')
    _write(ws / "tt.py", "raise SystemExit('must not be imported')\n")
    res = exp("trainers", "--json")
    assert res.returncode == 0, res.stderr
    items = {t["name"]: t for t in json.loads(res.stdout)["trainers"]}
    assert items["mine"] == {"name": "mine", "target": "tt:main", "source": "exptool.toml", "default": True}
    assert items["demo"]["source"] == "built-in" and not items["demo"]["default"]
    res = exp("trainers")
    assert res.returncode == 0 and "* mine" in res.stdout and "built-in" in res.stdout


def test_complete_trainer_reads_names_only(ws):
    from exptool.cli.train import complete_trainer

    _write(ws / "exptool.toml", '[trainers]\nmnist = "m:f"\nmoons = "n:f"\n')

    class _Ctx:
        params = {"root": str(ws)}
        parent = None

    assert complete_trainer(_Ctx(), "m") == ["mnist", "moons"]
    assert complete_trainer(_Ctx(), "d") == ["demo"]


@pytest.mark.slow
def test_each_way_of_registering_runs_the_trainer(exp, ws):
    _write(ws / "pkgtrain" / "__init__.py", "")
    _write(ws / "pkgtrain" / "core.py", TRAINER_SRC)
    _write(ws / "scripts" / "file_train.py", TRAINER_SRC)
    _write(ws / "exptool.toml", '[trainers]\nfrom_toml = "pkgtrain.core:main"\n')
    _write(ws / "pyproject.toml", '[tool.exptool.trainers]\nfrom_pyproject = "scripts/file_train.py:main"\n')
    ways = {
        "from_toml": ("exptool.toml", "from_toml"),
        "from_pyproject": ("pyproject.toml", "from_pyproject"),
        "pkgtrain.core:main": ("--trainer", "pkgtrain.core:main"),
        "scripts/file_train.py:main": ("--trainer", "scripts/file_train.py:main"),
    }
    for i, (trainer, (source, name)) in enumerate(ways.items()):
        run_path = _new_run(exp, ws, f"way{i}")
        res = exp("train", "--trainer", trainer)
        assert res.returncode == 0, res.stderr
        seen = _seen(run_path)
        assert seen["trainer"] == name and seen["run"] == f"way{i}" and seen["world_size"] == 1
        record = json.loads((run_path / "run.json").read_text())
        assert record["status"] == "completed" and record["trainer"]["source"] == source
        assert json.loads((run_path / "config.json").read_text())["trainer"] == name


@pytest.mark.slow
def test_entry_point_of_an_installed_package(exp, ws, tmp_path):
    pkg = tmp_path / "pkg"
    _write(
        pkg / "pyproject.toml",
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=64"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "exptool-throwaway-trainer"
            version = "0.0.1"
            [project.entry-points."exptool.trainers"]
            mnist = "throwaway_trainer.train:main"
            """
        ),
    )
    _write(pkg / "throwaway_trainer" / "__init__.py", "")
    _write(pkg / "throwaway_trainer" / "train.py", TRAINER_SRC)
    site = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(pkg)],
        capture_output=True, text=True, timeout=300,
    )
    assert pip.returncode == 0, pip.stderr
    env = {"PYTHONPATH": str(site)}
    res = exp("trainers", "--json", env=env)
    items = {t["name"]: t for t in json.loads(res.stdout)["trainers"]}
    assert items["mnist"]["source"] == "entry point (exptool-throwaway-trainer)"
    assert items["mnist"]["default"]
    run_path = _new_run(exp, ws)
    res = exp("train", env=env)  # the only user trainer is chosen without --trainer
    assert res.returncode == 0, res.stderr
    assert _seen(run_path)["trainer"] == "mnist"
