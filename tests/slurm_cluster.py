"""A throw-away one-node SLURM cluster for the tests: munged, slurmctld and slurmd started
from Debian's packages (``make slurm`` installs them) with every file in one temporary folder.

Nothing outside that folder is touched: the daemons read a slurm.conf written there (clients
find it through ``SLURM_CONF``), munge uses its own key and socket there, the ports are free
ones picked at start, and the daemons this module started are stopped on exit.  The node is
what the issue of a CPU-only site describes: no cgroups (``proctrack/linuxproc``,
``task/none``), no accounting (so ``sacct`` cannot answer and the status command must be
``squeue``), no GRES.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "srun")
INSTALL_HINT = "install Debian's munge, slurmctld, slurmd and slurm-client: `make slurm`"


def missing_programs() -> list[str]:
    """Daemons and client commands of the cluster that are not on this machine."""
    found = []
    for name in (*DAEMONS, *CLIENTS):
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
        if path is None:
            found.append(name)
    return found


def _program(name: str) -> str:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin") or name


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("/proc/meminfo has no MemTotal")


def _slurm_conf(root: Path, user: str, host: str, cpus: int, memory_mb: int) -> str:
    ctld_port, node_port = _free_ports(2)
    # MinJobAge: squeue lists a finished job for this long, and snakemake-executor-plugin-
    # slurm falls back to sacct (which hangs without accounting) when it is under 3 x its
    # first status-check delay.  300 s is SLURM's own default, written out to be explicit.
    return f"""\
ClusterName=motorflow-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={node_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=300
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=cpu Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _wait(predicate, what: str, logs: list[Path], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    tails = "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs if p.exists()
    )
    raise RuntimeError(f"SLURM test cluster: {what} within {timeout:.0f} s\n{tails}")


@contextlib.contextmanager
def one_node_cluster(root: Path) -> Iterator[dict[str, str]]:
    """Start munged, slurmctld and slurmd under ``root``; yield the environment that points
    SLURM's clients at them (``SLURM_CONF``); stop the daemons on exit."""
    root.mkdir(parents=True, exist_ok=True)
    user = pwd.getpwuid(os.getuid()).pw_name
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    # Leave the machine some memory: a job asks for its mem_mb, the node offers this much.
    memory_mb = int(_memory_mb() * 0.9)
    for sub in ("munge", "state", "spool"):
        (root / sub).mkdir(mode=0o700, exist_ok=True)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, user, host, cpus, memory_mb))
    # A site's clients find /etc/slurm/slurm.conf; these find ours through SLURM_CONF, which
    # snakemake-executor-plugin-slurm-jobstep drops (with every SLURM_* variable) before its
    # srun inside the job.  An srun first on PATH puts it back.
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    srun = bin_dir / "srun"
    srun.write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {_program("srun")} "$@"\n')
    srun.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": path}
    logs = [root / "munged.log", root / "slurmctld.log", root / "slurmd.log"]
    started: list[subprocess.Popen] = []
    try:
        started.append(
            subprocess.Popen(
                [
                    _program("munged"),
                    "--foreground",
                    "--force",
                    f"--key-file={key}",
                    f"--socket={root}/munge/munge.socket",
                    f"--pid-file={root}/munge/munged.pid",
                    f"--log-file={root}/munged.log",
                    f"--seed-file={root}/munge/munged.seed",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                env=env,
            )
        )
        _wait(lambda: (root / "munge" / "munge.socket").exists(), "munged did not start", logs)
        for daemon in ("slurmctld", "slurmd"):
            started.append(
                subprocess.Popen(
                    [_program(daemon), "-D", "-f", str(conf)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )

        def node_idle() -> bool:
            proc = subprocess.run(
                [_program("sinfo"), "-h", "-o", "%t"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            return proc.returncode == 0 and proc.stdout.strip() == "idle"

        _wait(node_idle, "the node did not come up idle", logs)
        yield {"SLURM_CONF": str(conf), "PATH": path}
    finally:
        for proc in reversed(started):
            proc.terminate()
        for proc in reversed(started):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
