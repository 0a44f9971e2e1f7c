"""Can a slimming curve fall on this task at all? k-NN at a few widths of an encoder trained with the task's labels
(from random weights and from the pretrained weights), beside the pretrained encoder as it is.

    PYTHONPATH=src python benchmarks/slimming_supervised_reference.py --configfile VARIANT --encoder vit_tiny12x1

Run where `results/pretrain` and `data/prepared/<dataset>` hold the config's encoder and set (a single-label set
with enough training images for supervised training, e.g. m-eurosat at 1000). The encoder is loaded and fed as rule
slim_features does; training is plain cross-entropy on mean-pooled final-norm tokens with a linear head (AdamW,
horizontal flips), the same pooling the probes read. An encoder trained on the labels holds features a narrower copy
loses, so where its curve falls and the pretrained one's does not, the task is not what keeps the curve flat
(docs/slimming.md, "What the embedded default's curves can show").
"""

from __future__ import annotations

import argparse
import copy

import torch
import torch.nn.functional as F
from slimming_vs_random import knn_by_width, study

from rsfm.slimming.encoders import load_encoder, study_entry
from rsfm.slimming.features import Split, load_split


def train_supervised(model: torch.nn.Module, train: Split, epochs: int, batch: int, lr: float) -> float:
    """Trains ``model`` in place on ``train``'s labels; returns the last epoch's mean loss."""
    labels = torch.as_tensor(train.targets.copy(), dtype=torch.long)
    head = torch.nn.Linear(model.embed_dim, int(labels.max()) + 1)
    optimiser = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=lr, weight_decay=0.05)
    prefix = getattr(model, "num_prefix_tokens", 1)
    model.train()
    for _ in range(epochs):
        order, total = torch.randperm(len(labels)), 0.0
        for start in range(0, len(labels), batch):
            picked = order[start : start + batch]
            images = train.images[picked]
            if torch.rand(()) < 0.5:
                images = images.flip(3)
            loss = F.cross_entropy(head(model.forward_features(images)[:, prefix:].mean(dim=1)), labels[picked])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(picked)
    model.eval()
    return total / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--dataset", default="geobench_m_eurosat")
    parser.add_argument("--encoder", default="vit_tiny12x1")
    parser.add_argument("--widths", type=float, nargs="*", default=[0.01, 0.1, 0.5, 1.0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    torch.manual_seed(0)
    slim_cfg, prepared = study(args.configfile, args.dataset)
    entry = study_entry(slim_cfg, args.encoder)
    pretrained, spec = load_encoder(args.encoder, entry)
    train, test = load_split(prepared, "train", spec), load_split(prepared, "test", spec)
    k, pool = slim_cfg.get("k", 5), entry.get("pool", "mean")

    def row(name: str, model: torch.nn.Module) -> None:
        scores = knn_by_width(model, train, test, args.widths, k, pool)
        print(f"| {name:<40} | " + " | ".join(f"{s:6.3f}" for s in scores) + " |", flush=True)

    print(f"k-NN accuracy (k = {k}) on {prepared} ({len(train.targets)} train, {len(test.targets)} test images)")
    print(f"| {'encoder':<40} | " + " | ".join(f"s={w:<4}" for w in args.widths) + " |")
    print(f"|{'-' * 42}|" + "|".join("-" * 8 for _ in args.widths) + "|")
    row(f"{args.encoder} pretrained", pretrained)
    for start in ("random", "pretrained"):
        model = copy.deepcopy(pretrained)
        if start == "random":
            model.init_weights()
        loss = train_supervised(model, train, args.epochs, args.batch, args.lr)
        row(f"supervised from {start} (loss {loss:.2f})", model)


if __name__ == "__main__":
    main()
