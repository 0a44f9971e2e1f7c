# Pretraining runs (MAE per size, plus the named runs: MoCo v3, slimmable) on the pretraining dataset's shards,
# then each run's loss curve.
# The run's checkpoints/ and log.csv are not declared outputs: Snakemake deletes the outputs of a failed job, and
# these are what a rerun resumes from.


rule pretrain:
    input:
        shards=lambda wc: DATA / "tiles" / PRETRAIN["dataset"],
    output:
        encoder="results/pretrain/{run}/encoder.safetensors",
        arch="results/pretrain/{run}/encoder.json",
        metrics="results/pretrain/{run}/metrics.csv",
    log:
        "logs/pretrain/{run}.log",
    benchmark:
        "logs/benchmarks/pretrain/{run}.tsv"
    wildcard_constraints:
        run=wildcard_choice(pretrain_run_names()),
    conda:
        CONDA_ENV
    threads: lambda wc: pretrain_resource(wc.run, "cpus_per_task")
    resources:
        **job_resources(
            nodes=lambda wc: pretrain_resource(wc.run, "nodes"),
            # one launcher per task (default: per node); with several the job runs its own srun (mpi), and
            # tasks_per_gpu=0 keeps the executor from turning gres + tasks into --ntasks-per-gpu
            tasks=lambda wc: pretrain_resource(wc.run, "tasks"),
            mpi=lambda wc: pretrain_resource(wc.run, "mpi"),
            tasks_per_gpu=0,
            cpus_per_task=lambda wc: pretrain_resource(wc.run, "cpus_per_task"),
            gres=lambda wc: pretrain_gres(wc.run),
            mem_mb=lambda wc: pretrain_resource(wc.run, "mem_mb"),
            runtime=lambda wc: pretrain_resource(wc.run, "runtime"),
        ),
    params:
        pretrain_cfg=lambda wc: pretrain_job_config(wc.run),
        out_dir=lambda wc: f"results/pretrain/{wc.run}",
    script:
        "../scripts/pretrain.py"


rule pretrain_loss_curve:
    input:
        "results/pretrain/{run}/metrics.csv",
    output:
        report(
            "results/figures/pretrain_loss_{run}.png",
            caption="../workflow/report/pretrain_loss.rst",
            category="Pretraining",
        ),
    log:
        "logs/figures/pretrain_loss_{run}.log",
    benchmark:
        "logs/benchmarks/figures/pretrain_loss_{run}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    script:
        "../scripts/pretrain_loss_curve.py"
