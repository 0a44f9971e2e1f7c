"""Snakemake glue for rule slim_export."""

from rsfm.slimming.export import export_encoder
from rsfm.slimming.export_paths import parse_budget
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake) as log:
    choice = export_encoder(
        snakemake.params.slim_cfg,
        snakemake.wildcards.encoder,
        list(snakemake.input.sweep),
        snakemake.output[0],
        **parse_budget(snakemake.wildcards.budget),
    )
    log.info("exported %s at width %g (%s): %.3f of its FLOPs, retention %.3f", choice.encoder, choice.width,
             choice.variant, choice.rel_flops, choice.retention)  # fmt: skip
