"""Probes on frozen features: k-NN and linear, single-label (accuracy) and multi-label (macro mAP).

k-NN (paper 2's protocol, k = 5): features are L2-normalised and neighbours are the training samples of highest
cosine similarity, found by batched matrix products on the features' device. Single-label: majority vote of the k
neighbours, ties broken in favour of the class with the larger summed similarity (so the nearest neighbour decides
a 1-1-1-1-1 vote). Multi-label: each label's score is the similarity-weighted share of neighbours that carry it,
ranked per label for average precision.

Linear probe (ablation): a single linear layer on standardised features, trained with AdamW (full batch, cross-entropy
or binary cross-entropy for multi-label) for a fixed number of epochs; its seed sets the initialisation.

Seeds: with ``train_fraction < 1`` every seed draws its own subset of the training features (stratified by label for
single-label sets); with the whole training set k-NN is deterministic and the seeds agree.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

from rsfm.errors import ConfigError


def _normalised(x: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    return F.normalize(torch.as_tensor(x, dtype=torch.float32, device=device), dim=1)


def knn_neighbours(
    train: np.ndarray, test: np.ndarray, k: int = 5, *, device: str = "cpu", chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """(similarities, indices) of the ``k`` most cosine-similar training rows for every test row, (N_test, k)."""
    if k > len(train):
        raise ConfigError(f"k = {k} neighbours but only {len(train)} training samples")
    bank = _normalised(train, device)
    sims, idx = [], []
    for start in range(0, len(test), chunk):
        query = _normalised(test[start : start + chunk], device)
        top = (query @ bank.T).topk(k, dim=1)
        sims.append(top.values)
        idx.append(top.indices)
    return torch.cat(sims), torch.cat(idx)


def knn_classify(train: np.ndarray, labels: np.ndarray, test: np.ndarray, k: int = 5, *, device: str = "cpu"):
    """Predicted class per test row: majority vote of ``k`` neighbours, ties to the larger summed similarity."""
    sims, idx = knn_neighbours(train, test, k, device=device)
    labels_t = torch.tensor(labels, dtype=torch.long, device=sims.device)  # a copy: label arrays may be read-only
    classes = int(labels_t.max()) + 1
    votes = F.one_hot(labels_t[idx], classes).float()  # (N, k, C)
    count = votes.sum(dim=1)
    weight = (votes * sims.unsqueeze(-1)).sum(dim=1)
    # counts are integers <= k and summed cosine similarities lie in [-k, k]: scale the tie-breaker below one vote
    score = count + weight / (2 * k + 1)
    return score.argmax(dim=1).cpu().numpy()


def knn_multilabel_scores(
    train: np.ndarray, targets: np.ndarray, test: np.ndarray, k: int = 5, *, device: str = "cpu"
) -> np.ndarray:
    """(N_test, L) label scores: similarity-weighted share of the ``k`` neighbours carrying each label."""
    sims, idx = knn_neighbours(train, test, k, device=device)
    bank = torch.as_tensor(targets, dtype=torch.float32, device=sims.device)
    weights = sims.clamp(min=0) + 1e-6  # all-negative neighbourhoods still vote
    return ((bank[idx] * weights.unsqueeze(-1)).sum(1) / weights.sum(1, keepdim=True)).cpu().numpy()


def accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(pred) == np.asarray(labels)).mean())


def macro_map(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean over labels present in ``targets`` of the average precision of ``scores``."""
    present = targets.sum(axis=0) > 0
    if not present.any():
        raise ConfigError("no label occurs in the evaluation targets: macro mAP is undefined")
    return float(average_precision_score(targets[:, present], scores[:, present], average="macro"))


def linear_probe(
    train: np.ndarray, train_targets: np.ndarray, test: np.ndarray, *, multilabel: bool, seed: int = 0,
    epochs: int = 200, lr: float = 1e-2, weight_decay: float = 1e-4, device: str = "cpu",
) -> np.ndarray:  # fmt: skip
    """Class scores (N_test, C) of a linear layer trained on standardised frozen features (full-batch AdamW)."""
    x = torch.as_tensor(train, dtype=torch.float32, device=device)
    mean, std = x.mean(0, keepdim=True), x.std(0, keepdim=True).clamp(min=1e-6)
    x = (x - mean) / std
    y = torch.as_tensor(train_targets, device=device)
    classes = y.shape[1] if multilabel else int(y.max()) + 1
    generator = torch.Generator(device="cpu").manual_seed(seed)
    layer = torch.nn.Linear(x.shape[1], classes).to(device)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator).to(device) * 0.01)
        layer.bias.zero_()
    optimizer = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        logits = layer(x)
        if multilabel:
            loss = F.binary_cross_entropy_with_logits(logits, y.float())
        else:
            loss = F.cross_entropy(logits, y.long())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        z = (torch.as_tensor(test, dtype=torch.float32, device=device) - mean) / std
        logits = layer(z)
        return (logits.sigmoid() if multilabel else logits.softmax(1)).cpu().numpy()


def subset(labels: np.ndarray, fraction: float, seed: int, *, multilabel: bool) -> np.ndarray:
    """Sorted indices of a seeded ``fraction`` of the training set, stratified by class for single-label sets."""
    n = len(labels)
    if fraction >= 1:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if multilabel:
        return np.sort(rng.permutation(n)[: max(1, round(fraction * n))])
    picked = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        picked.append(rng.permutation(members)[: max(1, round(fraction * len(members)))])
    return np.sort(np.concatenate(picked))


def evaluate(
    method: str, train: np.ndarray, train_targets: np.ndarray, test: np.ndarray, test_targets: np.ndarray, *,
    multilabel: bool, k: int = 5, seed: int = 0, device: str = "cpu",
) -> float:  # fmt: skip
    """Accuracy (single-label) or macro mAP (multi-label) of a ``knn`` or ``linear`` probe, in [0, 1]."""
    if method == "knn":
        if multilabel:
            return macro_map(knn_multilabel_scores(train, train_targets, test, k, device=device), test_targets)
        return accuracy(knn_classify(train, train_targets, test, k, device=device), test_targets)
    if method == "linear":
        scores = linear_probe(train, train_targets, test, multilabel=multilabel, seed=seed, device=device)
        return macro_map(scores, test_targets) if multilabel else accuracy(scores.argmax(1), test_targets)
    raise ConfigError(f"unknown probe {method!r}; use knn or linear")


__all__ = [
    "accuracy", "evaluate", "knn_classify", "knn_multilabel_scores", "knn_neighbours", "linear_probe", "macro_map",
    "subset",
]  # fmt: skip
