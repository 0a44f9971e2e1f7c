"""Snakemake glue for rule pretrain."""

from rsfm.pretrain.run import pretrain
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    pretrain(
        snakemake.params.pretrain_cfg, snakemake.wildcards.run, snakemake.input.shards, snakemake.params.out_dir,
        resources={"cpus_per_task": snakemake.resources.cpus_per_task},
    )  # fmt: skip
