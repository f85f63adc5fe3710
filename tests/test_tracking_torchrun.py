"""Under a real torchrun with two processes only rank 0 writes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_tracking_readers import csv_series, tb_series

from exptool.workspace import Workspace

CHILD = """
import os, sys
import torch.distributed as dist
from exptool.tracking import Logger

dist.init_process_group("gloo")
os.environ.pop("RANK")  # the rank must come from torch.distributed itself
logger = Logger(run=sys.argv[1])
logger.initialize("csv", "tensorboard")
for step in range(20):
    logger.log({"rank": float(dist.get_rank()), "step_x2": 2.0 * step}, step)
logger.log_info(f"hello from rank {dist.get_rank()}")
logger.finish()
dist.barrier()
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_only_rank_zero_writes_under_torchrun(ws, tmp_path):
    run = Workspace.find().run("dist", "two")
    run.create()
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*torchrun, str(script), str(run.path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert csv_series(run.metrics_path)["rank"] == [(s, 0.0) for s in range(20)]
    assert tb_series(run.logs_dir)["rank"] == [(s, 0.0) for s in range(20)]
    assert len(list(run.logs_dir.glob("events.out.tfevents.*"))) == 1
    text = (run.logs_dir / "log.txt").read_text()
    assert "hello from rank 0" in text and "hello from rank 1" not in text
    assert text.count("csv writer started") == 1
