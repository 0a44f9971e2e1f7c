"""Data-stage summary: tidy counts per dataset/split/class and a figure of sample tiles with boxes and masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rsfm.data import loveda, potsdam
from rsfm.data.annotations import read_dota_label
from rsfm.data.registry import get_dataset
from rsfm.io import atomic_write, read_image


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

_MASK_COLOURS = np.array(
    [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240],
     [240, 50, 230], [210, 245, 60], [250, 190, 212]], dtype=np.uint8,
)  # fmt: skip


def _overlay(image: np.ndarray, mask: np.ndarray, palette: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    colour = palette[np.clip(mask, 0, len(palette) - 1)]
    blended = (1 - alpha) * image[..., :3] + alpha * colour
    return np.where((mask == 255)[..., None], image[..., :3], blended).astype(np.uint8)


def _rotated_samples(folder: Path, n: int) -> list[tuple[np.ndarray, list, str]]:
    index = pd.read_csv(folder / "train" / "index.csv").sort_values("objects", ascending=False).head(n)
    samples = []
    for row in index.itertuples():
        stem = Path(row.image).stem
        objects = read_dota_label(folder / "train" / "annfiles" / f"{stem}.txt").objects
        samples.append((read_image(folder / "train" / "images" / row.image, mode="RGB"), objects, stem))
    return samples


def _segmentation_samples(folder: Path, n: int, palette: np.ndarray) -> list[tuple[np.ndarray, list, str]]:
    names = sorted((folder / "ann_dir" / "train").glob("*.png"))[:n]
    return [
        (_overlay(read_image(folder / "img_dir" / "train" / p.name, mode="RGB"), read_image(p), palette), [], p.stem)
        for p in names
    ]


def _classification_samples(folder: Path, n: int) -> list[tuple[np.ndarray, list, str]]:
    from rsfm.data.classification import read_geobench_sample

    meta = json.loads((folder / "meta.json").read_text())
    root = folder / meta["image_root"]
    frame = pd.read_csv(folder / "train.csv")
    # one image per class (or label set) so the row shows different classes
    index = frame.drop_duplicates("label" if "label" in frame.columns else "labels").head(n)
    samples = []
    for row in index.itertuples():
        title = getattr(row, "label_name", None) or " ".join(meta["classes"][int(i)] for i in str(row.labels).split())
        if meta["layout"] == "geobench":
            bands, names, _ = read_geobench_sample(root / row.path)
            rgb_names = ["04 - Red", "03 - Green", "02 - Blue"]
            picks = [names.index(b) for b in rgb_names] if all(b in names for b in rgb_names) else [0, 0, 0]
            rgb = bands[picks].transpose(1, 2, 0)
            low, high = np.percentile(rgb, 2), np.percentile(rgb, 98)
            image = (np.clip((rgb - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8)
        else:
            image = read_image(root / row.path, mode="RGB")
        samples.append((image, [], title[:40]))
    return samples


def _shard_samples(folder: Path, n: int) -> list[tuple[np.ndarray, list, str]]:
    import io

    from PIL import Image

    from rsfm.data.millionaid import read_member

    index = pd.read_csv(folder / "index.csv").head(n)
    return [
        (np.asarray(Image.open(io.BytesIO(read_member(folder, r.shard, r.offset, r.size))).convert("RGB")), [], r.key)
        for r in index.itertuples()
    ]


def sample_images(name: str, folder: str | Path, n: int) -> list[tuple[np.ndarray, list, str]]:
    """(image, oriented objects, title) triples for the figure, chosen deterministically."""
    folder, kind = Path(folder), get_dataset(name).kind
    if kind in {"dota", "dior_r"}:
        return _rotated_samples(folder, n)
    if kind == "potsdam":
        palette = np.array(potsdam.PALETTE, dtype=np.uint8)
        return _segmentation_samples(folder, n, palette)
    if kind == "loveda":
        return _segmentation_samples(folder, n, _MASK_COLOURS[: len(loveda.CLASSES)])
    if kind == "millionaid":
        return _shard_samples(folder, n)
    return _classification_samples(folder, n)


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
    with atomic_write(table) as handle:
        counts.to_csv(handle, index=False)
    with atomic_write(markdown) as handle:
        handle.write(to_markdown(counts))
    return counts
