"""Snakemake glue for rule finetune_table."""

from rsfm.finetune.run import collect
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    collect(list(snakemake.input), snakemake.output[0])
