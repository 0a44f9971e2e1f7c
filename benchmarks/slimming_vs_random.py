"""Does a slimming curve have anything to lose? k-NN of each pretrained encoder beside the same architecture with
random weights, at a few widths, and k-NN on the pixels' mean colour, on one prepared classification set.

    PYTHONPATH=src python benchmarks/slimming_vs_random.py                       # after `make run`
    PYTHONPATH=src python benchmarks/slimming_vs_random.py --configfile VARIANT --encoders vit_tiny12x1_moco

Run in a checkout whose `results/pretrain` and `data/prepared` hold the config's encoders and set. The encoders are
loaded and fed as rule slim_features does (the study's `slimming.input`, then the encoder's entry); random weights
are timm's own initialisation of the loaded architecture (``init_weights``). Where the pretrained encoder scores what
random weights score at full width, its retention curve is flat whatever the task: there is nothing learned to lose
(docs/slimming.md, "What the embedded default's curves can show").
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import torch
import yaml

from rsfm.models.slim import slim_model
from rsfm.slimming.encoders import load_encoder, study_entry
from rsfm.slimming.features import Split, embed, load_split
from rsfm.slimming.probes import accuracy, knn_classify


def knn_accuracy(train: np.ndarray, train_targets: np.ndarray, test: np.ndarray, test_targets: np.ndarray, k: int):
    return accuracy(knn_classify(train, train_targets, test, k), test_targets)


def knn_by_width(model: torch.nn.Module, train: Split, test: Split, widths: list[float], k: int, pool: str):
    """k-NN accuracy of ``model`` slimmed to each of ``widths``."""
    scores = []
    for width in widths:
        slim = slim_model(model, width)
        scores.append(knn_accuracy(embed(slim, train.images, pool), train.targets, embed(slim, test.images, pool),
                                   test.targets, k))  # fmt: skip
    return scores


def study(configfile: str | Path, dataset: str) -> tuple[dict, Path]:
    """The config's slimming section and the prepared folder of ``dataset``."""
    cfg = yaml.safe_load(Path(configfile).read_text())
    return cfg["slimming"], Path(cfg["data"].get("root", "data")) / "prepared" / dataset


def rows_for(encoder: str, entry: dict, prepared: Path, widths: list[float], k: int) -> list[tuple]:
    model, spec = load_encoder(encoder, entry)
    train, test = load_split(prepared, "train", spec), load_split(prepared, "test", spec)
    if train.targets.ndim > 1:
        raise SystemExit(f"{prepared} is multi-label: this check scores single-label sets (k-NN accuracy)")
    torch.manual_seed(0)
    random = copy.deepcopy(model)
    random.init_weights()
    rows = []
    for weights, net in (("pretrained", model), ("random", random)):
        scores = knn_by_width(net, train, test, widths, k, entry.get("pool", "mean"))
        rows += [(encoder, weights, width, score) for width, score in zip(widths, scores, strict=True)]
    rows.append((encoder, "mean colour", "-", knn_accuracy(*_colour(train), *_colour(test), k)))
    return rows


def _colour(split: Split) -> tuple[np.ndarray, np.ndarray]:
    return split.images.mean(dim=(2, 3)).numpy(), split.targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--dataset", default="geobench_m_eurosat")
    parser.add_argument("--encoders", nargs="*", help="default: every pretrained encoder of slimming.encoders")
    parser.add_argument("--widths", type=float, nargs="*", default=[0.01, 0.1, 1.0])
    args = parser.parse_args()
    slim_cfg, prepared = study(args.configfile, args.dataset)
    encoders = args.encoders or [name for name, entry in slim_cfg["encoders"].items()
                                 if entry.get("source", "pretrain") == "pretrain"]  # fmt: skip
    k = slim_cfg.get("k", 5)
    print(f"k-NN accuracy (k = {k}) on {prepared}, test split")
    print(f"| {'encoder':<28} | {'weights':<11} | {'width':>5} | {'k-NN':>6} |")
    print(f"|{'-' * 30}|{'-' * 13}|{'-' * 7}|{'-' * 8}|")
    for encoder in encoders:
        for name, weights, width, score in rows_for(encoder, study_entry(slim_cfg, encoder), prepared, args.widths, k):
            print(f"| {name:<28} | {weights:<11} | {width!s:>5} | {score:6.3f} |", flush=True)


if __name__ == "__main__":
    main()
