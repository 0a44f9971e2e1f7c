"""Snakemake glue for rule slim_features."""

from rsfm.slimming.run import features
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    wc = snakemake.wildcards
    features(
        snakemake.params.slim_cfg, wc.encoder, wc.dataset, prepared=snakemake.input.data,
        out_dir=snakemake.params.out_dir, manifest=snakemake.output[0],
        device="cuda" if snakemake.params.slim_cfg.get("run", {}).get("gpus") else "cpu",
    )  # fmt: skip
