"""Snakemake glue for rule scaling_law."""

from rsfm.scaling import build
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake) as log:
    pretrain = dict(zip(snakemake.params.sizes, snakemake.input.pretrain, strict=True))
    fits = build(snakemake.input.table, pretrain, snakemake.params.settings, snakemake.output.fits,
                 snakemake.output.points)  # fmt: skip
    for fit in fits:
        log.info("%s vs %s: %s %s", fit.benchmark, fit.axis, fit.status, fit.reason or fit.params)
