"""Paper 1's fine-tuning figures from the tidy table of rule finetune_table: metric vs model size, metric vs fraction.

Each benchmark gets a panel with its headline metric (rsfm.finetune.benchmarks) as the papers report it (rotated
detection: mAP at IoU 0.5; segmentation: mIoU), in percent; points are the mean over seeds, bars +/- 1 SD where there
are several seeds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rsfm.finetune.benchmarks import BENCHMARKS, headline
from rsfm.io import atomic_write


def _panels(benchmarks: list[str]) -> tuple:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    cols = min(4, len(benchmarks))
    rows = -(-len(benchmarks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(benchmarks) :]:
        ax.set_visible(False)
    return fig, axes.flat


def _log_ticks(ax, values: pd.Series) -> None:
    """A log x axis labelled at the plotted values only (matplotlib's minor labels overlap on short ranges)."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    ticks = sorted(values.unique())
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticklabels([f"{t:.3g}" for t in ticks])
    if len(ticks) > 1:
        ax.set_xlim(ticks[0] / 1.3, ticks[-1] * 1.3)


def _save(fig, figure: str | Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_write(figure, "wb") as handle:
        fig.savefig(handle, format="png", dpi=130)
    plt.close(fig)


def metric_vs_size(table_csv: str | Path, figure: str | Path) -> None:
    """Headline metric against encoder parameters (log scale) at the largest training fraction of each benchmark."""
    import seaborn as sns

    table = headline(pd.read_csv(table_csv))
    benchmarks = sorted(table["benchmark"].unique())
    fig, axes = _panels(benchmarks)
    for ax, benchmark in zip(axes, benchmarks, strict=False):
        rows = table[table["benchmark"] == benchmark]
        rows = rows[rows["fraction"] == rows["fraction"].max()]
        sns.lineplot(data=rows, x="params_m", y="value", marker="o", errorbar="sd", err_style="bars", ax=ax, color="C0")
        for size, group in rows.groupby("size"):
            ax.annotate(size, (group["params_m"].iloc[0], group["value"].mean()), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
        _log_ticks(ax, rows["params_m"])
        ax.set(xlabel="encoder parameters (M)", ylabel="score (%)", title=BENCHMARKS[benchmark].label)
    _save(fig, figure)


def metric_vs_fraction(table_csv: str | Path, figure: str | Path) -> None:
    """Headline metric against the share of training data (log scale), one line per encoder size."""
    import seaborn as sns

    table = headline(pd.read_csv(table_csv))
    table["fraction_pct"] = 100 * table["fraction"]
    benchmarks = sorted(table["benchmark"].unique())
    sizes = list(table.sort_values("params_m")["size"].unique())
    fig, axes = _panels(benchmarks)
    for index, (ax, benchmark) in enumerate(zip(axes, benchmarks, strict=False)):
        rows = table[table["benchmark"] == benchmark]
        sns.lineplot(
            data=rows, x="fraction_pct", y="value", hue="size", hue_order=sizes, marker="o", errorbar="sd",
            err_style="bars", ax=ax, legend=index == 0,
        )  # fmt: skip
        _log_ticks(ax, rows["fraction_pct"])
        ax.set(xlabel="training data (%)", ylabel="score (%)", title=BENCHMARKS[benchmark].label)
    _save(fig, figure)


__all__ = ["metric_vs_fraction", "metric_vs_size"]
