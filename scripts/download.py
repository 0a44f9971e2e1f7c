"""Snakemake glue for rule download."""

from rsfm.data import pipeline
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    pipeline.download(
        snakemake.wildcards.dataset, snakemake.params.settings, snakemake.params.archive_dir, snakemake.output.manifest
    )
