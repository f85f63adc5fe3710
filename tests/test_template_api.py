"""The template's own API, as its users wrote it, runs unchanged on exptool (docs/migration.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from test_tracking_readers import csv_series, wandb_records, wandb_series
from torch import nn

import exptool
from exptool import AverageMeter, CheckpointManager, MetricTracker, ModelDebugger
from exptool.errors import ConfigError, UsageError
from exptool.profiler import Timer
from exptool.tracking import Logger, set_logger
from exptool.workspace import Workspace


@pytest.fixture(autouse=True)
def _no_current_logger():
    set_logger(None)
    yield
    set_logger(None)


def test_global_logger_is_the_current_logger_or_none(ws):
    assert exptool.LOGGER is None
    from exptool import LOGGER  # the template's import, before a Logger exists: None, as in the template

    assert LOGGER is None
    logger = Logger("mnist", "baseline")
    from exptool import LOGGER

    assert LOGGER is logger and exptool.LOGGER is logger
    logger.finish()
    assert exptool.LOGGER is None


def test_template_logger_workflow(ws, capfd):
    """The seed README's four steps plus the calls the template's example trainer makes."""
    logger = Logger("mnist", "baseline")  # a run that does not exist: created, as the template did
    logger.initialize_csv()
    logger.initialize_tensorboard()
    run = logger.run
    assert run.exists() and run.missing_subdirs() == []
    for step in range(1, 4):
        logger.log({"CrossEntropy": 1.0 / step}, step=step)
    logger.log_image("segmentation", torch.rand(3, 8, 8), step=3)
    logger.log_histograms("weights", torch.randn(100))
    logger.log_info(message="evaluation done", message_type="warning")
    assert logger.get_path("checkpoint") == run.checkpoints_dir
    assert logger.get_path("log") == logger.log_path == run.logs_dir
    assert logger.get_path("visualization") == logger.vis_path and logger.get_path() == run.path
    with pytest.raises(UsageError, match="unknown folder 'logs'"):
        logger.get_path("logs")
    model = nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters())
    saved = logger.save_checkpoint(epoch=1, model=model, optimizer=optimizer)
    logger.finish()
    assert csv_series(run.metrics_path)["CrossEntropy"] == [(1, 1.0), (2, 0.5), (3, 1.0 / 3)]
    assert (run.visualizations_dir / "segmentation_step000003.png").is_file()
    assert "WARNING  evaluation done" in (run.logs_dir / "log.txt").read_text()
    # The checkpoint knows its step (the last one logged), so resuming keeps every logged row.
    info = CheckpointManager(run.checkpoints_dir, rank=1).load("last", nn.Linear(2, 2))
    assert info.path == saved and info.epoch == 1 and info.step == 3
    assert "warning: evaluation done" in capfd.readouterr().err


def test_initialize_csv_takes_the_templates_file_name(ws):
    with Logger("e", "r") as logger:
        logger.initialize_csv("train_metrics.csv")
        logger.log({"a": 1.0}, 0)
    assert (logger.run.logs_dir / "train_metrics.csv").read_text().startswith("step,")
    assert not logger.run.metrics_path.exists()


def test_exp_path_names_the_experiments_folder_or_the_run(ws, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "experiments"
    with Logger("e", "r", str(elsewhere)) as logger:  # the template's positional exp_path
        assert logger.run.path == elsewhere / "e" / "r"
        logger.initialize_csv()
        logger.log({"a": 1.0}, 0)
    assert (elsewhere / "e" / "r" / "logs" / "metrics.csv").is_file()
    with Logger(exp_path=elsewhere / "e" / "r2") as logger:  # no names: exp_path is the run folder
        assert logger.run.id == "e/r2"


def test_initialize_wandb_with_project_name_starts_and_says_so(ws):
    with Logger("wb", "r1") as logger:
        logger.initialize_wandb(project_name="ExperimentTemplate")
        logger.log({"loss": 0.5}, 1)
    run_record = next(r.run for r in wandb_records(logger.run.logs_dir) if r.WhichOneof("record_type") == "run")
    assert run_record.project == "ExperimentTemplate" and run_record.display_name == "wb/r1"
    assert wandb_series(logger.run.logs_dir)["loss"] == [(1, 0.5)]
    assert "wandb writer started: W&B run wb/r1 (offline)" in (logger.run.logs_dir / "log.txt").read_text()


def test_a_failed_wandb_start_is_not_logged_as_started(ws, caplog):
    with Logger("wb", "bad") as logger:
        logger.initialize_wandb(project_name="p", not_a_wandb_argument=1)
        logger.initialize_csv()
        logger.log({"loss": 0.5}, 1)
    text = (logger.run.logs_dir / "log.txt").read_text()
    assert "wandb writer started" not in text
    assert "ERROR    wandb writer failed to start (TypeError" in text
    assert any("W&B start failed" in r.getMessage() for r in caplog.records)
    assert csv_series(logger.run.metrics_path)["loss"] == [(1, 0.5)]  # the other writers went on


def test_print_and_log_info_go_through_the_global_logger(ws, capfd):
    exptool.print_("before any logger")  # the template printed even without a logger
    with Logger("e", "r") as logger:
        exptool.print_("Epoch: 1/10")
        exptool.log_info("quiet line", "info")
        exptool.print_("to a file", file_name="notes.txt", path_type="log")
    out = capfd.readouterr().out
    assert "before any logger" in out and "Epoch: 1/10" in out and "quiet line" not in out
    text = (logger.run.logs_dir / "log.txt").read_text()
    assert "Epoch: 1/10" in text and "quiet line" in text
    assert (logger.run.logs_dir / "notes.txt").read_text() == "to a file\n"


def test_metric_tracker_and_average_meter():
    tracker = MetricTracker()
    for value, per_class in ((1.0, [0.0, 1.0]), (3.0, [1.0, 1.0])):
        tracker.update(name="accuracy", val=value)
        tracker.update(name="class_iou", val=per_class)
    assert tracker.get_average("accuracy") == 2.0
    assert tracker.get_average() == {"accuracy": 2.0, "class_iou": [0.5, 1.0]}
    assert tracker.get_sum("accuracy") == 4.0
    assert f"{tracker.get_average('accuracy'):.4f}" == "2.0000"  # the template formatted it like this
    tracker.update("t", torch.tensor(2.0))
    tracker.reset()
    assert tracker.get_average() == {}
    with pytest.raises(UsageError, match="no metric 'iou'"):
        tracker.get_average("iou")
    meter = AverageMeter()
    meter.update(2.0, n=3)
    meter.update(6.0)
    assert meter.avg == [3.0] and meter.count == 4 and repr(meter) == "6.000 (3.000)"
    with pytest.raises(UsageError, match="1 value"):
        meter.update([1.0, 2.0])


def test_template_config_functions(ws):
    (ws / "configurations").mkdir()
    (ws / "configurations" / "default.json").write_text(json.dumps({"num_epochs": 3, "learning_rate": 3e-4}))
    config = exptool.load_config("default")  # the template's load_config('name'): configurations/name.json
    assert config == {"num_epochs": 3, "learning_rate": 3e-4}
    Workspace.find().run("e", "r").create()
    exptool.save_config(config, "e", "r")  # the template's save_config(config, exp, run)
    assert json.loads((ws / "experiments" / "e" / "r" / "config.json").read_text()) == config
    assert "default" in Workspace.find().config_names()
    assert exptool.load_config_to_run("default", "e", "r") == config  # init-run -c finds it too
    with pytest.raises(exptool.ExptoolError, match="'missing' not found"):
        exptool.load_config("missing")


def test_model_debugger_list_based_calls():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    debugger = ModelDebugger()  # InspectorGadgets() took no model
    debugger.log_outputs([model[0], model[2]], ["encoder", "head"])
    debugger.log_weights([model[0]], ["encoder"])
    debugger.log_gradients([model[2]], ["head"])
    hits = []
    debugger.debugger = lambda info: hits.append((info.phase, info.name))
    debugger.set_breakpoint([model[2]], ["head"])
    debugger.inspect()
    model(torch.randn(4, 2)).sum().backward()
    debugger.stop()
    assert debugger.get_output("encoder")[0].shape == (4, 3)
    weights, biases = debugger.get_weights("encoder")  # the template returned (weights, biases)
    assert torch.equal(weights[0], model[0].weight.detach()) and torch.equal(biases[0], model[0].bias.detach())
    assert debugger.get_gradients("head")[0].shape == (4, 1)
    assert hits == [("forward", "head")]
    with pytest.raises(UsageError, match="2 layers but 1 names"):
        debugger.log_outputs([model[0], model[2]], ["encoder"])
    owned = ModelDebugger(model)
    with pytest.raises(UsageError, match="not part of this debugger's model"):
        owned.log_outputs([nn.Linear(1, 1)], ["stranger"])


def test_template_debugger_says_when_it_drops_records(caplog):
    model = nn.Linear(2, 2)
    debugger = ModelDebugger(model, keep=2)
    debugger.log_outputs([model], ["fc"])
    with debugger, caplog.at_level("WARNING", logger="exptool"):
        for _ in range(4):
            model(torch.randn(1, 2))
    assert len(debugger.get_output("fc")) == 2
    assert [r.message for r in caplog.records if "keeps the last 2 records" in r.message]


def test_timer_enabled_the_templates_way_prints_its_timings():
    code = textwrap.dedent("""
        import time
        from exptool.profiler import Timer
        Timer.enabled = True
        with Timer("epoch"):
            with Timer("forward"):
                time.sleep(0.01)
        from exptool import profiler
        profiler.enable()          # exptool's way: gather quietly for print_report
        with Timer("quiet"):
            pass
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "Timings:" and lines[1].startswith("epoch ") and lines[2].startswith("  forward ")
    assert float(lines[2].split()[-1].rstrip("s")) >= 0.01
    assert "quiet" not in out
    assert Timer.enabled in (True, False)


def test_cross_entropy2d_names_the_changed_ignore_index():
    from exptool.nn import cross_entropy2d

    logits = torch.randn(2, 20, 4, 4)
    target = torch.randint(0, 20, (2, 4, 4))
    target[0, 0, 0] = 20  # the template's "void" class, ignored by its default ignore_index
    with pytest.raises(ValueError, match="Pass ignore_index=20"):
        cross_entropy2d(logits, target)
    assert torch.isfinite(cross_entropy2d(logits, target, ignore_index=20))


def test_config_error_is_exit_2():
    assert ConfigError("x").exit_code == 2
