"""The pretraining stage as the workflow runs it: merge the config for one size, write run.json, launch."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rsfm.pretrain.engine import RunConfig
from rsfm.pretrain.launch import launch, launch_settings

_ENGINE_KEYS = (
    "global_batch",
    "micro_batch",
    "zero_stage",
    "precision",
    "activation_checkpointing",
    "compile",
    "fuse_parallel",
)
_COMMON_KEYS = (
    "img_size", "patch_size", "mask_ratio", "norm_pix_loss", "epochs", "warmup_epochs", "base_lr", "min_lr",
    "weight_decay", "seed", "log_every", "checkpoint_every", "keep_checkpoints", "loader_workers", "peak_tflops",
)  # fmt: skip


def run_settings(pretrain_cfg: dict[str, Any], size: str) -> dict[str, Any]:
    """The ``run`` block with this size's ``per_size`` overrides applied."""
    return launch_settings(pretrain_cfg, size)


def run_config(pretrain_cfg: dict[str, Any], size: str, shard_dir: str | Path, out_dir: str | Path) -> RunConfig:
    settings = run_settings(pretrain_cfg, size)
    decoder = pretrain_cfg.get("decoder", {})
    return RunConfig(
        model=size, shard_dir=str(Path(shard_dir).resolve()), out_dir=str(Path(out_dir).resolve()),
        decoder_dim=decoder.get("dim", 512), decoder_depth=decoder.get("depth", 8),
        decoder_heads=decoder.get("heads", 16),
        **{k: pretrain_cfg[k] for k in _COMMON_KEYS if k in pretrain_cfg},
        **{k: settings[k] for k in _ENGINE_KEYS if k in settings},
    )  # fmt: skip


def pretrain(pretrain_cfg: dict[str, Any], size: str, shard_dir: str | Path, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = run_config(pretrain_cfg, size, shard_dir, out_dir)
    config_path = out_dir / "run.json"
    config_path.write_text(json.dumps(asdict(config), indent=2))
    launch(config_path, run_settings(pretrain_cfg, size), log=logging.getLogger("rsfm.pretrain"))
