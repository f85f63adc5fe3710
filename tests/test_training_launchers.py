"""The launcher contract: the built-ins by name, third-party launchers through entry points, cancel."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from exptool.errors import UsageError
from exptool.training.launchers import default_launcher, get_launcher, launcher_names
from exptool.training.launchers.base import Job, Launcher, Outcome
from exptool.training.launchers.inprocess import InProcessLauncher
from exptool.training.launchers.torchrun import DistOptions, TorchrunLauncher
from exptool.workspace import Workspace

LAUNCHER_SRC = '''
import json, os
from exptool.training.launchers.base import Job, Launcher
from exptool.training.worker import execute_request


class RecordingLauncher(Launcher):
    """Runs each job here, through the JSON spec a remote launcher would ship, and notes what it saw."""

    name = "recording"

    def __init__(self, note):
        self.note = note

    def submit(self, runs):
        return [Job(p, id=f"rec-{i}") for i, p in enumerate(runs)]

    def wait(self, jobs, on_outcome=None):
        for job in jobs:
            with open(self.note, "a") as fh:
                fh.write(json.dumps(job.prepared.request()) + "\\n")
            job.outcome = execute_request(job.prepared.request())
            if on_outcome:
                on_outcome(job)
        return [j.outcome for j in jobs]

    def cancel(self, jobs):
        pass
'''

DRIVER = '''
import json, sys
from exptool.training import train
from exptool.training.launchers import get_launcher, launcher_names
from exptool.training.prepare import resolve_training
from exptool.workspace import Workspace

assert "recording" in launcher_names()
ws = Workspace(sys.argv[1])
run, spec, config = resolve_training(ws, "e", "r", trainer="steps_trainer:train", create=True)
outcome = train(run, spec, config, seed=5, launcher=get_launcher("recording", note=sys.argv[2]))
print(json.dumps(outcome.to_dict()))
'''


def test_builtins_by_name_and_unknown_names():
    assert {"inprocess", "torchrun"} <= set(launcher_names())
    assert isinstance(get_launcher("inprocess"), InProcessLauncher)
    torchrun = get_launcher("torchrun", nproc_per_node=2)
    assert isinstance(torchrun, TorchrunLauncher) and torchrun.world_size == 2
    with pytest.raises(UsageError, match="Unknown launcher 'nope'") as info:
        get_launcher("nope")
    assert "inprocess" in info.value.hint
    assert isinstance(default_launcher(DistOptions(1)), InProcessLauncher)
    assert isinstance(default_launcher(DistOptions(2)), TorchrunLauncher)
    with pytest.raises(UsageError, match="must be below --nnodes"):
        DistOptions(1, nnodes=2, node_rank=2, master_addr="h")


def test_outcome_round_trips_as_json():
    outcome = Outcome("failed", 1, "boom", start_step=3, world_size=2, in_trainer=False)
    assert Outcome.from_dict(json.loads(json.dumps(outcome.to_dict())) | {"extra": 1}) == outcome


def test_cancel_before_start_keeps_a_job_from_running(ws):
    class Prepared:  # only what the in-process launcher reads before it runs anything
        pass

    launcher = InProcessLauncher()
    jobs = launcher.submit([Prepared(), Prepared()])
    launcher.cancel(jobs[1:])
    assert jobs[1].done and jobs[1].outcome == Outcome.interrupted("cancelled")
    assert isinstance(jobs[0], Job) and not jobs[0].done


def test_a_launcher_must_subclass_the_contract():
    with pytest.raises(TypeError):
        Launcher()  # abstract: submit, wait and cancel are required


@pytest.mark.slow
def test_a_third_party_launcher_from_an_entry_point_runs_a_real_training(ws, tmp_path):
    site = tmp_path / "site"
    (site / "exptool_test_launcher-0.0.1.dist-info").mkdir(parents=True)
    (site / "exptool_test_launcher-0.0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: exptool-test-launcher\nVersion: 0.0.1\n"
    )
    (site / "exptool_test_launcher-0.0.1.dist-info" / "entry_points.txt").write_text(
        "[exptool.launchers]\nrecording = recording_launcher:RecordingLauncher\n"
    )
    (site / "recording_launcher.py").write_text(LAUNCHER_SRC)
    (ws / "steps_trainer.py").write_text(textwrap.dedent('''
        def train(ctx):
            for step in range(ctx.start_step + 1, 4):
                ctx.logger.log({"loss": 1.0 / step}, step)
    '''))
    note = tmp_path / "note.jsonl"
    res = subprocess.run([sys.executable, "-c", DRIVER, str(ws), str(note)], cwd=ws, capture_output=True, text=True,
                         timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(site)})
    assert res.returncode == 0, res.stderr
    outcome = json.loads(res.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "completed" and outcome["seed"] == 5
    shipped = json.loads(note.read_text())
    assert (shipped["experiment"], shipped["run"], shipped["seed"]) == ("e", "r", 5)
    run = Workspace(ws).run("e", "r")
    assert run.read_record()["status"] == "completed"
    assert run.last_metrics()[0] == 3
