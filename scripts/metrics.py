"""Snakemake glue for the *_metrics rules (headline numbers as JSON for DVC)."""

from rsfm import metrics
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    summarize = {
        "pretrain": metrics.pretrain_metrics,
        "finetune": metrics.finetune_metrics,
        "slimming": metrics.slimming_metrics,
    }[snakemake.params.phase]
    metrics.write_json(summarize(snakemake.input[0]), snakemake.output[0])
