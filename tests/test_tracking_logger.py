"""The Logger itself: value conversion, steps, ranks, the current logger, text logs, lifecycle."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from test_tracking_readers import csv_series, tb_series, wandb_series

from exptool.errors import NoCurrentRunError, UsageError
from exptool.tracking import Logger, Writer, get_logger, register_writer, set_logger


class Recorder(Writer):
    name = "recorder"

    def __init__(self, run=None, resume_step=None, fail_on=None):
        self.calls, self.fail_on, self.resume_step = [], fail_on, resume_step

    def log_metrics(self, step, metrics, wall_time):
        if self.fail_on is not None and step == self.fail_on:
            raise RuntimeError("a bug in the writer")  # not an I/O error: the writer is dropped
        self.calls.append((step, dict(metrics)))


class EveryRank(Recorder):
    name = "every-rank"
    all_ranks = True


register_writer("recorder", Recorder)
register_writer("every-rank", EveryRank)


def test_values_of_every_kind_become_floats(run):
    import torch

    with Logger(run=run) as logger:
        rec = logger.add_writer("recorder")
        logger.log(
            {
                "py_int": 3,
                "py_bool": True,
                "np_f32": np.float32(0.5),
                "np_i64": np.int64(7),
                "np_0d": np.array(2.5),
                "t_float": torch.tensor(1.25),
                "t_int": torch.tensor(4),
                "t_grad": torch.tensor([0.75], requires_grad=True) * 1,
                "t_half": torch.tensor(0.5, dtype=torch.float16),
            },
            0,
        )
    step, values = rec.calls[0]
    assert list(values) == ["py_int", "py_bool", "np_f32", "np_i64", "np_0d", "t_float", "t_int", "t_grad", "t_half"]
    assert values == {
        "py_int": 3.0, "py_bool": 1.0, "np_f32": 0.5, "np_i64": 7.0, "np_0d": 2.5,
        "t_float": 1.25, "t_int": 4.0, "t_grad": 0.75, "t_half": 0.5,
    }
    assert all(type(v) is float for v in values.values())


@pytest.mark.parametrize(
    "metrics, message",
    [
        ({"x": "high"}, "only numbers"),
        ({"x": None}, "only numbers"),
        ({"x": [1, 2]}, "not a number"),
        ({"x": np.zeros(3)}, "not a number"),
        ({"step": 1.0}, "reserved"),
        ({"": 1.0}, "Invalid metric name"),
        ({"a\nb": 1.0}, "Invalid metric name"),
        ({"bad\udc80name": 1.0}, "Invalid metric name"),  # a lone surrogate: every writer would fail on it
    ],
)
def test_bad_values_are_clear_usage_errors(run, metrics, message):
    with Logger(run=run) as logger:
        logger.add_writer("recorder")
        with pytest.raises(UsageError, match=message):
            logger.log(metrics, 0)


def test_tensor_with_many_elements_is_refused(run):
    import torch

    with Logger(run=run) as logger:
        logger.add_writer("recorder")
        with pytest.raises(UsageError, match="shape"):
            logger.log({"x": torch.zeros(3)}, 0)


def test_steps_default_to_the_next_one_and_must_be_non_negative_ints(run):
    import torch

    with Logger(run=run) as logger:
        rec = logger.add_writer("recorder")
        logger.log({"a": 1.0})
        logger.log({"a": 1.0})
        logger.log({"a": 1.0}, np.int64(10))
        logger.log({"a": 1.0}, torch.tensor(11))
        logger.log({"a": 1.0})
        for bad in (-1, 1.5, "3"):
            with pytest.raises(UsageError):
                logger.log({"a": 1.0}, bad)
    assert [s for s, _ in rec.calls] == [0, 1, 10, 11, 12]


def test_rank_other_than_zero_writes_nothing(run, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    with Logger(run=run) as logger:
        assert logger.rank == 1 and not logger.is_main
        assert logger.initialize_csv() is None and logger.initialize_tensorboard() is None
        every = logger.add_writer("every-rank")  # a writer that asks to run on every rank
        logger.log({"loss": 1.0}, 0)
        assert logger.log_image("img", np.zeros((4, 4))) is None
        logger.log_config({"a": 1})
        logger.log_info("hello from rank 1")
        logger.log_architecture(__import__("torch").nn.Linear(2, 2))
    assert every.calls == [(0, {"loss": 1.0})]
    for folder in ("logs", "visualizations", "plots", "checkpoints"):
        assert list((run.path / folder).iterdir()) == [], folder
    logger = Logger(run=run, rank=0)
    assert logger.initialize_csv() is not None
    logger.finish()


def test_a_failing_writer_is_dropped_with_a_warning_and_others_continue(run, capfd):
    with Logger(run=run) as logger:
        bad = logger.add_writer("recorder", fail_on=2)
        logger.initialize_csv()
        for step in range(5):
            logger.log({"x": float(step)}, step)
        assert "recorder" not in logger.writers
    assert "recorder writer stopped" in capfd.readouterr().err
    assert [s for s, _ in bad.calls] == [0, 1]
    assert [s for s, _ in csv_series(run.metrics_path)["x"]] == [0, 1, 2, 3, 4]
    assert "recorder writer stopped" in (run.logs_dir / "log.txt").read_text()


def test_unknown_writer_name_lists_the_known_ones(run):
    with Logger(run=run) as logger, pytest.raises(UsageError) as info:
        logger.initialize("nope")
    assert "csv" in info.value.hint and "tensorboard" in info.value.hint


def test_initialize_names_options_and_aliases(run):
    with Logger(run=run) as logger:
        logger.initialize(["csv", "tb"], recorder={"fail_on": 99})
        assert set(logger.writers) == {"csv", "tensorboard", "recorder"}
        assert logger.writers["recorder"].fail_on == 99
        assert logger.initialize_csv() is logger.writers["csv"]  # idempotent


def test_current_logger_and_placeholder(run, capsys):
    set_logger(None)
    placeholder = get_logger()
    placeholder.log({"x": 1.0}, 0)  # does nothing, raises nothing
    placeholder.log_info("printed anyway")
    assert "printed anyway" in capsys.readouterr().out
    logger = Logger(run=run)
    assert get_logger() is logger
    other = Logger(run=run, make_current=False)
    assert get_logger() is logger
    set_logger(other)
    assert get_logger() is other
    other.finish()
    logger.finish()
    assert get_logger() is placeholder


def test_finding_the_run_by_name_current_or_path(run, monkeypatch):
    assert Logger("exp1", "run1").run == run
    assert Logger.for_run(run.path).run == run
    monkeypatch.setenv("EXP_EXPERIMENT", "exp1")
    monkeypatch.setenv("EXP_RUN", "run1")
    assert Logger().run == run
    created = Logger("exp1", "missing")  # the template's Logger made a missing run; so does this one
    assert created.run.exists() and created.run.missing_subdirs() == []
    created.finish()
    monkeypatch.delenv("EXP_RUN")
    with pytest.raises(NoCurrentRunError):
        Logger()


def test_finish_is_idempotent_and_later_calls_are_ignored(run, capfd):
    logger = Logger(run=run)
    logger.initialize_csv()
    logger.log({"x": 1.0}, 0)
    logger.finish()
    logger.finish()
    logger.log({"x": 2.0}, 1)
    logger.log({"x": 3.0}, 2)
    assert capfd.readouterr().err.count("logger is finished") == 1
    assert csv_series(run.metrics_path) == {"x": [(0, 1.0)]}


def test_text_log_levels_config_architecture(run, capsys):
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    model[1].weight.requires_grad_(False)
    with Logger(run=run) as logger:
        logger.log_info("plain")
        logger.log_info("careful\nsecond line", level="warning")
        logger.log_info("hidden", level="debug")
        with pytest.raises(UsageError):
            logger.log_info("x", level="loud")
        logger.log_config({"lr": 0.1})
        text = logger.log_architecture(model)
    out = capsys.readouterr()
    assert "plain" in out.out and "warning: careful" in out.err and "hidden" not in out.out + out.err
    lines = (run.logs_dir / "log.txt").read_text().splitlines()
    assert any(line.endswith("INFO     plain") for line in lines)
    assert any("WARNING  careful" in line for line in lines) and "    second line" in lines
    assert any("DEBUG    hidden" in line for line in lines)
    assert any('config: {"lr": 0.1}' in line for line in lines)
    assert lines[-1].endswith("logger finished")
    arch = (run.logs_dir / "architecture.txt").read_text()
    assert arch == text
    assert "Parameters: 26 total, 18 trainable, 8 frozen" in arch and "Sequential(" in arch


def test_git_hash(run, capsys):
    root = run.workspace.root
    with Logger(run=run) as logger:
        assert logger.log_git_hash() is None
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        (root / "f.txt").write_text("x")
        subprocess.run(["git", "add", "f.txt"], cwd=root, check=True)
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], cwd=root, check=True
        )
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
        assert logger.log_git_hash() == head
        (root / "f.txt").write_text("y")
        assert logger.log_git_hash() == head + "-dirty"
    assert f"git commit: {head}" in (run.logs_dir / "log.txt").read_text()


def test_resume_through_the_logger(run):
    with Logger(run=run) as logger:
        logger.initialize("csv", "tensorboard")
        for step in range(10):
            logger.log({"x": float(step)}, step)
    with Logger(run=run, resume_step=4) as logger:
        logger.initialize("csv", "tensorboard")
        logger.log({"x": 50.0})  # continues at step 5
        logger.log({"x": 60.0})
        logger.resume(5)
        logger.log({"x": 61.0})
    want = [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 50.0), (6, 61.0)]
    assert csv_series(run.metrics_path) == {"x": want}
    assert tb_series(run.logs_dir) == {"x": want}


def test_context_manager_records_the_exception(run):
    with pytest.raises(RuntimeError), Logger(run=run) as logger:
        logger.initialize_csv()
        raise RuntimeError("boom")
    assert logger.finished
    assert "stopped by RuntimeError: boom" in (run.logs_dir / "log.txt").read_text()


SIGNAL_CHILD = """
import sys, time
from exptool.tracking import Logger
logger = Logger(run=sys.argv[1])
logger.initialize("csv", "tensorboard")
for step in range(50):
    logger.log({"loss": float(step)}, step)
print("ready", flush=True)
if sys.argv[2] == "exit":
    sys.exit(0)  # no finish(): the atexit hook must do it
time.sleep(60)
"""


@pytest.mark.parametrize("how", ["sigterm", "exit"])
def test_finish_runs_on_sigterm_and_at_exit(run, tmp_path, how):
    import signal

    script = tmp_path / "child.py"
    script.write_text(SIGNAL_CHILD, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(run.path), how], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    if how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    assert code == (-signal.SIGTERM if how == "sigterm" else 0), proc.stderr.read()
    reason = "SIGTERM" if how == "sigterm" else "interpreter exit"
    assert (run.logs_dir / "log.txt").read_text().splitlines()[-1].endswith(f"logger finished ({reason})")
    assert len(csv_series(run.metrics_path)["loss"]) == 50
    assert len(tb_series(run.logs_dir)["loss"]) == 50


FORK_CHILD = """
import os, signal, sys, time
from exptool.tracking import Logger
logger = Logger(run=sys.argv[1])
logger.initialize("csv", "wandb")
logger.log({"loss": 1.0}, 0)
pid = os.fork()
if pid == 0:  # like a DataLoader worker: inherits the handler, must not finish the parent's logger
    time.sleep(30)
    os._exit(0)
time.sleep(0.5)
os.kill(pid, signal.SIGTERM)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), flush=True)
logger.log({"loss": 2.0}, 1)
logger.finish()
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_forked_child_does_not_finish_the_parents_logger(run, tmp_path):
    import signal

    script = tmp_path / "child.py"
    script.write_text(FORK_CHILD, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script), str(run.path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"child {-signal.SIGTERM}"
    assert csv_series(run.metrics_path) == {"loss": [(0, 1.0), (1, 2.0)]}
    assert (run.logs_dir / "log.txt").read_text().count("logger finished") == 1


def test_tensors_are_copied_in_one_batch_not_one_sync_per_metric(run, monkeypatch):
    import torch

    def no_sync(self, *args):
        raise AssertionError("per-metric host sync")

    with Logger(run=run) as logger:
        rec = logger.add_writer("recorder")
        monkeypatch.setattr(torch.Tensor, "item", no_sync)
        monkeypatch.setattr(torch.Tensor, "__float__", no_sync)
        logger.log({f"m{i}": torch.tensor(float(i)) for i in range(8)}, 0)
        monkeypatch.undo()
    assert rec.calls == [(0, {f"m{i}": float(i) for i in range(8)})]


def test_empty_log_call_writes_nothing(run):
    with Logger(run=run) as logger:
        rec = logger.add_writer("recorder")
        logger.log({}, 3)
    assert rec.calls == []


def test_importing_tracking_loads_no_heavy_module():
    code = (
        "import sys, exptool.tracking, exptool\n"
        "exptool.Logger, exptool.get_logger, exptool.Writer\n"
        "heavy = [m for m in ('torch', 'numpy', 'tensorboard', 'wandb', 'matplotlib', 'PIL') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_templates_workflow_works_as_its_readme_writes_it(run, capfd):
    """The template's README: Logger(exp_name, run_name), initialize_*, log(dict, step), log_image(name, image)."""
    import exptool
    from exptool import Logger

    logger = Logger("exp1", "run1")
    logger.initialize_csv()
    logger.initialize_tensorboard()
    logger.initialize_wandb("example")
    logger.log({"loss": 0.5, "acc": 0.25}, 0)
    logger.log_image("prediction", np.zeros((3, 8, 8), np.float32))  # no step: the last one logged
    exptool.get_logger().log({"loss": 0.125, "acc": 0.75}, 1)  # the template's global LOGGER, anywhere
    logger.finish()
    want = {"loss": [(0, 0.5), (1, 0.125)], "acc": [(0, 0.25), (1, 0.75)]}
    assert csv_series(run.metrics_path) == want
    assert tb_series(run.logs_dir) == want
    assert wandb_series(run.logs_dir) == want
    assert (run.visualizations_dir / "prediction_step000000.png").is_file()
    assert "wandb sync" in capfd.readouterr().err


def test_two_loggers_on_one_run_share_its_csv_instead_of_losing_rows(run):
    """A template-style Logger(exp, run) beside another one (ctx.logger under exp train) used to lose
    the first one's rows: the second writer's new-column rewrite replaced the file under the first's handle."""
    first = Logger("exp1", "run1")
    first.initialize_csv()
    first.log({"x": 0.0}, 0)
    second = Logger("exp1", "run1")
    assert second.initialize_csv() is first.writers["csv"]
    second.log({"y": 1.0}, 1)  # a new column: the file is rewritten
    first.log({"x": 2.0}, 2)
    first.finish()
    second.log({"y": 3.0}, 3)  # still open for the second logger
    second.finish()
    assert csv_series(run.metrics_path) == {"x": [(0, 0.0), (2, 2.0)], "y": [(1, 1.0), (3, 3.0)]}
    third = Logger("exp1", "run1", resume_step=2)  # all closed: a fresh writer, which applies the resume
    assert third.initialize_csv() is not first.writers["csv"]
    third.finish()
    assert csv_series(run.metrics_path) == {"x": [(0, 0.0), (2, 2.0)], "y": [(1, 1.0)]}


@pytest.mark.parametrize(
    "values, bins, message",
    [(["a", "b"], 10, "needs numbers"), ([1.0, 2.0], 0, "bins"), ([1.0], 2.5, "bins"), ([float("nan")], 10, "finite")],
)
def test_bad_histograms_are_clear_usage_errors(run, values, bins, message):
    with Logger(run=run) as logger:
        logger.initialize_tensorboard()
        with pytest.raises(UsageError, match=message):
            logger.log_histogram("h", values, 0, bins=bins)
        assert "tensorboard" in logger.writers
