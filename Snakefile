# rsfm: reproduction pipeline for scaled (Cha et al. 2023) and slimmed (Hackel et al. 2026) RS foundation models.
#   snakemake --cores 2                             the embedded default (config/config.yaml: synthetic data, CPU)
#   snakemake --configfile config/paper.yaml -n     plan the full reproduction
#   snakemake --profile profiles/slurm ...          on a SLURM cluster


# The embedded default, unless --configfile names a config: each of ours is complete, and merging the two would
# keep the default's named entries (its tiny encoders, say) beside the paper's.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/pretrain.smk"
include: "rules/finetune.smk"
include: "rules/slimming.smk"
include: "rules/metrics.smk"
include: "rules/compare.smk"
include: "rules/cost.smk"


localrules:
    all,
    all_data,
    all_pretrain,
    all_finetune,
    all_slimming,
    all_figures,


rule all:
    default_target: True
    input:
        all_targets(),


# One target per phase: `snakemake all_figures` redraws every figure from the tables; dvc.yaml runs one per stage.
for phase in PHASES:

    rule:
        name:
            f"all_{phase}"
        input:
            phase_targets(phase),
