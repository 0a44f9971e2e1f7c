# Headline numbers of each phase as JSON, read from the tidy tables: the `metrics` of dvc.yaml's stages.


rule pretrain_metrics:
    input:
        "results/pretrain/{size}/metrics.csv",
    output:
        "results/metrics/pretrain_{size}.json",
    log:
        "logs/metrics/pretrain_{size}.log",
    benchmark:
        "logs/benchmarks/metrics/pretrain_{size}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    params:
        phase="pretrain",
    script:
        "../scripts/metrics.py"


rule finetune_metrics:
    input:
        "results/finetune/metrics.csv",
    output:
        "results/metrics/finetune.json",
    log:
        "logs/metrics/finetune.log",
    benchmark:
        "logs/benchmarks/metrics/finetune.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    params:
        phase="finetune",
    script:
        "../scripts/metrics.py"


rule slim_metrics:
    input:
        "results/slimming/probes.csv",
    output:
        "results/metrics/slimming.json",
    log:
        "logs/metrics/slimming.log",
    benchmark:
        "logs/benchmarks/metrics/slimming.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    params:
        phase="slimming",
    script:
        "../scripts/metrics.py"
