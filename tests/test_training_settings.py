"""exptool's own config sections are checked once, before anything is written (exit 2, nothing touched)."""

from __future__ import annotations

import json

import pytest

from exptool.errors import ConfigError
from exptool.examples.demo import check_config
from exptool.training.settings import CheckpointSettings, read_settings
from exptool.workspace import Workspace


def test_defaults_and_good_values():
    assert read_settings({}).writers == ("csv", "tensorboard")
    assert read_settings({}).checkpoint == CheckpointSettings(3, 1, "val_loss", "min")
    good = read_settings({
        "seed": 7, "device": "cuda:1",
        "logging": {"writers": "csv, TB", "wandb_project": "p"},
        "checkpoint": {"keep_last": None, "keep_best": 0, "metric": "acc", "mode": "max"},
    })
    assert good.writers == ("csv", "tensorboard") and good.seed == 7 and good.device == "cuda:1"
    assert good.checkpoint.manager_options() == {"keep_last": None, "keep_best": 0, "metric": "acc", "mode": "max"}


@pytest.mark.parametrize(
    ("config", "key", "allowed"),
    [
        ({"checkpoint": {"keep_last": "3"}}, "checkpoint.keep_last", "at least 1"),
        ({"checkpoint": {"keep_last": 0}}, "checkpoint.keep_last", "at least 1"),
        ({"checkpoint": {"keep_best": -1}}, "checkpoint.keep_best", "at least 0"),
        ({"checkpoint": {"mode": "sideways"}}, "checkpoint.mode", "'min' or 'max'"),
        ({"checkpoint": {"metric": 3}}, "checkpoint.metric", "metric name"),
        ({"checkpoint": "often"}, "checkpoint", "mapping"),
        ({"logging": {"writers": ["csv", 3]}}, "logging.writers", "list of writer names"),
        ({"logging": {"writers": ["nope"]}}, "logging.writers", "not a writer; known writers: "),
        ({"seed": "abc"}, "seed", "whole number"),
        ({"seed": 2.5}, "seed", "whole number"),
        ({"seed": True}, "seed", "whole number"),
        ({"device": 3}, "device", "device name"),
        ({"device": "gpu please"}, "device", "device name"),
    ],
)
def test_bad_values_name_key_value_and_what_is_allowed(config, key, allowed):
    with pytest.raises(ConfigError) as info:
        read_settings(config)
    assert f"Config key {key!r}" in info.value.message and allowed in info.value.message
    assert f"--set {key}=" in info.value.hint


@pytest.mark.parametrize(
    ("config", "key"),
    [({"epochs": None}, "epochs"), ({"batch_size": 0}, "batch_size"), ({"lr": "abc"}, "lr"),
     ({"val_fraction": 1.0}, "val_fraction"), ({"dataset": "mnist"}, "dataset"), ({"epochs": 2.5}, "epochs"),
     ({"threads": 0}, "threads"), ({"threads": "many"}, "threads")],
)
def test_the_demo_checks_its_own_keys(config, key):
    with pytest.raises(ConfigError, match=f"Config key '{key}'"):
        check_config(config)
    check_config({})  # its defaults are fine


@pytest.mark.slow
@pytest.mark.parametrize(
    "override",
    ["checkpoint.keep_last='3'", "+checkpoint.mode=sideways", "+checkpoint.keep_last=0", "epochs=",
     "batch_size=0", "+seed=abc"],
)
def test_exp_train_refuses_bad_settings_before_writing_anything(exp, ws, override):
    run = Workspace(ws).run("e", "r")
    run.create()
    run.config_path.write_text(json.dumps({"trainer": "demo", "checkpoint": {"keep_last": 2}}))
    before = run.config_path.read_bytes()
    res = exp("train", "-e", "e", "-r", "r", "--set", override)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: Config key ") and "Traceback" not in res.stderr
    assert run.config_path.read_bytes() == before  # nothing saved
    assert run.read_record().get("status") in (None, "created") and not any(run.logs_dir.iterdir())


@pytest.mark.slow
def test_a_manifest_step_out_of_range_is_a_clear_error(exp, ws):
    import torch

    from exptool.checkpoints import CheckpointManager

    run = Workspace(ws).run("e", "m")
    run.create()
    manager = CheckpointManager(run.checkpoints_dir)
    manager.save(step=3, model=torch.nn.Linear(1, 1))
    manifest_path = run.checkpoints_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["checkpoints"]:
        entry["step"] = 10**30
    manifest_path.write_text(json.dumps(manifest))
    res = exp("train", "-e", "e", "-r", "m", "--trainer", "demo")
    assert res.returncode != 0 and "not one to resume at" in res.stderr and "Traceback" not in res.stderr
