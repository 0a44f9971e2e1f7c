"""Snakemake glue for rule cost_figure."""

from rsfm.plots.cost import draw
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    draw(snakemake.input.run, snakemake.input.projection, snakemake.output[0])
