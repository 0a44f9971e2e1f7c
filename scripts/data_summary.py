"""Snakemake glue for rule data_summary."""

from rsfm.data import summary
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    summary.write_summary(
        dict(zip(snakemake.params.datasets, snakemake.input, strict=True)),
        table=snakemake.output.table,
        markdown=snakemake.output.markdown,
    )
