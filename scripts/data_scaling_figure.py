"""Snakemake glue for rule data_scaling_figure."""

from rsfm.plots.data_scaling import draw
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    draw(snakemake.input[0], snakemake.output[0])
