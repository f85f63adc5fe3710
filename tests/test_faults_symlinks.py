"""Issue item 4: symbolic links never let exptool write or delete outside the workspace.

Policy: a run subfolder that is a link is linked storage (written where it points); nothing is
ever deleted through it. exptool's own files (.lock, metrics.csv, log.txt) are never written
through a link. A trainer file from a run's config.json must be inside the workspace.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_exp
from faults_helpers import add_trainer

from exptool.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def setup(ws, tmp_path):
    add_trainer(ws)
    assert run_exp("init-run", "-e", "ln", "-r", "r").returncode == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    return Workspace(ws).run("ln", "r"), outside


def test_lock_link_is_refused_and_its_target_untouched(setup):
    run, outside = setup
    target = outside / "precious.txt"
    target.write_text("do not truncate me")
    (run.path / ".lock").symlink_to(target)
    done = run_exp("train", "--trainer", "loop", "--set", "steps=3")
    assert done.returncode == 1
    assert ".lock is a symbolic link" in done.stderr and "rm " in done.stderr
    cleared = run_exp("clear-logs", "--yes")
    assert cleared.returncode == 1 and ".lock is a symbolic link" in cleared.stderr
    assert target.read_text() == "do not truncate me"


@pytest.mark.parametrize("sub", ["logs", "checkpoints"])
def test_a_linked_subfolder_is_used_but_never_emptied(setup, sub):
    run, outside = setup
    shared = outside / "shared"
    shared.mkdir()
    (shared / "other_run_checkpoint.pth").write_bytes(b"belongs to someone else")
    (run.path / sub).rmdir()
    (run.path / sub).symlink_to(shared, target_is_directory=True)
    done = run_exp("train", "--trainer", "loop", "--set", "steps=10")
    assert done.returncode == 0, done.stderr  # linked storage: written where the link points
    written = "metrics.csv" if sub == "logs" else "checkpoint_step_10.pth"
    assert (shared / written).is_file()

    for args in (["train", "--clear", "--set", "steps=10"], ["clear-logs", "--yes"]):
        if args[0] == "clear-logs" and sub != "logs":
            continue
        refused = run_exp(*args)
        assert refused.returncode == 1, args
        assert f"{sub} is a link to {shared}" in refused.stderr
        assert "does not delete through links" in refused.stderr
    assert (shared / "other_run_checkpoint.pth").read_bytes() == b"belongs to someone else"
    assert (shared / written).is_file()


def test_links_inside_a_run_are_removed_not_followed(setup):
    run, outside = setup
    (outside / "data.bin").write_bytes(b"outside data")
    (run.logs_dir / "to_folder").symlink_to(outside, target_is_directory=True)
    (run.logs_dir / "to_file").symlink_to(outside / "data.bin")
    done = run_exp("clear-logs", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)["deleted"]) == ["to_file", "to_folder"]
    assert (outside / "data.bin").read_bytes() == b"outside data"
    assert list(run.logs_dir.iterdir()) == []


def test_metrics_csv_and_log_txt_links_are_not_written_through(setup):
    run, outside = setup
    victim_log = outside / "victim.log"
    victim_log.write_text("original log\n")
    (run.logs_dir / "log.txt").symlink_to(victim_log)
    done = run_exp("train", "--trainer", "loop", "--set", "steps=10")
    assert done.returncode == 0, done.stderr
    assert "log.txt is a symbolic link" in done.stderr
    assert victim_log.read_text() == "original log\n"

    victim_csv = outside / "victim.csv"
    victim_csv.write_text("step,wall_time,x\n1,1.0,2.0\n")
    run.metrics_path.unlink()
    run.metrics_path.symlink_to(victim_csv)
    again = run_exp("train", "--trainer", "loop", "--set", "steps=12")
    assert again.returncode == 1
    assert "could not start the trainer" in again.stderr and "metrics.csv is a symbolic link" in again.stderr
    assert victim_csv.read_text() == "step,wall_time,x\n1,1.0,2.0\n"


def test_trainer_file_outside_the_workspace_runs_only_from_the_command_line(setup, ws):
    run, outside = setup
    evil = outside / "evil.py"
    marker = outside / "ran.txt"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef train(ctx):\n    pass\n")
    run.config_path.write_text(json.dumps({"trainer": f"{evil}:train"}))
    done = run_exp("train")
    assert done.returncode == 2
    assert "outside the workspace" in done.stderr and f"--trainer {evil}:train" in done.stderr
    assert not marker.exists()  # not even imported

    linked = ws / "trainers" / "linked.py"  # a link inside the workspace to a file outside: refused too
    linked.symlink_to(evil)
    run.config_path.write_text(json.dumps({"trainer": "trainers/linked.py:train"}))
    assert run_exp("train").returncode == 2 and not marker.exists()

    ok = run_exp("train", "--trainer", f"{evil}:train")  # the user's own choice on the command line
    assert ok.returncode == 0, ok.stderr
    assert marker.read_text() == "ran"
