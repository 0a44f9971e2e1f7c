"""Snakemake glue for rule slim_probe."""

from rsfm.slimming.run import probe
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    device = "cuda" if snakemake.params.slim_cfg.get("run", {}).get("gpus") else "cpu"
    probe(snakemake.params.slim_cfg, snakemake.input[0], snakemake.output[0], device=device)
