"""Snakemake glue for rule tile."""

from rsfm.data import pipeline
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    pipeline.tile(
        snakemake.wildcards.dataset,
        snakemake.params.dataset_cfg,
        snakemake.input[0],
        snakemake.output[0],
        workers=snakemake.threads,
    )
