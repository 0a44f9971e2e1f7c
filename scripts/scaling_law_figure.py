"""Snakemake glue for rule scaling_law_figure."""

from rsfm.plots.scaling import draw
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    draw(snakemake.input.fits, snakemake.input.points, snakemake.output[0])
