# Paper 2's slimming study: per (encoder, dataset) one sweep of frozen features over all widths of every variant
# (the data decoded and the encoder loaded once), probes on them, redundancy measures, the tidy tables and one rule
# per figure.


rule slim_features:
    input:
        encoder=lambda wc: slim_encoder_files(wc.encoder),
        data=lambda wc: DATA / "prepared" / wc.dataset,
    output:
        "results/slimming/features/{encoder}/{dataset}.json",
    log:
        "logs/slimming/features/{encoder}/{dataset}.log",
    benchmark:
        "logs/benchmarks/slimming/features/{encoder}/{dataset}.tsv"
    wildcard_constraints:
        encoder=wildcard_choice(list(SLIMMING.get("encoders", {}))),
        dataset=wildcard_choice(SLIMMING.get("datasets", [])),
    conda:
        CONDA_ENV
    threads: slim_resource("cpus_per_task")
    resources:
        **job_resources(gres=slim_gres(), mem_mb=slim_resource("mem_mb"), runtime=slim_resource("runtime")),
    params:
        slim_cfg=lambda wc: slim_job_config("features", wc.encoder),
        out_dir=lambda wc: f"results/slimming/features/{wc.encoder}/{wc.dataset}",
    script:
        "../scripts/slim_features.py"


rule slim_probe:
    input:
        "results/slimming/features/{encoder}/{dataset}.json",
    output:
        "results/slimming/probes/{encoder}/{dataset}.csv",
    log:
        "logs/slimming/probes/{encoder}/{dataset}.log",
    benchmark:
        "logs/benchmarks/slimming/probes/{encoder}/{dataset}.tsv"
    conda:
        CONDA_ENV
    threads: slim_resource("cpus_per_task")
    resources:
        **job_resources(gres=slim_gres(), mem_mb=slim_resource("mem_mb"), runtime=slim_resource("runtime")),
    params:
        slim_cfg=lambda wc: slim_job_config("probe", wc.encoder),
    script:
        "../scripts/slim_probe.py"


rule slim_redundancy:
    input:
        "results/slimming/features/{encoder}/{dataset}.json",
    output:
        table="results/slimming/redundancy/{encoder}/{dataset}.csv",
        spectra="results/slimming/spectra/{encoder}/{dataset}.csv",
    log:
        "logs/slimming/redundancy/{encoder}/{dataset}.log",
    benchmark:
        "logs/benchmarks/slimming/redundancy/{encoder}/{dataset}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=slim_resource("mem_mb"), runtime=slim_resource("runtime")),
    params:
        slim_cfg=lambda wc: slim_job_config("redundancy", wc.encoder),
    script:
        "../scripts/slim_redundancy.py"


rule slim_tables:
    input:
        probes=slim_outputs("results/slimming/probes/{encoder}/{dataset}.csv"),
        redundancy=slim_outputs("results/slimming/redundancy/{encoder}/{dataset}.csv"),
        spectra=slim_outputs("results/slimming/spectra/{encoder}/{dataset}.csv"),
    output:
        probes=report(
            "results/slimming/probes.csv",
            caption="../workflow/report/slim_probes.rst",
            category="Slimming",
        ),
        redundancy=report(
            "results/slimming/redundancy.csv",
            caption="../workflow/report/slim_redundancy.rst",
            category="Slimming",
        ),
        spectra=report(
            "results/slimming/spectra.csv",
            caption="../workflow/report/slim_spectra.rst",
            category="Slimming",
        ),
    log:
        "logs/slimming/tables.log",
    benchmark:
        "logs/benchmarks/slimming/tables.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=2000, runtime=5),
    script:
        "../scripts/slim_tables.py"


rule slim_export:
    input:
        # its own sweep's tables, not probes.csv: another encoder's sweep reruns no export
        sweep=lambda wc: [f"results/slimming/probes/{wc.encoder}/{d}.csv" for d in SLIMMING["datasets"]],
        encoder=lambda wc: slim_encoder_files(wc.encoder),
    output:
        directory("results/slimming/export/{encoder}/{budget}"),
    log:
        "logs/slimming/export/{encoder}/{budget}.log",
    benchmark:
        "logs/benchmarks/slimming/export/{encoder}/{budget}.tsv"
    wildcard_constraints:
        encoder=wildcard_choice(list(SLIMMING.get("encoders", {}))),
        budget=r"(flops|width)[0-9.]+",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=slim_resource("mem_mb"), runtime=slim_resource("runtime")),
    params:
        slim_cfg=lambda wc: slim_job_config("export", wc.encoder),
    script:
        "../scripts/slim_export.py"


for figure in SLIM_FIGURES:

    rule:
        name:
            f"slim_{figure}"
        input:
            probes="results/slimming/probes.csv",
            redundancy="results/slimming/redundancy.csv",
            spectra="results/slimming/spectra.csv",
        output:
            report(
                f"results/figures/slim_{figure}.png",
                caption=f"../workflow/report/slim_{figure}.rst",
                category="Slimming",
            ),
        log:
            f"logs/figures/slim_{figure}.log",
        benchmark:
            f"logs/benchmarks/figures/slim_{figure}.tsv"
        conda:
            CONDA_ENV
        threads: 1
        resources:
            **job_resources(mem_mb=1000, runtime=5),
        params:
            figure=figure,
        script:
            "../scripts/slim_figure.py"
