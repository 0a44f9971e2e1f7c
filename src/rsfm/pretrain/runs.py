"""The pretraining stage's runs by name, free of torch: the Snakefile evaluates these for every job it plans (and
every cluster job parses the Snakefile again).

Every entry of ``pretrain.sizes`` is the MAE run of that size, named by the size; ``pretrain.runs`` adds runs of any
size with another objective (``method: moco``), learned slimmable training (``slimmable``) or their own settings. A
run's settings are ``run``, then ``per_size`` of its size, then its own entry.

``pretrain.data_scaling`` (paper 1's third open question) adds one run per size and data fraction below 1, named
``<size>_data<f>`` (:func:`data_run_name`): the size's own settings on a nested share of the images
(``data_fraction``), at equal optimiser steps or equal epochs (``budget``).
"""

from __future__ import annotations

from typing import Any

from rsfm.errors import ConfigError

RUN_KEYS = ("method", "moco", "slimmable", "data_fraction", "budget")
# keys of the section that name runs rather than set them: no job reads them as settings
_RUN_LISTS = ("sizes", "runs", "per_size", "run", "data_scaling")
# the scheduler's settings, not the run's: changing them must not rerun a finished job (they reach the job as its
# Snakemake resources instead of its params)
RESOURCE_KEYS = ("cpus_per_task", "mem_mb", "runtime")


def data_run_name(size: str, fraction: float) -> str:
    """The run of ``size`` on a ``fraction`` of the pretraining images: ``vit_b12x1_data0.1``; fraction 1 is the
    size's own run."""
    return size if float(fraction) == 1 else f"{size}_data{float(fraction):g}"


def data_scaling_runs(pretrain_cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The runs of ``data_scaling`` by name: each size on each fraction below 1 of the images."""
    scaling = pretrain_cfg.get("data_scaling", {})
    budget = scaling.get("budget", "steps")
    return {
        data_run_name(size, fraction): {"size": size, "data_fraction": float(fraction), "budget": budget}
        for size in scaling.get("sizes", [])
        for fraction in scaling.get("fractions", [])
        if float(fraction) < 1
    }


def pretrain_runs(pretrain_cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every run of the stage by name: one MAE run per size, the named ``runs``, then those of ``data_scaling``."""
    runs: dict[str, dict[str, Any]] = {size: {"size": size} for size in pretrain_cfg.get("sizes", [])}
    runs.update(pretrain_cfg.get("runs", {}))
    runs.update(data_scaling_runs(pretrain_cfg))
    return runs


def run_entry(pretrain_cfg: dict[str, Any], name: str) -> dict[str, Any]:
    runs = pretrain_runs(pretrain_cfg)
    if name not in runs:
        raise ConfigError(f"no pretraining run {name!r}; known: {', '.join(runs)} (pretrain.sizes, pretrain.runs)")
    return runs[name]


def run_settings(pretrain_cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """The ``run`` block with the run's size's ``per_size`` overrides, then the run's own, applied."""
    entry = run_entry(pretrain_cfg, name)
    own = {k: v for k, v in entry.items() if k != "size"}
    return {**pretrain_cfg.get("run", {}), **pretrain_cfg.get("per_size", {}).get(entry["size"], {}), **own}


def job_config(pretrain_cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """The part of the pretrain section that run ``name`` reads, in the section's own shape: the shared settings and
    the run alone, its ``run``/``per_size`` settings merged in (less the scheduler's resources). The rule passes this
    as the job's params, so an edit of one size's settings reruns that size's job only."""
    entry = run_entry(pretrain_cfg, name)
    shared = {k: v for k, v in pretrain_cfg.items() if k not in _RUN_LISTS}
    settings = {k: v for k, v in run_settings(pretrain_cfg, name).items() if k not in RESOURCE_KEYS}
    return {**shared, "sizes": [], "runs": {name: {**settings, "size": entry["size"]}}}


__all__ = [
    "RESOURCE_KEYS", "RUN_KEYS", "data_run_name", "data_scaling_runs", "job_config", "pretrain_runs", "run_entry",
    "run_settings",
]  # fmt: skip
