"""Tab completion: the shipped scripts match Typer's, and real shells complete names from disk."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exptool import state
from exptool.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
COMPLETIONS = REPO / "completions"
SCRIPTS = {"bash": "exp.bash", "zsh": "_exp", "fish": "exp.fish", "powershell": "exp.ps1"}
BIN_DIR = Path(sys.executable).parent


@pytest.fixture
def runs(ws):
    """Experiments a (runs r1, r2) and b (run x), configs base/big, current experiment b."""
    w = Workspace(ws)
    for exp_name, run_name in (("a", "r1"), ("a", "r2"), ("b", "x")):
        w.run(exp_name, run_name).create()
    for name in ("base.yaml", "big.json", "other.yml"):
        (ws / "config" / name).write_text("{}")
    state.save_state(ws, experiment="b")
    return ws


def _env(**extra) -> dict:
    # The shipped scripts call `exp` by name: make it this interpreter's console script.
    return {**os.environ, "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}", **extra}


def _need_console_script():
    if not (BIN_DIR / "exp").exists():
        pytest.skip("the exp console script is not installed next to this Python")


@pytest.mark.parametrize("shell", sorted(SCRIPTS))
def test_shipped_scripts_match_show_completion(shell):
    """Fails when completions/ drifts from what this version of exp prints; regenerate as the message says."""
    result = subprocess.run(
        [sys.executable, "-m", "exptool", "--show-completion", shell],
        capture_output=True, text=True, timeout=60,
        env=_env(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"),
    )
    assert result.returncode == 0, result.stderr
    shipped = (COMPLETIONS / SCRIPTS[shell]).read_text()
    assert shipped == result.stdout, (
        f"completions/{SCRIPTS[shell]} is out of date; regenerate it with: "
        f"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION=1 exp --show-completion {shell} > completions/{SCRIPTS[shell]}"
    )


def complete(words: list[str], cwd: Path, **env) -> tuple[list[str], str]:
    """Ask exp for completions the way the bash script does; returns (candidates, stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "exptool"], cwd=cwd, capture_output=True, text=True, timeout=60,
        env=_env(_EXP_COMPLETE="complete_bash", COMP_WORDS=" ".join(words), COMP_CWORD=str(len(words) - 1), **env),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split(), result.stderr


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["exp", "se"], ["set"]),
        (["exp", "show", "-e", ""], ["a", "b"]),
        (["exp", "show", "--experiment", "a"], ["a"]),
        (["exp", "show", "-e", "a", "-r", ""], ["r1", "r2"]),
        (["exp", "show", "-r", ""], ["x"]),  # runs of the current experiment
        (["exp", "clear-logs", "-e", "a", "-r", "r"], ["r1", "r2"]),
        (["exp", "init-run", "-e", "a", "-r", "r3", "--config", ""], ["base", "big", "other"]),
        (["exp", "init-run", "-c", "b"], ["base", "big"]),
        (["exp", "set", ""], ["a", "b"]),
        (["exp", "set", "a/"], ["a/r1", "a/r2"]),
        (["exp", "set", "a", ""], ["r1", "r2"]),
        (["exp", "ls", ""], ["a", "b"]),
        (["exp", "show", "-e", "../..", "-r", ""], []),
        (["exp", "show", "-e", "nope", "-r", ""], []),
    ],
)
def test_completion_values(runs, words, expected):
    got, err = complete(words, runs)
    assert got == expected
    assert err == ""


def test_completion_with_root_from_elsewhere(runs, tmp_path):
    got, _ = complete(["exp", "--root", str(runs), "show", "-e", ""], tmp_path)
    assert got == ["a", "b"]


def test_completion_outside_a_workspace_is_empty_and_silent(tmp_path):
    got, err = complete(["exp", "show", "-e", ""], tmp_path)
    assert got == [] and err == ""


def test_completion_stays_silent_with_a_corrupt_state_file(runs):
    state.state_path().write_text("{corrupt")
    got, err = complete(["exp", "show", "-r", ""], runs)
    assert got == [] and err == ""


def _bash(script: str, cwd: Path) -> list[str]:
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], cwd=cwd, capture_output=True, text=True,
                            timeout=60, env=_env())
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("exp sh", ["show"]),
        ("exp show -e ", ["a", "b"]),
        ("exp show -e a -r ", ["r1", "r2"]),
        ("exp show -r ", ["x"]),
        ("exp init-run -e a -r new --config b", ["base", "big"]),
        ("exp set a/r", ["a/r1", "a/r2"]),
    ],
)
def test_real_bash_with_the_shipped_script(runs, line, expected):
    _need_console_script()
    script = f"""
source {COMPLETIONS / 'exp.bash'}
complete -p exp >/dev/null || exit 3
line={line!r}
read -ra COMP_WORDS <<< "$line"
[[ "$line" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="$line"
COMP_POINT=${{#COMP_LINE}}
_exp_completion exp "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    assert _bash(script, runs) == expected


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
@pytest.mark.parametrize(
    ("words", "expected"),
    [(["exp", "sh"], ["show"]), (["exp", "show", "-e", ""], ["a", "b"]), (["exp", "set", "a", ""], ["r1", "r2"]),
     (["exp", "init-run", "--config", ""], ["base", "big", "other"])],
)
def test_real_zsh_with_the_shipped_script(runs, words, expected):
    """zsh runs the shipped function; compsys' _arguments is stubbed to print what it would offer."""
    _need_console_script()
    zwords = " ".join(f"'{w}'" for w in words)
    script = f"""
compdef() {{ }}
_arguments() {{ print -rl -- "$@" }}
_files() {{ print -r -- _files }}
source {COMPLETIONS / '_exp'}
words=({zwords})
CURRENT={len(words)}
_exp_completion
"""
    result = subprocess.run(["zsh", "-f", "-c", script], cwd=runs, capture_output=True, text=True, timeout=60,
                            env=_env())
    assert result.returncode == 0, result.stderr
    spec = result.stdout.strip()
    assert spec.startswith("*: :((") and spec.endswith("))"), spec
    values = [m.group(1) for m in re.finditer(r'"((?:[^"]|"")*)"(?::"(?:[^"]|"")*")?', spec[6:-2])]
    assert values == expected


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
@pytest.mark.parametrize(
    ("line", "expected"),
    [("exp sh", ["show"]), ("exp show -e ", ["a", "b"]), ("exp show -r ", ["x"]), ("exp set a/", ["a/r1", "a/r2"])],
)
def test_real_fish_with_the_shipped_script(runs, line, expected):
    _need_console_script()
    script = f"source {COMPLETIONS / 'exp.fish'}; complete --do-complete {line!r}"
    result = subprocess.run(["fish", "--no-config", "-c", script], cwd=runs, capture_output=True, text=True,
                            timeout=60, env=_env())
    assert result.returncode == 0, result.stderr
    assert [ln.split("\t")[0] for ln in result.stdout.splitlines()] == expected
