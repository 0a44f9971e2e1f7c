"""Snakemake glue for rule finetune_submission."""

from rsfm.finetune.run import submission
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    submission(snakemake.input.config, snakemake.output[0], log_path=snakemake.log[0])
