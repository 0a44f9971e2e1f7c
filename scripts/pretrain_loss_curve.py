"""Snakemake glue for rule pretrain_loss_curve."""

from rsfm.plots.pretrain import loss_curve
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    loss_curve(snakemake.input[0], snakemake.output[0], title=f"Pretraining: {snakemake.wildcards.run}")
