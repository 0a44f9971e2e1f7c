# What a reproduction costs (rsfm.cost): this run's wall, CPU and GPU hours from every job's Snakemake benchmark
# file, and what the paper config's run will take from its plan and the measured throughput table. The projection
# needs no run: `snakemake results/cost/paper_projection.csv --configfile config/paper.yaml` answers at once.


rule run_cost:
    input:
        cost_inputs(),
    output:
        jobs="results/cost/jobs.csv",
        summary=report(
            "results/cost/run_cost.csv",
            caption="../workflow/report/cost.rst",
            category=BEYOND_CATEGORY,
        ),
    log:
        "logs/cost/run_cost.log",
    benchmark:
        "logs/benchmarks/cost/run_cost.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    params:
        benchmarks="logs/benchmarks",
        config=canonical({key: CFG.get(key, {}) for key in ("pretrain", "finetune", "slimming")}),
    script:
        "../scripts/run_cost.py"


rule paper_cost:
    input:
        config=repository_file(COST["paper_config"]),
        throughput=repository_file(COST["throughput"]),
        schema=repository_file("workflow/schemas/config.schema.yaml"),
    output:
        report(
            "results/cost/paper_projection.csv",
            caption="../workflow/report/cost.rst",
            category=BEYOND_CATEGORY,
        ),
    log:
        "logs/cost/paper_cost.log",
    benchmark:
        "logs/benchmarks/cost/paper_cost.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=4000, runtime=10),
    params:
        # relative, as the inputs: moving the clone reruns nothing
        base_dir=repository_file("."),
    script:
        "../scripts/paper_cost.py"


rule cost_figure:
    input:
        run="results/cost/run_cost.csv",
        projection="results/cost/paper_projection.csv",
    output:
        report(
            "results/figures/cost.png",
            caption="../workflow/report/cost.rst",
            category=BEYOND_CATEGORY,
        ),
    log:
        "logs/figures/cost.log",
    benchmark:
        "logs/benchmarks/figures/cost.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=1000, runtime=5),
    script:
        "../scripts/cost_figure.py"
