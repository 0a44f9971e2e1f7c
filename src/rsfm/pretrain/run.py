"""The pretraining stage as the workflow runs it: merge the config of one named run (rsfm.pretrain.runs), write
run.json, set aside what an earlier run with other settings left, launch."""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any

from rsfm.pretrain.engine import RunConfig
from rsfm.pretrain.launch import launch
from rsfm.pretrain.runs import RUN_KEYS, run_entry, run_settings

_ENGINE_KEYS = (
    "global_batch",
    "micro_batch",
    "zero_stage",
    "precision",
    "activation_checkpointing",
    "compile",
    "fuse_parallel",
    "attention",
)
_COMMON_KEYS = (
    "img_size", "patch_size", "mask_ratio", "norm_pix_loss", "epochs", "warmup_epochs", "base_lr", "min_lr",
    "weight_decay", "seed", "log_every", "checkpoint_every", "keep_checkpoints", "loader_workers", "peak_tflops",
)  # fmt: skip


def run_config(pretrain_cfg: dict[str, Any], name: str, shard_dir: str | Path, out_dir: str | Path) -> RunConfig:
    settings = run_settings(pretrain_cfg, name)
    decoder = pretrain_cfg.get("decoder", {})
    common = {**pretrain_cfg, **{k: v for k, v in settings.items() if k in _COMMON_KEYS}}
    return RunConfig(
        model=run_entry(pretrain_cfg, name)["size"], shard_dir=str(Path(shard_dir).resolve()),
        out_dir=str(Path(out_dir).resolve()),
        decoder_dim=decoder.get("dim", 512), decoder_depth=decoder.get("depth", 8),
        decoder_heads=decoder.get("heads", 16),
        **{k: common[k] for k in _COMMON_KEYS if k in common},
        **{k: settings[k] for k in (*_ENGINE_KEYS, *RUN_KEYS) if k in settings},
    )  # fmt: skip


# Settings that do not change what a run computes (at most its rounding): a restart with other values still resumes
# its checkpoints.
_BOOKKEEPING = {"out_dir", "shard_dir", "log_every", "checkpoint_every", "keep_checkpoints", "loader_workers",
                "peak_tflops", "extra", "compile", "fuse_parallel", "activation_checkpointing",
                "attention"}  # fmt: skip
_RUN_STATE = ("checkpoints", "log.csv", "dvclive")


def set_aside_stale_state(out_dir: Path, settings: dict[str, Any]) -> list[str]:
    """Move checkpoints and logs of an earlier run with other settings to ``superseded/`` (replacing an older one).

    A rerun resumes from ``checkpoints/`` by itself; that is right after an interruption but wrong after a change of
    size, schedule, batch, objective or data, which Snakemake answers with a rerun too. Returns what differed."""
    previous_file = out_dir / "run.json"
    if not previous_file.is_file() or not (out_dir / "checkpoints").exists():
        return []
    # settings a run.json predates (added to the engine since) had their defaults then
    defaults = {f.name: f.default for f in fields(RunConfig) if f.default is not MISSING}
    previous = json.loads(json.dumps({**defaults, **json.loads(previous_file.read_text())}))
    settings = json.loads(json.dumps(settings))  # as run.json holds them (tuples become lists)
    changed = sorted(k for k in (set(previous) | set(settings)) - _BOOKKEEPING if previous.get(k) != settings.get(k))
    if changed:
        superseded = out_dir / "superseded"
        shutil.rmtree(superseded, ignore_errors=True)
        superseded.mkdir()
        for item in (*_RUN_STATE, "run.json"):
            if (out_dir / item).exists():
                os.replace(out_dir / item, superseded / item)
    return changed


def pretrain(pretrain_cfg: dict[str, Any], name: str, shard_dir: str | Path, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = run_config(pretrain_cfg, name, shard_dir, out_dir)
    log = logging.getLogger("rsfm.pretrain")
    changed = set_aside_stale_state(out_dir, asdict(config))
    if changed:
        log.warning("%s: settings changed (%s) since its checkpoints were written: they are kept in %s, and the run "
                    "starts afresh", name, ", ".join(changed), out_dir / "superseded")  # fmt: skip
    config_path = out_dir / "run.json"
    config_path.write_text(json.dumps(asdict(config), indent=2))
    launch(config_path, run_settings(pretrain_cfg, name), log=log)
