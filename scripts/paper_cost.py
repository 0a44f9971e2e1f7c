"""Snakemake glue for rule paper_cost."""

from rsfm.cost import build_projection
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake) as log:
    table = build_projection(snakemake.input.config, snakemake.input.throughput, snakemake.input.schema,
                             snakemake.output[0], base_dir=snakemake.params.base_dir)  # fmt: skip
    for _, row in table.iterrows():
        log.info("%s %s: %.4g GPU-hours (%s)", row["stage"], row["size"], row["gpu_h"], row["basis"])
