"""Snakemake glue for rule slim_tables."""

from rsfm.slimming.run import concat
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    for name in ("probes", "redundancy", "spectra"):
        concat(list(snakemake.input[name]), snakemake.output[name])
