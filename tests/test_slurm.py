"""The SLURM profile: the sbatch lines the executor builds from our resources, and a slice of the default workflow
run through the executor on a real one-node SLURM cluster started on localhost (tests/localslurm.py)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from .conftest import REPO, clone_worktree
from .localslurm import LocalSlurm, SlurmUnavailable
from .test_workflow import dvc, snakemake, stages_run

SLICE_TARGETS = ("results/figures/slim_per_model.png",)


class Resources(dict):
    """A job's resources as the executor reads them (``.get`` and attributes)."""

    __getattr__ = dict.__getitem__


def planned_resources(plan: str, rule: str, wildcards: str) -> Resources:
    """The resources Snakemake printed for one job of a dry run (``-p``-less ``-n`` output)."""
    block = re.search(rf"rule {rule}:\n(?:.*\n)*?\s+wildcards: {wildcards}\n\s+resources: ([^\n]+)", plan)
    assert block, f"no {rule} job with {wildcards} in the plan"
    resources = Resources()
    for item in block.group(1).split(", "):
        key, value = item.split("=", 1)
        resources[key] = int(value) if value.isdigit() else value
    return resources


def sbatch_line(resources: Resources, threads: int = 1) -> str:
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    job = SimpleNamespace(resources=resources, threads=threads)
    params = {
        "run_uuid": "u", "slurm_logfile": "log", "comment_str": "c", "workdir": "/w",
        "account": f" -A {resources['slurm_account']}" if resources.get("slurm_account") else "",
        "partition": f" -p {resources['slurm_partition']}" if resources.get("slurm_partition") else "",
    }  # fmt: skip
    return get_submit_command(job, params) + set_gres_string(job)


def test_paper_allocations_one_launcher_per_node_with_site_settings(tmp_path):
    """Multi-node pretraining: N nodes, N tasks (one torchrun each), GPUs as gres per node, never --ntasks-per-gpu
    (the executor's gres + tasks pitfall); partition and account come from the config's resources section."""
    config = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    config["resources"]["default"].update(partition="cpu", account="rsfm")
    config["resources"]["rules"]["pretrain"] = {"partition": "gpu"}
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump(config))
    plan = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(tmp_path / "paper.yaml")).stdout

    g = sbatch_line(planned_resources(plan, "pretrain", "run=vit_g12x4"), threads=96)
    for flag in ("--nodes=8", "--ntasks=8", "--gres=gpu:8", "--cpus-per-task=96", "-p gpu", "-A rsfm", "-t 4320"):
        assert flag in g.split() or f" {flag}" in g, (flag, g)
    assert "ntasks-per-gpu" not in g
    b = sbatch_line(planned_resources(plan, "pretrain", "run=vit_b12x1"), threads=16)
    assert "--nodes=1" in b and "--gres=gpu:8" in b and "ntasks-per-gpu" not in b
    assert planned_resources(plan, "pretrain", "run=vit_b12x1")["mpi"] == ""  # one launcher: the executor's srun
    run = sbatch_line(
        planned_resources(plan, "finetune", "benchmark=dota_v2, size=vit_g12x4, init=pretrained, fraction=1, seed=0")
    )
    assert "--nodes=2" in run and "--ntasks=2" in run and "ntasks-per-gpu" not in run
    tile = sbatch_line(planned_resources(plan, "tile", "dataset=dota_v2"), threads=16)
    assert "-p cpu" in tile and "-A rsfm" in tile and "--mem 64000" in tile and "--cpus-per-task=16" in tile


def test_launcher_runs_one_torchrun_per_task():
    from rsfm.errors import ConfigError
    from rsfm.launch import launcher_tasks, slurm_command

    command = slurm_command("run.json", nnodes=4, nproc_per_node=8, cpus_per_task=64)
    assert command[:5] == ["srun", "--nodes=4", "--ntasks=4", "--ntasks-per-node=1", "--cpus-per-task=64"]
    assert "--nnodes=4" in command[-1] and "--nproc-per-node=8" in command[-1]
    two = slurm_command("run.json", nnodes=1, ntasks=2, nproc_per_node=1)
    assert two[:4] == ["srun", "--nodes=1", "--ntasks=2", "--ntasks-per-node=2"] and "--nnodes=2" in two[-1]
    assert launcher_tasks({"nodes": 2}) == 2 and launcher_tasks({"nodes": 2, "tasks": 4}) == 4
    with pytest.raises(ConfigError, match="multiple of nodes"):
        launcher_tasks({"nodes": 2, "tasks": 3})


def test_tasks_not_a_multiple_of_nodes_is_a_config_error():
    from rsfm.config import validate_config
    from rsfm.errors import ConfigError

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["pretrain"]["per_size"] = {"vit_tiny12x4": {"nodes": 2, "tasks": 3}}
    with pytest.raises(ConfigError, match=r"pretrain.per_size.vit_tiny12x4.tasks' \(3\) must be a multiple of nodes"):
        validate_config(config, REPO / "workflow/schemas/config.schema.yaml")


@pytest.fixture(scope="module")
def local_slurm(tmp_path_factory):
    """A one-node SLURM on localhost; skipped (failed, with RSFM_REQUIRE_SLURM=1, as in CI) where it cannot run."""
    started = time.monotonic()
    try:
        cluster = LocalSlurm(tmp_path_factory.mktemp("slurm")).start()
    except SlurmUnavailable as error:
        if os.environ.get("RSFM_REQUIRE_SLURM") == "1":
            pytest.fail(f"RSFM_REQUIRE_SLURM=1 but no local SLURM: {error}")
        pytest.skip(f"no local SLURM: {error}")
    cluster.startup_seconds = time.monotonic() - started
    yield cluster
    cluster.stop()


def slice_config() -> dict:
    """The default config cut to data -> pretraining (2 SLURM tasks, one torchrun each) -> one probe -> one figure."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["data"]["datasets"] = {name: config["data"]["datasets"][name] for name in ("millionaid", "eurosat")}
    config["data"]["workers"] = 1  # one CPU per data job: both datasets' chains run side by side on the 2 CPUs
    pretrain = config["pretrain"]
    pretrain.update(sizes=["vit_tiny12x1"], epochs=2, warmup_epochs=1, log_every=2)
    pretrain["run"].update(tasks=2, processes_per_node=1, cpus_per_task=1)
    pretrain["data_scaling"] = {"sizes": [], "fractions": []}  # its stage expands to none
    config.pop("finetune", None)
    slimming = config["slimming"]
    slimming.update(encoders={"vit_tiny12x1": {}}, datasets=["eurosat"], widths=[0.5, 1.0], seeds=[0])
    slimming.update(probes=["knn"], ablations={}, export=[])
    return config


def when(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def slurm_test_profile(folder: Path) -> Path:
    """The repository's SLURM profile plus test-only settings: no accounting daemon here (squeue, finished jobs kept
    by MinJobAge), no account, fast polls, two jobs at a time."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    profile.update({
        "slurm-status-command": "squeue", "slurm-no-account": True, "slurm-init-seconds-before-status-checks": 1,
        "seconds-between-status-checks": 1, "jobs": 2,
    })  # fmt: skip
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


@pytest.mark.slow
def test_workflow_slice_runs_under_slurm_through_dvc_repro(local_slurm, tmp_path, capsys):
    """`dvc repro` of a run folder (rsfm dvc-run: the root dvc.yaml's stages on another config, through a SLURM
    profile) in a fresh clone: data -> pretraining (2 SLURM tasks, one torchrun each) -> one probe, every job an
    sbatch job, the outputs in the run folder, the DVC cache linked rather than copied."""
    from rsfm.dvc_runs import write_run

    clone = clone_worktree(tmp_path / "clone")
    run_dir = clone / "runs/slice"
    run_dir.mkdir(parents=True)
    config = slice_config()
    config["pretrain"]["runs"] = {}  # the named runs' stage expands to none
    (run_dir / "slice.yaml").write_text(yaml.safe_dump(config))
    profile = slurm_test_profile(tmp_path / "profile")
    write_run(run_dir, repo=clone, config=run_dir / "slice.yaml", profile=str(profile), command="test")
    started = time.monotonic()
    output = dvc("repro", "slimming", cwd=run_dir, package=clone, env=local_slurm.env())
    wall = time.monotonic() - started
    assert stages_run(output) == ["data", "pretrain@vit_tiny12x1", "slimming"], output[-3000:]

    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", output)  # over three snakemake runs
    jobs = {job_id: local_slurm.job(job_id) for job_id in submitted}
    assert len(jobs) == len(submitted) == 13, output[-3000:]  # every job went through sbatch: none ran locally
    assert all(job["JobState"] == "COMPLETED" for job in jobs.values()), jobs
    # each rule's own log names the SLURM job it ran in
    logged = {
        re.search(r"SLURM job (\d+) on", path.read_text()).group(1): path
        for path in (run_dir / "logs").rglob("*.log")
        if "SLURM job" in path.read_text()
    }
    assert set(logged) == set(jobs), (sorted(logged), sorted(jobs))

    # pretraining: one allocation of 2 tasks, each task one torchrun; the ranks met and trained
    pretrain_id = next(i for i, path in logged.items() if path.name == "vit_tiny12x1.log" and "pretrain" in path.parts)
    assert jobs[pretrain_id]["NumTasks"] == "2" and jobs[pretrain_id]["NumNodes"] == "1"
    launch = (run_dir / "logs/pretrain/vit_tiny12x1.log").read_text()
    assert "srun --nodes=1 --ntasks=2 --ntasks-per-node=2" in launch and "--nnodes=2" in launch
    metrics = pd.read_csv(run_dir / "results/pretrain/vit_tiny12x1/metrics.csv")
    assert len(metrics) > 0 and metrics["loss"].notna().all()
    probes = pd.read_csv(run_dir / "results/slimming/probes.csv")
    assert set(probes["width"]) == {0.5, 1.0}
    assert not (clone / "results").exists() and not (clone / "logs").exists()  # the run wrote only in its folder
    # DVC's cache is linked, not copied: the encoder in the run folder is the cache's file (or, where the filesystem
    # clones files copy-on-write, DVC's first choice, a reflink of it)
    encoder = run_dir / "results/pretrain/vit_tiny12x1/encoder.safetensors"
    digest = hashlib.md5(encoder.read_bytes()).hexdigest()
    cached = clone / ".dvc/cache/files/md5" / digest[:2] / digest[2:]
    assert os.path.samefile(encoder, cached) or reflinks(cached.parent), (encoder, cached)

    # where the time goes, per job (seconds from the first submission): queued in SLURM, running in the allocation,
    # of which the rule's own work (its benchmark file); the rest of a job is Snakemake starting inside it, the
    # gaps between jobs are the executor noticing the end (polling) and submitting the next
    with capsys.disabled():
        print(f"\nSLURM slice: cluster up in {local_slurm.startup_seconds:.1f} s, dvc repro {wall:.0f} s")
        print(timeline(jobs, logged, run_dir))


def reflinks(folder: Path) -> bool:
    """Whether the filesystem of ``folder`` clones files copy-on-write (then DVC reflinks rather than hardlinks)."""
    probe = folder / ".reflink-probe"
    probe.write_bytes(b"x")
    try:
        return subprocess.run(["cp", "--reflink=always", probe, f"{probe}.copy"], capture_output=True).returncode == 0
    finally:
        for path in (probe, Path(f"{probe}.copy")):
            path.unlink(missing_ok=True)


def timeline(jobs: dict[str, dict[str, str]], logs: dict[str, Path], root: Path) -> str:
    """One line per SLURM job: its rule log, submitted/started/ended (s from the first submission), the rule's own
    work (logs/benchmarks/ mirrors logs/)."""
    origin = min(when(job["SubmitTime"]) for job in jobs.values())
    lines, busy, work_total = [], 0.0, 0.0
    for job_id, job in sorted(jobs.items(), key=lambda item: when(item[1]["SubmitTime"])):
        log = logs[job_id].relative_to(root / "logs")
        work = pd.read_csv(root / "logs/benchmarks" / log.with_suffix(".tsv"), sep="\t")["s"].sum()
        submit, start, end = (when(job[key]) - origin for key in ("SubmitTime", "StartTime", "EndTime"))
        busy, work_total = busy + end - start, work_total + work
        lines.append(f"{job_id:>3} {log!s:<42} submit {submit:4.0f} start {start:4.0f} end {end:4.0f} work {work:5.1f}")
    span = max(when(job["EndTime"]) for job in jobs.values()) - origin
    lines.append(f"first submission to last end {span:.0f} s; in jobs {busy:.0f} s, rules' own work {work_total:.0f} s")
    return "\n".join(lines)
