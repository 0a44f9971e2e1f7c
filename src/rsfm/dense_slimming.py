"""Dense tasks on post-hoc slimmed encoders (neither paper): how much of a rotated-detection or segmentation score a
slimmed encoder keeps, against its relative FLOPs, beside paper 2's classification retention.

Paper 2 probes slimmed encoders on classification only; paper 1 never slims. A fine-tuning run of init ``slim<w>``
(``finetune.slim``) starts from the pretrained encoder slimmed to width ``w`` by paper 2's uniform rule
(:class:`rsfm.finetune.backbone.ParallelViTDet` with ``width``) and is fine-tuned and scored like any other run.
Retention is its headline score (metric and split of :mod:`rsfm.finetune.benchmarks`) over the same size's
pretrained run on all the training data with the same seed. Relative FLOPs are the backbone's own forward as the run
builds it (its input size, ViTDet's windowed and global blocks), counted on the meta device: the attention share,
hence the saving of a width, is not the classification encoder's.

Table ``results/finetune/slim_dense.csv``: ``benchmark, task, size, width, rel_flops, seed, metric, split, value,
reference, retention``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from rsfm.errors import DataError
from rsfm.finetune.benchmarks import BENCHMARKS, headline_scores
from rsfm.finetune.configs import parse_init

COLUMNS = ["benchmark", "task", "size", "width", "rel_flops", "seed", "metric", "split", "value", "reference",
           "retention"]  # fmt: skip


def backbone_flops(backbone: Mapping[str, Any], width: float) -> int:
    """Forward FLOPs of one input through the backbone a run's config describes (``model.backbone``), slimmed to
    ``width``: built on the meta device, so no weights are allocated or read."""
    from torch.utils.flop_counter import FlopCounterMode

    from rsfm.finetune.backbone import ParallelViTDet
    from rsfm.models.slim import slim_model

    options = {k: v for k, v in backbone.items() if k not in ("type", "pretrained", "width", "init_cfg")}
    with torch.device("meta"):
        model = ParallelViTDet(**options).eval()
    if width < 1:
        model.blocks = slim_model(model.blocks, width)
    h, w = model.img_size
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, int(options.get("in_channels", 3)), h, w, device="meta"))
    return counter.get_total_flops()


def run_widths(table: pd.DataFrame) -> pd.DataFrame:
    """The headline rows (each benchmark's metric on its headline split) of pretrained and slimmed runs on all the
    training data, with the width each encoder ran at (pretrained: 1). Encoders pretrained on a share of the images
    (init data<f>) are not the width-1 reference."""
    rows = headline_scores(table)
    inits = rows["init"].map(parse_init)
    own = inits.map(lambda init: init.pretrained and init.data_fraction == 1).astype(bool)
    rows = rows[(rows["fraction"] == 1.0) & own].copy()
    rows["width"] = [init.width for init in inits[rows.index]]
    return rows


def dense_retention(table: pd.DataFrame, rel_flops: Mapping[tuple[str, str, float], float]) -> pd.DataFrame:
    """Retention of every slimmed run (and its width-1 reference) of the (benchmark, size) pairs in ``rel_flops``
    (keyed by benchmark, size, width)."""
    rows = run_widths(table)
    pairs = {(benchmark, size) for benchmark, size, _ in rel_flops}
    rows = rows[[(b, s) in pairs for b, s in zip(rows["benchmark"], rows["size"], strict=True)]]
    out = []
    for (benchmark, size, seed), runs in rows.groupby(["benchmark", "size", "seed"]):
        full = runs[runs["width"] == 1.0]
        if full.empty:
            raise DataError(f"{benchmark}/{size} seed {seed}: no pretrained run on all the data to compare the "
                            "slimmed runs with (finetune.fractions must hold 1)")  # fmt: skip
        reference = float(full["value"].iloc[0])
        for run in runs.itertuples():
            out.append({
                "benchmark": benchmark, "task": BENCHMARKS[benchmark].task, "size": size, "width": run.width,
                "rel_flops": rel_flops[(benchmark, size, run.width)], "seed": int(seed), "metric": run.metric,
                "split": run.split, "value": float(run.value), "reference": reference,
                "retention": float(run.value) / reference if reference else float("nan"),
            })  # fmt: skip
    return pd.DataFrame(out, columns=COLUMNS).sort_values(["benchmark", "size", "width", "seed"], ignore_index=True)


def planned_flops(
    finetune_cfg: dict[str, Any], arch_files: Mapping[str, str], configs_dir: str
) -> dict[tuple[str, str, float], float]:
    """Relative backbone FLOPs of every (benchmark, size, width) of ``finetune.slim`` (width 1 included), from the
    configs the runs build (``arch_files``: each size's encoder.json)."""
    from rsfm.finetune.configs import build_config, read_arch_file, resolve_settings

    slim = finetune_cfg.get("slim", {})
    widths = sorted({1.0, *map(float, slim.get("widths", []))})
    out = {}
    for benchmark in slim.get("benchmarks", []):
        for size in slim.get("sizes", []):
            settings = resolve_settings(finetune_cfg, benchmark, size)
            cfg = build_config(
                benchmark, size, 1.0, 0, encoder=arch_files[size], data_root=".", work_dir=".", settings=settings,
                base_dir=configs_dir, arch=read_arch_file(arch_files[size]), init="scratch",
            )  # fmt: skip
            full = backbone_flops(cfg.model.backbone, 1.0)
            out |= {(benchmark, size, w): backbone_flops(cfg.model.backbone, w) / full for w in widths}
    return out


def write_table(
    table_csv: str | Path, finetune_cfg: dict[str, Any], arch_files: Mapping[str, str], configs_dir: str,
    out_csv: str | Path,
) -> pd.DataFrame:  # fmt: skip
    """Rule slim_dense_table: the retention table of ``finetune.slim`` from the tidy fine-tuning table."""
    from rsfm.io import write_csv

    dense = dense_retention(pd.read_csv(table_csv), planned_flops(finetune_cfg, arch_files, configs_dir))
    write_csv(dense, out_csv)
    return dense


__all__ = ["COLUMNS", "backbone_flops", "dense_retention", "planned_flops", "run_widths", "write_table"]
