"""Snakemake glue for the slim_<figure> rules."""

from rsfm.plots.slimming import FIGURES, redundancy_curves
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    figure = snakemake.params.figure
    if figure == "redundancy_curves":
        redundancy_curves(snakemake.input.redundancy, snakemake.input.spectra, snakemake.output[0])
    else:
        FIGURES[figure](snakemake.input.probes, snakemake.output[0])
