"""Snakemake glue for the *_metrics rules (headline numbers as JSON for DVC)."""

from rsfm import headlines
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    summarize = {
        "pretrain": headlines.pretrain_metrics,
        "finetune": headlines.finetune_metrics,
        "slimming": headlines.slimming_metrics,
    }[snakemake.params.phase]
    headlines.write_json(summarize(snakemake.input[0]), snakemake.output[0])
