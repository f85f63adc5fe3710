"""TrackedConfig: which keys a trainer read, so `exp train` can name the ones it never read."""

from __future__ import annotations

import copy
import json
import pickle

from exptool.config_reads import TrackedConfig, unread_keys, unread_overrides

CONFIG = {"lr": 0.1, "optimizer": {"lr": 0.01, "betas": [0.9, 0.99]}, "epochs": 3, "empty": {},
          "logging": {"writers": ["csv"]}}


def test_it_is_a_dict_and_equal_to_its_data():
    cfg = TrackedConfig(CONFIG)
    assert isinstance(cfg, dict) and cfg == CONFIG and isinstance(cfg["optimizer"], dict)
    assert cfg.plain() == CONFIG and type(cfg.plain()["optimizer"]) is dict
    assert unread_keys(TrackedConfig(CONFIG), ignore=["logging"]) == [
        "lr", "optimizer.lr", "optimizer.betas", "epochs", "empty"]


def test_lookups_count_as_reads_listing_keys_does_not():
    cfg = TrackedConfig(CONFIG)
    cfg["lr"]
    cfg.get("epochs")
    assert "empty" in cfg
    list(cfg)
    cfg.keys()
    len(cfg)
    cfg["optimizer"]  # the section only: its keys are still unread
    assert unread_keys(cfg, ignore=["logging"]) == ["optimizer.lr", "optimizer.betas"]
    cfg["optimizer"]["betas"]
    assert unread_keys(cfg, ignore=["logging"]) == ["optimizer.lr"]


def test_unpacking_copying_and_serialising_count_everything_handed_out():
    def build(**kwargs):
        return kwargs

    for use in (lambda c: {**c}, dict, lambda c: c.copy(), copy.deepcopy, lambda c: list(c.items()),
                lambda c: list(c.values()), lambda c: build(**c), lambda c: pickle.dumps(c)):
        cfg = TrackedConfig({"a": 1, "b": 2})
        use(cfg)
        assert unread_keys(cfg) == [], use
    cfg = TrackedConfig(CONFIG)
    json.dumps(cfg)
    assert unread_keys(cfg) == []
    cfg = TrackedConfig(CONFIG)
    build(**cfg["optimizer"])  # torch.optim.Adam(params, **cfg["optimizer"])
    assert "optimizer.lr" not in unread_keys(cfg)


def test_plain_copies_count_nothing():
    cfg = TrackedConfig(CONFIG)
    cfg.plain()
    assert len(unread_keys(cfg)) == 6


def test_unread_overrides_name_the_tours_mistake():
    cfg = TrackedConfig({"lr": 0.01, "optimizer": {"lr": 3e-4}, "model": {"depth": 3}})
    cfg["lr"]
    cfg["model"]["depth"]
    overrides = ["optimizer.lr=3e-4", "lr=0.1", "+model.depth=4", "model=x", "logging.writers=[csv]"]
    assert unread_overrides(cfg, overrides, ignore=["logging"]) == ["optimizer.lr"]


def test_writes_keep_tracking_nested_values():
    cfg = TrackedConfig({})
    cfg["new"] = {"x": 1}
    cfg.setdefault("other", {"y": 2})
    cfg.update(more={"z": 3})
    assert unread_keys(cfg) == ["new.x", "other.y", "more.z"]
