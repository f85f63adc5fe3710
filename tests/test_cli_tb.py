"""exp tb: a real TensorBoard, asked over HTTP on a free port: runs named exp/run, HParams trials by run."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from exptool.tracking import Logger
from exptool.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def runs(ws):
    w = Workspace(ws)
    for exp_name, run_name, lr in (("mnist", "base", 0.1), ("mnist", "wide", 0.01), ("cifar", "r1", 0.5)):
        run = w.run(exp_name, run_name)
        run.create()
        with Logger(run=run, make_current=False, echo=False) as logger:
            logger.initialize("csv", "tensorboard")
            logger.log_config({"lr": lr, "opt": {"name": "sgd"}})
            for step in range(5):
                logger.log({"loss": lr / (step + 1)}, step)
        run.update_record(status="completed" if run_name != "wide" else "failed")
    return ws


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, data: dict | None = None):
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_print_gives_a_command_that_names_runs_by_experiment(runs, exp):
    result = exp("tb", "mnist", "--print", "--port", "6106")
    assert result.returncode == 0, result.stderr
    argv = shlex.split(result.stdout.strip())
    assert argv[argv.index("--port") + 1] == "6106"
    logdir = argv[argv.index("--logdir") + 1]
    assert sorted(os.listdir(os.path.join(logdir, "mnist"))) == ["base", "wide"]
    assert os.path.realpath(os.path.join(logdir, "mnist", "base")) == str(runs / "experiments/mnist/base/logs")
    data = json.loads(exp("tb", "mnist", "cifar/r1", "--where", "status=completed", "--print", "--json").stdout)
    assert data["runs"] == ["mnist/base", "cifar/r1"] and data["url"].startswith("http://localhost:")
    assert exp("tb", "nope", "--print").returncode == 2
    assert exp("tb", "mnist", "--where", "status=running", "--print").returncode == 2  # nothing to show



def test_one_command_with_the_options_of_both_spellings(runs, exp):
    """exp tb takes exp tensorboard's -e/-r and TensorBoard's own options after --; exp tensorboard is exp tb."""
    def shown(command, *args):
        result = exp(command, "--print", "--json", *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert shown("tb", "-e", "mnist")["runs"] == ["mnist/base", "mnist/wide"]
    assert shown("tb", "-e", "mnist", "-r", "wide", "-r", "cifar/r1")["runs"] == ["mnist/wide", "cifar/r1"]
    assert sorted(shown("tb", "--all")["runs"]) == ["cifar/r1", "mnist/base", "mnist/wide"]
    data = shown("tb", "cifar", "--", "--port", "6107", "--samples_per_plugin", "images=5")
    assert data["url"].endswith(":6107/") and data["command"][-2:] == ["--samples_per_plugin", "images=5"]
    assert data["command"].count("--port") == 1  # TensorBoard's --port after -- is exp tb's own
    again = shown("tb", "cifar")
    assert again["logdir"] == data["logdir"]  # the same selection keeps (and refreshes) its one view
    assert again["logdir"] != shown("tb", "mnist")["logdir"]
    bad = exp("tb", "cifar", "--print", "--", "--logdir", "elsewhere")
    assert bad.returncode == 2 and "--logdir" in bad.stderr
    assert exp("tb", "--port", "6000", "--print", "--", "--port", "6001").returncode == 2  # two ports
    # The old spelling: the same options, its own defaults (every run; --json describes, starts nothing).
    old = exp("tensorboard", "-r", "mnist/base", "--json", "--", "--reload_interval", "2")
    assert old.returncode == 0, old.stderr
    legacy = json.loads(old.stdout)
    assert legacy["runs"] == ["mnist/base"] and legacy["command"].endswith(" --reload_interval 2")
    assert json.loads(exp("tensorboard", "--json").stdout)["runs"] == ["cifar/r1", "mnist/base", "mnist/wide"]
    printed = exp("tensorboard", "mnist", "--where", "status=completed", "--print", "--port", "6108")
    assert printed.returncode == 0 and "--port 6108" in printed.stdout
    assert os.listdir(os.path.join(shlex.split(printed.stdout)[2], "mnist")) == ["base"]

def test_a_real_tensorboard_serves_the_runs(runs):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "exptool", "tb", "mnist", "cifar", "--port", str(port)],
                            cwd=runs, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://localhost:{port}"
    try:
        assert proc.stdout.readline().startswith(f"TensorBoard on 3 runs at {base}/")
        deadline = time.monotonic() + 120
        names = None
        while time.monotonic() < deadline:
            try:
                names = _get(f"{base}/data/runs")
                if len(names) == 3:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.5)
        assert sorted(names) == ["cifar/r1", "mnist/base", "mnist/wide"]
        groups = _get(f"{base}/data/plugin/hparams/session_groups",
                      {"startIndex": 0, "sliceSize": 10,
                       "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]})
        by_name = {g["name"]: g for g in groups["sessionGroups"]}
        assert sorted(by_name) == ["cifar/r1", "mnist/base", "mnist/wide"]  # trials named by run, not a hash
        assert by_name["mnist/wide"]["hparams"] == {"lr": 0.01, "opt.name": "sgd"}
        assert by_name["mnist/wide"]["sessions"][0]["name"] == "mnist/wide"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # TensorBoard went with it
        _get(f"{base}/data/runs")
