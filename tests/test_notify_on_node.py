"""Notifications sent from a job's node (what each SLURM job calls once its run has ended).

The end to end path, with real SLURM jobs, is in test_slurm.py; here the decision itself: a sweep's
word only once no point is queued or running, at most once however many jobs end together, nothing
where nothing was armed, a submitted run's word only once it has ended, and a damaged notify.json is
a warning, not a failed job.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from exptool.notify_on_node import NOTIFY_NAME, after_job, arm, disarm
from exptool.sweeps.record import open_sweep
from exptool.sweeps.spec import spec_from_options
from exptool.workspace import Workspace


@pytest.fixture
def submitted(ws: Path):
    """A 3-point sweep ``s`` recorded as submitted, its points' runs queued, and a notifier writing a file."""
    exp = Workspace(ws).experiment("e")
    exp.create()
    record = open_sweep(exp, "s", spec_from_options(["lr=1,2,3"], metric="loss"))
    record.save(state="submitted")
    runs = []
    for point in record.points:
        run = record.point_run(point)
        run.create()
        run.update_record(status="queued", sweep="s", sweep_index=point["index"], sweep_params=point["params"])
        runs.append(run)
    out = ws / "said.txt"
    arm(record.folder, f'echo "$EXPTOOL_EVENT $EXPTOOL_STATUS $EXPTOOL_EXIT_CODE $EXPTOOL_COUNTS" >> {out}', 10)
    return record, runs, out


def _end(run, status: str, loss: float | None = None) -> None:
    if loss is not None:
        (run.path / "logs").mkdir(exist_ok=True)
        (run.path / "logs" / "metrics.csv").write_text(f"step,wall_time,loss\n1,1.0,{loss}\n")
    run.update_record(status=status, exit_code={"completed": 0, "failed": 1}[status])


def test_only_the_last_point_to_end_sends_it(submitted):
    record, runs, out = submitted
    _end(runs[0], "completed", 0.5)
    assert after_job(runs[0]) is False and not out.exists()  # two points still queued
    _end(runs[1], "failed")
    assert after_job(runs[1]) is False and not out.exists()
    _end(runs[2], "completed", 0.2)
    assert after_job(runs[2]) is True
    event, status, code, counts = out.read_text().split(" ", 3)
    assert (event, status, code) == ("sweep", "failed", "1")  # a point failed: exit 1
    assert {k: n for k, n in json.loads(counts).items() if n} == {"completed": 2, "failed": 1}
    armed = json.loads((record.folder / NOTIFY_NAME).read_text())
    assert armed["done"] is True and armed["sent"]
    assert after_job(runs[2]) is False and len(out.read_text().splitlines()) == 1  # at most once


def test_jobs_ending_together_send_one_word(submitted):
    record, runs, out = submitted
    for run in runs:
        _end(run, "completed", 0.1)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda r=r: results.append(after_job(r))) for r in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, True]
    assert out.read_text().split()[:3] == ["sweep", "completed", "0"]


def test_no_word_without_an_armed_notification_or_for_other_runs(submitted, ws):
    record, runs, out = submitted
    disarm(record.folder)
    for run in runs:
        _end(run, "completed", 0.1)
    assert after_job(runs[2]) is False and not out.exists()
    other = Workspace(ws).experiment("e").run("plain")
    other.create()
    assert after_job(other) is False


def test_a_damaged_notification_is_a_warning(submitted, caplog):
    record, runs, out = submitted
    (record.folder / NOTIFY_NAME).write_text("{not json")
    for run in runs:
        _end(run, "completed", 0.1)
    assert after_job(runs[2]) is False and not out.exists()
    assert "could not be prepared" in caplog.text
    assert (record.folder / NOTIFY_NAME).read_text() == "{not json"  # left as it was


def test_a_submitted_run_notifies_once_it_has_ended(ws):
    run = Workspace(ws).experiment("e").run("r")
    run.create()
    out = ws / "run-said.txt"
    arm(run.path, f'echo "$EXPTOOL_EVENT $EXPTOOL_RUN $EXPTOOL_STATUS $EXPTOOL_EXIT_CODE $EXPTOOL_ERROR" >> {out}', 10)
    run.update_record(status="queued")  # requeued: not the end
    assert after_job(run) is False and not out.exists()
    run.update_record(status="failed", exit_code=1, error="ValueError: boom", duration_s=3.5)
    assert after_job(run) is True and after_job(run) is False
    assert out.read_text().splitlines() == ["run e/r failed 1 ValueError: boom"]
