"""Headline numbers of each phase as small JSON files, from the tidy tables: what ``dvc metrics show`` and
``dvc metrics diff`` compare between runs (DVC reads metrics from JSON/YAML, not from long CSV tables)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from rsfm.finetune.benchmarks import BENCHMARKS, headline, with_init
from rsfm.io import atomic_write


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 6)


def pretrain_metrics(metrics_csv: str | Path) -> dict[str, Any]:
    """Steps, first and final loss (mean of the last tenth of the logged steps), median images/s of one run."""
    table = pd.read_csv(metrics_csv)
    if table.empty:
        raise ValueError(f"{metrics_csv} has no logged steps")
    tail = table.tail(max(1, len(table) // 10))
    return {
        "steps": int(table["step"].max()) + 1,
        "loss_first": _number(table["loss"].iloc[0]),
        "loss_final": _number(tail["loss"].mean()),
        "images_per_s": _number(table["images_per_s"].median()),
    }


def finetune_metrics(table_csv: str | Path) -> dict[str, Any]:
    """Each benchmark's headline metric (mAP50 / mIoU) per encoder size and training fraction, mean over seeds:
    ``fraction_<f>`` of the pretrained runs, ``<init>_fraction_<f>`` of the others (e.g. ``scratch_fraction_1``)."""
    rows = with_init(headline(pd.read_csv(table_csv)))
    means = rows.groupby(["benchmark", "size", "init", "fraction"])["value"].mean()
    out: dict[str, Any] = {}
    for (benchmark, size, init, fraction), value in means.items():
        entry = out.setdefault(benchmark, {"metric": BENCHMARKS[benchmark].headline})
        prefix = "" if init == "pretrained" else f"{init}_"
        entry.setdefault(size, {})[f"{prefix}fraction_{fraction:g}"] = _number(value)
    return out


def slimming_metrics(probes_csv: str | Path) -> dict[str, Any]:
    """k-NN retention of the paper's slimming rule at each width, per encoder and dataset, mean over seeds."""
    from rsfm.plots.slimming import main_knn

    main = main_knn(pd.read_csv(probes_csv))
    means = main.groupby(["encoder", "dataset", "width"])[["retention", "rel_flops"]].mean()
    out: dict[str, Any] = {}
    for (encoder, dataset, width), row in means.iterrows():
        entry = out.setdefault(encoder, {}).setdefault(dataset, {})
        entry[f"width_{width:g}"] = {"retention": _number(row["retention"]), "rel_flops": _number(row["rel_flops"])}
    return out


def write_json(values: dict[str, Any], path: str | Path) -> None:
    with atomic_write(path) as handle:
        handle.write(json.dumps(values, indent=2, sort_keys=True) + "\n")
