"""Pretraining-data scaling (paper 1's third open question): does a larger encoder need, or use, more pretraining
images? Each size of ``pretrain.data_scaling`` is pretrained on nested shares of the images (runs
``<size>_data<f>``, :mod:`rsfm.pretrain.runs`), at equal optimiser steps or equal epochs (``budget``), and each
encoder is fine-tuned on the benchmarks of ``finetune.data_scaling`` on all their training data (init ``data<f>``;
the size's own run is the share 1).

Table ``results/finetune/data_scaling.csv``: ``benchmark, task, metric, split, size, seed, data_fraction,
pretrain_images, pretrain_steps, budget, value``: one row per fine-tuning run, its headline score (metric and split
of :mod:`rsfm.finetune.benchmarks`), with the pretraining images it saw (the share of the shards' index, by the
subset rule of :mod:`rsfm.data.subsets`) and the optimiser steps its encoder was trained for (its encoder.json).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rsfm.data.subsets import subset_size
from rsfm.errors import DataError
from rsfm.finetune.benchmarks import BENCHMARKS, headline_scores
from rsfm.finetune.configs import parse_init
from rsfm.pretrain.runs import data_run_name

COLUMNS = ["benchmark", "task", "metric", "split", "size", "seed", "data_fraction", "pretrain_images",
           "pretrain_steps", "budget", "value"]  # fmt: skip


def data_scaling_table(
    table: pd.DataFrame, data_scaling: Mapping[str, Any], benchmarks: list[str], encoders: Mapping[str, Mapping],
    images: int,
) -> pd.DataFrame:  # fmt: skip
    """The headline rows of the fine-tuning runs of ``data_scaling`` (the pretrain section's) on ``benchmarks``:
    the data<f> runs and the pretrained runs of the same sizes, on all the training data. ``encoders``: the
    encoder.json of each pretraining run by name; ``images``: how many the shards hold."""
    rows = headline_scores(table)
    inits = rows["init"].map(parse_init)
    unslimmed = inits.map(lambda init: init.pretrained and init.width == 1).astype(bool)
    keep = (
        (rows["fraction"] == 1.0) & rows["size"].isin(data_scaling.get("sizes", []))
        & rows["benchmark"].isin(benchmarks) & unslimmed
    )  # fmt: skip
    rows = rows[keep].copy()
    rows["data_fraction"] = [init.data_fraction for init in inits[rows.index]]
    runs = [data_run_name(s, f) for s, f in zip(rows["size"], rows["data_fraction"], strict=True)]
    if missing := sorted(set(runs) - set(encoders)):
        raise DataError(f"no encoder.json of the pretraining runs {missing}: run rule pretrain for them")
    rows["pretrain_images"] = [subset_size(images, f) for f in rows["data_fraction"]]
    rows["pretrain_steps"] = [int(encoders[run]["pretraining"]["steps"]) for run in runs]
    rows["budget"] = data_scaling.get("budget", "steps")
    rows["task"] = rows["benchmark"].map({name: b.task for name, b in BENCHMARKS.items()})
    return rows[COLUMNS].sort_values(["benchmark", "size", "data_fraction", "seed"]).reset_index(drop=True)


def write_table(
    table_csv: str | Path, data_scaling: Mapping[str, Any], benchmarks: list[str], arch_files: list[str | Path],
    shard_dir: str | Path, out_csv: str | Path,
) -> pd.DataFrame:  # fmt: skip
    """Rule data_scaling_table. ``arch_files``: results/pretrain/<run>/encoder.json of every run it reads;
    ``shard_dir``: the pretraining shards (their index.csv has one row per image)."""
    from rsfm.io import write_csv

    encoders = {Path(path).parent.name: json.loads(Path(path).read_text()) for path in arch_files}
    images = len(pd.read_csv(Path(shard_dir) / "index.csv", usecols=["shard"]))
    scaled = data_scaling_table(pd.read_csv(table_csv), data_scaling, benchmarks, encoders, images)
    write_csv(scaled, out_csv)
    return scaled


__all__ = ["COLUMNS", "data_scaling_table", "write_table"]
