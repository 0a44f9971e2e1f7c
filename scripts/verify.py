"""Snakemake glue for rule verify."""

from rsfm.data import pipeline
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    pipeline.verify(
        snakemake.wildcards.dataset, snakemake.params.settings, snakemake.params.archive_dir, snakemake.output[0]
    )
