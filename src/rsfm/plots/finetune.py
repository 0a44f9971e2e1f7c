"""Paper 1's fine-tuning figures from the tidy table of rule finetune_table: metric vs model size, metric vs fraction.

Each benchmark gets a panel with its headline metric (rsfm.finetune.benchmarks) as the papers report it (rotated
detection: mAP at IoU 0.5; segmentation: mIoU), in percent; points are the mean over seeds, bars +/- 1 SD where there
are several seeds. Paper 1's own numbers (rsfm.paper_numbers) are drawn as grey diamonds labelled "paper", at its
parameter counts; a panel whose metric the paper does not report names the metrics it does.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rsfm.finetune.benchmarks import BENCHMARKS, headline, with_init
from rsfm.paper_numbers import PAPER1, PaperNumber, paper_numbers, parameter_count
from rsfm.plots import panel_grid, save_figure

PAPER_MARK = {"marker": "D", "color": "0.35", "s": 22, "zorder": 4}


def _log_ticks(ax, values: pd.Series) -> None:
    """A log x axis labelled at the plotted values only (matplotlib's minor labels overlap on short ranges)."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    ticks = sorted(values.unique())
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticklabels([f"{t:.3g}" if t < 1000 else f"{t:,.0f}" for t in ticks])
    if len(ticks) > 1:
        ax.set_xlim(ticks[0] / 1.3, ticks[-1] * 1.6)  # room for the last point's label


def paper_scores(benchmark: str) -> tuple[list[PaperNumber], list[PaperNumber]]:
    """Paper 1's scores of ``benchmark``: those in its headline metric (drawn) and the others (named in the panel)."""
    numbers = [n for n in paper_numbers(PAPER1, "finetune") if n.benchmark == benchmark]
    metric = BENCHMARKS[benchmark].headline
    return [n for n in numbers if n.metric == metric], [n for n in numbers if n.metric != metric]


def paper_marks(ax, numbers: list[PaperNumber], x: list[float], others: list[PaperNumber]) -> str:
    """Paper 1's numbers as reference marks at ``x``, labelled "paper" in the legend; its scores in other metrics
    come back as a note for the panel's title (a number in another metric must not sit on this axis)."""
    if numbers:
        ax.scatter(x, [n.value for n in numbers], label="paper (Cha et al. 2023)", **PAPER_MARK)
        for number, position in zip(numbers, x, strict=True):
            ax.annotate(number.model, (position, number.value), fontsize=6, color="0.35", xytext=(3, -8),
                        textcoords="offset points")  # fmt: skip
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="best")
    if not others:
        return ""
    return f"\npaper {others[0].model}: " + ", ".join(f"{n.metric} {n.value:g}" for n in others)


def paper_marks_by_size(ax, benchmark: str) -> tuple[list[float], str]:
    """Paper 1's scores of ``benchmark`` on all of its training set as marks at its parameter counts (an axis of
    parameters in millions): (where they were drawn, the note of its scores in other metrics)."""
    drawn, others = paper_scores(benchmark)
    drawn = [n for n in drawn if n.fraction == 1.0]
    at = [parameter_count(n.model) for n in drawn]
    return at, paper_marks(ax, drawn, at, others)


SCRATCH_LABEL = "ours, from scratch (init: scratch)"


def _by_init(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pretrained rows, rows of randomly initialised encoders): the figures draw the second as a baseline, never
    averaged into the first. Tables from before the init column hold pretrained runs only."""
    table = with_init(table)
    return table[table["init"] == "pretrained"].copy(), table[table["init"] == "scratch"].copy()


def metric_vs_size(table_csv: str | Path, figure: str | Path) -> None:
    """Headline metric against encoder parameters (log scale) at the largest training fraction of each benchmark."""
    import seaborn as sns

    table, scratch = _by_init(headline(pd.read_csv(table_csv)))
    benchmarks = sorted(table["benchmark"].unique())
    fig, axes = panel_grid(len(benchmarks), width=3.2)
    for ax, benchmark in zip(axes, benchmarks, strict=False):
        rows = table[table["benchmark"] == benchmark]
        rows = rows[rows["fraction"] == rows["fraction"].max()]
        sns.lineplot(data=rows, x="params_m", y="value", marker="o", errorbar="sd", err_style="bars", ax=ax, color="C0",
                     label="ours")  # fmt: skip
        baseline = scratch[(scratch["benchmark"] == benchmark) & (scratch["fraction"] == rows["fraction"].max())]
        if len(baseline):
            sns.lineplot(data=baseline, x="params_m", y="value", marker="s", errorbar="sd", err_style="bars", ax=ax,
                         color="C3", linestyle="--", label=SCRATCH_LABEL)  # fmt: skip
        for size, group in rows.groupby("size"):
            ax.annotate(size, (group["params_m"].iloc[0], group["value"].mean()), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
        at, note = paper_marks_by_size(ax, benchmark)
        _log_ticks(ax, pd.concat([rows["params_m"], pd.Series(at, dtype=float)]))
        ax.set(xlabel="encoder parameters (M)", ylabel="score (%)", title=BENCHMARKS[benchmark].label + note)
    save_figure(fig, figure)


def metric_vs_fraction(table_csv: str | Path, figure: str | Path) -> None:
    """Headline metric against the share of training data (log scale), one line per encoder size."""
    import seaborn as sns

    table, scratch = _by_init(headline(pd.read_csv(table_csv)))
    table["fraction_pct"] = 100 * table["fraction"]
    scratch = scratch.assign(fraction_pct=100 * scratch["fraction"])
    benchmarks = sorted(table["benchmark"].unique())
    sizes = list(table.sort_values("params_m")["size"].unique())
    fig, axes = panel_grid(len(benchmarks), width=3.2)
    for index, (ax, benchmark) in enumerate(zip(axes, benchmarks, strict=False)):
        rows = table[table["benchmark"] == benchmark]
        sns.lineplot(
            data=rows, x="fraction_pct", y="value", hue="size", hue_order=sizes, marker="o", errorbar="sd",
            err_style="bars", ax=ax, legend=index == 0,
        )  # fmt: skip
        baseline = scratch[scratch["benchmark"] == benchmark]
        if len(baseline):  # one hollow square per size: the same runs from a random encoder
            sns.scatterplot(data=baseline, x="fraction_pct", y="value", hue="size", hue_order=sizes, marker="s",
                            facecolor="none", ax=ax, legend=False)  # fmt: skip
            ax.scatter([], [], marker="s", facecolor="none", edgecolor="0.3", label=SCRATCH_LABEL)
        drawn, others = paper_scores(benchmark)
        drawn = [n for n in drawn if n.fraction is not None]
        at = [100 * n.fraction for n in drawn]
        note = paper_marks(ax, drawn, at, others)
        _log_ticks(ax, pd.concat([rows["fraction_pct"], pd.Series(at, dtype=float)]))
        ax.set(xlabel="training data (%)", ylabel="score (%)", title=BENCHMARKS[benchmark].label + note)
    save_figure(fig, figure)


__all__ = ["metric_vs_fraction", "metric_vs_size"]
