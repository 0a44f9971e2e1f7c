"""Snakemake glue for rule synthesize."""

from rsfm.data import pipeline
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake) as log:
    counts = pipeline.synthesize(snakemake.wildcards.dataset, snakemake.params.dataset_cfg, snakemake.output[0])
    log.info("synthesized %s: %s", snakemake.wildcards.dataset, counts)
