"""Paper 2's figures from the slimming study's tidy tables (rsfm.slimming.run), one function per figure.

Retention is a probe's metric at width s over its metric at full width; relative compute is FLOPs(s) / FLOPs(1).
Unless a figure says otherwise it shows the k-NN probe of the paper's slimming rule (variant ``first-all``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from rsfm.paper_numbers import PAPER2, TARGET_REL_FLOPS, paper_numbers
from rsfm.plots import panel_grid, save_figure
from rsfm.slimming import MAIN_VARIANT


def main_knn(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the figures' main curves: the k-NN probe of paper 2's slimming rule."""
    return table[(table["variant"] == MAIN_VARIANT) & (table["probe"] == "knn")]


def retention_vs_compute(probes_csv: str | Path, figure: str | Path) -> None:
    """Retention in 10%-wide bins of relative compute, mean +/- 2 SD over encoders, datasets and seeds, per group
    (paper 2's headline figure: RS models against the ImageNet MAE)."""
    table = main_knn(pd.read_csv(probes_csv)).copy()
    table["bin"] = np.minimum(np.floor(table["rel_flops"] * 10), 9) / 10 + 0.05
    stats = table.groupby(["group", "bin"])["retention"].agg(["mean", "std"]).reset_index().fillna(0.0)
    fig, (ax,) = panel_grid(1, width=5.0, height=3.4)
    for i, (group, rows) in enumerate(stats.groupby("group")):
        ax.errorbar(rows["bin"] + (i - 0.5) * 0.01, rows["mean"], yerr=2 * rows["std"], marker="o", capsize=3,
                    label=group)  # fmt: skip
    # paper 2's bounds at 1% of the FLOPs (rsfm.paper_numbers): triangles point the way the bound goes
    for number in paper_numbers(PAPER2, "retention_at_1pct_flops"):
        label = f"paper: {number.cohort} {number.bound} {number.value:g}% at 1% FLOPs"
        ax.scatter([TARGET_REL_FLOPS], [number.value / 100], marker="^" if number.bound == ">" else "v", s=40,
                   color="0.35", zorder=4, label=label)  # fmt: skip
    ax.set(xlabel="relative compute (FLOPs, 10% bins)", ylabel="k-NN retention (mean +/- 2 SD)", xlim=(-0.02, 1))
    ax.axhline(1.0, color="0.6", linewidth=0.8, linestyle=":")
    ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, figure)


def _curves(
    table: pd.DataFrame, figure: str | Path, hue: str, panel: str, x: str = "rel_flops",
    xlabel: str = "relative compute (FLOPs)", hue_order: list | None = None, style: str | None = None,
) -> None:  # fmt: skip
    import seaborn as sns

    panels = sorted(table[panel].unique())
    fig, axes = panel_grid(len(panels))
    for index, (ax, name) in enumerate(zip(axes, panels, strict=False)):
        rows = table[table[panel] == name]
        sns.lineplot(data=rows, x=x, y="retention", hue=hue, hue_order=hue_order, style=style, marker="o",
                     errorbar="sd", ax=ax, legend=index == 0)  # fmt: skip
        ax.set_xscale("log")
        ax.set(xlabel=xlabel, ylabel="retention", title=str(name))
        ax.axhline(1.0, color="0.6", linewidth=0.8, linestyle=":")
    save_figure(fig, figure)


def per_model_curves(probes_csv: str | Path, figure: str | Path, keep: Callable | None = None) -> None:
    """k-NN retention against relative compute, one line per encoder, one panel per dataset."""
    table = main_knn(pd.read_csv(probes_csv))
    if keep is not None:
        table = table[keep(table)]
    order = list(table[table["width"] == 1.0].sort_values("params_m")["encoder"].unique())
    _curves(table, figure, hue="encoder", panel="dataset", hue_order=order)


def scaled_models(probes_csv: str | Path, figure: str | Path) -> None:
    """Our regular MAE encoders only (12x1 against 12xK widened ones): does widening by parallel branches add
    redundancy? (a figure neither paper has)."""

    def keep(t: pd.DataFrame) -> pd.Series:
        return (t["group"] == "RS (ours)") & (t["method"] == "mae") & (t["training"] == "regular")

    per_model_curves(probes_csv, figure, keep=keep)


def slimmable_vs_regular(probes_csv: str | Path, figure: str | Path) -> None:
    """k-NN metric (not retention: slimmable training is meant to raise the small widths' own accuracy) against
    relative compute, for every (architecture, objective) trained both ways: solid regular, dashed slimmable."""
    import seaborn as sns

    table = main_knn(pd.read_csv(probes_csv))
    both = table.groupby(["base", "method"])["training"].transform("nunique") == 2
    table = table[both].assign(model=lambda t: t["method"] + " " + t["base"])
    if table.empty:
        fig, (ax,) = panel_grid(1)
        ax.text(0.5, 0.5, "no encoder trained both slimmable and regular\n(pretrain.runs with slimmable)",
                ha="center", va="center", transform=ax.transAxes)  # fmt: skip
        ax.set_axis_off()
        save_figure(fig, figure)
        return
    panels = sorted(table["dataset"].unique())
    fig, axes = panel_grid(len(panels))
    for index, (ax, name) in enumerate(zip(axes, panels, strict=False)):
        rows = table[table["dataset"] == name]
        sns.lineplot(data=rows, x="rel_flops", y="value", hue="model", style="training",
                     style_order=["regular", "slimmable"], marker="o", errorbar="sd", ax=ax,
                     legend=index == 0)  # fmt: skip
        ax.set_xscale("log")
        ax.set(xlabel="relative compute (FLOPs)", ylabel=f"k-NN {rows['metric'].iloc[0]}", title=str(name))
    save_figure(fig, figure)


def knn_vs_linear(probes_csv: str | Path, figure: str | Path) -> None:
    table = pd.read_csv(probes_csv)
    _curves(table[table["variant"] == MAIN_VARIANT], figure, hue="probe", panel="dataset", style="encoder")


def ablations(probes_csv: str | Path, figure: str | Path) -> None:
    """k-NN retention against width for the selection (first/last/random) and layer-type (attention/MLP only)
    variants, one panel per encoder, datasets and seeds pooled."""
    table = pd.read_csv(probes_csv)
    table = table[table["probe"] == "knn"]
    order = [MAIN_VARIANT, *sorted(set(table["variant"]) - {MAIN_VARIANT})]
    _curves(table, figure, hue="variant", panel="encoder", x="width", xlabel="width factor s", hue_order=order)


def redundancy_curves(redundancy_csv: str | Path, spectra_csv: str | Path, figure: str | Path) -> None:
    """Mean |correlation|, EVR log-log slope and effective dimension against width, and the full-width spectra."""
    import seaborn as sns

    table, spectra = pd.read_csv(redundancy_csv), pd.read_csv(spectra_csv)
    labels = {"mean_abs_corr": "mean |correlation|", "evr_slope": "EVR log-log slope",
              "effective_dim": "effective dimension"}  # fmt: skip
    fig, axes = panel_grid(4)
    for ax, (measure, label) in zip(axes, labels.items(), strict=False):
        rows = table[table["measure"] == measure]
        sns.lineplot(data=rows, x="width", y="value", hue="encoder", style="dataset", marker="o", ax=ax,
                     legend=measure == "mean_abs_corr")  # fmt: skip
        ax.set_xscale("log")
        ax.set(xlabel="width factor s", ylabel=label)
    full = spectra[spectra["width"] == 1.0]
    sns.lineplot(data=full, x="component", y="ratio", hue="encoder", style="dataset", ax=axes[3], legend=False)
    axes[3].set(xscale="log", yscale="log", xlabel="principal component", ylabel="explained variance ratio (s = 1)")
    save_figure(fig, figure)


FIGURES = {
    "retention_vs_compute": retention_vs_compute,
    "per_model": per_model_curves,
    "knn_vs_linear": knn_vs_linear,
    "ablations": ablations,
    "scaled_models": scaled_models,
    "slimmable_vs_regular": slimmable_vs_regular,
}
# every figure of the study, one rule each (redundancy_curves reads the redundancy tables, the others the probes)
FIGURE_NAMES = (*FIGURES, "redundancy_curves")

__all__ = [
    "FIGURES",
    "FIGURE_NAMES",
    "ablations",
    "knn_vs_linear",
    "main_knn",
    "per_model_curves",
    "redundancy_curves",
    "retention_vs_compute",
    "scaled_models",
    "slimmable_vs_regular",
]  # fmt: skip
