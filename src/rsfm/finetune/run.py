"""The fine-tuning stage as the workflow runs it: write the run's config, launch it, collect tidy results.

Resume: a rerun resumes from the checkpoints in ``work/`` only when it starts from the same encoder (sha256 of its
weights), data (its index files) and settings as the run that wrote them (recorded in ``run.json``); otherwise the
old ``work/`` is set aside in ``superseded/<time>/`` and the run starts afresh.

Launch: one plain process on a CPU or a single GPU; torchrun with one process per GPU on one node; and on several
nodes, inside a SLURM allocation, one torchrun per node (srun) meeting on the first node, as pretraining does
(:mod:`rsfm.launch`). The processes run :mod:`rsfm.finetune.train`, i.e. the toolbox's own Runner with
mmengine's ``pytorch`` launcher (DDP).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pandas as pd

from rsfm.errors import ConfigError
from rsfm.finetune.configs import (
    RUN_KEYS,
    build_config,
    data_init,
    parse_init,
    read_arch_file,
    resolve_settings,
    slim_init,
    write_config,
)
from rsfm.io import write_csv
from rsfm.run_state import differences, own_copies, read_json, set_aside, tree_digest, write_json

# the scheduler's settings, not the run's: they reach the job as its Snakemake resources, not its params
RESOURCE_KEYS = ("cpus_per_task", "mem_mb", "runtime")
# settings that change how a run is logged or fed, not what it computes: a restart with other values resumes
BOOKKEEPING = ("log_interval", "loader_workers")
# the files of a data folder that say what it holds (window, crop and image indexes, class counts)
DATA_INDEX = ("*.csv", "*.json", "*/*.csv", "*/*.json")
TIDY_COLUMNS = ["benchmark", "size", "init", "params_m", "fraction", "seed", "split", "metric", "value"]


def fraction_label(fraction: float) -> str:
    """How a fraction appears in paths and wildcards: ``1``, ``0.5``, ``0.01``."""
    return f"{float(fraction):g}"


def run_dir(
    benchmark: str, size: str, init: str, fraction: float, seed: int, root: str | Path = "results/finetune"
) -> Path:
    """Where one run writes: ``<root>/<benchmark>/<size>/<init>/f<fraction>_s<seed>``."""
    return Path(root) / benchmark / size / init / f"f{fraction_label(fraction)}_s{seed}"


def planned_runs(
    finetune_cfg: dict[str, Any], data_scaling: dict[str, Any] | None = None
) -> list[tuple[str, str, str, float, int]]:  # fmt: skip
    """Every (benchmark, size, init, fraction, seed) the section asks for: each init in ``inits`` (default:
    pretrained only) at its ``init_fractions`` (default: every fraction), then the post-hoc slimmed encoders of
    ``slim`` (init ``slim<w>``), then the encoders pretrained on shares of the images (init ``data<f>``) of
    ``data_scaling`` (the pretrain section's) on the benchmarks of the section's ``data_scaling``, each on all the
    training data."""
    fractions = finetune_cfg.get("fractions", [])
    runs = [
        (benchmark, size, init, float(fraction), int(seed))
        for benchmark in finetune_cfg.get("benchmarks", [])
        for size in finetune_cfg.get("sizes", [])
        for init in finetune_cfg.get("inits", ["pretrained"])
        for fraction in finetune_cfg.get("init_fractions", {}).get(init, fractions)
        for seed in finetune_cfg.get("seeds", [])
    ]
    slim = finetune_cfg.get("slim", {})
    runs += [
        (benchmark, size, slim_init(width), 1.0, int(seed))
        for benchmark in slim.get("benchmarks", [])
        for size in slim.get("sizes", [])
        for width in slim.get("widths", [])
        if width < 1  # width 1 is the pretrained run itself
        for seed in finetune_cfg.get("seeds", [])
    ]
    pretrained_on = data_scaling or {}
    return runs + [
        (benchmark, size, data_init(fraction), 1.0, int(seed))
        for benchmark in finetune_cfg.get("data_scaling", {}).get("benchmarks", [])
        for size in pretrained_on.get("sizes", [])
        for fraction in pretrained_on.get("fractions", [])
        if fraction < 1  # all the images: the pretrained run itself
        for seed in finetune_cfg.get("seeds", [])
    ]


def planned_submissions(finetune_cfg: dict[str, Any]) -> list[tuple[str, str, str, float, int]]:
    """The runs whose test split goes to a server: the pretrained full-data runs of the server benchmarks."""
    from rsfm.finetune.benchmarks import server_benchmarks

    servers = set(server_benchmarks())
    return [run for run in planned_runs(finetune_cfg) if run[0] in servers and run[2] == "pretrained" and run[3] == 1]


def launch_settings(finetune_cfg: dict[str, Any], size: str) -> dict[str, Any]:
    """``run`` with this size's launch keys from ``per_size`` applied."""
    from rsfm.launch import launch_settings as merged

    return merged(finetune_cfg, size, RUN_KEYS)


def job_config(finetune_cfg: dict[str, Any], benchmark: str, size: str) -> dict[str, Any]:
    """The part of the finetune section one (benchmark, size) job reads, in the section's shape: its resolved settings
    as ``schedule`` and its launch settings as ``run`` (less the scheduler's resources). The rule passes this as the
    job's params, so an edit of one benchmark's or size's settings reruns only its jobs."""
    launch = {k: v for k, v in launch_settings(finetune_cfg, size).items() if k not in RESOURCE_KEYS}
    job = {"schedule": resolve_settings(finetune_cfg, benchmark, size), "run": launch}
    if "configs" in finetune_cfg:
        job["configs"] = finetune_cfg["configs"]
    return job


def run_record(
    settings: dict[str, Any], launch_cfg: dict[str, Any], *, encoder: str | Path | None, data_root: str | Path,
    base_config: str | Path, run: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """What a run's checkpoints are made from: the encoder's sha256 (None for a scratch run), the base config's (with
    its ``_base_`` files), the data's index, the settings and the number of processes (the effective batch), as
    ``run.json`` records it."""
    from rsfm.data.download import file_digest
    from rsfm.launch import launcher_tasks

    gpus = int(launch_cfg.get("gpus_per_node", 0))
    procs = gpus if gpus else int(launch_cfg.get("processes_per_node", 1))
    return {
        **run,
        "encoder_sha256": file_digest(encoder, "sha256") if encoder is not None else None,
        "base_config_sha256": tree_digest(Path(base_config).parent, [Path(base_config).name, "_base_/*.py"]),
        "data_index_sha256": tree_digest(data_root, DATA_INDEX),
        "settings": {k: v for k, v in settings.items() if k not in BOOKKEEPING},
        "processes": launcher_tasks(launch_cfg) * procs,
    }


def set_aside_stale_work(out_dir: Path, record: dict[str, Any]) -> list[str]:
    """Set ``work/`` aside (``superseded/<time>/``) unless ``run.json`` says it was made from ``record``; returns
    what differed (``["run.json"]`` when checkpoints have no record to compare with)."""
    if not (out_dir / "work").exists():
        return []
    previous = read_json(out_dir / "run.json")
    changed = ["run.json"] if previous is None else differences(previous, record)
    if changed:
        set_aside(out_dir, ("work", "run.json"))
    return changed


def finetune(
    finetune_cfg: dict[str, Any],
    benchmark: str,
    size: str,
    fraction: float,
    seed: int,
    *,
    encoder: str | Path | None,
    data_root: str | Path,
    arch: str | Path | None = None,
    out_dir: str | Path,
    init: str = "pretrained",
    log_path: str | Path | None = None,
    resources: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build and write ``config.py`` in ``out_dir``, train and score the run; returns its ``metrics.json``.
    ``encoder``: the pretrained weights (None for ``init="scratch"``); ``arch``: their ``encoder.json`` (default:
    the one beside ``encoder``, where the pretraining stage writes it).
    ``resources``: launch settings the job's scheduler owns (cpus_per_task), over the section's."""
    from rsfm.launch import launch, launcher_tasks

    out_dir = Path(out_dir).resolve()
    launch_cfg = {**launch_settings(finetune_cfg, size), **(resources or {})}
    gpus = int(launch_cfg.get("gpus_per_node", 0))
    procs = gpus if gpus else int(launch_cfg.get("processes_per_node", 1))
    settings = resolve_settings(finetune_cfg, benchmark, size)
    start = parse_init(init)
    if start.pretrained and encoder is None:
        raise ConfigError(f"a {init} fine-tuning run of {size} needs its encoder.safetensors")
    if arch is None and encoder is None:
        raise ConfigError(f"a {init} fine-tuning run of {size} needs the encoder's encoder.json (arch)")
    arch = arch if arch is not None else Path(encoder).with_name("encoder.json")  # type: ignore[arg-type]
    weights = encoder if start.pretrained else None
    cfg = build_config(
        benchmark, size, fraction, seed, encoder=weights if weights is not None else arch,
        data_root=Path(data_root).resolve(), work_dir=out_dir / "work", settings=settings,
        base_dir=finetune_cfg.get("configs", "config/finetune"), gpus=gpus, arch=read_arch_file(arch), init=init,
    )  # fmt: skip
    log = logging.getLogger("rsfm.finetune")
    base_dir = Path(finetune_cfg.get("configs", "config/finetune"))
    record = run_record(
        settings, launch_cfg, encoder=weights, data_root=data_root, base_config=base_dir / f"{benchmark}.py",
        run={"benchmark": benchmark, "size": size, "init": init, "fraction": float(fraction), "seed": int(seed)},
    )  # fmt: skip
    if changed := set_aside_stale_work(out_dir, record):
        log.warning("%s: %s changed since its checkpoints were written: they are kept in %s, and the run starts "
                    "afresh", out_dir, ", ".join(changed), out_dir / "superseded")  # fmt: skip
    own_copies(out_dir / "work", ["last_checkpoint"])  # mmengine rewrites it in place
    write_json(out_dir / "run.json", record)
    config_path = write_config(cfg, out_dir / "config.py")
    handle = open(log_path, "a") if log_path else None  # noqa: SIM115 (the subprocess writes to it)
    try:
        if launcher_tasks(launch_cfg) == 1 and procs == 1:
            command = [sys.executable, "-m", "rsfm.finetune.train", str(config_path), "--launcher", "none"]
            log.info("running: %s", " ".join(command))
            env = dict(os.environ)
            if not gpus:
                env.setdefault("CUDA_VISIBLE_DEVICES", "")  # the CPU default stays on the CPU
            subprocess.run(command, check=True, env=env, stdout=handle, stderr=subprocess.STDOUT if handle else None)
        else:
            entry = ["-m", "rsfm.finetune.train", str(config_path), "--launcher", "pytorch"]
            launch(config_path, {**launch_cfg, "processes_per_node": procs}, log=log, entry=entry, stdout=handle)
    finally:
        if handle is not None:
            handle.close()
    metrics = out_dir / "metrics.json"
    if not metrics.is_file():
        raise RuntimeError(f"the fine-tuning run finished without writing {metrics}; see {log_path or 'its output'}")
    return json.loads(metrics.read_text())


def submission(config_path: str | Path, zip_path: str | Path, *, log_path: str | Path | None = None) -> Path:
    """The run's test-server export (:mod:`rsfm.finetune.submit`) in a process of its own, output to ``log_path``."""
    command = [sys.executable, "-m", "rsfm.finetune.submit", str(config_path), str(zip_path)]
    logging.getLogger("rsfm.finetune").info("running: %s", " ".join(command))
    with open(log_path, "a") if log_path else nullcontext() as handle:
        subprocess.run(command, check=True, stdout=handle, stderr=subprocess.STDOUT if handle else None)
    return Path(zip_path)


def collect(metric_files: list[str | Path], out_csv: str | Path) -> pd.DataFrame:
    """One tidy table of every run's rows (``TIDY_COLUMNS``), with the encoder's parameter count for plotting."""
    from rsfm.models.accounting import count_params

    rows = []
    params: dict[str, float] = {}
    for path in metric_files:
        result = json.loads(Path(path).read_text())
        for row in result["rows"]:
            size = row["size"]
            if size not in params:
                params[size] = count_params(size) / 1e6
            rows.append({"init": "pretrained", **row, "params_m": params[size]})  # files from before inits
    if not rows:
        raise ConfigError("no fine-tuning results to collect: finetune.sizes/benchmarks/fractions/seeds are empty")
    table = pd.DataFrame(rows)[TIDY_COLUMNS]
    table = table.sort_values(["benchmark", "params_m", "init", "fraction", "seed", "metric"])
    write_csv(table, out_csv)
    return table


__all__ = [
    "collect", "finetune", "fraction_label", "job_config", "launch_settings", "planned_runs", "planned_submissions",
    "run_dir", "run_record", "set_aside_stale_work", "submission",
]  # fmt: skip
