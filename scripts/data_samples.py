"""Snakemake glue for rule data_samples."""

from rsfm.data import summary
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    summary.draw_samples(
        dict(zip(snakemake.params.datasets, snakemake.input, strict=True)),
        snakemake.output[0],
        samples_per_dataset=snakemake.params.samples,
    )
