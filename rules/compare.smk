# Ours vs paper: every published number of the two papers (rsfm.paper_numbers) beside what this run reproduced,
# from the tidy tables that the run makes. Its category sorts first in the report (Snakemake's menu sorts by name).


rule paper_comparison:
    input:
        unpack(comparison_inputs),
    output:
        csv=report(
            "results/paper_comparison.csv",
            caption="../workflow/report/paper_comparison.rst",
            category=COMPARISON_CATEGORY,
        ),
        md=report(
            "results/paper_comparison.md",
            caption="../workflow/report/paper_comparison.rst",
            category=COMPARISON_CATEGORY,
        ),
    log:
        "logs/paper_comparison.log",
    benchmark:
        "logs/benchmarks/paper_comparison.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **job_resources(mem_mb=2000, runtime=5),
    params:
        sizes=comparison_sizes(),
        synthetic=datasets_with("synthetic"),
    script:
        "../scripts/paper_comparison.py"
