"""A real one-node SLURM cluster for tests (Debian's slurm-wlm and munge): munged, slurmctld and
slurmd on this machine, on loopback ports, every file in one temp folder, all stopped after."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from servers import free_port

DAEMONS = ("munged", "slurmctld", "slurmd")
PARTITION = "test"

CONF = """\
ClusterName=annlabtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser={user}
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={dir}/munge.sock
CredType=cred/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
# No cgroups and no systemd here: processes are tracked through /proc, tasks are not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
# Bind every daemon and client to the address the host resolves to (127.0.0.1 here), not to all
# interfaces: the cluster is reachable from this machine only.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
ReturnToService=2
# SIGTERM, then SIGKILL this many seconds later (scancel, time limits): as on real clusters.
KillWait=10
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName={partition} Nodes=ALL Default=YES MaxTime=30 State=UP
"""


def _missing() -> str | None:
    absent = [d for d in (*DAEMONS, "sbatch", "squeue", "scancel") if not shutil.which(d)]
    if absent:
        return f"SLURM is not installed ({', '.join(absent)} missing: apt-get install slurm-wlm munge; .ci/run does)"
    if os.geteuid() != 0:
        return "the one-node SLURM cluster runs its daemons as root (slurmd must), and this is not root"
    return None


def _wait(what: str, ok: Callable[[], bool], logs: list[Path], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            tails = "\n".join(f"{p.name}: {p.read_text()[-1500:]}" for p in logs if p.exists())
            raise RuntimeError(f"the test SLURM cluster: {what} did not happen in {timeout:g} s\n{tails}")
        time.sleep(0.3)


def _stop(pidfile: Path, name: str) -> None:
    """SIGTERM the daemon in `pidfile`, then SIGKILL it if it lingers: no daemon outlives the tests."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
    raise RuntimeError(f"{name} (pid {pid}) did not stop")


def _cancel_all(env: dict[str, str], logs: list[Path]) -> None:
    """Cancel what is left on the test cluster and wait until no job of it remains."""
    subprocess.run(["scancel", "-p", PARTITION], env=env, capture_output=True)

    def empty() -> bool:
        out = subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True).stdout
        return not out.strip()

    _wait("its jobs ending", empty, logs, timeout=60)


@contextmanager
def slurm_cluster() -> Iterator[dict[str, str]]:
    """Start the cluster; yield the environment a client needs (SLURM_CONF); stop it after."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="annlab-slurm-"))
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    folder.chmod(0o755)  # munged wants its socket's folder reachable by everyone
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(
        CONF.format(
            host=host,
            ctld_port=free_port(),
            d_port=free_port(),
            user="root",
            dir=folder,
            cpus=os.cpu_count() or 1,
            mem_mb=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 // 2,
            partition=PARTITION,
        )
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    logs = [folder / "munged.log", folder / "slurmctld.log", folder / "slurmd.log"]
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, True)  # last: after every daemon has stopped
        munge = [f"--socket={folder}/munge.sock", f"--key-file={key}", f"--pid-file={folder}/munged.pid"]
        subprocess.run(
            ["munged", "--force", *munge, f"--log-file={folder}/munged.log", f"--seed-file={folder}/munged.seed"],
            check=True,
            capture_output=True,
        )
        stack.callback(_stop, folder / "munged.pid", "munged")
        subprocess.run(["slurmctld", "-i"], env=env, check=True, capture_output=True)
        stack.callback(_stop, folder / "slurmctld.pid", "slurmctld")
        subprocess.run(["slurmd"], env=env, check=True, capture_output=True)
        stack.callback(_stop, folder / "slurmd.pid", "slurmd")
        stack.callback(_cancel_all, env, logs)

        def idle() -> bool:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
            return out.strip() == "idle"

        _wait("the node coming up idle", idle, logs)
        yield {"SLURM_CONF": str(conf)}
