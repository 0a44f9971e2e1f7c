"""The cost figure (rule cost_figure): what this run cost per stage (CPU- and GPU-hours, stacked by size) and what
the paper run will cost per size (GPU-hours: pretraining projected from measured throughput; fine-tuning's upper
bound, its allocations, drawn apart because it is a limit and not an estimate)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rsfm.plots import pyplot, save_figure


def draw(run_cost_csv: str | Path, projection_csv: str | Path, figure: str | Path) -> None:
    plt, _ = pyplot()
    run = pd.read_csv(run_cost_csv).fillna({"size": ""})
    plan = pd.read_csv(projection_csv)
    fig, (here, there) = plt.subplots(1, 2, figsize=(11, 3.8))
    hours = "gpu_h" if run["gpu_h"].sum() > 0 else "cpu_h"
    stacked = run.assign(size=run["size"].replace("", "(shared)")).pivot_table(
        index="stage", columns="size", values=hours, aggfunc="sum", fill_value=0.0)  # fmt: skip
    stacked.plot(kind="bar", stacked=True, ax=here, width=0.7, legend=True)
    here.set(xlabel="stage", ylabel="GPU-hours" if hours == "gpu_h" else "CPU-hours",
             title=f"what this run cost: {run[hours].sum():.3g} {'GPU' if hours == 'gpu_h' else 'CPU'}-hours, "
                   f"{run['jobs'].sum()} jobs")  # fmt: skip
    here.legend(fontsize=6, title="size or run", title_fontsize=6, loc="upper left")
    here.tick_params(axis="x", rotation=0)
    projected = plan[plan["stage"] == "pretrain"].dropna(subset=["gpu_h"])
    if len(projected):
        there.bar(projected["size"], projected["gpu_h"], color="C0", label="pretraining (projected)")
        for x, (_, row) in enumerate(projected.iterrows()):
            there.annotate(f"{row['gpu_h']:,.0f}", (x, row["gpu_h"]), ha="center", fontsize=6, xytext=(0, 2),
                           textcoords="offset points")  # fmt: skip
        there.set_title(f"what the paper run will cost: {projected['gpu_h'].sum():,.0f} GPU-hours of pretraining\n"
                        f"on {projected['hardware'].dropna().iloc[0]}", fontsize=8)  # fmt: skip
    bound = plan[plan["stage"] == "finetune"]
    if len(bound):
        note = ", ".join(f"{r['size']} {r['gpu_h']:,.0f}" for _, r in bound.iterrows())
        there.text(0.02, 0.97, f"fine-tuning, at most (allocations):\n{note} GPU-h", transform=there.transAxes,
                   fontsize=6, va="top", color="0.3")  # fmt: skip
    there.set(xlabel="pretraining run", ylabel="GPU-hours")
    there.tick_params(axis="x", rotation=30, labelsize=6)
    save_figure(fig, figure)


__all__ = ["draw"]
