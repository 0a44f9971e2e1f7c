# Config validation (before any job is planned), path helpers and per-rule resources.
import os
from pathlib import Path

from snakemake.utils import min_version

from rsfm.config import validate_config
from rsfm.data.pipeline import final_stage, raw_dir
from rsfm.errors import ConfigError
from rsfm.finetune.benchmarks import BENCHMARKS, server_benchmarks
from rsfm.finetune.configs import INIT_PATTERN, parse_init
from rsfm.plots.slimming import FIGURE_NAMES as SLIM_FIGURES
from rsfm.workflow import PHASES, canonical, workflow_rules

min_version("9.0")

try:
    CFG = validate_config(
        config,
        workflow.source_path("../workflow/schemas/config.schema.yaml"),
        rules=workflow_rules(workflow.main_snakefile),
        base_dir=workflow.basedir,
    )
except ConfigError as error:
    raise WorkflowError(str(error)) from None

DATA = Path(CFG["data"]["root"])
DATASETS = CFG["data"]["datasets"]
WORKERS = CFG["data"]["workers"]
PRETRAIN = CFG.get("pretrain", {})
FINETUNE = CFG.get("finetune", {})
SLIMMING = CFG.get("slimming", {})


def dataset_config(wildcards):
    """The settings of one dataset: the params of its data jobs."""
    return canonical(DATASETS[wildcards.dataset])


def datasets_with(source):
    return sorted(name for name, ds in DATASETS.items() if ds["source"] == source)


def datasets_of_stage(stage):
    return sorted(name for name in DATASETS if final_stage(name) == stage)


def wildcard_choice(names):
    """Regex for a wildcard limited to ``names`` (one that matches nothing when the list is empty)."""
    return "|".join(names) if names else "(?!x)x"


def extracted_dir(wildcards):
    return str(raw_dir(wildcards.dataset, DATASETS[wildcards.dataset], DATA))


def data_targets():
    return [str(DATA / final_stage(name) / name) for name in sorted(DATASETS)]


def pretrain_run_names():
    """Every pretraining run: one MAE run per size, named by it, then pretrain.runs (rsfm.pretrain.run)."""
    from rsfm.pretrain.runs import pretrain_runs

    return list(pretrain_runs(PRETRAIN))


def pretrain_job_config(run):
    """The settings one pretraining job reads (its params: an edit elsewhere in the section reruns nothing)."""
    from rsfm.pretrain.runs import job_config

    return canonical(job_config(PRETRAIN, run))


def pretrain_targets():
    runs = pretrain_run_names()
    return [f"results/pretrain/{r}/encoder.safetensors" for r in runs] + [
        f"results/figures/pretrain_loss_{r}.png" for r in runs
    ]


def benchmark_data(benchmark):
    """The data-stage folder a fine-tuning benchmark reads (tiles or prepared)."""
    return str(BENCHMARKS[benchmark].data_dir(DATA))


def finetune_base_config(benchmark):
    """The base mm config of a benchmark: a relative ``finetune.configs`` is the repository's folder, so the workflow
    finds it from any --directory; given relative to the working directory so moving the clone reruns nothing."""
    return repository_file(Path(FINETUNE.get("configs", "config/finetune")) / f"{benchmark}.py")


def finetune_job_config(benchmark, size):
    """The settings one fine-tuning job reads (its params: an edit of another benchmark or size reruns nothing)."""
    from rsfm.finetune.run import job_config

    return canonical(job_config(FINETUNE, benchmark, size))


def finetune_runs():
    """Every fine-tuning run of the config, those from the pretrain.data_scaling encoders included."""
    from rsfm.finetune.run import planned_runs

    return planned_runs(FINETUNE, PRETRAIN.get("data_scaling"))


def finetune_metric_files():
    from rsfm.finetune.run import run_dir

    return [f"{run_dir(*run)}/metrics.json" for run in finetune_runs()]


def finetune_encoder_run(wc):
    """The pretraining run a fine-tuning run starts from: the size's own, or its run on a share of the images."""
    from rsfm.pretrain.runs import data_run_name

    return data_run_name(wc.size, parse_init(wc.init).data_fraction)


def finetune_encoder(wc):
    """A run's pretrained weights (slimmed or not); a scratch run needs only their architecture (encoder.json)."""
    run = finetune_encoder_run(wc)
    return f"results/pretrain/{run}/encoder.safetensors" if parse_init(wc.init).pretrained else []


def data_scaling_runs():
    """The fine-tuning runs from encoders pretrained on shares of the images (init data<f>)."""
    return [run for run in finetune_runs() if parse_init(run[2]).data_fraction < 1]


def data_scaling_encoders():
    """encoder.json of every pretraining run the data-scaling table reads (each size's own run included)."""
    from rsfm.pretrain.runs import data_run_name

    sizes = {size for _, size, *_ in data_scaling_runs()}
    fractions = [1.0, *PRETRAIN.get("data_scaling", {}).get("fractions", [])]
    return sorted({f"results/pretrain/{data_run_name(s, f)}/encoder.json" for s in sizes for f in fractions})


def slim_dense_classification():
    """The slimming study's probes of the encoders fine-tuned slimmed, for the dense-slimming figure, if it has any."""
    probed = set(FINETUNE.get("slim", {}).get("sizes", [])) & set(SLIMMING.get("encoders", {}))
    return {"probes": "results/slimming/probes.csv"} if probed else {}


def finetune_targets():
    if not finetune_metric_files():
        return []
    targets = [
        "results/finetune/metrics.csv",
        "results/figures/finetune_vs_size.png",
        "results/figures/finetune_vs_fraction.png",
        "results/finetune/scaling_law.csv",
        "results/finetune/scaling_law_points.csv",
        "results/figures/scaling_law.png",
    ]
    if FINETUNE.get("slim", {}).get("widths"):
        targets += ["results/finetune/slim_dense.csv", "results/figures/slim_dense.png"]
    if data_scaling_runs():
        targets += ["results/finetune/data_scaling.csv", "results/figures/data_scaling.png"]
    if FINETUNE.get("submissions"):
        from rsfm.finetune.run import planned_submissions, run_dir

        targets += [f"{run_dir(*run)}/submission.zip" for run in planned_submissions(FINETUNE)]
    return targets


def launch_resource(settings, key, defaults):
    """A SLURM resource of the torchrun-launched rules, from their launch settings. ``tasks``: one launcher
    (torchrun) per SLURM task, by default one per node. ``mpi``: with several tasks the job starts them itself (srun
    in rsfm.launch), so the executor must run it directly, not inside its own one-task srun step."""
    from rsfm.launch import launcher_tasks

    if key == "tasks":
        return launcher_tasks(settings)
    if key == "mpi":
        return "srun" if launcher_tasks(settings) > 1 else ""
    return settings.get(key, defaults.get(key))


def finetune_resource(size, key):
    """A launch setting of ``size``: finetune.per_size.<size>, else finetune.run."""
    from rsfm.finetune.run import launch_settings

    defaults = {"nodes": 1, "cpus_per_task": 1, "mem_mb": 4000, "runtime": 60}
    return launch_resource(launch_settings(FINETUNE, size), key, defaults)


def finetune_gres(size, gpus=None):
    """GPUs per node as generic resources (``gpus`` overrides the configured count, e.g. 1 for inference)."""
    configured = finetune_resource(size, "gpus_per_node") or 0
    count = min(gpus, configured) if gpus is not None else configured
    return f"gpu:{count}" if count else ""


def slim_encoder_files(encoder):
    """Inputs of an encoder of the study: our exported encoders, or an external checkpoint once it is there."""
    entry = SLIMMING["encoders"][encoder]
    if entry.get("source", "pretrain") != "pretrain":
        # a replaced checkpoint reruns its sweeps; a missing one is the job's to report (with where to get it)
        path = Path(entry["path"]).expanduser()
        return [str(path)] if path.is_file() else []
    return [f"results/pretrain/{encoder}/encoder.safetensors", f"results/pretrain/{encoder}/encoder.json"]


def slim_job_config(job, encoder):
    """The settings one job of the slimming study reads (rsfm.slimming.jobs): its params."""
    from rsfm.slimming import jobs

    return canonical(getattr(jobs, f"{job}_config")(SLIMMING, encoder))


def slim_outputs(pattern):
    return [
        pattern.format(encoder=e, dataset=d) for e in SLIMMING.get("encoders", {}) for d in SLIMMING.get("datasets", [])
    ]


def slim_targets():
    if not slim_outputs("{encoder}{dataset}"):
        return []
    from rsfm.slimming.export_paths import export_targets

    tables = ["results/slimming/probes.csv", "results/slimming/redundancy.csv", "results/slimming/spectra.csv"]
    return tables + export_targets(SLIMMING) + [f"results/figures/slim_{figure}.png" for figure in SLIM_FIGURES]


def slim_resource(key):
    defaults = {"cpus_per_task": 1, "mem_mb": 4000, "runtime": 60}
    return SLIMMING.get("run", {}).get(key, defaults.get(key))


def slim_gres():
    gpus = slim_resource("gpus") or 0
    return f"gpu:{gpus}" if gpus else ""


def metrics_targets():
    """Headline JSONs of each phase (rules/metrics.smk), the `metrics` of dvc.yaml."""
    targets = [f"results/metrics/pretrain_{r}.json" for r in pretrain_run_names()]
    if finetune_metric_files():
        targets.append("results/metrics/finetune.json")
    if slim_outputs("{encoder}{dataset}"):
        targets.append("results/metrics/slimming.json")
    return targets


# The report's first category (Snakemake's menu sorts categories by name: before "Data").
COMPARISON_CATEGORY = "Comparison with the papers"
# What the workflow answers beyond the papers (issue 18's questions); sorts after the phases' own categories.
BEYOND_CATEGORY = "Open questions beyond the papers"


def comparison_inputs(wildcards):
    """The tidy tables the comparison reads: those this config makes."""
    inputs = {}
    if finetune_metric_files():
        inputs["finetune"] = "results/finetune/metrics.csv"
    if slim_outputs("{encoder}{dataset}"):
        inputs["probes"] = "results/slimming/probes.csv"
    return inputs


def comparison_sizes():
    """Our sizes whose parameter counts the comparison lists beside paper 1's (it adds the sizes paper 1 names)."""
    return sorted({*PRETRAIN.get("sizes", []), *FINETUNE.get("sizes", [])})


COST = CFG.get("cost", {})


def repository_file(path):
    """A file of the repository named relative to it in the config (finetune.configs, cost.paper_config,
    cost.throughput), as the workflow finds it from any --directory, given relative to the working directory."""
    return os.path.relpath(Path(workflow.basedir) / path)


COST_TARGETS = ["results/cost/run_cost.csv", "results/cost/paper_projection.csv", "results/figures/cost.png"]


def all_targets():
    data = ["results/data/summary.csv", "results/data/summary.md", "results/figures/data_samples.png"]
    comparison = ["results/paper_comparison.csv", "results/paper_comparison.md"]
    work = pretrain_targets() + finetune_targets() + slim_targets() + metrics_targets()
    return data + work + comparison + COST_TARGETS


def cost_inputs():
    """What the run computes, less its figures and the comparison: the cost is summed once the work is done, and
    redrawing a figure (seconds) does not redo it."""
    drawn = ("results/figures/", "results/paper_comparison.")
    return [t for t in all_targets() if t not in COST_TARGETS and not t.startswith(drawn)]


def phase_targets(phase):
    """The part of all_targets() that one phase makes (rules all_<phase>; dvc.yaml runs one stage each). Figures
    are a phase of their own: they read only the other phases' tables, so they can be redrawn alone."""
    return [target for target in all_targets() if target.startswith(PHASES[phase])]


def pretrain_resource(run, key):
    """A launch setting of a pretraining run: its own entry, else pretrain.per_size.<its size>, else pretrain.run
    (rsfm.pretrain.runs, free of torch: planning evaluates it for every job)."""
    from rsfm.pretrain.runs import run_settings

    defaults = {"nodes": 1, "cpus_per_task": 1, "mem_mb": 4000, "runtime": 60}
    return launch_resource(run_settings(PRETRAIN, run), key, defaults)


def pretrain_gres(run):
    """GPUs as generic resources per node: the executor's `gpu` resource with `tasks` would set --ntasks-per-gpu (so
    would gres, unless the rule sets tasks_per_gpu=0, as ours do)."""
    gpus = pretrain_resource(run, "gpus_per_node") or 0
    return f"gpu:{gpus}" if gpus else ""


# Every rule's software environment (`--sdm conda`), relative to rules/ where the rules are defined.
CONDA_ENV = "../envs/rsfm.yaml"


def rule_setting(rule_name, key, fallback=None):
    """A setting of ``rule_name`` from config: resources.rules.<rule>, else ``fallback``, else resources.default.
    Partition and account left empty send its SLURM jobs to the cluster's default partition, the executor guessing
    the account."""
    resources = CFG.get("resources", {})
    value = resources.get("rules", {}).get(rule_name, {}).get(key, fallback)
    if value is None:
        value = resources.get("default", {}).get(key)
    if value is None:
        value = {"threads": 1, "mem_mb": 2000, "runtime": 60, "partition": "", "account": ""}[key]
    return value


def configured(key, fallback=None):
    """``rule_setting`` of the rule this function is given to (as threads or a resource). Snakemake passes such a
    function the name of its rule (``rulename``), so no rule retypes its own name."""

    def setting(wildcards, rulename):
        return rule_setting(rulename, key, fallback)

    return setting


def job_resources(**own):
    """A rule's resources: where its SLURM jobs go (partition and account), then ``own``, what the rule sets itself
    (values or functions of the wildcards), then mem_mb and runtime from config unless it set them."""
    resources = {f"slurm_{key}": configured(key) for key in ("partition", "account")}
    resources.update(own)
    for key in ("mem_mb", "runtime"):
        resources.setdefault(key, configured(key))
    return resources
