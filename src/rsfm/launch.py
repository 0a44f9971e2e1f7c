"""Launching a training job's ranks (the pretraining engine, the fine-tuning toolboxes): one process, N local
processes, or N nodes under SLURM.

torchrun starts the ranks on each node and meets the other nodes through its c10d rendezvous on the first node.
We use it rather than DeepSpeed's own launcher because that one fans out over ssh/pdsh, which many clusters do not
allow inside a job, while ``srun`` + one torchrun per node needs nothing beyond SLURM itself (and is what the SLURM
executor's one-task-per-node allocation gives). DeepSpeed then only provides the engine (ZeRO, bf16, checkpoints).

A launcher is one SLURM task: ``tasks`` (default ``nodes``) torchruns meet as ``tasks`` torchrun "nodes". One per
node is the cluster case; several on one node run the same srun + rendezvous path on a single machine (the local
SLURM test does this with 2 tasks).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from rsfm.errors import ConfigError


def torchrun_args(
    config_path: str | Path,
    *,
    nnodes: int = 1,
    nproc_per_node: int = 1,
    rdzv_endpoint: str | None = None,
    rdzv_id: str = "rsfm",
    node_rank: int | None = None,
    entry: Sequence[str] | None = None,
) -> list[str]:
    """The torchrun command line for one node (run it once per node). ``entry``: what each rank runs (default the
    pretraining engine on ``config_path``), e.g. ``["-m", "rsfm.finetune.train", "config.py", "--launcher",
    "pytorch"]``."""
    args = [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nnodes}", f"--nproc-per-node={nproc_per_node}"]
    if nnodes == 1 and rdzv_endpoint is None:
        args.append("--standalone")  # a private rendezvous on a free port
    else:
        args += ["--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}", f"--rdzv-id={rdzv_id}"]
        if node_rank is not None:
            args.append(f"--node-rank={node_rank}")
    return [*args, *(entry or ["-m", "rsfm.pretrain.engine", "--config", str(config_path)])]


def launch_settings(section: dict[str, Any], size: str, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """A config section's ``run`` (pretrain, finetune) with ``per_size.<size>`` applied: all its keys, or only
    ``keys`` where per_size mixes launch keys with others. Here, free of torch, because the Snakefile evaluates it
    for every job it plans, and every SLURM job parses the Snakefile."""
    per_size = section.get("per_size", {}).get(size, {})
    return {**section.get("run", {}), **{k: v for k, v in per_size.items() if keys is None or k in keys}}


def allocated_gpus(launch_cfg: dict[str, Any]) -> int:
    """The GPUs a run's allocation holds: nodes x GPUs per node (0 on CPUs)."""
    return int(launch_cfg.get("gpus_per_node", 0) or 0) * int(launch_cfg.get("nodes", 1) or 1)


def launcher_tasks(launch_cfg: dict[str, Any]) -> int:
    """SLURM tasks of a run, one torchrun each: ``tasks``, else one per node; a multiple of ``nodes``."""
    nodes = int(launch_cfg.get("nodes", 1))
    tasks = int(launch_cfg.get("tasks", nodes))
    if tasks < nodes or tasks % nodes:
        raise ConfigError(f"launch setting tasks ({tasks}) must be a multiple of nodes ({nodes}): a torchrun per task")
    return tasks


def slurm_command(
    config_path: str | Path,
    *,
    nnodes: int,
    nproc_per_node: int,
    ntasks: int | None = None,
    cpus_per_task: int | None = None,
    port: int = 29500,
    entry: Sequence[str] | None = None,
) -> list[str]:
    """Inside a SLURM allocation: ``ntasks`` srun tasks (default one per node), each running torchrun against the
    first node. ``cpus_per_task`` is passed on because srun inside a batch job does not inherit it (SLURM 22.05+)."""
    ntasks = ntasks or nnodes
    torchrun = torchrun_args(
        config_path, nnodes=ntasks, nproc_per_node=nproc_per_node, rdzv_endpoint="@HEAD@", rdzv_id="@JOB@",
        entry=entry,
    )  # fmt: skip
    inner = shlex.join(torchrun).replace("@HEAD@", f'"$head":{port}').replace("@JOB@", '"$SLURM_JOB_ID"')
    script = f'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1); exec {inner}'
    srun = ["srun", f"--nodes={nnodes}", f"--ntasks={ntasks}", f"--ntasks-per-node={ntasks // nnodes}"]
    if cpus_per_task:
        srun.append(f"--cpus-per-task={cpus_per_task}")
    return [*srun, "--kill-on-bad-exit=1", "bash", "-c", script]


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def rank_threads(launch_cfg: dict[str, Any]) -> dict[str, str]:
    """Each rank's share of its launcher task's CPUs (``cpus_per_task // processes_per_node``, at least 1) as the
    thread-pool variables. Snakemake sets them to the job's threads, meant for all its ranks together; kept, each
    rank's pool would oversubscribe the cores, which on CPU ranks made DeepSpeed's stage-0 all-reduce (it spins on
    shared memory) 25x slower."""
    procs = int(launch_cfg.get("processes_per_node", 1))
    threads = max(1, int(launch_cfg.get("cpus_per_task") or procs) // procs)
    return dict.fromkeys(THREAD_VARIABLES, str(threads))


def launch(
    config_path: str | Path,
    launch_cfg: dict[str, Any],
    *,
    log: Any = None,
    entry: Sequence[str] | None = None,
    stdout: IO[Any] | None = None,
) -> None:
    """Run the engine (or ``entry``) as configured: under srun with several launcher tasks (nodes), else
    locally; ``stdout`` receives the ranks' output and errors (default: this process's)."""
    nnodes = int(launch_cfg.get("nodes", 1))
    procs = int(launch_cfg.get("processes_per_node", 1))
    env = {**os.environ, **rank_threads(launch_cfg)}
    if not launch_cfg.get("gpus_per_node"):
        env.setdefault("DS_ACCELERATOR", "cpu")
    tasks = launcher_tasks(launch_cfg)
    if tasks > 1:
        if "SLURM_JOB_ID" not in env:
            raise RuntimeError(
                f"{nnodes} node(s) with {tasks} launcher tasks requested but this job is not inside a SLURM "
                "allocation (run the workflow with --profile profiles/slurm, or set nodes and tasks to 1)"
            )
        command = slurm_command(
            config_path, nnodes=nnodes, nproc_per_node=procs, ntasks=tasks,
            cpus_per_task=launch_cfg.get("cpus_per_task"), port=int(launch_cfg.get("port", 29500)), entry=entry,
        )  # fmt: skip
    else:
        command = torchrun_args(config_path, nproc_per_node=procs, entry=entry)
    if log is not None:
        log.info("launching: %s", shlex.join(command))
    subprocess.run(command, env=env, check=True, stdout=stdout, stderr=subprocess.STDOUT if stdout else None)
