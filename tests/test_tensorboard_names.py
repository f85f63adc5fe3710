"""TensorBoard shows every run as exp/run: its own readers (and its server) over `exp tensorboard`'s view."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import run_exp

from exptool.tracking import Logger


def _two_runs(ws):
    for name, lr in (("base", 0.1), ("wide", 0.01)):
        with Logger("spirals", name) as logger:
            logger.initialize("tensorboard")
            logger.log_config({"lr": lr, "hidden": 64})
            for step in range(1, 4):
                logger.log({"loss": lr * step}, step)


def _view(ws, *args):
    result = run_exp("tensorboard", "--json", *args, cwd=ws)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_tensorboards_reader_names_runs_exp_slash_run(ws):
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    _two_runs(ws)
    info = _view(ws)
    assert info["runs"] == ["spirals/base", "spirals/wide"]
    assert info["command"].startswith("tensorboard --logdir ")
    multiplexer = EventMultiplexer()
    multiplexer.AddRunsFromDirectory(info["view"])
    multiplexer.Reload()
    assert sorted(multiplexer.Runs()) == ["spirals/base", "spirals/wide"]
    assert [e.step for e in multiplexer.Tensors("spirals/wide", "loss")] == [1, 2, 3]
    # only some runs: -r EXP/RUN, or -e EXP
    assert _view(ws, "-r", "spirals/base")["runs"] == ["spirals/base"]
    assert _view(ws, "-e", "spirals")["runs"] == ["spirals/base", "spirals/wide"]


def test_hparams_trials_are_named_by_run(ws):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    _two_runs(ws)
    acc = EventAccumulator(str(ws / "experiments" / "spirals" / "base" / "logs"))
    acc.Reload()
    content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    infos = []
    for tag, raw in content.items():
        if tag == metadata.SESSION_START_INFO_TAG:
            infos.append(metadata.parse_session_start_info_plugin_data(raw))
    assert [i.group_name for i in infos] == ["spirals/base"]  # not a hash of the values
    assert infos[0].hparams["lr"].number_value == 0.1


def test_the_view_follows_new_runs_when_started_again_and_never_touches_logs(ws):
    _two_runs(ws)
    first = _view(ws)
    with Logger("other", "x") as logger:
        logger.initialize("tensorboard")
        logger.log({"a": 1.0}, 1)
    assert _view(ws)["runs"] == ["other/x", "spirals/base", "spirals/wide"]
    assert first["view"] == _view(ws)["view"]
    assert list((ws / "experiments" / "spirals" / "base" / "logs").glob("events.out.tfevents.*"))
    empty = run_exp("tensorboard", "-e", "nothing", cwd=ws)
    assert empty.returncode == 2 and "does not exist" in empty.stderr


@pytest.mark.slow
def test_the_tensorboard_server_lists_runs_as_exp_slash_run(ws):
    """The real server (its fast Rust data server where available) over the view `exp tensorboard` starts."""
    _two_runs(ws)
    command = json.loads(run_exp("tensorboard", "--json", cwd=ws).stdout)["command"]
    assert command.startswith("tensorboard --logdir ")
    view = command.split("--logdir ", 1)[1]
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", view, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ})
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            match = re.search(r"(http://localhost:\d+/)", line)
            url = match.group(1) if match else None
        assert url, "TensorBoard did not start"
        runs: list = []
        while time.monotonic() < deadline and sorted(runs) != ["spirals/base", "spirals/wide"]:
            time.sleep(1)
            with urllib.request.urlopen(url + "data/runs", timeout=10) as response:  # noqa: S310 - localhost
                runs = json.loads(response.read())
        assert sorted(runs) == ["spirals/base", "spirals/wide"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
