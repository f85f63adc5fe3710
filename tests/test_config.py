"""exptool.config: YAML/JSON load and save, errors naming file/line/key, typed overrides, merging."""

from __future__ import annotations

import json

import pytest
import yaml

from exptool.config import apply_overrides, load_config, merge_configs, parse_override, parse_value, save_config
from exptool.errors import EXIT_USAGE, ConfigError, NotFoundError

BASE = {"model": {"name": "resnet", "depth": 18}, "optimizer": {"lr": 0.1, "betas": [0.9, 0.99]}, "epochs": 10}


def test_load_yaml_and_json_give_the_same_config(tmp_path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "a.yml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "a.json").write_text(json.dumps(BASE))
    assert load_config(tmp_path / "a.yaml") == BASE
    assert load_config(tmp_path / "a.yml") == BASE
    assert load_config(str(tmp_path / "a.json")) == BASE


@pytest.mark.parametrize("name", ["empty.yaml", "empty.json"])
def test_empty_file_is_an_empty_config(tmp_path, name):
    (tmp_path / name).write_text("\n")
    assert load_config(tmp_path / name) == {}


def test_yaml_is_loaded_with_the_safe_loader(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("x: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="evil.yaml"):
        load_config(path)


def test_broken_yaml_names_file_line_and_key(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("model:\n  name: resnet\n  depth: [18, 34\noptimizer:\n  lr: 3e-4\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 4" in message and "line 3" in message  # where it was noticed, and where it started
    assert "'depth'" in message
    assert info.value.exit_code == EXIT_USAGE
    assert "\n" not in message


def test_duplicate_yaml_key_names_file_line_and_key(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("model:\n  depth: 18\noptimizer:\n  lr: 0.1\n  momentum: 0.9\n  lr: 3e-4\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml, line 6, column 3: invalid YAML: found duplicate key 'lr'"):
        load_config(path)


def test_yaml_merge_keys_may_be_overridden(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("base: &base\n  lr: 0.1\n  wd: 0.0\nfine:\n  <<: *base\n  lr: 0.01\n")
    assert load_config(path)["fine"] == {"lr": 0.01, "wd": 0.0}


def test_misindented_yaml_names_line_and_key(tmp_path):
    path = tmp_path / "indent.yaml"
    path.write_text("model:\n  name: resnet\n   depth: 3\n")
    with pytest.raises(ConfigError, match=r"indent\.yaml, line 3, column \d+: invalid YAML: .*'depth'"):
        load_config(path)


def test_broken_json_names_file_line_and_key(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"a": 1,\n "b": }\n')
    with pytest.raises(ConfigError, match=r"broken\.json, line 2, column 7: invalid JSON: .*'b'"):
        load_config(path)


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    path = tmp_path / "list.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_missing_file_and_folder_errors(tmp_path):
    with pytest.raises(NotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ConfigError, match="folder"):
        load_config(tmp_path / "dir.yaml")


def test_undecodable_file_is_a_config_error(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="bin.yaml"):
        load_config(path)


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_save_then_load_round_trips(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    config = {**BASE, "data": {"root": tmp_path / "data"}, "pair": (1, 2)}
    assert save_config(config, path) == path
    loaded = load_config(path)
    assert loaded["model"] == BASE["model"]
    assert loaded["data"]["root"] == str(tmp_path / "data")  # Paths become strings
    assert loaded["pair"] == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_turns_numpy_and_torch_scalars_into_plain_values(tmp_path, suffix):
    import numpy as np
    import torch

    path = tmp_path / f"out{suffix}"
    config = {"lr": np.float64(3e-4), "epochs": np.int64(5), "flag": np.bool_(True), "t": torch.tensor(0.5),
              "tags": {"b", "a"}, "sizes": np.array([1, 2])[0]}
    save_config(config, path)
    loaded = load_config(path)
    assert loaded == {"lr": 3e-4, "epochs": 5, "flag": True, "t": 0.5, "tags": ["a", "b"], "sizes": 1}
    assert [type(loaded[k]) for k in ("lr", "epochs", "flag")] == [float, int, bool]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_of_an_unsupported_value_names_its_key_and_writes_nothing(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    save_config({"a": 1}, path)
    with pytest.raises(ConfigError, match=r"model\.layers\[1\] is a builtins\.object") as info:
        save_config({"model": {"layers": [1, object()]}}, path)
    assert str(path) in str(info.value) and info.value.exit_code == 2
    assert load_config(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "c.json"
    save_config({"a": 1}, path)
    save_config({"a": 2}, path)
    assert load_config(path) == {"a": 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3e-4", 3e-4),
        ("1e3", 1000.0),
        ("0.5", 0.5),
        ("10", 10),
        ("-3", -3),
        ("true", True),
        ("False", False),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ("{a: 1}", {"a": 1}),
        ("adam", "adam"),
        ("'10'", "10"),
        ("v1.2", "v1.2"),
        ("", None),
    ],
)
def test_values_are_typed_the_yaml_way(text, expected):
    value = parse_value(text)
    assert value == expected
    assert type(value) is type(expected)


def test_override_sets_nested_values_without_touching_the_input():
    result = apply_overrides(BASE, ["optimizer.lr=3e-4", "model.depth=50", "epochs=2", "optimizer.betas=[0.8, 0.9]"])
    assert result["optimizer"] == {"lr": 3e-4, "betas": [0.8, 0.9]}
    assert result["model"]["depth"] == 50 and result["epochs"] == 2
    assert BASE["optimizer"]["lr"] == 0.1 and BASE["model"]["depth"] == 18


def test_override_of_a_missing_key_names_it_and_says_how_to_add_it():
    with pytest.raises(ConfigError) as info:
        apply_overrides(BASE, ["optimizer.momentum=0.9"])
    assert "'optimizer.momentum'" in str(info.value)
    assert "+optimizer.momentum=0.9" in info.value.hint
    with pytest.raises(ConfigError, match="'scheduler'"):
        apply_overrides(BASE, ["scheduler.gamma=0.5"])


def test_plus_prefix_adds_new_keys_and_sections():
    result = apply_overrides(BASE, ["+optimizer.momentum=0.9", "+scheduler.kind=cosine"])
    assert result["optimizer"]["momentum"] == 0.9
    assert result["scheduler"] == {"kind": "cosine"}
    assert apply_overrides(BASE, ["new=1"], allow_new=True)["new"] == 1


def test_override_through_a_non_mapping_is_an_error():
    with pytest.raises(ConfigError, match="epochs is not a mapping"):
        apply_overrides(BASE, ["+epochs.x=1"])


@pytest.mark.parametrize("bad", ["lr", "=3", "a..b=1", "optimizer.=1", "+"])
def test_malformed_override_is_an_error(bad):
    with pytest.raises(ConfigError, match="key=value"):
        parse_override(bad)


def test_merge_is_deep_and_copies():
    override = {"model": {"depth": 34}, "optimizer": {"betas": [0.5]}, "extra": {"a": 1}}
    merged = merge_configs(BASE, override)
    assert merged["model"] == {"name": "resnet", "depth": 34}
    assert merged["optimizer"] == {"lr": 0.1, "betas": [0.5]}  # lists are replaced, not merged
    assert merged["extra"] == {"a": 1} and merged["epochs"] == 10
    merged["extra"]["a"] = 2
    merged["model"]["name"] = "vit"
    assert override["extra"] == {"a": 1} and BASE["model"]["name"] == "resnet"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("optimizer.lr=1", 1.0),  # an integer where a number was: stored as a number
        ("optimizer.lr=3e-4", 3e-4),
        ("epochs=3.0", 3),  # a whole number where an integer was
        ("epochs=2.5", 2.5),  # numbers fit numbers: int -> float is fine
        ("model.name=0042", "0042"),  # any scalar where a string was: the text as typed
        ("model.name=true", "true"),
        ("optimizer.lr=null", None),
        ("optimizer.lr='auto'", "auto"),  # quoted: the explicit way to store a string anyway
        ("epochs=\"10\"", "10"),
        ("optimizer.betas=[0.5, 0.6]", [0.5, 0.6]),
        ("model={name: vit, depth: 12}", {"name": "vit", "depth": 12}),
    ],
)
def test_overrides_that_fit_the_type_they_replace(override, expected):
    keys = override.partition("=")[0].split(".")
    node = apply_overrides(BASE, [override])
    for key in keys:
        node = node[key]
    assert node == expected and type(node) is type(expected)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optimizer.lr=abc", "optimizer.lr is a number (0.1) in the config; 'abc' is a string"),
        ("epochs=true", "epochs is an integer (10) in the config; 'true' is a boolean"),
        ("model=3", "model is a mapping in the config; '3' is an integer"),
        ("optimizer.betas=0.9", "optimizer.betas is a list in the config; '0.9' is a number"),
        ("model.name=[a]", "model.name is a string (\"resnet\") in the config; '[a]' is a list"),
    ],
)
def test_an_override_of_the_wrong_type_is_a_usage_error_that_names_the_way_out(override, message):
    with pytest.raises(ConfigError) as info:
        apply_overrides(BASE, [override])
    assert info.value.exit_code == EXIT_USAGE
    assert message in info.value.message
    key, _, raw = override.partition("=")
    assert f"--set \"{key}='{raw}'\"" in info.value.hint


def test_a_mapping_override_error_suggests_one_of_its_keys():
    with pytest.raises(ConfigError) as info:
        apply_overrides(BASE, ["model=3"])
    assert "model.name=..." in info.value.hint
