"""A one-node SLURM cluster on this machine, for running the workflow's SLURM profile for real (tests, trying it out).

munged, slurmctld and slurmd run as children of this process with every file (key, sockets, state, spool, logs,
slurm.conf) in one folder and free ports, so nothing is shared with a SLURM or munge the machine may already run.
Clients find the cluster through ``SLURM_CONF`` (put :meth:`env` into the environment of whatever submits) and,
where the machine has no slurm.conf of its own, through a link at the default path: the SLURM executor strips
``SLURM_*`` variables from the jobs it runs, so an srun started inside a job only finds the default path.
There is no accounting daemon (sacct has nothing), so finished jobs are kept
in the controller for an hour (``MinJobAge``) and are queried with squeue / scontrol.

    with LocalSlurm(tmp_path) as cluster:
        subprocess.run(["sbatch", "--wrap", "true"], env={**os.environ, **cluster.env()})
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from rsfm.errors import RsfmError

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "srun", "sinfo")
PACKAGES = ("slurm-wlm", "munge")
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")


class SlurmUnavailable(RsfmError):
    """SLURM cannot be installed or started here; the message says why."""


def _sbin(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


def missing_programs() -> list[str]:
    return [name for name in (*DAEMONS, *CLIENTS) if _sbin(name) is None]


def ensure_installed(timeout: float = 900) -> None:
    """Install Debian's slurm-wlm and munge when a program is missing; raise SlurmUnavailable saying why not."""
    missing = missing_programs()
    if not missing:
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable(f"{', '.join(missing)} not installed, and installing {' '.join(PACKAGES)} needs root")
    if shutil.which("apt-get") is None:
        raise SlurmUnavailable(f"{', '.join(missing)} not installed and no apt-get to install {' '.join(PACKAGES)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SlurmUnavailable(f"{' '.join(command)} did not finish in {timeout:.0f} s") from None
        if result.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(command)} failed: {(result.stdout + result.stderr)[-1500:]}")
    if missing := missing_programs():
        raise SlurmUnavailable(f"still missing after installing {' '.join(PACKAGES)}: {', '.join(missing)}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def node_line(hostname: str) -> str:
    """This machine as a slurm.conf node (``slurmd -C``: CPUs, sockets, cores, threads, memory as slurmd sees them,
    so the node is not drained for a mismatch)."""
    out = subprocess.run([_sbin("slurmd") or "slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("NodeName="))
    return re.sub(r"^NodeName=\S+", f"NodeName={hostname} NodeAddr=127.0.0.1", line)


def slurm_conf(root: Path, hostname: str, node: str, ctld_port: int, slurmd_port: int) -> str:
    return "\n".join(
        [
            "ClusterName=rsfmlocal",
            f"SlurmctldHost={hostname}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={slurmd_port}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={root / 'munge.socket'}",
            f"StateSaveLocation={root / 'state'}",
            f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'slurmctld.pid'}",
            f"SlurmdPidFile={root / 'slurmd.pid'}",
            f"SlurmctldLogFile={root / 'slurmctld.log'}",
            f"SlurmdLogFile={root / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/backfill",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            # no accounting daemon: keep finished jobs visible to squeue/scontrol for an hour
            "MinJobAge=3600",
            "ReturnToService=2",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            node,
            f"PartitionName=local Nodes={hostname} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


class LocalSlurm:
    """munged + slurmctld + slurmd on localhost, files under ``root``; a context manager (stops what it started)."""

    def __init__(self, root: str | Path, startup_timeout: float = 60) -> None:
        self.root = Path(root).resolve()
        self.conf = self.root / "slurm.conf"
        self.startup_timeout = startup_timeout
        self.hostname = socket.gethostname().split(".")[0]
        self._procs: list[subprocess.Popen] = []
        self._linked = False

    def env(self) -> dict[str, str]:
        """What a client (sbatch, squeue, srun) needs in its environment to reach this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            list(args), env={**os.environ, **self.env()}, capture_output=True, text=True, timeout=30
        )
        if check and result.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(args)} failed: {result.stdout}{result.stderr}")
        return result.stdout

    def _spawn(self, *args: str) -> None:
        log = open(self.root / f"{Path(args[0]).name}.out", "w")  # noqa: SIM115 (the daemon writes to it)
        self._procs.append(subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()))
        log.close()

    def start(self) -> LocalSlurm:
        if os.geteuid() != 0:
            raise SlurmUnavailable("a local SLURM needs root (slurmd runs jobs as their users)")
        ensure_installed()
        if DEFAULT_CONF.is_symlink() and not DEFAULT_CONF.exists():
            DEFAULT_CONF.unlink()  # left by a local cluster whose process was killed: its folder is gone
        if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
            raise SlurmUnavailable(
                f"{DEFAULT_CONF} exists: this machine has a SLURM setup of its own, which a local test cluster would "
                "shadow inside jobs"
            )
        for folder in ("state", "spool"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        key = self.root / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        self.conf.write_text(slurm_conf(self.root, self.hostname, node_line(self.hostname), _free_port(), _free_port()))
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(self.conf)
        self._linked = True
        socket_path = self.root / "munge.socket"
        # --force: the key and socket live under a temporary folder, which munged's strict path checks reject
        self._spawn(
            _sbin("munged") or "munged", "--foreground", "--force", f"--socket={socket_path}", f"--key-file={key}",
            f"--log-file={self.root / 'munged.log'}", f"--pid-file={self.root / 'munged.pid'}",
            f"--seed-file={self.root / 'munged.seed'}",
        )  # fmt: skip
        self._wait(lambda: socket_path.exists(), "munged did not create its socket")
        self._spawn(_sbin("slurmctld") or "slurmctld", "-D", "-c", "-f", str(self.conf))
        self._spawn(_sbin("slurmd") or "slurmd", "-D", "-N", self.hostname, "-f", str(self.conf))
        self._wait(self._idle, "the node did not come up idle")
        return self

    def _idle(self) -> bool:
        states = self.run("sinfo", "-h", "-o", "%T", check=False).split()
        return bool(states) and all(state == "idle" for state in states)

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if any(proc.poll() is not None for proc in self._procs):
                break
            if ready():
                return
            time.sleep(0.5)
        logs = "".join(
            f"\n--- {path.name}\n{path.read_text(errors='replace')[-1500:]}"
            for path in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.out"))
        )
        self.stop()
        raise SlurmUnavailable(f"{what} within {self.startup_timeout:.0f} s{logs}")

    def job(self, job_id: str | int) -> dict[str, str]:
        """``scontrol show job`` as key -> value (JobState, NumNodes, NumTasks, ExitCode, ...)."""
        text = self.run("scontrol", "show", "job", "-o", str(job_id))
        return dict(item.split("=", 1) for item in text.split() if "=" in item)

    def stop(self) -> None:
        for proc in reversed(self._procs):  # slurmd, slurmctld, then munged
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        if self._linked and DEFAULT_CONF.is_symlink() and DEFAULT_CONF.resolve() == self.conf:
            DEFAULT_CONF.unlink()
        self._linked = False

    def __enter__(self) -> LocalSlurm:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
