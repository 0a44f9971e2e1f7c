# Config validation (before any job is planned), path helpers and per-rule resources.
from pathlib import Path

from snakemake.utils import min_version

from rsfm.config import validate_config
from rsfm.data.pipeline import final_stage, raw_dir
from rsfm.errors import ConfigError

min_version("9.0")

try:
    CFG = validate_config(config, workflow.source_path("../workflow/schemas/config.schema.yaml"))
except ConfigError as error:
    raise WorkflowError(str(error)) from None

DATA = Path(CFG["data"]["root"])
DATASETS = CFG["data"]["datasets"]
WORKERS = CFG["data"]["workers"]
PRETRAIN = CFG.get("pretrain", {})


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


def pretrain_targets():
    sizes = PRETRAIN.get("sizes", [])
    return [f"results/pretrain/{s}/encoder.safetensors" for s in sizes] + [
        f"results/figures/pretrain_loss_{s}.png" for s in sizes
    ]


def all_targets():
    data = ["results/data/summary.csv", "results/data/summary.md", "results/figures/data_samples.png"]
    return data + pretrain_targets()


def pretrain_resource(size, key):
    """A launch setting of ``size``: pretrain.per_size.<size>, else pretrain.run."""
    from rsfm.pretrain.run import run_settings

    defaults = {"nodes": 1, "cpus_per_task": 1, "mem_mb": 4000, "runtime": 60}
    return run_settings(PRETRAIN, size).get(key, defaults.get(key))


def pretrain_gres(size):
    """GPUs as generic resources per node: the executor's `gpu` resource with `tasks` would set --ntasks-per-gpu."""
    gpus = pretrain_resource(size, "gpus_per_node") or 0
    return f"gpu:{gpus}" if gpus else ""


def res(rule_name, key, fallback=None):
    """A resource of ``rule_name`` from config: resources.rules.<rule>, else ``fallback``, else resources.default."""
    resources = CFG.get("resources", {})
    value = resources.get("rules", {}).get(rule_name, {}).get(key, fallback)
    if value is None:
        value = resources.get("default", {}).get(key)
    if value is None:
        value = {"threads": 1, "mem_mb": 2000, "runtime": 60}[key]
    return value
