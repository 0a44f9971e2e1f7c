"""What a pretraining run computed: its training FLOPs, from its settings (run.json) and its training log."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from rsfm.headlines import pretrain_metrics

if TYPE_CHECKING:
    from rsfm.pretrain.engine import RunConfig


def flops_per_image(run: RunConfig | str | Path) -> float:
    """Forward and backward FLOPs of one image through the objective of ``run`` (its settings or its run.json),
    counted on a meta-device build (no memory for the weights, so the largest sizes count on a login node too)."""
    import torch

    from rsfm.pretrain.engine import RunConfig, build_model

    run = run if isinstance(run, RunConfig) else RunConfig.from_json(run)
    cfg = dataclasses.replace(run, compile=False)
    with torch.device("meta"):
        objective = build_model(cfg)
    return float(objective.train_flops_per_image(cfg.img_size))


def training_flops(run_json: str | Path, metrics_csv: str | Path) -> float:
    """The run's training FLOPs: FLOPs per image x the images its logged steps saw (steps x global batch)."""
    from rsfm.pretrain.engine import RunConfig

    run = RunConfig.from_json(run_json)
    return flops_per_image(run) * pretrain_metrics(metrics_csv)["steps"] * run.global_batch


__all__ = ["flops_per_image", "training_flops"]
