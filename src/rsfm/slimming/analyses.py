"""Redundancy of a feature matrix (N samples x D dimensions), as paper 2 measures it.

- Mean absolute correlation: the mean of |Pearson r| over all pairs of distinct dimensions (constant dimensions,
  whose correlation is undefined, are left out).
- PCA explained-variance spectrum: eigenvalues of the covariance, descending, as ratios of their sum; its log-log
  slope is the least-squares slope of log(ratio) against log(rank) over the components that carry variance (a
  steeper slope = variance concentrated in few directions).
- Effective dimension: (sum of eigenvalues)^2 / (sum of squared eigenvalues), the participation ratio: D for an
  isotropic cloud, 1 when all variance lies along one direction.
"""

from __future__ import annotations

import numpy as np
import torch


def _centred(features: np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(features, dtype=torch.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need a (samples >= 2, dims) matrix, got shape {tuple(x.shape)}")
    return x - x.mean(dim=0, keepdim=True)


def eigenvalues(features: np.ndarray) -> np.ndarray:
    """Covariance eigenvalues, descending (from the singular values of the centred matrix, float64)."""
    x = _centred(features)
    singular = torch.linalg.svdvals(x)
    values = (singular**2 / (x.shape[0] - 1)).numpy()
    return np.sort(values)[::-1]


def explained_variance_ratio(features: np.ndarray) -> np.ndarray:
    values = eigenvalues(features)
    total = values.sum()
    return values / total if total > 0 else values


def spectrum_slope(ratios: np.ndarray, tol: float = 1e-12) -> float:
    """Slope of log(ratio) against log(rank) (rank from 1) over the components with ratio > ``tol``."""
    ratios = np.asarray(ratios, dtype=np.float64)
    keep = ratios > tol
    if keep.sum() < 2:
        return float("nan")
    ranks = np.arange(1, len(ratios) + 1)[keep]
    slope, _ = np.polyfit(np.log(ranks), np.log(ratios[keep]), 1)
    return float(slope)


def effective_dimension(features: np.ndarray) -> float:
    values = eigenvalues(features)
    squares = (values**2).sum()
    return float(values.sum() ** 2 / squares) if squares > 0 else 0.0


def mean_abs_correlation(features: np.ndarray) -> float:
    x = _centred(features)
    std = x.std(dim=0)
    x = x[:, std > 0] / std[std > 0]
    d = x.shape[1]
    if d < 2:
        return float("nan")
    corr = (x.T @ x) / (x.shape[0] - 1)
    off_diagonal = corr.abs().sum() - corr.diagonal().abs().sum()
    return float(off_diagonal / (d * (d - 1)))


def redundancy(features: np.ndarray) -> dict[str, float]:
    """All three measures of one feature matrix."""
    ratios = explained_variance_ratio(features)
    return {
        "mean_abs_corr": mean_abs_correlation(features),
        "evr_slope": spectrum_slope(ratios),
        "effective_dim": effective_dimension(features),
        "dims": float(np.asarray(features).shape[1]),
    }


__all__ = [
    "effective_dimension", "eigenvalues", "explained_variance_ratio", "mean_abs_correlation", "redundancy",
    "spectrum_slope",
]  # fmt: skip
