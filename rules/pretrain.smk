# MAE pretraining per size on the pretraining dataset's shards, then its loss curve.
# The run's checkpoints/ and log.csv are not declared outputs: Snakemake deletes the outputs of a failed job, and
# these are what a rerun resumes from.


rule pretrain:
    input:
        shards=lambda wc: DATA / "tiles" / PRETRAIN["dataset"],
    output:
        encoder="results/pretrain/{size}/encoder.safetensors",
        arch="results/pretrain/{size}/encoder.json",
        metrics="results/pretrain/{size}/metrics.csv",
    log:
        "logs/pretrain/{size}.log",
    benchmark:
        "logs/benchmarks/pretrain/{size}.tsv"
    wildcard_constraints:
        size=wildcard_choice(PRETRAIN.get("sizes", [])),
    conda:
        "../envs/rsfm.yaml"
    threads: lambda wc: pretrain_resource(wc.size, "cpus_per_task")
    resources:
        **site("pretrain"),
        nodes=lambda wc: pretrain_resource(wc.size, "nodes"),
        # one launcher per task (default: per node); with several the job runs its own srun (mpi), and
        # tasks_per_gpu=0 keeps the executor from turning gres + tasks into --ntasks-per-gpu
        tasks=lambda wc: pretrain_resource(wc.size, "tasks"),
        mpi=lambda wc: pretrain_resource(wc.size, "mpi"),
        tasks_per_gpu=0,
        cpus_per_task=lambda wc: pretrain_resource(wc.size, "cpus_per_task"),
        gres=lambda wc: pretrain_gres(wc.size),
        mem_mb=lambda wc: pretrain_resource(wc.size, "mem_mb"),
        runtime=lambda wc: pretrain_resource(wc.size, "runtime"),
    params:
        pretrain_cfg=PRETRAIN,
        out_dir=lambda wc: f"results/pretrain/{wc.size}",
    script:
        "../scripts/pretrain.py"


rule pretrain_loss_curve:
    input:
        "results/pretrain/{size}/metrics.csv",
    output:
        report(
            "results/figures/pretrain_loss_{size}.png",
            caption="../workflow/report/pretrain_loss.rst",
            category="Pretraining",
        ),
    log:
        "logs/figures/pretrain_loss_{size}.log",
    benchmark:
        "logs/benchmarks/figures/pretrain_loss_{size}.tsv"
    conda:
        "../envs/rsfm.yaml"
    threads: 1
    resources:
        **site("pretrain_loss_curve"),
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/pretrain_loss_curve.py"
