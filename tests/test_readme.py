"""The README runs as written: its tour top to bottom, its first block in a new virtualenv, its snippets are files.

``.ci/run`` runs both "On a fresh machine" blocks in a pristine virtualenv (``tests/readme_blocks.py``);
here the first block runs in a new virtualenv that sees this environment's packages through a
``.pth`` file, so ``pip install .`` is real but downloads nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from readme_blocks import REPO, fresh_machine_blocks, python_block, script_for, tour_commands

BIN_DIR = Path(sys.executable).parent


def _env(home: Path, path_first: Path = BIN_DIR) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXP_", "CURRENT_", "VIRTUAL_ENV"))}
    env.pop("EXPTOOL_ROOT", None)
    env.update(HOME=str(home), PATH=f"{path_first}{os.pathsep}{os.environ.get('PATH', '')}", NO_COLOR="1")
    return env


def _record(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


@pytest.mark.slow
def test_the_tour_runs_top_to_bottom_in_a_new_workspace(tmp_path):
    commands = tour_commands()
    assert commands[0].startswith("exp init ")
    result = subprocess.run(["bash", "-c", script_for(commands)], cwd=tmp_path, env=_env(tmp_path),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    exp = tmp_path / "tour" / "experiments" / "spirals"
    assert _record(exp / "base")["status"] == "completed" and _record(exp / "wide")["status"] == "completed"
    wide = json.loads((exp / "wide" / "config.json").read_text())
    assert wide["hidden"] == 128 and wide["lr"] == 3e-3 and wide["epochs"] == 4
    assert list((exp / "base" / "plots").glob("*.png"))
    assert [p.name for p in (exp / "base" / "logs").iterdir()] == [".gitkeep"]  # clear-logs, then exp keep
    assert "never read" not in result.stdout + result.stderr  # every override in the tour is used


def test_the_readme_snippets_are_the_example_files():
    assert python_block("Training") == (REPO / "examples" / "trainer" / "train.py").read_text()
    assert python_block("Logging") == (REPO / "examples" / "logger_only.py").read_text()


def _checkout_copy(dest: Path) -> Path:
    """The working tree's files (tracked and new, not ignored) as a fresh one-commit git repository."""
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git checkout and git")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=dest, check=True)
    return dest


@pytest.mark.slow
def test_first_block_in_a_new_virtualenv_leaves_the_checkout_as_it_was(tmp_path):
    block1, block2 = fresh_machine_blocks()
    assert block2.startswith("pip install") and '-e ".[test]"' in block2  # run from the checkout, next
    checkout = _checkout_copy(tmp_path / "checkout")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    parents = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "_parent_env.pth").write_text("\n".join(parents) + "\n")  # torch & co. without a download
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(["bash", "-c", script_for([block1], checkout, check_checkout=True)],
                            env=_env(home, venv / "bin"), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert (venv / "bin" / "exp").is_file()  # the block's own `pip install .` made the command
    assert _record(home / "exptool-demo" / "experiments" / "demo" / "first")["status"] == "completed"
