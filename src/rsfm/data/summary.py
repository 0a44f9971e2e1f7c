"""Data-stage summary: tidy counts per dataset/split/class and a figure of sample tiles with boxes and masks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rsfm.data.kinds import kind_of
from rsfm.data.samples import Sample
from rsfm.io import atomic_write, write_csv


def collect_counts(outputs: dict[str, str | Path]) -> pd.DataFrame:
    """Concatenate every dataset's ``counts.csv`` into one tidy table (dataset, split, class, count, unit)."""
    frames = []
    for name, folder in outputs.items():
        counts = pd.read_csv(Path(folder) / "counts.csv", keep_default_na=False)
        frames.append(counts.assign(dataset=name))
    table = pd.concat(frames, ignore_index=True)
    return table[["dataset", "split", "class", "count", "unit"]]


def to_markdown(table: pd.DataFrame) -> str:
    """Totals per dataset and split in words ("27 windows, 2,358 objects"), then per-class counts of train."""
    lines = ["# Data stage summary", "", "| dataset | split | totals |", "|---|---|---|"]
    totals = table[table["class"] == "*"]
    for (dataset, split), group in totals.groupby(["dataset", "split"], sort=True):
        parts = ", ".join(f"{int(r['count']):,} {r['unit']}" for _, r in group.iterrows() if r["count"] or r["unit"] in
                          {"images", "windows", "crops"})  # fmt: skip
        lines.append(f"| {dataset} | {split} | {parts} |")
    per_class = table[(table["class"] != "*") & (table["split"] == "train")]
    lines += ["", "Per class, training split:", ""]
    for dataset, group in per_class.groupby("dataset"):
        parts = ", ".join(f"{r['class']} {int(r['count']):,}" for _, r in group.iterrows())
        lines.append(f"- **{dataset}** ({group['unit'].iloc[0]}): {parts}")
    return "\n".join(lines) + "\n"


# --- sample figure -------------------------------------------------------------------------------------------------


def sample_images(name: str, folder: str | Path, n: int) -> list[Sample]:
    """(image, oriented objects, title) triples for the figure, chosen deterministically by the dataset's kind."""
    return kind_of(name).samples(Path(folder), n)


def draw_samples(outputs: dict[str, str | Path], figure: str | Path, samples_per_dataset: int = 2) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.patches import Polygon

    sns.set_theme(style="white", context="paper")
    rows = len(outputs)
    fig, axes = plt.subplots(rows, samples_per_dataset, figsize=(2.6 * samples_per_dataset, 2.6 * rows), squeeze=False)
    palette = sns.color_palette("tab20", 20)
    for row_axes, (name, folder) in zip(axes, outputs.items(), strict=True):
        samples = sample_images(name, folder, samples_per_dataset)
        class_colour: dict[str, tuple] = {}
        for ax, sample in zip(row_axes, samples + [None] * (samples_per_dataset - len(samples)), strict=True):
            ax.set_axis_off()
            if sample is None:
                continue
            image, objects, title = sample
            ax.imshow(image)
            for obj in objects:
                colour = class_colour.setdefault(obj.name, palette[len(class_colour) % len(palette)])
                ax.add_patch(Polygon(obj.poly, closed=True, fill=False, edgecolor=colour, linewidth=0.8))
            ax.set_title(f"{name}\n{title}", fontsize=7)
    fig.tight_layout()
    figure = Path(figure)
    figure.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(figure, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def write_summary(outputs: dict[str, str | Path], *, table: str | Path, markdown: str | Path) -> pd.DataFrame:
    """The tidy counts as CSV and as a Markdown table (the sample figure is rule data_samples: draw_samples)."""
    counts = collect_counts(outputs)
    write_csv(counts, table)
    with atomic_write(markdown) as handle:
        handle.write(to_markdown(counts))
    return counts
