"""What a reproduction costs: what this run took, from Snakemake's per-job benchmark files, and what the paper
config's run will take, from its plan and the measured pretraining throughput (benchmarks/measured/).

- **This run** (rule run_cost): every job's wall time and CPU time (``s`` and ``cpu_time`` of its benchmark TSV)
  and its GPU-hours (wall time x the GPUs its allocation holds, from the config), summed per stage and size.
- **The paper run** (rule paper_cost): per pretraining run, images seen (epochs x the dataset's images) over the
  measured images/s per GPU, or, for a size never measured, over the rate the measured MFU of the closest measured
  size gives it (FLOPs per image counted on a meta-device build); fine-tuning as the allocation's upper bound
  (planned jobs x runtime limit x GPUs), since no fine-tuning throughput is on record.

Free of torch at import; the projection counts FLOPs with torch.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import pandas as pd

from rsfm.errors import ConfigError, DataError
from rsfm.io import write_csv

JOB_COLUMNS = ["stage", "size", "job", "wall_s", "cpu_s", "gpus", "gpu_h"]
COST_COLUMNS = ["stage", "size", "jobs", "wall_h", "cpu_h", "gpu_h"]
PROJECTION_COLUMNS = ["stage", "size", "jobs", "gpus_per_job", "images", "images_per_s_per_gpu", "gpu_h", "wall_h",
                      "basis", "hardware"]  # fmt: skip
THROUGHPUT_COLUMNS = ["date", "machine", "peak_tflops", "model", "objective", "img_size", "batch_per_gpu",
                      "images_per_s", "mfu", "settings", "command"]  # fmt: skip


# ------------------------------------------------------------------------------------------------------ this run
def job_gpus(stage: str, size: str, job: str, config: dict[str, Any]) -> int:
    """The GPUs a job's allocation holds, from the validated config: pretraining and fine-tuning runs their nodes x
    GPUs per node (a test-server export one of them), the slimming sweep and probes slimming.run.gpus; others 0."""
    from rsfm.finetune.run import launch_settings
    from rsfm.launch import allocated_gpus
    from rsfm.pretrain.runs import pretrain_runs, run_settings

    if stage == "pretrain" and size in pretrain_runs(config.get("pretrain", {})):
        settings = run_settings(config["pretrain"], size)
    elif stage == "finetune" and size in config.get("finetune", {}).get("sizes", []):
        settings = launch_settings(config["finetune"], size)
        if job.endswith(".submission"):
            return min(1, int(settings.get("gpus_per_node", 0) or 0))
    elif stage == "slimming" and job.split("/")[0] in ("features", "probes"):
        return int(config.get("slimming", {}).get("run", {}).get("gpus", 0) or 0)
    else:
        return 0
    return allocated_gpus(settings)


def _stage_and_size(relative: Path) -> tuple[str, str]:
    """A benchmark file's stage (its folder under logs/benchmarks, "workflow" at the top) and size or encoder."""
    parts = relative.with_suffix("").parts
    stage = parts[0] if len(parts) > 1 else "workflow"
    if stage == "pretrain":
        return stage, parts[1]
    if stage in ("finetune", "slimming") and len(parts) > 3:  # <benchmark or step>/<size or encoder>/...
        return stage, parts[2]
    return stage, ""


def job_costs(benchmark_dir: str | Path, config: dict[str, Any]) -> pd.DataFrame:
    """One row per benchmark TSV under ``benchmark_dir`` (the last line: the job's latest run)."""
    rows = []
    root = Path(benchmark_dir)
    for path in sorted(root.rglob("*.tsv")):
        relative = path.relative_to(root)
        try:
            table = pd.read_csv(path, sep="\t")
            last = table.iloc[-1]
            wall, cpu = float(last["s"]), float(last["cpu_time"])
        except (pd.errors.ParserError, pd.errors.EmptyDataError, KeyError, IndexError, ValueError) as error:
            raise DataError(f"{path}: not a Snakemake benchmark file ({error}); delete it or rerun its job") from None
        stage, size = _stage_and_size(relative)
        job = str(relative.with_suffix("").relative_to(stage)) if stage != "workflow" else relative.stem
        gpus = job_gpus(stage, size, job, config)
        rows.append({"stage": stage, "size": size, "job": job, "wall_s": wall, "cpu_s": cpu, "gpus": gpus,
                     "gpu_h": wall * gpus / 3600})  # fmt: skip
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def run_cost(jobs: pd.DataFrame) -> pd.DataFrame:
    """The jobs summed per stage and size: job count, wall-hours, CPU-hours, GPU-hours."""
    grouped = jobs.groupby(["stage", "size"], as_index=False).agg(
        jobs=("job", "count"), wall_h=("wall_s", "sum"), cpu_h=("cpu_s", "sum"), gpu_h=("gpu_h", "sum"))  # fmt: skip
    grouped["wall_h"] /= 3600
    grouped["cpu_h"] /= 3600
    return grouped[COST_COLUMNS]


# -------------------------------------------------------------------------------------------------- the paper run
def read_throughput(path: str | Path) -> pd.DataFrame:
    """The measured pretraining throughput table (one row per measured model and batch), checked for its columns."""
    table = pd.read_csv(path)
    missing = [c for c in THROUGHPUT_COLUMNS if c not in table]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; expected {THROUGHPUT_COLUMNS}")
    return table


def objective_name(run: Any) -> str:
    """The throughput table's name of a run's objective: mae, moco, mae_slimmable, moco_slimmable."""
    return run.method + ("_slimmable" if run.slimmable else "")


def _rate(run: Any, throughput: pd.DataFrame) -> tuple[float, str, str]:
    """(images/s per GPU, basis, hardware) of a pretraining run: the measured row of its model, objective and image
    size at its micro batch (else the first such row); else the MFU of the measured row closest in parameters (then
    in batch) applied to the run's own FLOPs per image (which count its objective: MoCo's two views; a slimmable
    step's full width only, so its rate is then an upper bound and its GPU-hours a lower one)."""
    from rsfm.pretrain.compute import flops_per_image

    rows = throughput[(throughput["model"] == run.model) & (throughput["objective"] == objective_name(run))
                      & (throughput["img_size"] == run.img_size)]  # fmt: skip
    if len(rows):
        same = rows[rows["batch_per_gpu"] == run.micro_batch]
        row = (same if len(same) else rows).iloc[0]
        basis = f"measured: {row['settings']}, batch {row['batch_per_gpu']}/GPU ({row['date']}, {row['command']})"
        return float(row["images_per_s"]), basis, str(row["machine"])
    if throughput.empty:
        raise DataError("the measured throughput table has no rows: nothing to project from")
    target = _params(run.model)
    measured = throughput.assign(gap=[abs(math.log(_params(m) / target)) for m in throughput["model"]],
                                 batch_gap=(throughput["batch_per_gpu"] - run.micro_batch).abs())  # fmt: skip
    row = measured.sort_values(["gap", "batch_gap"]).iloc[0]
    flops = flops_per_image(run)
    rate = float(row["mfu"]) * float(row["peak_tflops"]) * 1e12 / flops
    basis = (f"projected: the {row['mfu']:.1%} MFU measured for {row['model']} {row['objective']} "
             f"({row['settings']}, batch {row['batch_per_gpu']}, {row['date']}) on this run's {flops / 1e9:.0f} GFLOP "
             "per image")  # fmt: skip
    if run.slimmable:  # the objective counts one width's FLOPs (its MFU is the full width's)
        basis += "; a lower bound: the sandwich's sub-widths of each step are not counted"
    return rate, basis, str(row["machine"])


@functools.cache
def _params(model: str) -> float:  # counted on a meta-device build, once per model
    from rsfm.models.accounting import count_params

    return float(count_params(model))


def projection(config: dict[str, Any], throughput: pd.DataFrame) -> pd.DataFrame:
    """GPU-hours the config's pretraining runs will take (from throughput) and what its fine-tuning runs may take at
    most (their allocations), per run or size."""
    from rsfm.data.registry import get_dataset
    from rsfm.data.subsets import subset_size
    from rsfm.finetune.run import launch_settings, planned_runs
    from rsfm.launch import allocated_gpus
    from rsfm.pretrain.engine import schedule
    from rsfm.pretrain.run import run_config
    from rsfm.pretrain.runs import pretrain_runs, run_settings

    rows = []
    pretrain_cfg = config.get("pretrain", {})
    if pretrain_cfg:
        dataset = pretrain_cfg.get("dataset", "millionaid")
        images = get_dataset(dataset).images
        if not images:
            raise ConfigError(f"the registry entry of {dataset!r} records no image count (DatasetSpec.images)")
    for name in pretrain_runs(pretrain_cfg):
        run = run_config(pretrain_cfg, name, "", "")
        settings = run_settings(pretrain_cfg, name)
        gpus = allocated_gpus(settings)
        # the engine's own count of steps for the run's share of the images and budget (rsfm.pretrain.engine)
        seen = schedule(run, subset_size(images, run.data_fraction), images).total_steps * run.global_batch
        if not gpus:
            rows.append({"stage": "pretrain", "size": name, "jobs": 1, "gpus_per_job": 0, "images": seen,
                         "basis": "runs on CPUs: no GPU-hours"})  # fmt: skip
            continue
        rate, basis, hardware = _rate(run, throughput)
        gpu_h = seen / rate / 3600  # every GPU at the measured per-GPU rate: linear scaling over the job's GPUs
        rows.append({"stage": "pretrain", "size": name, "jobs": 1, "gpus_per_job": gpus, "images": seen,
                     "images_per_s_per_gpu": rate, "gpu_h": gpu_h, "wall_h": gpu_h / gpus, "basis": basis,
                     "hardware": hardware})  # fmt: skip
    finetune_cfg = config.get("finetune", {})
    runs = planned_runs(finetune_cfg, pretrain_cfg.get("data_scaling")) if finetune_cfg else []
    for size in finetune_cfg.get("sizes", []):
        count = sum(1 for run in runs if run[1] == size)
        settings = launch_settings(finetune_cfg, size)
        gpus = allocated_gpus(settings)
        hours = float(settings.get("runtime", 60)) / 60
        rows.append({"stage": "finetune", "size": size, "jobs": count, "gpus_per_job": gpus,
                     "gpu_h": count * hours * gpus, "wall_h": count * hours,
                     "basis": f"upper bound: {count} jobs x the {hours:g} h runtime limit x {gpus} GPUs (no "
                              "fine-tuning throughput on record)"})  # fmt: skip
    return pd.DataFrame(rows, columns=PROJECTION_COLUMNS)


# ------------------------------------------------------------------------------------------------------- the rules
def build_run_cost(benchmark_dir: str | Path, config: dict[str, Any], jobs_csv: str | Path,
                   cost_csv: str | Path) -> pd.DataFrame:  # fmt: skip
    """Rule run_cost: every job's cost and their sums per stage and size."""
    jobs = job_costs(benchmark_dir, config)
    write_csv(jobs, jobs_csv)
    summary = run_cost(jobs)
    write_csv(summary, cost_csv)
    return summary


def build_projection(config_path: str | Path, throughput_csv: str | Path, schema: str | Path, out_csv: str | Path,
                     base_dir: str | Path = ".") -> pd.DataFrame:  # fmt: skip
    """Rule paper_cost: the projection of the config at ``config_path`` (validated against ``schema``; ``base_dir``:
    where its relative paths start, the repository)."""
    import yaml

    from rsfm.config import validate_config

    config = validate_config(yaml.safe_load(Path(config_path).read_text()), schema, base_dir=base_dir)
    table = projection(config, read_throughput(throughput_csv))
    write_csv(table, out_csv)
    return table


__all__ = [
    "COST_COLUMNS", "JOB_COLUMNS", "PROJECTION_COLUMNS", "THROUGHPUT_COLUMNS", "build_projection", "build_run_cost",
    "job_costs", "job_gpus", "projection", "read_throughput", "run_cost",
]  # fmt: skip
