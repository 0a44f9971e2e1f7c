"""Snakemake glue for rule extract."""

from rsfm.data import pipeline
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    pipeline.extract(
        snakemake.wildcards.dataset, snakemake.params.settings, snakemake.params.archive_dir, snakemake.output[0]
    )
