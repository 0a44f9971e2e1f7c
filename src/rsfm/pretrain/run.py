"""The pretraining stage as the workflow runs it: merge the config of one named run (rsfm.pretrain.runs), write
run.json, set aside what an earlier run with other settings or other data left, launch."""

from __future__ import annotations

import json
import logging
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any

from rsfm.launch import launch
from rsfm.pretrain.engine import RunConfig
from rsfm.pretrain.runs import RUN_KEYS, run_entry, run_settings
from rsfm.run_state import differences, own_copies, read_json, set_aside, tree_digest, write_json

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
_RUN_STATE = ("checkpoints", "log.csv", "dvclive", "run.json", "inputs.json")


def shards_digest(shard_dir: str | Path) -> str:
    """Fingerprint of the pretraining shards: their index (every image's key, shard, offset and size)."""
    return tree_digest(shard_dir, ["index.csv", "counts.csv"])


def set_aside_stale_state(out_dir: Path, settings: dict[str, Any], inputs: dict[str, Any] | None = None) -> list[str]:
    """Move checkpoints and logs of an earlier run with other settings or inputs to ``superseded/<time>/``.

    A rerun resumes from ``checkpoints/`` by itself; that is right after an interruption but wrong after a change of
    size, schedule, batch, objective or data, which Snakemake answers with a rerun too. ``inputs``: fingerprints of
    what the run reads (the shards); a run that predates their record is taken as made from them. Returns what
    differed; earlier set-aside runs are kept."""
    previous_file = out_dir / "run.json"
    if not previous_file.is_file() or not (out_dir / "checkpoints").exists():
        return []
    # settings a run.json predates (added to the engine since) had their defaults then
    defaults = {f.name: f.default for f in fields(RunConfig) if f.default is not MISSING}
    previous = {**defaults, **json.loads(previous_file.read_text())}
    changed = differences(previous, settings, ignore=_BOOKKEEPING)
    recorded = read_json(out_dir / "inputs.json")
    if inputs and recorded is not None:
        changed += [f"inputs.{key}" for key in differences(recorded, inputs)]
    if changed:
        set_aside(out_dir, _RUN_STATE)
    return changed


def pretrain(
    pretrain_cfg: dict[str, Any], name: str, shard_dir: str | Path, out_dir: str | Path,
    resources: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Run ``name`` of ``pretrain_cfg`` (the section, or the job's part of it: rsfm.pretrain.runs.job_config);
    ``resources``: launch settings the job's scheduler owns (cpus_per_task), over the section's."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = run_config(pretrain_cfg, name, shard_dir, out_dir)
    log = logging.getLogger("rsfm.pretrain")
    inputs = {"shards": shards_digest(shard_dir)}
    changed = set_aside_stale_state(out_dir, asdict(config), inputs)
    if changed:
        log.warning("%s: %s changed since its checkpoints were written: they are kept in %s, and the run starts "
                    "afresh", name, ", ".join(changed), out_dir / "superseded")  # fmt: skip
    own_copies(out_dir / "checkpoints", ["latest"])  # DeepSpeed rewrites it in place
    write_json(out_dir / "inputs.json", inputs)
    config_path = write_json(out_dir / "run.json", asdict(config))
    launch(config_path, {**run_settings(pretrain_cfg, name), **(resources or {})}, log=log)
