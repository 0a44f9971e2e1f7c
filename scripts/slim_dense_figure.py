"""Snakemake glue for rule slim_dense_figure."""

from rsfm.plots.dense_slimming import draw
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    draw(snakemake.input.dense, snakemake.input.get("probes"), snakemake.output[0])
