"""The slimming study as the workflow runs it: feature sweeps, probes and redundancy per (encoder, dataset), tables.

Variants name what is slimmed and how: ``first-all`` is paper 2's rule (the first dims of every head and MLP);
the ablations are ``last-all``, ``random-all`` (other dims) and ``first-attn``, ``first-mlp`` (one layer type).

Tidy outputs (one row per measurement), which every figure reads:

- probes: ``encoder, group, base, method, training, dataset, variant, width, rel_flops, params_m, probe, seed,
  metric, value, retention, weights_sha256`` (base: the architecture; method: the pretraining objective; training:
  slimmable or regular) with ``retention = value / value at width 1`` of the same (encoder, dataset, variant, probe,
  seed), and the sha256 of the weights file the features came from;
- redundancy: ``encoder, group, dataset, width, rel_flops, measure, value`` (mean |corr|, EVR slope, effective
  dimension of the test features);
- spectra: ``encoder, group, dataset, width, component, ratio`` (explained-variance ratios, first 256 components).

Probes: every configured probe on the main variant, k-NN on the ablations (their figure compares k-NN retention).

Provenance: the features manifest lists every feature file with the key it must hold
(:func:`rsfm.slimming.features.feature_key`); probes and redundancy read a file only if it holds that key, so a file
a later run replaced (another encoder or setting) stops them instead of being scored under the old name.

Seeds: each seed probes on its own seeded subset of the training features when ``train_fraction < 1``, and seeds the
linear probe's initialisation (it trains full-batch: nothing else is random). With the whole training set the k-NN
probe is deterministic (frozen features, fixed splits), so it is computed and recorded once, as one row of the first
seed: five identical rows would pose as five measurements and narrow every band drawn over seeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsfm.errors import ConfigError, DataError
from rsfm.io import atomic_write, write_csv
from rsfm.slimming import MAIN_VARIANT, analyses, probes
from rsfm.slimming.encoders import describe, identity, load_encoder, study_entry
from rsfm.slimming.features import SplitImages, read_index, stored_key, sweeps

PROBE_COLUMNS = ["encoder", "group", "base", "method", "training", "dataset", "variant", "width", "rel_flops",
                 "params_m", "probe", "seed", "metric", "value", "retention", "weights_sha256"]  # fmt: skip
REDUNDANCY_COLUMNS = ["encoder", "group", "dataset", "width", "rel_flops", "measure", "value"]
SPECTRUM_COLUMNS = ["encoder", "group", "dataset", "width", "component", "ratio"]
SPECTRUM_COMPONENTS = 256
SPECTRUM_FLOOR = 1e-12  # the spectrum slope's threshold too (rsfm.slimming.analyses.spectrum_slope)


def variants(slim_cfg: dict[str, Any]) -> list[str]:
    """The main variant and the configured ablations."""
    ablations = slim_cfg.get("ablations", {})
    names = [MAIN_VARIANT]
    names += [f"{selection}-all" for selection in ablations.get("selection", [])]
    names += [f"first-{parts}" for parts in ablations.get("parts", [])]
    return list(dict.fromkeys(names))


def group_of(slim_cfg: dict[str, Any], encoder: str) -> str:
    entry = slim_cfg["encoders"][encoder]
    return entry.get("group", "RS (ours)" if entry.get("source", "pretrain") == "pretrain" else "external")


def features(
    slim_cfg: dict[str, Any], encoder: str, dataset: str, *, prepared: str | Path, out_dir: str | Path,
    manifest: str | Path, pretrain_dir: str | Path = "results/pretrain", device: str = "cpu",
    workers: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Features of the training and evaluation splits at every width of every variant (the encoder loaded once, the
    splits streamed once); ``manifest`` (JSON) lists the files per variant with the key each holds. ``workers``:
    decoding processes (default: ``slimming.loader_workers``, else none)."""
    entry = study_entry(slim_cfg, encoder)
    model, spec = load_encoder(encoder, entry, pretrain_dir)  # checks the entry's sha256 before reading the weights
    made = identity(encoder, entry, pretrain_dir)
    split_names = ("train", slim_cfg.get("eval_split", "test"))
    splits = {name: SplitImages(prepared, name, spec) for name in split_names}
    flops: dict[tuple[float, str], int] = {}  # first-, last- and random-all slim to the same shapes: counted once
    cells = sweeps(
        model, splits, {variant: Path(out_dir) / variant for variant in variants(slim_cfg)}, slim_cfg["widths"], spec,
        seed=int(slim_cfg.get("selection_seed", 0)), batch_size=int(slim_cfg.get("batch_size", 256)), device=device,
        flops=flops, encoder=made, workers=int(slim_cfg.get("loader_workers", 0) if workers is None else workers),
    )  # fmt: skip
    _, meta = read_index(prepared, "train")
    result = {
        "encoder": encoder, "dataset": dataset, "multilabel": bool(meta.get("multilabel")),
        "eval_split": split_names[1], "weights_sha256": made["weights_sha256"],
        "variants": {v: [str(c.path.resolve()) for c in row] for v, row in cells.items()},
        "keys": {v: [c.key for c in row] for v, row in cells.items()}, "made": describe(encoder, entry, pretrain_dir),
    }  # fmt: skip
    with atomic_write(manifest) as handle:
        json.dump(result, handle, indent=2)
    return result


def _load(info: dict[str, Any], variant: str) -> list[Any]:
    """The feature files of a variant, each checked to hold the key the manifest lists for it."""
    files, keys = info["variants"][variant], info.get("keys", {}).get(variant)
    rerun = (f"rerun slim_features for {info['encoder']}/{info['dataset']} (snakemake --forcerun slim_features, or "
             "delete the manifest)")  # fmt: skip
    if keys is None or len(keys) != len(files):
        raise DataError(f"the features manifest of {info['encoder']}/{info['dataset']} lists no keys for its files "
                        f"(an older run's): {rerun}")  # fmt: skip
    arrays = []
    for file, key in zip(files, keys, strict=True):
        found = stored_key(file)
        if found != key:
            raise DataError(
                f"{file} does not hold the features the manifest lists (key {found or 'missing'}, manifest {key}): "
                f"another run replaced or removed it; {rerun}"
            )
        arrays.append(np.load(file))
    if not any(float(a["width"]) == 1.0 for a in arrays):
        raise ConfigError("slimming.widths must include 1.0: retention and relative compute are taken against it")
    return arrays


def probe(slim_cfg: dict[str, Any], manifest: str | Path, out_csv: str | Path, *, device: str = "cpu") -> pd.DataFrame:
    """Every probe x seed at every width of every variant of one (encoder, dataset), as tidy rows with retention."""
    info = json.loads(Path(manifest).read_text())
    tables = [_probe_variant(slim_cfg, info, variant, _load(info, variant), device) for variant in info["variants"]]
    table = pd.concat(tables, ignore_index=True)[PROBE_COLUMNS]
    write_csv(table, out_csv)
    return table


def _probe_variant(
    slim_cfg: dict[str, Any], info: dict[str, Any], variant: str, arrays: list[Any], device: str
) -> pd.DataFrame:
    full = next(a for a in arrays if float(a["width"]) == 1.0)
    split, multilabel = info["eval_split"], info["multilabel"]
    fraction = float(slim_cfg.get("train_fraction", 1.0))
    k = int(slim_cfg.get("k", 5))
    rows = []
    for data in arrays:
        train, targets = data["train_features"], data["train_targets"]
        test, test_targets = data[f"{split}_features"], data[f"{split}_targets"]
        # the ablations are compared by k-NN (their figure's probe); the linear probe runs on the paper's variant
        methods = slim_cfg.get("probes", ["knn"]) if variant == MAIN_VARIANT else ["knn"]
        for method in methods:
            seeds = slim_cfg.get("seeds", [0])
            if method == "knn" and fraction >= 1:
                seeds = seeds[:1]  # deterministic: every seed would compute the same number
            for seed in seeds:
                idx = probes.subset(targets, fraction, seed, multilabel=multilabel)
                value = probes.evaluate(method, train[idx], targets[idx], test, test_targets,
                                        multilabel=multilabel, k=k, seed=seed, device=device)  # fmt: skip
                rows.append({
                    "encoder": info["encoder"], "group": group_of(slim_cfg, info["encoder"]), **info["made"],
                    "dataset": info["dataset"], "variant": variant, "width": float(data["width"]),
                    "rel_flops": float(data["flops"]) / float(full["flops"]), "params_m": float(data["params"]) / 1e6,
                    "probe": method, "seed": int(seed), "metric": "mAP" if multilabel else "accuracy", "value": value,
                    "weights_sha256": info["weights_sha256"],
                })  # fmt: skip
    table = pd.DataFrame(rows)
    reference = table[table["width"] == 1.0].set_index(["probe", "seed"])["value"]
    table["retention"] = table["value"] / reference.loc[list(zip(table["probe"], table["seed"], strict=True))].values
    return table


def redundancy(
    slim_cfg: dict[str, Any], manifest: str | Path, out_csv: str | Path, spectra_csv: str | Path
) -> pd.DataFrame:
    """Redundancy measures and explained-variance spectra of the evaluation features at every width."""
    info = json.loads(Path(manifest).read_text())
    arrays = _load(info, MAIN_VARIANT)
    full = next(a for a in arrays if float(a["width"]) == 1.0)
    key = {"encoder": info["encoder"], "group": group_of(slim_cfg, info["encoder"]), "dataset": info["dataset"]}
    rows, spectra = [], []
    for data in arrays:
        feats = data[f"{info['eval_split']}_features"]
        width, rel = float(data["width"]), float(data["flops"]) / float(full["flops"])
        for measure, value in analyses.redundancy(feats).items():
            rows.append({**key, "width": width, "rel_flops": rel, "measure": measure, "value": value})
        ratios = analyses.explained_variance_ratio(feats)[:SPECTRUM_COMPONENTS]
        for component, ratio in enumerate(ratios[ratios > SPECTRUM_FLOOR], start=1):  # beyond the rank: round-off
            spectra.append({**key, "width": width, "component": component, "ratio": float(ratio)})
    table = pd.DataFrame(rows)[REDUNDANCY_COLUMNS]
    write_csv(table, out_csv)
    write_csv(pd.DataFrame(spectra)[SPECTRUM_COLUMNS], spectra_csv)
    return table


def concat(inputs: list[str | Path], out_csv: str | Path) -> pd.DataFrame:
    table = pd.concat([pd.read_csv(path) for path in inputs], ignore_index=True)
    write_csv(table, out_csv)
    return table


__all__ = ["MAIN_VARIANT", "concat", "features", "probe", "redundancy", "variants"]
