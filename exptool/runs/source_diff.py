"""How the recorded source of two runs differs: each run's git commit plus its ``git.patch``.

Each run's source is rebuilt as a git tree without touching the working tree or the real index:
``read-tree`` of the commit into a temporary index, ``apply --cached`` of the run's patch,
``write-tree``. Then ``git diff`` of the two trees is exactly how the code differed. When that is
not possible (a commit missing from this repository, a patch that does not apply, no git), the
result says why and carries the commits and patches as they are.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..provenance import PATCH_NAME

_TIMEOUT_S = 60


class _GitFailed(Exception):
    pass


def _git(repo: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, timeout=_TIMEOUT_S, stdin=subprocess.DEVNULL,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", **(env or {})},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise _GitFailed(f"git could not run ({exc})") from None
    if check and proc.returncode != 0:
        raise _GitFailed((proc.stderr.strip().splitlines() or ["git failed"])[-1])
    return proc.stdout


def _tree(repo: Path, commit: str, patch: Path | None, scratch: Path, label: str) -> str:
    env = {"GIT_INDEX_FILE": str(scratch / f"index-{label}")}
    try:
        _git(repo, "cat-file", "-e", f"{commit}^{{commit}}")
    except _GitFailed:
        raise _GitFailed(f"commit {commit[:12]} is not in the repository at {repo}") from None
    _git(repo, "read-tree", commit, env=env)
    if patch is not None:
        try:
            _git(repo, "apply", "--cached", "--whitespace=nowarn", str(patch), env=env)
        except _GitFailed as exc:
            raise _GitFailed(f"{patch} does not apply to {commit[:12]} ({exc})") from None
    return _git(repo, "write-tree", env=env).strip()


def _side(record: dict[str, Any], run_path: Path) -> dict[str, Any]:
    git = record.get("git") if isinstance(record.get("git"), dict) else {}
    # The patch is always the run's own git.patch, whatever name a (tampered) run.json gives.
    patch_path = run_path / PATCH_NAME if git.get("patch") else None
    text = None
    if patch_path is not None:
        try:
            text = patch_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            patch_path = None
    return {"commit": git.get("commit"), "dirty": git.get("dirty"), "patch_path": patch_path, "patch": text}


def source_diff(repo_dir: str | os.PathLike, a: tuple[dict, Path], b: tuple[dict, Path]) -> dict[str, Any]:
    """Compare the recorded source of two runs (``(run.json record, run folder)`` each).

    Returns ``{"a": {"commit", "dirty", "patch"}, "b": {...}, "diff": text or None, "note": why
    there is no diff, or None}``; ``diff`` is ``""`` when the sources are the same.
    """
    sides = [_side(*a), _side(*b)]
    result: dict[str, Any] = {
        "a": {k: sides[0][k] for k in ("commit", "dirty", "patch")},
        "b": {k: sides[1][k] for k in ("commit", "dirty", "patch")},
        "diff": None,
        "note": None,
    }
    if not sides[0]["commit"] or not sides[1]["commit"]:
        result["note"] = "a run has no recorded git commit (it was not trained inside a git repository)"
        return result
    try:
        repo = Path(_git(Path(repo_dir), "rev-parse", "--show-toplevel").strip())
        with tempfile.TemporaryDirectory(prefix="exptool-diff-") as tmp:
            trees = [
                _tree(repo, str(s["commit"]), s["patch_path"], Path(tmp), label)
                for s, label in zip(sides, "ab", strict=True)
            ]
        result["diff"] = _git(repo, "diff", "--no-color", "--no-ext-diff", trees[0], trees[1])
    except _GitFailed as exc:
        result["note"] = str(exc)
    return result
