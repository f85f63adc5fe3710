"""The workspace model: discovery, layout, runs created safely, configs found by name or path."""

from __future__ import annotations

import json
import os
import stat

import pytest

from exptool.errors import AlreadyExistsError, ConfigError, InvalidNameError, NotAWorkspaceError, NotFoundError
from exptool.workspace import RUN_SUBDIRS, WORKSPACE_MARKER, Run, Workspace, find_workspace_root, iter_runs


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_init_creates_layout_and_is_idempotent(tmp_path):
    ws, created = Workspace.init(tmp_path / "proj")
    assert {p.name for p in created} == {"proj", "config", "data", "experiments", WORKSPACE_MARKER}
    before = _tree(ws.root)
    marker = (ws.root / WORKSPACE_MARKER).read_text()
    ws2, created2 = Workspace.init(tmp_path / "proj")
    assert created2 == []
    assert ws2 == ws
    assert _tree(ws.root) == before
    assert (ws.root / WORKSPACE_MARKER).read_text() == marker


def test_find_walks_up_from_a_subfolder(ws):
    deep = ws / "data" / "a" / "b"
    deep.mkdir(parents=True)
    assert find_workspace_root(deep) == ws


def test_marker_wins_over_a_nearer_experiments_folder(ws):
    # A nested folder that merely holds experiments/ (e.g. data) must not hijack the workspace.
    inner = ws / "data" / "copy"
    (inner / "experiments").mkdir(parents=True)
    assert find_workspace_root(inner) == ws


def test_experiments_folder_alone_is_a_workspace(tmp_path):
    (tmp_path / "old" / "experiments").mkdir(parents=True)
    assert find_workspace_root(tmp_path / "old") == tmp_path / "old"


def test_outside_a_workspace_raises(tmp_path):
    with pytest.raises(NotAWorkspaceError) as info:
        find_workspace_root(tmp_path)
    assert info.value.exit_code == 2
    assert "exp init" in info.value.hint


def test_root_and_env_override(ws, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert find_workspace_root(elsewhere, root=ws) == ws
    monkeypatch.setenv("EXPTOOL_ROOT", str(ws))
    assert find_workspace_root(elsewhere) == ws
    monkeypatch.setenv("EXPTOOL_ROOT", str(elsewhere))
    with pytest.raises(NotAWorkspaceError):
        find_workspace_root(ws)


def test_create_run_makes_folders_config_and_record(ws):
    (ws / "config" / "base.yaml").write_text("lr: 0.1\nmodel:\n  depth: 3\n")
    w = Workspace(ws)
    run = w.run("exp1", "r1")
    assert run.create(config_source=w.resolve_config("base")) is True
    for sub in RUN_SUBDIRS:
        assert (run.path / sub).is_dir()
    assert json.loads(run.config_path.read_text()) == {"lr": 0.1, "model": {"depth": 3}}
    record = run.read_record()
    assert record["experiment"] == "exp1" and record["run"] == "r1" and record["status"] == "created"
    assert record["created"].endswith("+00:00")
    assert run.status() == "created"
    assert run.missing_subdirs() == []


def test_existing_run_is_never_overwritten(ws):
    w = Workspace(ws)
    run = w.run("e", "r")
    run.create()
    run.config_path.write_text('{"mine": 1}\n')
    (run.checkpoints_dir / "last.pt").write_bytes(b"weights")
    (ws / "config" / "other.json").write_text('{"other": 2}')
    with pytest.raises(AlreadyExistsError) as info:
        run.create(config_source=w.resolve_config("other"))
    assert "--exist-ok" in info.value.hint
    assert run.create(config_source=w.resolve_config("other"), exist_ok=True) is False
    assert json.loads(run.config_path.read_text()) == {"mine": 1}
    assert (run.checkpoints_dir / "last.pt").read_bytes() == b"weights"


def test_exist_ok_restores_missing_subfolders_only(ws):
    run = Workspace(ws).run("e", "r")
    run.create()
    (run.plots_dir).rmdir()
    (run.logs_dir / "keep.txt").write_text("x")
    assert run.missing_subdirs() == ["plots"]
    run.create(exist_ok=True)
    assert run.missing_subdirs() == []
    assert (run.logs_dir / "keep.txt").read_text() == "x"


def test_run_path_that_is_a_file_is_refused(ws):
    (ws / "experiments" / "e").mkdir()
    (ws / "experiments" / "e" / "r").write_text("not a folder")
    with pytest.raises(AlreadyExistsError):
        Workspace(ws).run("e", "r").create(exist_ok=True)
    assert (ws / "experiments" / "e" / "r").read_text() == "not a folder"


def test_corrupt_config_creates_nothing(ws):
    bad = ws / "config" / "bad.yaml"
    bad.write_text("lr: [1, 2\n")
    w = Workspace(ws)
    with pytest.raises(ConfigError) as info:
        w.run("e", "r").create(config_source=w.resolve_config("bad"))
    assert "bad.yaml" in info.value.message and "line" in info.value.message
    assert info.value.exit_code == 2
    assert list((ws / "experiments").iterdir()) == []


def test_config_must_be_a_mapping(ws):
    (ws / "config" / "list.yaml").write_text("- 1\n- 2\n")
    w = Workspace(ws)
    with pytest.raises(ConfigError):
        w.run("e", "r").create(config_source=w.resolve_config("list"))
    assert not (ws / "experiments" / "e").exists()


@pytest.mark.parametrize("filename", ["c.yaml", "c.yml", "c.json"])
def test_resolve_config_by_name(ws, filename):
    (ws / "config" / filename).write_text("{}")
    assert Workspace(ws).resolve_config("c") == ws / "config" / filename


def test_resolve_config_by_path_and_missing(ws, tmp_path):
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("a: 1\n")
    w = Workspace(ws)
    assert w.resolve_config(str(outside)) == outside
    assert w.resolve_config("config/../config/../../elsewhere.yaml").name == "elsewhere.yaml"
    (ws / "config" / "known.yaml").write_text("{}")
    with pytest.raises(NotFoundError) as info:
        w.resolve_config("nope")
    assert "known" in info.value.hint
    assert info.value.exit_code == 2


def test_config_names_skip_hidden_and_other_files(ws):
    for name in ("a.yaml", "b.yml", "c.json", ".hidden.yaml", "notes.txt"):
        (ws / "config" / name).write_text("{}")
    (ws / "config" / "folder.yaml").mkdir()
    assert Workspace(ws).config_names() == ["a", "b", "c"]


def test_listing_skips_files_and_hidden_folders(ws):
    w = Workspace(ws)
    for exp, run in (("b", "r2"), ("a", "r1"), ("b", "r1")):
        w.run(exp, run).create()
    (ws / "experiments" / ".trash").mkdir()
    (ws / "experiments" / "README.md").write_text("notes")
    (ws / "experiments" / "b" / ".gitkeep").write_text("")
    assert w.experiment_names() == ["a", "b"]
    assert w.experiment("b").run_names() == ["r1", "r2"]
    assert [r.id for r in iter_runs(w)] == ["a/r1", "b/r1", "b/r2"]
    assert [r.id for r in iter_runs(w, "b")] == ["b/r1", "b/r2"]
    with pytest.raises(NotFoundError):
        list(iter_runs(w, "zzz"))


def test_corrupt_record_reads_as_unknown(ws):
    run = Workspace(ws).run("e", "r")
    run.create()
    run.record_path.write_text("{not json")
    assert run.read_record() == {"_unreadable": True}
    assert run.status() == "unknown"
    run.update_record(status="completed")
    assert run.read_record()["status"] == "completed"


def test_from_path_round_trip(ws):
    run = Workspace(ws).run("e", "r")
    run.create()
    again = Run.from_path(run.path)
    assert again.id == "e/r" and again.workspace.root == ws


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "/abs", "-x", "a\x01", "x" * 101])
def test_invalid_names_create_nothing(ws, bad):
    w = Workspace(ws)
    with pytest.raises(InvalidNameError):
        w.run(bad, "r").create()
    with pytest.raises(InvalidNameError):
        w.run("e", bad).create()
    assert list((ws / "experiments").iterdir()) == []


def test_workspace_accepts_a_string_root(ws):
    from_str = Workspace(str(ws))
    assert from_str == Workspace(ws)
    assert from_str.experiments_dir == ws / "experiments"
    assert from_str.run("e", "r").path == ws / "experiments" / "e" / "r"


def test_rewritten_files_follow_the_umask_and_keep_their_mode(ws):
    # Atomic writes go through a 0600 temp file; the result must still be readable as the umask allows.
    old = os.umask(0o022)
    try:
        run = Workspace(ws).run("e", "r")
        run.create()
        assert stat.S_IMODE(run.record_path.stat().st_mode) == 0o644
        assert stat.S_IMODE(run.config_path.stat().st_mode) == 0o644
        run.record_path.chmod(0o640)
        run.update_record(status="completed")
        assert stat.S_IMODE(run.record_path.stat().st_mode) == 0o640
    finally:
        os.umask(old)
