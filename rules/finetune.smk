# Fine-tuning of the pretrained encoders per (benchmark, size, training fraction, seed) with mmrotate / mmseg, the
# tidy table of all runs, and the paper-style figures drawn from it. A run's checkpoints (work/) are not declared
# outputs: Snakemake deletes the outputs of a failed job, and a rerun resumes from them.


rule finetune:
    input:
        encoder=finetune_encoder,
        arch=lambda wc: f"results/pretrain/{finetune_encoder_run(wc)}/encoder.json",
        data=lambda wc: benchmark_data(wc.benchmark),
        base=lambda wc: finetune_base_config(wc.benchmark),
    output:
        metrics="results/finetune/{benchmark}/{size}/{init}/f{fraction}_s{seed}/metrics.json",
        config="results/finetune/{benchmark}/{size}/{init}/f{fraction}_s{seed}/config.py",
    log:
        "logs/finetune/{benchmark}/{size}/{init}/f{fraction}_s{seed}.log",
    benchmark:
        "logs/benchmarks/finetune/{benchmark}/{size}/{init}/f{fraction}_s{seed}.tsv"
    wildcard_constraints:
        benchmark=wildcard_choice(FINETUNE.get("benchmarks", [])),
        size=wildcard_choice(FINETUNE.get("sizes", [])),
        init=INIT_PATTERN,
        fraction=r"[0-9.e-]+",
        seed=r"\d+",
    conda:
        CONDA_ENV
    threads: lambda wc: finetune_resource(wc.size, "cpus_per_task")
    resources:
        **job_resources(
            nodes=lambda wc: finetune_resource(wc.size, "nodes"),
            # one launcher per task (default: per node); with several the job runs its own srun (mpi), and
            # tasks_per_gpu=0 keeps the executor from turning gres + tasks into --ntasks-per-gpu
            tasks=lambda wc: finetune_resource(wc.size, "tasks"),
            mpi=lambda wc: finetune_resource(wc.size, "mpi"),
            tasks_per_gpu=0,
            cpus_per_task=lambda wc: finetune_resource(wc.size, "cpus_per_task"),
            gres=lambda wc: finetune_gres(wc.size),
            mem_mb=lambda wc: finetune_resource(wc.size, "mem_mb"),
            runtime=lambda wc: finetune_resource(wc.size, "runtime"),
        ),
    params:
        finetune_cfg=lambda wc: finetune_job_config(wc.benchmark, wc.size),
        out_dir=lambda wc: f"results/finetune/{wc.benchmark}/{wc.size}/{wc.init}/f{wc.fraction}_s{wc.seed}",
    script:
        "../scripts/finetune.py"


rule finetune_submission:
    input:
        metrics="results/finetune/{benchmark}/{size}/{init}/f1_s{seed}/metrics.json",
        config="results/finetune/{benchmark}/{size}/{init}/f1_s{seed}/config.py",
    output:
        "results/finetune/{benchmark}/{size}/{init}/f1_s{seed}/submission.zip",
    log:
        "logs/finetune/{benchmark}/{size}/{init}/f1_s{seed}.submission.log",
    benchmark:
        "logs/benchmarks/finetune/{benchmark}/{size}/{init}/f1_s{seed}.submission.tsv"
    wildcard_constraints:
        benchmark=wildcard_choice(server_benchmarks()),
        size=wildcard_choice(FINETUNE.get("sizes", [])),
        init=INIT_PATTERN,
        seed=r"\d+",
    conda:
        CONDA_ENV
    threads: lambda wc: finetune_resource(wc.size, "cpus_per_task")
    resources:
        **job_resources(
            gres=lambda wc: finetune_gres(wc.size, gpus=1),
            mem_mb=lambda wc: finetune_resource(wc.size, "mem_mb"),
            runtime=lambda wc: finetune_resource(wc.size, "runtime"),
        ),
    script:
        "../scripts/finetune_submission.py"


rule finetune_table:
    input:
        finetune_metric_files(),
    output:
        report(
            "results/finetune/metrics.csv",
            caption="../workflow/report/finetune_table.rst",
            category="Fine-tuning",
        ),
    log:
        "logs/finetune/table.log",
    benchmark:
        "logs/benchmarks/finetune/table.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    script:
        "../scripts/finetune_table.py"


rule finetune_vs_size:
    input:
        "results/finetune/metrics.csv",
    output:
        report(
            "results/figures/finetune_vs_size.png",
            caption="../workflow/report/finetune_vs_size.rst",
            category="Fine-tuning",
        ),
    log:
        "logs/figures/finetune_vs_size.log",
    benchmark:
        "logs/benchmarks/figures/finetune_vs_size.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    params:
        kind="size",
    script:
        "../scripts/finetune_figure.py"


rule finetune_vs_fraction:
    input:
        "results/finetune/metrics.csv",
    output:
        report(
            "results/figures/finetune_vs_fraction.png",
            caption="../workflow/report/finetune_vs_fraction.rst",
            category="Fine-tuning",
        ),
    log:
        "logs/figures/finetune_vs_fraction.log",
    benchmark:
        "logs/benchmarks/figures/finetune_vs_fraction.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    params:
        kind="fraction",
    script:
        "../scripts/finetune_figure.py"


# Paper 1's first open question (where do returns diminish beyond 2.4B?): a saturating law per benchmark against
# parameters and pretraining compute, with bootstrap bands, extrapolated to config scaling_law.targets_m.
rule slim_dense_table:
    input:
        table="results/finetune/metrics.csv",
        arch=expand("results/pretrain/{size}/encoder.json", size=FINETUNE.get("slim", {}).get("sizes", [])),
        base=[finetune_base_config(b) for b in FINETUNE.get("slim", {}).get("benchmarks", [])],
    output:
        report(
            "results/finetune/slim_dense.csv",
            caption="../workflow/report/slim_dense.rst",
            category=BEYOND_CATEGORY,
        ),
    log:
        "logs/finetune/slim_dense.log",
    benchmark:
        "logs/benchmarks/finetune/slim_dense.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=2000, runtime=10),
    params:
        finetune_cfg=canonical(FINETUNE),
    script:
        "../scripts/slim_dense_table.py"


# paper 2's classification retention of the same encoders, where the slimming study probes them
rule slim_dense_figure:
    input:
        **slim_dense_classification(),
        dense="results/finetune/slim_dense.csv",
    output:
        report(
            "results/figures/slim_dense.png",
            caption="../workflow/report/slim_dense.rst",
            category=BEYOND_CATEGORY,
        ),
    log:
        "logs/figures/slim_dense.log",
    benchmark:
        "logs/benchmarks/figures/slim_dense.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    script:
        "../scripts/slim_dense_figure.py"


rule scaling_law:
    input:
        table="results/finetune/metrics.csv",
        pretrain=expand("results/pretrain/{size}/metrics.csv", size=FINETUNE.get("sizes", [])),
    output:
        fits=report(
            "results/finetune/scaling_law.csv",
            caption="../workflow/report/scaling_law.rst",
            category=BEYOND_CATEGORY,
        ),
        points="results/finetune/scaling_law_points.csv",
    log:
        "logs/finetune/scaling_law.log",
    benchmark:
        "logs/benchmarks/finetune/scaling_law.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=4000, runtime=30),
    params:
        sizes=FINETUNE.get("sizes", []),
        settings=canonical(CFG.get("scaling_law", {})),
    script:
        "../scripts/scaling_law.py"


rule scaling_law_figure:
    input:
        fits="results/finetune/scaling_law.csv",
        points="results/finetune/scaling_law_points.csv",
    output:
        report(
            "results/figures/scaling_law.png",
            caption="../workflow/report/scaling_law.rst",
            category=BEYOND_CATEGORY,
        ),
    log:
        "logs/figures/scaling_law.log",
    benchmark:
        "logs/benchmarks/figures/scaling_law.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    script:
        "../scripts/scaling_law_figure.py"


# Paper 1's third open question (does a larger encoder use more pretraining data?): the runs fine-tuned from encoders
# pretrained on nested shares of the images (pretrain.data_scaling), beside each size's own.
rule data_scaling_table:
    input:
        table="results/finetune/metrics.csv",
        arch=data_scaling_encoders(),
        shards=lambda wc: DATA / "tiles" / PRETRAIN["dataset"],
    output:
        report(
            "results/finetune/data_scaling.csv",
            caption="../workflow/report/data_scaling.rst",
            category=BEYOND_CATEGORY,
        ),
    log:
        "logs/finetune/data_scaling.log",
    benchmark:
        "logs/benchmarks/finetune/data_scaling.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    params:
        data_scaling=canonical(PRETRAIN.get("data_scaling", {})),
        benchmarks=FINETUNE.get("data_scaling", {}).get("benchmarks", []),
    script:
        "../scripts/data_scaling_table.py"


rule data_scaling_figure:
    input:
        "results/finetune/data_scaling.csv",
    output:
        report(
            "results/figures/data_scaling.png",
            caption="../workflow/report/data_scaling.rst",
            category=BEYOND_CATEGORY,
        ),
    log:
        "logs/figures/data_scaling.log",
    benchmark:
        "logs/benchmarks/figures/data_scaling.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    script:
        "../scripts/data_scaling_figure.py"
