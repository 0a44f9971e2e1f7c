"""Snakemake glue for rule slim_redundancy."""

from rsfm.slimming.run import redundancy
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    redundancy(snakemake.params.slim_cfg, snakemake.input[0], snakemake.output.table, snakemake.output.spectra)
