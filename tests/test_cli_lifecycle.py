"""Tags, notes, rm/restore/trash/mv, init-run --from: atomic, lock-aware, never outside the workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from exptool import state
from exptool.locking import RunLock
from exptool.runs import lifecycle
from exptool.workspace import Workspace


@pytest.fixture
def w(ws):
    w = Workspace(ws)
    for name in ("a", "b"):
        run = w.run("e", name)
        run.create()
        run.config_path.write_text(json.dumps({"lr": 0.1, "name": name}))
        (run.checkpoints_dir / "last.pt").write_bytes(b"weights")
    state.save_state(ws, experiment="e", run="a")
    return w


def _json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_tags(w, exp):
    assert _json(exp("tag", "baseline", "good", "--json")) == {"experiment": "e", "run": "a",
                                                              "tags": ["baseline", "good"]}
    assert _json(exp("tag", "b", "x", "--json"))["tags"] == ["x"]  # first word an existing run: the run
    assert _json(exp("tag", "e/b", "y", "x", "--json"))["tags"] == ["x", "y"]  # no duplicates
    assert _json(exp("tag", "--remove", "good", "--json"))["tags"] == ["baseline"]
    assert _json(exp("tag", "-r", "b", "--json"))["tags"] == ["x", "y"]  # no TAG: show them
    assert exp("tag").stdout.strip() == "e/a: baseline"
    assert json.loads(w.run("e", "a").record_path.read_text())["tags"] == ["baseline"]
    bad = exp("tag", "two words")
    assert bad.returncode == 2 and "Invalid tag 'two words'" in bad.stderr
    assert exp("tag", "--remove").returncode == 2
    missing = exp("tag", "e/nope", "x")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    shown = _json(exp("show", "--json"))["run"]
    assert shown["tags"] == ["baseline"]
    assert "tags        baseline" in exp("show").stdout


def test_notes(w, exp):
    assert _json(exp("note", "first try, lr too high", "--json"))["note"] == "first try, lr too high"
    assert _json(exp("note", "b", "other run", "--json")) == {"experiment": "e", "run": "b", "note": "other run"}
    assert exp("note").stdout.strip() == "e/a: first try, lr too high"
    assert _json(exp("note", "--clear", "--json"))["note"] is None
    assert "note" not in json.loads(w.run("e", "a").record_path.read_text())
    assert _json(exp("show", "-r", "b", "--json"))["run"]["note"] == "other run"


def test_a_tag_refuses_an_unreadable_record(w, exp):
    w.run("e", "a").record_path.write_text("{corrupt")
    result = exp("tag", "x")
    assert result.returncode == 2 and "cannot be read; not changing it" in result.stderr
    assert w.run("e", "a").record_path.read_text() == "{corrupt"  # never overwritten


def test_tags_written_by_processes_at_once_are_all_kept(w, tmp_path):
    """Four processes add 25 tags each while a fifth rewrites the status (as a trainer does)."""
    run = w.run("e", "a")
    code = (
        "import sys\n"
        "from exptool.workspace import Run\n"
        "from exptool.runs.lifecycle import set_tags\n"
        "run = Run.from_path(sys.argv[1])\n"
        "if sys.argv[2] == 'status':\n"
        "    for i in range(50): run.update_record(status='running', step=i)\n"
        "else:\n"
        "    for i in range(25): set_tags(run, add=[f'{sys.argv[2]}{i}'])\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(run.path), who]) for who in ("p", "q", "r", "s",
                                                                                            "status")]
    assert [p.wait(timeout=120) for p in procs] == [0] * 5
    record = json.loads(run.record_path.read_text())
    assert len(record["tags"]) == 100 and record["step"] == 49


def test_rm_moves_to_the_trash_and_restore_puts_it_back(w, exp, ws):
    refused = exp("rm", "a")  # no terminal, no --yes
    assert refused.returncode == 2 and "without confirmation" in refused.stderr and w.run("e", "a").exists()
    result = exp("rm", "a", "--yes")
    assert result.returncode == 0, result.stderr
    assert "Undo with: exp restore e/a" in result.stdout and "It was the current run" in result.stdout
    assert not w.run("e", "a").exists()
    assert state.load_state(ws) == {"experiment": "e"}
    trash = _json(exp("trash", "--json"))["trash"]
    assert [(t["experiment"], t["run"]) for t in trash] == [("e", "a")]
    assert (ws / "experiments" / ".trash" / trash[0]["id"] / "e" / "a" / "checkpoints" / "last.pt").exists()
    assert [e["name"] for e in _json(exp("ls", "--json"))["experiments"]] == ["e"]  # the trash is not listed
    assert _json(exp("restore", "e/a", "--json"))["restored"][0]["run"] == "a"
    assert (w.run("e", "a").checkpoints_dir / "last.pt").read_bytes() == b"weights"
    assert _json(exp("trash", "--json"))["trash"] == []


def test_restore_refuses_a_taken_name_and_can_restore_under_another(w, exp):
    exp("rm", "a", "--yes")
    w.run("e", "a").create()
    clash = exp("restore", "e/a")
    assert clash.returncode == 2 and "exists again" in clash.stderr
    data = _json(exp("restore", "e/a", "--as", "a-old", "--json"))
    assert data["restored"][0]["run"] == "a-old"
    assert json.loads(w.run("e", "a-old").record_path.read_text())["run"] == "a-old"
    assert exp("restore", "e/nope").returncode == 2


def test_purge_and_trash_empty(w, exp, ws):
    assert _json(exp("rm", "b", "--purge", "--yes", "--json"))["purged"] is True
    assert not w.run("e", "b").exists() and _json(exp("trash", "--json"))["trash"] == []
    exp("rm", "a", "--yes")
    assert exp("trash", "empty").returncode == 2  # asks; refuses off a terminal
    assert len(_json(exp("trash", "empty", "--yes", "--json"))["purged"]) == 1
    assert list((ws / "experiments" / ".trash").iterdir()) == []


def test_rm_asks_on_a_terminal(w, ws):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-m", "exptool", "rm", "e/b"], cwd=str(ws), encoding="utf-8",
                          timeout=60, env={**os.environ, "NO_COLOR": "1"})
    child.expect(r"Move e/b to the trash\? \[y/N\]: ")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1 and w.run("e", "b").exists()
    child = pexpect.spawn(sys.executable, ["-m", "exptool", "rm", "--purge", "e/b"], cwd=str(ws),
                          encoding="utf-8", timeout=60)
    child.expect(r"Delete e/b for good .*\[y/N\]: ")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and not w.run("e", "b").exists()


def test_a_run_being_trained_is_refused(w, exp):
    with RunLock(w.run("e", "a").path):
        for args in (["rm", "a", "--yes"], ["rm", "a", "--purge", "--yes"], ["mv", "a", "c"]):
            result = exp(*args)
            assert result.returncode == 1 and "being trained" in result.stderr, args
    assert w.run("e", "a").exists() and not w.run("e", "c").exists()
    with RunLock(w.run("e", "a").path):  # tags and notes still work while training
        assert exp("tag", "during-training").returncode == 0


def test_mv_renames_and_moves_with_record_and_current_run(w, exp, ws):
    data = _json(exp("mv", "a", "c", "--json"))
    assert data == {"from": "e/a", "to": "e/c", "path": str(w.run("e", "c").path), "current": True}
    record = json.loads(w.run("e", "c").record_path.read_text())
    assert (record["experiment"], record["run"]) == ("e", "c")
    assert state.load_state(ws) == {"experiment": "e", "run": "c"}
    assert _json(exp("mv", "e/c", "other/c2", "--json"))["to"] == "other/c2"
    assert (w.run("other", "c2").checkpoints_dir / "last.pt").exists() and not w.run("e", "c").exists()
    taken = exp("mv", "e/b", "other/c2")
    assert taken.returncode == 2 and "already exists" in taken.stderr
    assert exp("mv", "e/b", "../x").returncode == 2
    assert exp("mv", "e/b", ".trash/x").returncode == 2  # exptool's own folders are not experiments


def test_a_failed_move_leaves_the_run_in_place(w, monkeypatch):
    def broken(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(lifecycle.os, "rename", broken)
    with pytest.raises(OSError):
        lifecycle.remove(w.run("e", "a"))
    assert w.run("e", "a").exists() and lifecycle.trash_entries(w) == []
    with pytest.raises(OSError):
        lifecycle.move(w.run("e", "a"), w.run("e", "z"))
    assert w.run("e", "a").exists() and not w.run("e", "z").path.exists()


def test_nothing_outside_the_workspace_is_touched(w, exp, ws, tmp_path):
    outside = tmp_path / "outside"
    (outside / "precious").mkdir(parents=True)
    (outside / "precious" / "data.txt").write_text("keep me")
    # A run folder that is a link to somewhere else.
    os.symlink(outside / "precious", ws / "experiments" / "e" / "linked")
    for args in (["rm", "e/linked", "--yes"], ["rm", "e/linked", "--purge", "--yes"], ["mv", "e/linked", "moved"],
                 ["tag", "e/linked", "x"]):
        result = exp(*args)
        assert result.returncode == 2 and "symbolic link" in result.stderr, (args, result.stderr)
    # An experiment folder that leads outside the workspace.
    os.symlink(outside, ws / "experiments" / "far")
    assert exp("rm", "far/precious", "--yes").returncode == 2
    assert exp("mv", "e/a", "far/a").returncode == 2 and w.run("e", "a").exists()
    # A tampered run.json naming another place changes nothing about where things go.
    w.run("e", "b").record_path.write_text(json.dumps({"experiment": "../../..", "run": str(outside)}))
    assert exp("rm", "e/b", "--yes").returncode == 0
    assert exp("trash", "empty", "--yes").returncode == 0
    assert (outside / "precious" / "data.txt").read_text() == "keep me"
    assert sorted(p.name for p in outside.iterdir()) == ["precious"]


def test_init_run_from_another_run(w, exp):
    result = exp("init-run", "-e", "e", "-r", "c", "--from", "b")
    assert result.returncode == 0, result.stderr
    c = w.run("e", "c")
    assert json.loads(c.config_path.read_text()) == {"lr": 0.1, "name": "b"}
    assert json.loads(c.record_path.read_text())["from"] == "e/b"
    assert list(c.checkpoints_dir.iterdir()) == []  # no checkpoints or logs come along
    assert exp("init-run", "-e", "e", "-r", "d", "--from", "b", "--config", "x").returncode == 2
    assert exp("init-run", "-e", "e", "-r", "d", "--from", "nope").returncode == 2
