"""A real single-node SLURM cluster for the tests: munged, slurmctld and slurmd, started directly.

No systemd and nothing under /etc is touched: the key, the munge socket, slurm.conf, state, spool
and logs all live in one temporary folder, the daemons run in the foreground as children of the
caller and are stopped by their PIDs. Clients find the cluster through ``SLURM_CONF``.

Needs root (slurmd runs jobs as their users) and Debian's ``slurm-wlm`` and ``munge`` packages.
By hand::

    python tests/slurm_cluster.py start     # prints the folder and `export SLURM_CONF=...`
    python tests/slurm_cluster.py stop DIR
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo", "srun")


def unavailable_reason() -> str | None:
    """Why a cluster cannot be started here, or None when it can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the local SLURM cluster needs root (slurmd starts jobs as their users)"
    missing = [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name) is None]
    if missing:
        return f"SLURM is not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge"
    try:
        pwd.getpwnam("munge")
    except KeyError:
        return "there is no 'munge' user (install Debian's munge package)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return max(512, int(line.split()[1]) // 1024 // 2)
    except OSError:
        pass
    return 2048


@dataclass
class Cluster:
    """A running cluster: its folder, configuration file and daemon processes."""

    folder: Path
    conf: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """What a client needs in its environment to talk to this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items()}

    def stop(self) -> None:
        """Cancel what is left, stop the daemons by PID (slurmd, slurmctld, munged), remove the folder.

        A job's own processes (slurmstepd, the batch shell, srun) are not the daemons' children: the
        ones still winding down are found by this cluster's ``SLURM_CONF`` in their environment.
        """
        env = {**os.environ, **self.env}
        if self.processes.get("slurmctld") is not None and self.processes["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", f"--user={pwd.getpwuid(os.getuid()).pw_name}"], env=env,
                           capture_output=True, timeout=30)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and _job_processes(self.conf, set(self.pids().values())):
                time.sleep(0.3)
        for name in reversed(DAEMONS):
            proc = self.processes.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.processes.clear()
        for pid in _job_processes(self.conf):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self, name: str) -> str:
        """The tail of a daemon's log (for a failing test's message)."""
        try:
            return (self.folder / f"{name}.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def _job_processes(conf: Path, daemons: set[int] = frozenset()) -> list[int]:
    """PIDs of live processes (not zombies, not ``daemons`` or their children) with SLURM_CONF=conf set."""
    marker = f"SLURM_CONF={conf}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                environ = fh.read().split(b"\0")
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                state, ppid = fh.read().rsplit(b")", 1)[1].split()[:2]
        except OSError:
            continue
        if marker in environ and state != b"Z" and int(ppid) not in daemons:  # slurmscriptd is slurmctld's
            found.append(int(entry.name))
    return [pid for pid in found if pid not in daemons]


def _write_conf(folder: Path, host: str, cpus: int) -> Path:
    conf = folder / "slurm.conf"
    state, spool = folder / "state", folder / "spool"
    state.mkdir()
    spool.mkdir()
    conf.write_text(
        "\n".join(
            [
                "ClusterName=exptooltest",
                f"SlurmctldHost={host}",
                "SlurmUser=root",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                # cred_expire is also how long a requeued job waits before it may start again (120 s).
                f"AuthInfo=socket={folder / 'munge' / 'munge.socket'},cred_expire=10",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_CPU",
                "MpiDefault=none",
                "SchedulerType=sched/backfill",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "ReturnToService=2",
                "KillWait=10",
                "MinJobAge=300",
                "InactiveLimit=0",
                f"StateSaveLocation={state}",
                f"SlurmdSpoolDir={spool}",
                f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
                f"SlurmdPidFile={folder / 'slurmd.pid'}",
                f"SlurmctldLogFile={folder / 'slurmctld.log'}",
                f"SlurmdLogFile={folder / 'slurmd.log'}",
                f"NodeName={host} CPUs={cpus} RealMemory={_memory_mb()} State=UNKNOWN",
                "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    return conf


def _start_munge(folder: Path) -> subprocess.Popen:
    munge = pwd.getpwnam("munge")
    mdir = folder / "munge"
    mdir.mkdir(mode=0o700)
    key = mdir / "munge.key"
    key.write_bytes(os.urandom(1024))
    for path in (mdir, key):
        os.chown(path, munge.pw_uid, munge.pw_gid)
    key.chmod(0o400)
    cmd = [
        "munged", "--foreground", "--force",
        f"--socket={mdir / 'munge.socket'}", f"--key-file={key}", f"--pid-file={mdir / 'munged.pid'}",
        f"--log-file={folder / 'munged.log'}", f"--seed-file={mdir / 'munged.seed'}",
    ]
    log = open(folder / "munged.out", "wb")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(cmd, user=munge.pw_uid, group=munge.pw_gid, extra_groups=[], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 15
    while not (mdir / "munge.socket").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            log = folder / "munged.log"
            raise RuntimeError(f"munged did not start: {(folder / 'munged.out').read_text(errors='replace')}"
                               f"{log.read_text(errors='replace') if log.exists() else ''}")
        time.sleep(0.05)
    # slurmd and slurmctld (root) and job steps reach the socket through the folder.
    os.chmod(mdir, 0o755)
    return proc


def start(cpus: int | None = None, timeout: float = 60) -> Cluster:
    """Start a fresh cluster and wait until its node is idle.

    Raises:
        RuntimeError: a daemon did not come up (the message carries its log).
    """
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    folder = Path(tempfile.mkdtemp(prefix="exptool-slurm-"))
    folder.chmod(0o755)  # munged runs as 'munge' and must reach its folder
    host = socket.gethostname().split(".")[0]
    cluster = Cluster(folder, _write_conf(folder, host, cpus or os.cpu_count() or 1))
    env = {**os.environ, **cluster.env}
    try:
        cluster.processes["munged"] = _start_munge(folder)
        for name in ("slurmctld", "slurmd"):
            out = open(folder / f"{name}.out", "wb")  # noqa: SIM115 - the child keeps it
            cluster.processes[name] = subprocess.Popen(
                [name, "-D", "-f", str(cluster.conf)], env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
            if name == "slurmctld":
                _wait(lambda: _ok(["scontrol", "ping"], env, "UP"), cluster, name, timeout)
        _wait(lambda: _ok(["sinfo", "-h", "-o", "%T"], env, "idle"), cluster, "slurmd", timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _ok(cmd: list[str], env: dict[str, str], expect: str) -> bool:
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and expect in res.stdout


def _wait(check, cluster: Cluster, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        dead = [n for n, p in cluster.processes.items() if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            why = f"{', '.join(dead)} exited" if dead else "timed out"
            logs = "\n".join(f"--- {n}\n{cluster.log(n)}{(cluster.folder / f'{n}.out').read_text(errors='replace')}"
                             for n in cluster.processes)
            raise RuntimeError(f"SLURM cluster did not come up ({name}: {why}).\n{logs}")
        time.sleep(0.2)


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        cluster = start()
        (cluster.folder / "pids.json").write_text(json.dumps(cluster.pids()))
        print(cluster.folder)
        print(f"export SLURM_CONF={cluster.conf}")
        # The daemons are in their own sessions: they outlive this script until `stop`.
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        folder = Path(argv[1])
        pids = json.loads((folder / "pids.json").read_text())
        for name in reversed(DAEMONS):
            try:
                os.kill(pids[name], signal.SIGTERM)
            except (KeyError, ProcessLookupError):
                pass
        time.sleep(1)
        shutil.rmtree(folder, ignore_errors=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
