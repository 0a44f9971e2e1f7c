"""Snakemake glue for rules finetune_vs_size and finetune_vs_fraction."""

from rsfm.plots.finetune import metric_vs_fraction, metric_vs_size
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    draw = {"size": metric_vs_size, "fraction": metric_vs_fraction}[snakemake.params.kind]
    draw(snakemake.input[0], snakemake.output[0])
