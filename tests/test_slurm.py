"""The SLURM launcher against a real single-node cluster (munged + slurmctld + slurmd, see slurm_cluster.py).

Skipped, with the reason, only where the cluster cannot start here (not root, or slurm-wlm/munge
missing: ``apt-get install slurm-wlm munge``; ``.ci/run`` installs them).
"""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import slurm_cluster  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(slurm_cluster.unavailable_reason() is not None,
                       reason=str(slurm_cluster.unavailable_reason())),
]
pytest.importorskip("submitit")

TRAINERS = textwrap.dedent(
    """
    import time

    def counted(ctx):
        import torch
        model = torch.nn.Linear(2, 1)
        ctx.resume(model)
        total = int(ctx.config.get("steps", 3))
        pause = float(ctx.config.get("pause", 0.0))
        for step in range(ctx.start_step + 1, total + 1):
            ctx.logger.log({"val_loss": float(ctx.config.get("lr", 1.0)) / step}, step)
            if step % 5 == 0:
                ctx.checkpoints.save(step=step, model=model)
                (ctx.path / "checkpointed").write_text(str(step))
            if ctx.should_stop:
                ctx.checkpoints.save(step=step, model=model)
                return
            time.sleep(pause)
    """
)


@pytest.fixture(scope="module")
def cluster():
    started = slurm_cluster.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def sws(ws: Path, cluster, monkeypatch) -> Path:
    for key, value in cluster.env.items():
        monkeypatch.setenv(key, value)
    (ws / "st.py").write_text(TRAINERS)
    (ws / "config" / "base.json").write_text(json.dumps({"logging": {"writers": ["csv"]}, "steps": 3, "lr": 1.0}))
    with open(ws / "exptool.toml", "a") as fh:
        fh.write('\n[launcher.slurm]\ntime = "10"\ncpus_per_task = 1\n')
    return ws


def _record(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def _steps(run: Path) -> list[int]:
    with open(run / "logs" / "metrics.csv", newline="") as fh:
        return [int(row["step"]) for row in csv.DictReader(fh)]


def _until(check, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def _squeue(cluster) -> str:
    return subprocess.run(["squeue", "-h", "-r", "-o", "%i %T"], capture_output=True, text=True,
                          env={**__import__("os").environ, **cluster.env}).stdout


def test_four_point_sweep_runs_as_one_job_array(exp, sws, cluster):
    args = ("sweep", "-e", "e", "--name", "a", "-c", "base", "-t", "st:counted", "--set", "lr=1,2,3,4",
            "--launcher", "slurm", "--max-parallel", "2")
    dry = exp(*args, "--dry-run")
    assert dry.returncode == 0 and "#SBATCH --array=0-3%2" in dry.stdout, dry.stderr
    res = exp(*args, "--wait", "--metric", "val_loss", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    exp_dir = sws / "experiments" / "e"
    records = [_record(exp_dir / f"a-{i:03d}") for i in range(4)]
    assert [r["status"] for r in records] == ["completed"] * 4
    arrays = {r["slurm"]["array_job_id"] for r in records}
    assert len(arrays) == 1 and [r["slurm"]["array_index"] for r in records] == [0, 1, 2, 3]
    for r in records:
        assert r["launcher"] == "slurm" and r["slurm"]["node_list"] and r["attempts"] == 1
        assert r["slurm"]["job_id"] == f"{r['slurm']['array_job_id']}_{r['slurm']['array_index']}"
    assert all(_steps(exp_dir / f"a-{i:03d}") == [1, 2, 3] for i in range(4))
    script = next((exp_dir / ".sweeps" / "a" / "slurm").rglob("*_submission.sh")).read_text()
    assert "#SBATCH --array=0-3%2" in script and "#SBATCH --requeue" in script
    table = [line.split()[0] for line in res.stdout.splitlines() if line.startswith("a-")]
    assert table == ["a-000", "a-001", "a-002", "a-003"]  # val_loss = lr / 3: best first

    again = exp(*args, timeout=120)
    assert again.returncode == 0 and again.stdout.count("done earlier") == 4, again.stdout + again.stderr
    assert [_record(exp_dir / f"a-{i:03d}")["attempts"] for i in range(4)] == [1] * 4  # nothing resubmitted


def test_submit_shows_queued_and_running_from_slurm_and_exp_cancel_cancels(exp, sws, cluster):
    run = sws / "experiments" / "e" / "long"
    assert exp("init-run", "-e", "e", "-r", "long", "-c", "base").returncode == 0
    said = sws / "said.txt"
    res = exp("submit", "-e", "e", "-r", "long", "-t", "st:counted", "--set", "steps=2000", "--set", "+pause=0.05",
              "--json", "--notify", f'echo "$EXPTOOL_EVENT $EXPTOOL_RUN $EXPTOOL_STATUS $EXPTOOL_EXIT_CODE" >> {said}')
    assert res.returncode == 0, res.stderr
    assert "runs when the job ends, on its node" in res.stderr and not said.exists()
    job = json.loads(res.stdout)["job_id"]
    assert _record(run)["status"] == "queued" and _record(run)["slurm"]["job_id"] == job
    _until(lambda: (run / "checkpointed").exists(), what="the job to checkpoint")
    listed = json.loads(exp("ls", "e", "--json").stdout)["runs"]
    assert [r["status"] for r in listed if r["name"] == "long"] == ["running"]
    again = exp("submit", "-e", "e", "-r", "long", "-t", "st:counted")
    assert again.returncode == 2 and "already on SLURM" in again.stderr

    # A second run waits in the queue (it may start only in an hour): ls says queued, from squeue.
    assert exp("init-run", "-e", "e", "-r", "later", "-c", "base").returncode == 0
    assert exp("submit", "-e", "e", "-r", "later", "-t", "st:counted", "--slurm-arg", "begin=now+3600").returncode == 0
    shown = json.loads(exp("show", "-e", "e", "-r", "later", "--json").stdout)
    assert shown["run"]["status"] == "queued"

    res = exp("cancel", "-e", "e", "-r", "long")
    assert res.returncode == 0 and "cancelled through SLURM" in res.stdout, res.stderr
    _until(lambda: _record(run)["status"] == "interrupted", what="the job to record its interruption")
    assert _record(run)["error"] == "stopped by SIGTERM" and 0 < _steps(run)[-1] < 2000
    _until(said.exists, 60, "the job's notify command")  # sent by the job, from its node, as it ended
    assert said.read_text().splitlines() == ["run e/long interrupted 130"]
    later = sws / "experiments" / "e" / "later"
    res = exp("cancel", "-e", "e", "later", "--json")
    assert res.returncode == 0 and "queued" in json.loads(res.stdout)["cancelled"][0]["detail"]
    assert _record(later)["status"] == "interrupted" and _record(later)["error"] == "cancelled"
    _until(lambda: _squeue(cluster).strip() == "", timeout=60, what="the queue to empty")
    assert json.loads(exp("show", "-e", "e", "-r", "later", "--json").stdout)["run"]["status"] == "interrupted"


def test_a_requeued_job_resumes_with_exactly_the_expected_steps(exp, sws, cluster):
    run = sws / "experiments" / "e" / "pre"
    assert exp("init-run", "-e", "e", "-r", "pre", "-c", "base").returncode == 0
    res = exp("submit", "-e", "e", "-r", "pre", "-t", "st:counted", "--set", "steps=120", "--set", "+pause=0.05",
              "--json")
    assert res.returncode == 0, res.stderr
    job = json.loads(res.stdout)["job_id"]
    _until(lambda: (run / "checkpointed").exists(), what="the first checkpoint")
    # What SLURM sends --signal seconds before the time limit (or a preemption): SIGUSR2.
    subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=120)
    _until(lambda: _record(run).get("requeues"), what="the job to requeue itself")
    first = _record(run)
    assert first["status"] in ("queued", "running") and "requeued" in (first["error"] or "running")
    _until(lambda: _record(run)["status"] == "completed", timeout=240, what="the requeued job to complete")
    rec = _record(run)
    assert _steps(run) == list(range(1, 121))  # no step twice, none missing
    assert rec["attempts"] >= 2 and rec["resumed"] is True and rec["start_step"] > 0
    assert rec["slurm"]["restart_count"] >= 1 and rec["slurm"]["job_id"] == job


DDP = textwrap.dedent(
    """
    import json, os

    def ddp(ctx):
        import torch
        import torch.distributed as dist

        assert dist.is_initialized() and dist.get_world_size() == ctx.world_size == 2
        flag = torch.tensor([ctx.rank + 1.0])
        dist.all_reduce(flag)
        for step in range(ctx.start_step + 1, 4):
            ctx.logger.log({"loss": 1.0 / step, "rank": ctx.rank}, step)
        (ctx.path / f"rank{ctx.rank}.json").write_text(json.dumps({
            "rank": ctx.rank, "local_rank": ctx.local_rank, "sum": flag.item(), "is_main": ctx.is_main,
            "torchrun": "TORCHELASTIC_RUN_ID" in os.environ, "task": os.environ.get("SLURM_PROCID"),
        }))
    """
)


def test_two_tasks_build_the_process_group_from_slurm_and_only_rank_0_writes(exp, sws, cluster):
    (sws / "ddp.py").write_text(DDP)
    (sws / "exptool.toml").write_text('[launcher.slurm]\ntime = "10"\ncpus_per_task = 1\ntasks_per_node = 2\n')
    assert exp("init-run", "-e", "e", "-r", "two", "-c", "base").returncode == 0
    res = exp("submit", "-e", "e", "-r", "two", "-t", "ddp:ddp", "--wait", "--json", timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    run = sws / "experiments" / "e" / "two"
    ranks = [json.loads((run / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["task"] for r in ranks] == ["0", "1"] and all(r["sum"] == 3.0 for r in ranks)
    assert not any(r["torchrun"] for r in ranks) and [r["is_main"] for r in ranks] == [True, False]
    rec = _record(run)
    assert rec["status"] == "completed" and rec["world_size"] == 2
    with open(run / "logs" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [1, 2, 3] and {r["rank"] for r in rows} == {"0.0"}  # rank 0 alone


def test_exp_watch_follows_a_submitted_sweep_until_its_jobs_end(exp, sws, cluster):
    calls = sws / "calls.txt"
    said = ("$EXPTOOL_EVENT $EXPTOOL_SWEEP $EXPTOOL_STATUS $EXPTOOL_EXIT_CODE $EXPTOOL_COMPLETED "
            "$EXPTOOL_POINTS $(hostname)")
    res = exp("sweep", "-e", "e", "--name", "w", "-c", "base", "-t", "st:counted", "--set", "lr=1,2",
              "--set", "steps=30", "--set", "+pause=0.1", "--metric", "val_loss", "--launcher", "slurm",
              "--notify", f'echo "{said}" >> {calls}; echo "$EXPTOOL_BEST" > {calls}.best')
    assert res.returncode == 0, res.stdout + res.stderr
    assert "runs when the sweep's last job ends" in res.stderr and not calls.exists()  # submitted is not ended
    assert json.loads((sws / "experiments" / "e" / ".sweeps" / "w" / "notify.json").read_text())["done"] is False
    assert "Follow with: exp watch --sweep w -e e" in res.stdout
    snap = json.loads(exp("watch", "--sweep", "w", "-e", "e", "--json").stdout)
    assert snap["state"] == "submitted" and snap["active"] and snap["exit_code"] is None
    assert {p["status"] for p in snap["points"]} <= {"queued", "running", "completed"}
    watcher = subprocess.run([sys.executable, "-m", "exptool", "watch", "--sweep", "w", "-e", "e"], cwd=sws,
                             capture_output=True, text=True, timeout=300)
    assert watcher.returncode == 0, watcher.stdout + watcher.stderr
    assert watcher.stdout.startswith("sweep e/w  completed  exit 0") and "2 completed" in watcher.stdout
    done = json.loads(exp("watch", "--sweep", "w", "-e", "e", "--json").stdout)
    assert done["state"] == "completed" and not done["active"] and done["counts"]["completed"] == 2
    assert done["best"]["run"] == "w-000"
    status = json.loads(exp("sweep", "-e", "e", "--name", "w", "--status", "--json").stdout)
    assert status["state"] == "completed"  # as exp watch --sweep says it, not the record's "submitted"
    # the last job to end sent the sweep's word, once, from its node
    _until(calls.exists, 60, "the notify command")
    time.sleep(1.0)  # a second (wrong) call would come from the other job, which has ended already
    assert calls.read_text().splitlines() == [f"sweep w completed 0 2 2 {socket.gethostname()}"]
    assert json.loads(Path(f"{calls}.best").read_text())["run"] == "w-000"
    assert json.loads((sws / "experiments" / "e" / ".sweeps" / "w" / "notify.json").read_text())["done"] is True
