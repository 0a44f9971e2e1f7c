"""The pretraining-data figure (rule data_scaling_figure): each benchmark's fine-tuned headline score against the
pretraining images its encoder saw, one line per size (mean and SD over seeds), at the budget the table states."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rsfm.finetune.benchmarks import BENCHMARKS
from rsfm.plots import pyplot, save_figure


def draw(table_csv: str | Path, figure: str | Path) -> None:
    plt, _ = pyplot()
    table = pd.read_csv(table_csv)
    benchmarks = sorted(table["benchmark"].unique())
    fig, axes = plt.subplots(1, max(1, len(benchmarks)), figsize=(4.2 * max(1, len(benchmarks)), 3.4), squeeze=False)
    for ax, benchmark in zip(axes[0], benchmarks or [None], strict=True):
        rows = table[table["benchmark"] == benchmark]
        means = rows.groupby(["size", "pretrain_images"], as_index=False).agg(
            value=("value", "mean"), sd=("value", "std"), steps=("pretrain_steps", "first")
        )
        for size, curve in means.groupby("size"):
            curve = curve.sort_values("pretrain_images")
            ax.errorbar(curve["pretrain_images"], curve["value"], yerr=curve["sd"].fillna(0), marker="o", ms=4,
                        capsize=2, label=str(size))  # fmt: skip
        if benchmark in BENCHMARKS:
            facts = BENCHMARKS[benchmark]
            ax.set(title=facts.label, ylabel=f"{facts.headline} ({facts.headline_split})")
        ax.set_xscale("log")
        ax.set(xlabel="pretraining images (nested shares of the shards)")
        ax.legend(fontsize=6, loc="lower right", title="encoder", title_fontsize=6)
    budgets = ", ".join(sorted(table["budget"].astype(str).unique())) or "none"
    fig.suptitle(f"Fine-tuned score against pretraining data (budget: equal {budgets})", fontsize=9)
    save_figure(fig, figure)


__all__ = ["draw"]
