"""``exp rerun`` as data: a new run with another run's recorded config, seed and trainer.

What it checks: whether the source code now is the source the run was trained with (the git
commit, and the uncommitted changes saved in its ``git.patch``). Training itself goes through
:func:`exptool.training.train`, like ``exp train``.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..workspace import Run, Workspace


def default_name(source: Run) -> Run:
    """``<run>-rerun``, or ``-rerun2``, ``-rerun3``... the first free name in the run's experiment."""
    for n in range(1, 10_000):
        name = f"{source.name}-rerun" if n == 1 else f"{source.name}-rerun{n}"
        candidate = source.experiment.run(name[:100])
        if not candidate.path.exists():
            return candidate
    raise UsageError(f"No free rerun name for {source.id}.", hint="Name the new run with -r NEW.")


def source_differences(ws: Workspace, record: dict[str, Any], run_path: Any) -> list[str]:
    """How the workspace's code now differs from what ``record`` says the run was trained with ([]: the same)."""
    from ..provenance import PATCH_NAME, git_state  # noqa: PLC0415

    git = record.get("git") if isinstance(record.get("git"), dict) else None
    now = git_state(ws.root)
    if git is None or not git.get("commit"):
        return [] if now is None else ["the run recorded no git commit (it was trained outside a repository)"]
    if now is None:
        return [f"the workspace is no longer in a git repository (the run was at {str(git['commit'])[:12]})"]
    out = []
    if now["commit"] != git["commit"]:
        out.append(f"commit {str(git['commit'])[:12]} then, {now['commit'][:12]} now")
    recorded_patch = ""
    if git.get("dirty"):
        try:
            recorded_patch = (run_path / PATCH_NAME).read_text(encoding="utf-8")
        except OSError:
            out.append("the run was trained with uncommitted changes, and its git.patch is missing")
            return out
    if (now["diff"] or "") != recorded_patch:
        if recorded_patch and not now["dirty"]:
            out.append("the run had uncommitted changes (its git.patch); the tree is clean now")
        elif not recorded_patch:
            out.append("there are uncommitted changes now; the run had none")
        else:
            out.append("the uncommitted changes differ from the run's git.patch")
    return out


def recorded_trainer(record: dict[str, Any]) -> str | None:
    """The trainer a run was trained with, as ``choose_trainer`` takes it (a name or a target)."""
    trainer = record.get("trainer")
    if isinstance(trainer, dict):
        return trainer.get("name") or trainer.get("target")
    return trainer if isinstance(trainer, str) else None


def recorded_seed(record: dict[str, Any]) -> int | None:
    seed = record.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None
