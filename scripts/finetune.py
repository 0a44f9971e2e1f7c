"""Snakemake glue for rule finetune."""

from pathlib import Path

from rsfm.finetune.run import finetune
from rsfm.workflow import snakemake_job

with snakemake_job(snakemake):
    wc = snakemake.wildcards
    # the base config as the rule found it (relative to the repository, wherever the working directory is)
    finetune_cfg = {**snakemake.params.finetune_cfg, "configs": str(Path(snakemake.input.base).parent)}
    finetune(
        finetune_cfg, wc.benchmark, wc.size, float(wc.fraction), int(wc.seed), init=wc.init,
        encoder=snakemake.input.encoder or None, arch=snakemake.input.arch, data_root=snakemake.input.data,
        out_dir=snakemake.params.out_dir,
        log_path=snakemake.log[0], resources={"cpus_per_task": snakemake.resources.cpus_per_task},
    )  # fmt: skip
