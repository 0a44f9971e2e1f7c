"""Snakemake glue for rule run_cost."""

from rsfm.cost import build_run_cost
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake) as log:
    summary = build_run_cost(snakemake.params.benchmarks, snakemake.params.config, snakemake.output.jobs,
                             snakemake.output.summary)  # fmt: skip
    log.info("%d jobs: %.3g wall-hours, %.3g GPU-hours", summary["jobs"].sum(), summary["wall_h"].sum(),
             summary["gpu_h"].sum())  # fmt: skip
