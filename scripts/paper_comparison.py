"""Snakemake glue for rule paper_comparison."""

from rsfm.comparison import build
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    build(
        snakemake.input.get("finetune"), snakemake.input.get("probes"), snakemake.params.sizes,
        snakemake.params.synthetic, snakemake.output.csv, snakemake.output.md,
    )  # fmt: skip
