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
