"""Snakemake glue for rule slim_dense_table."""

from pathlib import Path

from rsfm.dense_slimming import write_table
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    arch_files = {Path(path).parent.name: path for path in snakemake.input.arch}  # results/pretrain/<size>/
    configs = str(Path(snakemake.input.base[0]).parent)  # the base configs' folder (finetune.configs)
    write_table(snakemake.input.table, snakemake.params.finetune_cfg, arch_files, configs, snakemake.output[0])
