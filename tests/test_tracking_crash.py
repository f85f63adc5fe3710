"""Crash safety: a child logging (and adding CSV columns) is SIGKILLed; what it had logged must parse and be there."""

from __future__ import annotations

import signal
import subprocess
import sys

import pandas as pd
import pytest
from test_tracking_readers import tb_series

from exptool.metrics_file import last_row, read_metrics
from exptool.workspace import Workspace

CHILD = """
import sys
from exptool.tracking import Logger
logger = Logger(run=sys.argv[1])
logger.initialize("csv", "tensorboard")
step = 0
while True:
    metrics = {"loss": step * 0.5, "acc": -step}
    if step % 20 == 19:
        metrics[f"extra_{step}"] = 1.0  # a new column: the CSV is rewritten while we may be killed
    logger.log(metrics, step)
    print(step, flush=True)  # printed only once log() returned: the row must be on disk by now
    step += 1
"""


@pytest.mark.parametrize("kill_after", [650, 1499])
def test_sigkill_while_logging_loses_nothing_already_logged(ws, tmp_path, kill_after):
    run = Workspace.find().run("crash", f"k{kill_after}")
    run.create()
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(run.path)], stdout=subprocess.PIPE, text=True)
    last = -1
    for line in proc.stdout:
        last = int(line)
        if last >= kill_after:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and last >= kill_after

    frame = pd.read_csv(run.metrics_path)  # parses: never a half-written file
    assert frame["step"].is_unique
    assert frame["step"].tolist()[: last + 1] == list(range(last + 1))
    assert (frame["loss"] == frame["step"] * 0.5).all() and (frame["acc"] == -frame["step"]).all()
    extras = [c for c in frame.columns if c.startswith("extra_")]
    assert len(extras) >= last // 20
    for name in extras:  # each late column holds its value at its own step only
        step = int(name.split("_")[1])
        assert frame.loc[frame["step"] == step, name].tolist() == [1.0]
        assert frame[name].notna().sum() == 1
    series = read_metrics(run.metrics_path)
    assert [s for s, _ in series["loss"]][: last + 1] == list(range(last + 1))
    assert last_row(run.metrics_path)[0] >= last

    tb = tb_series(run.logs_dir)
    assert [s for s, _ in tb["loss"]][: last + 1] == list(range(last + 1))
    assert all(v == s * 0.5 for s, v in tb["loss"])
