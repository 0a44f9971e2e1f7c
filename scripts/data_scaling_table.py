"""Snakemake glue for rule data_scaling_table."""

from rsfm.data_scaling import write_table
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    write_table(
        snakemake.input.table, snakemake.params.data_scaling, snakemake.params.benchmarks, snakemake.input.arch,
        snakemake.input.shards, snakemake.output[0],
    )  # fmt: skip
