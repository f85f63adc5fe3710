"""What a person sees: zsh completion in a real interactive zsh, tables and help in a real pty."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exptool import state
from exptool.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
pexpect = pytest.importorskip("pexpect")
needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXP_", "CURRENT_"))}
    env.update(PATH=f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}", HOME=str(home), TERM="dumb", **extra)
    return env


def _clean(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|[\x07\r]", "", text)


@pytest.fixture
def runs(ws):
    w = Workspace(ws)
    for name in ("r1", "r2"):
        w.run("a", name).create()
    return ws


def _zsh(cwd: Path, home: Path, setup: str, line: str) -> str:
    """Type ``line`` and TAB into a real interactive zsh after ``setup``; what it shows next."""
    if not (BIN_DIR / "exp").exists():
        pytest.skip("the exp console script is not installed next to this Python")
    child = pexpect.spawn("zsh", ["-i"] if (home / ".zshrc").exists() else ["-f", "-i"], cwd=str(cwd),
                          env=_env(home), encoding="utf-8", dimensions=(40, 200), timeout=60)
    try:
        child.sendline("PS1='%% '; unsetopt BEEP")
        child.sendline(f"{setup}; echo READY")
        child.expect("READY\r\n")
        child.send(line + "\t")
        time.sleep(0.5)
        seen = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # completion runs `exp`: give it time
            try:
                seen += child.read_nonblocking(4096, timeout=1)
            except pexpect.TIMEOUT:
                if seen:
                    break
        return _clean(seen)
    finally:
        child.close(force=True)


@needs_zsh
def test_sourcing_the_zsh_script_in_a_plain_zsh_works(runs, tmp_path):
    """Typer's script failed with `compdef: command not found` unless compinit had run."""
    shown = _zsh(runs, tmp_path, f"source {REPO / 'completions' / '_exp'}", "exp sh")
    assert "command not found" not in shown and "exp show " in shown


@needs_zsh
def test_the_first_tab_after_install_completion_completes(runs, tmp_path):
    """After `exp --install-completion` a new shell's very first TAB completes (Typer's did nothing)."""
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run([sys.executable, "-m", "exptool", "--install-completion"], env=_env(home, SHELL="/bin/zsh"),
                            capture_output=True, text=True, timeout=60,
                            cwd=runs)
    # shellingham may see the test runner's shell; name zsh explicitly the way the shipped scripts are made
    if "zsh completion installed" not in result.stdout:
        result = subprocess.run([sys.executable, "-m", "exptool", "--install-completion", "zsh"], cwd=runs,
                                env=_env(home, _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"),
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (home / ".zfunc" / "_exp").read_text() == (REPO / "completions" / "_exp").read_text()
    assert "fpath+=~/.zfunc; autoload -Uz compinit; compinit" in (home / ".zshrc").read_text()
    shown = _zsh(runs, home, "true", "exp init-r")
    assert "exp init-run " in shown


@needs_zsh
def test_nothing_to_complete_offers_no_file_names(runs, tmp_path):
    """`exp show -r <TAB>` with no current experiment: a message, not the folder's file names."""
    (runs / "some_file.txt").write_text("x")
    shown = _zsh(runs, tmp_path, f"source {REPO / 'completions' / '_exp'}", "exp show -r ")
    assert "some_file.txt" not in shown and "exptool.toml" not in shown
    state.save_state(runs, experiment="a")
    shown = _zsh(runs, tmp_path, f"source {REPO / 'completions' / '_exp'}", "exp show -r ")
    assert "exp show -r r" in shown  # r1 and r2: zsh inserts their common prefix


def _pty(args: list[str], cwd: Path, columns: int, home: Path) -> str:
    child = pexpect.spawn(sys.executable, ["-m", "exptool", *args], cwd=str(cwd), env=_env(home, NO_COLOR="1"),
                          encoding="utf-8", dimensions=(50, columns), timeout=120)
    out = child.read()
    child.close()
    assert child.exitstatus == 0, out
    return out.replace("\r\n", "\n")


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_ls_fits_the_terminal_and_json_keeps_everything(runs, tmp_path, columns):
    run = Workspace(runs).run("a", "r1")
    metrics = {f"metric_number_{i}": 0.123456789 * i for i in range(1, 9)}
    header = "step,wall_time," + ",".join(metrics)
    row = "7,1.0," + ",".join(repr(v) for v in metrics.values())
    run.metrics_path.write_text(f"{header}\n{row}\n")
    out = _pty(["ls", "a"], runs, columns, tmp_path)
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines and all(len(line) < columns for line in lines), out
    assert any(line.rstrip().endswith(("\u2026", "...")) for line in lines if "r1" in line)
    listed = subprocess.run([sys.executable, "-m", "exptool", "ls", "a", "--json"], cwd=runs, capture_output=True,
                            text=True, timeout=60)
    assert json.loads(listed.stdout)["runs"][0]["last_metrics"] == metrics


def test_ls_off_a_terminal_prints_whole_rows(runs):
    run = Workspace(runs).run("a", "r1")
    run.metrics_path.write_text("step,wall_time,loss,acc\n3,1.0,0.5,0.75\n")
    out = subprocess.run([sys.executable, "-m", "exptool", "ls", "a"], cwd=runs, capture_output=True, text=True,
                         timeout=60, env={**os.environ, "COLUMNS": "20"}).stdout
    assert "loss=0.5 acc=0.75" in out


def test_help_uses_the_terminal_width_and_summaries_fit(ws, tmp_path):
    from exptool.cli import app as app_module

    wide = _pty(["--help"], ws, 100, tmp_path)
    assert max(len(line) for line in wide.splitlines()) > 80  # not wrapped at 80 in a 100-column terminal
    narrow = _pty(["--help"], ws, 80, tmp_path)
    commands = narrow.split("Commands:", 1)[1]
    for name in app_module.COMMANDS:
        line = next(line for line in commands.splitlines() if line.strip().startswith(name + " "))
        assert "..." not in line and len(line) <= 80, line
    train_help = _pty(["train", "--help"], ws, 100, tmp_path)
    assert "Examples:" in train_help and "    exp train --trainer demo --set epochs=20" in train_help


def test_init_run_takes_the_current_experiment(ws, exp):
    assert exp("init-run", "-e", "mnist", "-r", "base").returncode == 0
    made = exp("init-run", "-r", "wide", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["experiment"] == "mnist" and (ws / "experiments" / "mnist" / "wide").is_dir()
    state.save_state(ws, experiment=None, run=None)
    none = exp("init-run", "-r", "x")
    assert none.returncode == 2 and "No experiment given and none is current" in none.stderr
