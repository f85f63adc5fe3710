"""System metrics: the sampler's thread, logs/system.csv, TensorBoard's and W&B's readers, exp train."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from test_tracking_readers import tb_accumulator, wandb_series

from exptool.errors import UsageError
from exptool.system_file import SystemCsv, last_sample, read_header
from exptool.tracking import Logger
from exptool.tracking.system import SystemSampler
from exptool.workspace import Workspace

BASE = ("cpu_percent", "ram_used_gib", "ram_percent", "proc_rss_gib", "proc_cpu_percent")


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _sampler_threads():
    return [t for t in threading.enumerate() if t.name == "exptool-system-metrics"]


@pytest.fixture
def run(ws):
    r = Workspace.find().run("sys", "r1")
    r.create()
    return r


def test_logger_samples_to_csv_and_tensorboard_and_stops_its_thread(run):
    with Logger(run=run) as logger:
        logger.initialize("csv", "tensorboard")
        logger.log_system_metrics(0.05)
        for step in range(1, 6):
            logger.log({"loss": 1.0 / step}, step)
            time.sleep(0.06)
        assert _sampler_threads()
    assert _sampler_threads() == []  # finish() joined it
    rows = _rows(run.logs_dir / "system.csv")
    assert len(rows) >= 3
    assert list(rows[0])[:2] == ["wall_time", "step"] and set(BASE) <= set(rows[0])
    assert all(0 <= float(r["cpu_percent"]) <= 100 for r in rows)
    assert all(float(r["proc_rss_gib"]) > 0.001 for r in rows)  # this Python process is resident
    times = [float(r["wall_time"]) for r in rows]
    assert times == sorted(times) and abs(times[-1] - time.time()) < 60
    steps = [int(r["step"]) for r in rows if r["step"]]
    assert steps == sorted(steps) and steps[-1] == 5  # the final sample is taken at the last step
    # metrics.csv stays one row per training step
    with open(run.metrics_path, newline="") as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [1, 2, 3, 4, 5]
    acc = tb_accumulator(run.logs_dir)
    tags = acc.Tags()["scalars"]
    assert {f"system/{name}" for name in BASE} <= set(tags) and "loss" in tags
    points = acc.Scalars("system/ram_used_gib")
    assert len(points) == len(rows) and all(p.value > 0 for p in points)
    assert [p.step for p in acc.Scalars("loss")] == [1, 2, 3, 4, 5]  # system points purge nothing


def test_no_gpu_means_no_gpu_columns_and_no_warning(run, caplog):
    with Logger(run=run, system_metrics=0.05) as logger:
        time.sleep(0.12)
        assert logger._system.sampler.gpu_count == 0  # this machine has no NVIDIA driver
    header = read_header(run.logs_dir / "system.csv")
    assert not [c for c in header if c.startswith("gpu")]
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_the_sampler_keeps_torch_and_cuda_out(ws, tmp_path):
    """The sampler never imports torch, so it cannot synchronise with CUDA."""
    script = textwrap.dedent(
        """
        import sys, time
        from exptool.tracking.system import SystemSampler
        got = []
        s = SystemSampler(lambda t, v: got.append(v), interval=0.05).start()
        time.sleep(0.3)
        s.stop()
        assert got and "cpu_percent" in got[0], got
        print(sorted(m for m in ("torch", "tensorflow", "jax") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_script_that_never_finishes_its_logger_exits_at_once_with_a_last_row(ws, tmp_path):
    script = textwrap.dedent(
        """
        from exptool import Logger
        logger = Logger("sys", "r2", system_metrics=30)   # a long interval: only the final sample
        logger.initialize("csv")
        logger.log({"loss": 1.0}, 7)
        """
    )
    Workspace.find().run("sys", "r2").create()
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script], cwd=ws, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started < 25  # did not wait for the 30 s interval
    rows = _rows(ws / "experiments" / "sys" / "r2" / "logs" / "system.csv")
    assert len(rows) == 1 and rows[0]["step"] == "7"


def test_bad_interval_is_a_usage_error(run):
    with Logger(run=run) as logger:
        for bad in (0, -1, "10", True, float("nan")):
            with pytest.raises(UsageError, match="interval"):
                logger.log_system_metrics(bad)


def test_other_ranks_do_not_sample(run):
    with Logger(run=run, rank=1, system_metrics=0.05) as logger:
        assert logger._system is None
    assert not (run.logs_dir / "system.csv").exists()


def test_a_sampler_emit_that_raises_warns_once_and_keeps_going(caplog):
    calls = []

    def emit(t, values):
        calls.append(t)
        raise RuntimeError("sink broke")

    sampler = SystemSampler(emit, interval=0.05).start()
    time.sleep(0.3)
    sampler.stop()
    assert len(calls) >= 3 and not sampler.running
    warnings = [r for r in caplog.records if "sink broke" in r.getMessage()]
    assert len(warnings) == 1


def test_system_csv_continues_and_adds_columns_without_losing_rows(tmp_path):
    path = tmp_path / "system.csv"
    f = SystemCsv(path)
    f.write(1.0, None, {"system/cpu_percent": 10.0})
    f.close()
    with open(path, "ab") as fh:
        fh.write(b"2.000,3,2")  # a row cut short by a crash
    f = SystemCsv(path)
    f.write(3.0, 4, {"cpu_percent": 30.0, "gpu0/util_percent": 99.0})
    f.close()
    rows = _rows(path)
    assert [r["wall_time"] for r in rows] == ["1.000", "2.000", "3.000"]
    assert rows[0]["gpu0/util_percent"] == "" and rows[2]["gpu0/util_percent"] == "99"
    assert last_sample(path) == (3.0, {"cpu_percent": 30.0, "gpu0/util_percent": 99.0})
    foreign = tmp_path / "other.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a system metrics file"):
        SystemCsv(foreign)
    assert foreign.read_text() == "a,b\n1,2\n"


def test_wandb_offline_run_gets_system_metrics(run):
    with Logger(run=run, system_metrics=0.05) as logger:
        logger.initialize_wandb("proj")
        for step in range(1, 4):
            logger.log({"loss": float(step)}, step)
            time.sleep(0.08)
    series = wandb_series(run.logs_dir)
    assert series["loss"] == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert len(series["system/cpu_percent"]) >= 2
    assert all(1 <= step <= 3 for step, _ in series["system/ram_used_gib"])


def test_a_sample_queued_after_a_newer_step_joins_that_step_in_wandb(run):
    """The sampler reads the step, then the training thread logs the next one first: W&B keeps the sample."""
    with Logger(run=run) as logger:
        logger.initialize_wandb("proj")
        logger.log({"loss": 1.0}, 1)
        logger.log({"loss": 2.0}, 2)
        logger.writers["wandb"].log_system(1, {"system/cpu_percent": 42.0}, time.time())  # read at step 1
    series = wandb_series(run.logs_dir)
    assert series["loss"] == [(1, 1.0), (2, 2.0)]
    assert series["system/cpu_percent"] == [(2, 42.0)]  # W&B would drop a step behind its newest


@pytest.mark.slow
def test_exp_train_demo_records_system_metrics(ws, exp):
    res = exp("train", "-e", "demo", "-r", "sys", "--create", "--trainer", "demo", "--set", "epochs=2",
              "--set", "+logging.system_interval=0.2")
    assert res.returncode == 0, res.stderr
    logs = ws / "experiments" / "demo" / "sys" / "logs"
    rows = _rows(logs / "system.csv")
    assert len(rows) >= 2 and set(BASE) <= set(rows[0])
    acc = tb_accumulator(logs)
    assert len(acc.Scalars("system/cpu_percent")) == len(rows)
    assert "system metrics every 0.2 s" in (logs / "log.txt").read_text()


@pytest.mark.slow
def test_exp_train_with_system_off_writes_no_system_file(ws, exp):
    res = exp("train", "-e", "demo", "-r", "nosys", "--create", "--trainer", "demo", "--set", "epochs=1",
              "--set", "+logging.system=false")
    assert res.returncode == 0, res.stderr
    logs = ws / "experiments" / "demo" / "nosys" / "logs"
    assert not (logs / "system.csv").exists()
    assert not [t for t in tb_accumulator(logs).Tags()["scalars"] if t.startswith("system/")]
    assert json.loads((ws / "experiments" / "demo" / "nosys" / "run.json").read_text())["status"] == "completed"


@pytest.mark.parametrize(("override", "key"), [("+logging.system_interval=0", "logging.system_interval"),
                                                 ("+logging.system_interval=soon", "logging.system_interval"),
                                                 ("+logging.system=maybe", "logging.system")])
def test_bad_system_settings_stop_exp_train_before_anything_is_written(ws, exp, override, key):
    res = exp("train", "-e", "demo", "-r", "badsys", "--create", "--trainer", "demo", "--set", override)
    assert res.returncode == 2
    assert res.stderr.startswith("error:") and key in res.stderr
    run = ws / "experiments" / "demo" / "badsys"
    assert not (run / "logs" / "system.csv").exists()
    assert json.loads((run / "run.json").read_text())["status"] == "created"
