"""The scaling-law figure (rule scaling_law): each benchmark's headline score against encoder parameters (top row)
and pretraining compute (bottom row) on all of the training data, with the fitted saturating law (rsfm.scaling),
its bootstrap band, its extrapolation to the target sizes (dashed) and where returns diminish (dotted line).
A panel whose law was refused or failed says why instead of drawing a curve."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rsfm.finetune.benchmarks import BENCHMARKS
from rsfm.plots import pyplot, save_figure
from rsfm.plots.finetune import paper_marks_by_size
from rsfm.scaling import AXES


def draw(fits_csv: str | Path, points_csv: str | Path, figure: str | Path) -> None:
    """The figure from rule scaling_law's two tables: the fits (one row per benchmark and axis) and their points."""
    plt, _ = pyplot()
    fits = pd.read_csv(fits_csv, dtype={"reason": str}).fillna({"reason": ""})
    points = pd.read_csv(points_csv)
    benchmarks = sorted(fits["benchmark"].unique())
    cols = max(1, len(benchmarks))
    fig, axes = plt.subplots(len(AXES), cols, figsize=(3.4 * cols, 5.8), squeeze=False)
    for col, benchmark in enumerate(benchmarks):
        for row, (axis, label) in enumerate(AXES.items()):
            ax = axes[row][col]
            fit = fits[(fits["benchmark"] == benchmark) & (fits["axis"] == axis)].iloc[0]
            mine = points[(points["benchmark"] == benchmark) & (points["axis"] == axis)]
            runs = mine[mine["kind"] == "run"].groupby("at").agg(x=("x", "first"), value=("value", "mean"),
                                                                 sd=("value", "std"))  # fmt: skip
            ax.errorbar(runs["x"], runs["value"], yerr=runs["sd"].fillna(0), fmt="o", color="C0", capsize=2,
                        label="ours (all of the data)")  # fmt: skip
            for size, item in runs.iterrows():
                ax.annotate(size, (item["x"], item["value"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
            title = BENCHMARKS[benchmark].label
            if fit["status"] == "fit":
                _curve(ax, fit, mine)
                title += f"\nalpha {fit['alpha']:.2f} [{fit['alpha_lo']:.2f}, {fit['alpha_hi']:.2f}]"
            else:
                ax.text(0.03, 0.97, f"no fit ({fit['status']}):\n{_wrap(fit['reason'])}", transform=ax.transAxes,
                        fontsize=6, va="top", color="0.3")  # fmt: skip
            if axis == "params":
                paper_marks_by_size(ax, benchmark)
            _log_axis(ax)
            ax.set_title(title, fontsize=8)
            ax.set(xlabel=label, ylabel="score (%)")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=6, loc="lower right")
    save_figure(fig, figure)


def _curve(ax, fit: pd.Series, points: pd.DataFrame) -> None:
    """The law on all of the data: solid over the sizes that ran, dashed beyond, its band shaded, the targets as
    crosses and a dotted line where returns diminish."""
    curve = points[points["kind"] == "curve"].sort_values("x")
    inside = ~curve["extrapolated"].astype(bool)
    ax.fill_between(curve["x"], curve["lo"], curve["hi"], color="C1", alpha=0.2, lw=0,
                    label=f"{fit['level']:.0%} bootstrap band")  # fmt: skip
    ax.plot(curve["x"][inside], curve["value"][inside], color="C1", label="saturating law")
    ax.plot(curve["x"][~inside], curve["value"][~inside], color="C1", linestyle="--", label="extrapolated")
    targets = points[points["kind"] == "target"]
    ax.scatter(targets["x"], targets["value"], marker="x", color="C1", zorder=4)
    for _, target in targets.iterrows():
        ax.annotate(target["at"], (target["x"], target["value"]), fontsize=6, xytext=(3, -9),
                    textcoords="offset points")  # fmt: skip
    if curve["x"].min() <= fit["diminishing_at"] <= curve["x"].max():
        ax.axvline(fit["diminishing_at"], color="0.4", linestyle=":", lw=1,
                   label=f"gain < {fit['gain']:g} pt per doubling")  # fmt: skip


def _log_axis(ax) -> None:
    """A log x axis ticked at 1, 2 and 5 of each decade: labelled on the short ranges of tiny sizes too."""
    from matplotlib.ticker import LogLocator, NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _wrap(text: str, width: int = 44) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


__all__ = ["draw"]
