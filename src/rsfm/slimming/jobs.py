"""The part of the slimming section each job of the study reads: the rules pass these as the jobs' params, so an
edit reruns only the jobs that read what changed (probe seeds rerun the probes, not the feature sweeps).

Each is the section less what its job provably does not read, in the section's own shape; keys added later pass
through, so a new setting reruns too many jobs rather than too few.
"""

from __future__ import annotations

from typing import Any

# read by the probes alone
_PROBE_KEYS = ("probes", "seeds", "k", "train_fraction")
# read by the feature sweep alone (the probes and analyses take widths, variants and split from its manifest)
_FEATURE_KEYS = ("widths", "ablations", "selection_seed", "batch_size", "loader_workers", "input", "eval_split")
# read by the exports alone (rsfm.slimming.export), from the sweep's tables
_EXPORT_KEYS = ("export",)


def _job(slim_cfg: dict[str, Any], encoder: str, drop: tuple[str, ...]) -> dict[str, Any]:
    job = {k: v for k, v in slim_cfg.items() if k not in (*drop, "encoders", "datasets", "run")}
    job["encoders"] = {encoder: slim_cfg["encoders"][encoder]}
    if "gpus" in slim_cfg.get("run", {}):  # the device; the rest of `run` is the scheduler's
        job["run"] = {"gpus": slim_cfg["run"]["gpus"]}
    return job


def features_config(slim_cfg: dict[str, Any], encoder: str) -> dict[str, Any]:
    """What rule slim_features reads for ``encoder``."""
    return _job(slim_cfg, encoder, (*_PROBE_KEYS, *_EXPORT_KEYS))


def probe_config(slim_cfg: dict[str, Any], encoder: str) -> dict[str, Any]:
    """What rule slim_probe reads for ``encoder``."""
    return _job(slim_cfg, encoder, (*_FEATURE_KEYS, *_EXPORT_KEYS))


def redundancy_config(slim_cfg: dict[str, Any], encoder: str) -> dict[str, Any]:
    """What rule slim_redundancy reads for ``encoder`` (its name and group, for the tables)."""
    return _job(slim_cfg, encoder, (*_PROBE_KEYS, *_FEATURE_KEYS, *_EXPORT_KEYS))


def export_config(slim_cfg: dict[str, Any], encoder: str) -> dict[str, Any]:
    """What rule slim_export reads for ``encoder``: its entry and the study's input defaults (the budget is the
    job's wildcard, the numbers come from the sweep's table)."""
    return {"encoders": {encoder: slim_cfg["encoders"][encoder]}, "input": slim_cfg.get("input", {})}


__all__ = ["export_config", "features_config", "probe_config", "redundancy_config"]
