"""The dense-slimming figure (rule slim_dense_figure): retention of rotated-detection and segmentation scores of
post-hoc slimmed encoders against their backbone's relative FLOPs, one panel per size, with paper 2's
classification retention (k-NN, mean over the GEO-Bench tasks) of the same encoder beside it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rsfm.plots import pyplot, save_figure


def classification(probes: pd.DataFrame, sizes: list[str]) -> pd.DataFrame:
    """k-NN retention of paper 2's rule (variant first-all) per encoder and width, mean over datasets and seeds."""
    rows = probes[(probes["variant"] == "first-all") & (probes["probe"] == "knn") & probes["encoder"].isin(sizes)]
    return rows.groupby(["encoder", "width"], as_index=False).agg(
        rel_flops=("rel_flops", "first"), retention=("retention", "mean")
    )


def draw(dense_csv: str | Path, probes_csv: str | Path | None, figure: str | Path) -> None:
    plt, _ = pyplot()
    dense = pd.read_csv(dense_csv)
    sizes = sorted(dense["size"].unique())
    probes = classification(pd.read_csv(probes_csv), sizes) if probes_csv else pd.DataFrame()
    fig, axes = plt.subplots(1, max(1, len(sizes)), figsize=(4.2 * max(1, len(sizes)), 3.4), squeeze=False)
    for ax, size in zip(axes[0], sizes or [None], strict=True):
        rows = dense[dense["size"] == size]
        means = rows.groupby(["benchmark", "task", "width"], as_index=False).agg(
            rel_flops=("rel_flops", "first"), retention=("retention", "mean"), sd=("retention", "std")
        )
        for (benchmark, task), curve in means.groupby(["benchmark", "task"]):
            curve = curve.sort_values("rel_flops")
            ax.errorbar(curve["rel_flops"], curve["retention"], yerr=curve["sd"].fillna(0), marker="o", ms=4,
                        capsize=2, label=f"{benchmark} ({task})")  # fmt: skip
        ours = probes[probes["encoder"] == size] if len(probes) else probes
        if len(ours):
            ours = ours.sort_values("rel_flops")
            ax.plot(ours["rel_flops"], ours["retention"], color="0.5", ls="--", marker=".",
                    label="classification, k-NN (paper 2's protocol)")  # fmt: skip
        ax.axhline(1.0, color="0.7", lw=0.8)
        ax.set_xscale("log")
        ax.set(xlabel="relative FLOPs of the encoder", ylabel="retention (score / width 1)", title=str(size))
        ax.legend(fontsize=6, loc="lower right")
    fig.suptitle("Dense tasks on post-hoc slimmed encoders: fine-tuned from width s, against width 1", fontsize=9)
    save_figure(fig, figure)


__all__ = ["classification", "draw"]
