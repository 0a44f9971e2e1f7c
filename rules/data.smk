# Data stage: download -> verify -> extract (official releases) or synthesize (embedded default) -> convert -> tile.
# Logic lives in rsfm.data.pipeline; the scripts only unpack Snakemake's objects.
from rsfm.data.kinds import kind_of
from rsfm.data.registry import release_settings


rule download:
    # The archives folder is deliberately not a declared output: Snakemake deletes the outputs of a failed job, and
    # the partial downloads (*.part) in it are what lets a rerun resume.
    output:
        manifest=DATA / "raw/{dataset}/archives.json",
    log:
        "logs/data/download/{dataset}.log",
    benchmark:
        "logs/benchmarks/data/download/{dataset}.tsv"
    wildcard_constraints:
        dataset=wildcard_choice(datasets_with("official")),
    conda:
        CONDA_ENV
    threads: configured("threads")
    resources:
        **job_resources(),
    params:
        archive_dir=lambda wc: DATA / "raw" / wc.dataset / "archives",
        # only the settings that choose the release files (Potsdam: imagery, labels): others re-extract nothing
        settings=lambda wc: canonical(release_settings(wc.dataset, DATASETS[wc.dataset])),
    script:
        "../scripts/download.py"


rule verify:
    input:
        manifest=DATA / "raw/{dataset}/archives.json",
    output:
        DATA / "raw/{dataset}/verified.json",
    log:
        "logs/data/verify/{dataset}.log",
    benchmark:
        "logs/benchmarks/data/verify/{dataset}.tsv"
    conda:
        CONDA_ENV
    threads: configured("threads")
    resources:
        **job_resources(),
    params:
        archive_dir=lambda wc: DATA / "raw" / wc.dataset / "archives",
        # only the settings that choose the release files (Potsdam: imagery, labels): others re-extract nothing
        settings=lambda wc: canonical(release_settings(wc.dataset, DATASETS[wc.dataset])),
    script:
        "../scripts/verify.py"


rule extract:
    input:
        verified=DATA / "raw/{dataset}/verified.json",
    output:
        directory(DATA / "raw/{dataset}/extracted"),
    log:
        "logs/data/extract/{dataset}.log",
    benchmark:
        "logs/benchmarks/data/extract/{dataset}.tsv"
    wildcard_constraints:
        dataset=wildcard_choice(datasets_with("official")),
    conda:
        CONDA_ENV
    threads: configured("threads")
    resources:
        **job_resources(),
    params:
        archive_dir=lambda wc: DATA / "raw" / wc.dataset / "archives",
        # only the settings that choose the release files (Potsdam: imagery, labels): others re-extract nothing
        settings=lambda wc: canonical(release_settings(wc.dataset, DATASETS[wc.dataset])),
    script:
        "../scripts/extract.py"


rule synthesize:
    output:
        directory(DATA / "raw/{dataset}/extracted"),
    log:
        "logs/data/synthesize/{dataset}.log",
    benchmark:
        "logs/benchmarks/data/synthesize/{dataset}.tsv"
    wildcard_constraints:
        dataset=wildcard_choice(datasets_with("synthetic")),
    conda:
        CONDA_ENV
    threads: configured("threads")
    resources:
        **job_resources(),
    params:
        dataset_cfg=dataset_config,
    script:
        "../scripts/synthesize.py"


rule convert:
    input:
        extracted_dir,
    output:
        directory(DATA / "prepared/{dataset}"),
    log:
        "logs/data/convert/{dataset}.log",
    benchmark:
        "logs/benchmarks/data/convert/{dataset}.tsv"
    wildcard_constraints:
        dataset=wildcard_choice(sorted(DATASETS)),
    conda:
        CONDA_ENV
    threads: configured("threads", WORKERS)
    resources:
        **job_resources(),
    params:
        dataset_cfg=dataset_config,
    script:
        "../scripts/convert.py"


rule tile:
    input:
        DATA / "prepared/{dataset}",
    output:
        directory(DATA / "tiles/{dataset}"),
    log:
        "logs/data/tile/{dataset}.log",
    benchmark:
        "logs/benchmarks/data/tile/{dataset}.tsv"
    wildcard_constraints:
        dataset=wildcard_choice(datasets_of_stage("tiles")),
    conda:
        CONDA_ENV
    threads: configured("threads", WORKERS)
    resources:
        **job_resources(),
    params:
        dataset_cfg=dataset_config,
        # the version of the layout the kind's tiler writes: a new one rebuilds tiles made by older code
        layout=lambda wc: kind_of(wc.dataset).layout,
    script:
        "../scripts/tile.py"


rule data_summary:
    input:
        data_targets(),
    output:
        table=report(
            "results/data/summary.csv",
            caption="../workflow/report/data_summary.rst",
            category="Data",
        ),
        markdown="results/data/summary.md",
    log:
        "logs/data/summary.log",
    benchmark:
        "logs/benchmarks/data/summary.tsv"
    conda:
        CONDA_ENV
    threads: configured("threads")
    resources:
        **job_resources(),
    params:
        datasets=sorted(DATASETS),
    script:
        "../scripts/data_summary.py"


rule data_samples:
    # a gallery of tiles: the one figure drawn from the data itself rather than from a tidy table
    input:
        data_targets(),
    output:
        report(
            "results/figures/data_samples.png",
            caption="../workflow/report/data_samples.rst",
            category="Data",
        ),
    log:
        "logs/figures/data_samples.log",
    benchmark:
        "logs/benchmarks/figures/data_samples.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(),
    params:
        datasets=sorted(DATASETS),
        samples=CFG["summary"]["samples_per_dataset"],
    script:
        "../scripts/data_samples.py"
