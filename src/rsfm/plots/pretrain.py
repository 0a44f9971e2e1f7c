"""Pretraining loss curves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rsfm.plots import pyplot, save_figure


def loss_curve(metrics_csv: str | Path, figure: str | Path, title: str) -> None:
    """Loss per optimiser step (with a smoothed line) and the learning rate on a second axis."""
    plt, sns = pyplot()
    metrics = pd.read_csv(metrics_csv)
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    sns.lineplot(data=metrics, x="step", y="loss", ax=ax, color="0.7", linewidth=0.8, label="loss")
    window = len(metrics) // 20
    if window > 1:
        smooth = metrics["loss"].rolling(window, min_periods=1).mean()
        ax.plot(metrics["step"], smooth, color="C0", linewidth=1.6, label=f"mean of {window} logged steps")
    ax.set(xlabel="optimiser step", ylabel="MAE loss (normalised pixels)", title=title)
    lr_ax = ax.twinx()
    lr_ax.plot(metrics["step"], metrics["lr"], color="C1", linewidth=1.0, linestyle="--")
    lr_ax.set_ylabel("learning rate", color="C1")
    lr_ax.grid(False)
    ax.legend(loc="upper right")
    save_figure(fig, figure)
