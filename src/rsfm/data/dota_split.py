"""Split large rotated-detection scenes (DOTA v2.0, DIOR-R) into fixed-size windows with clipped oriented labels.

Behaviour follows the DOTA devkit's ImgSplit and mmrotate 1.x's ``tools/data/dota/split`` (written anew here):

- windows of ``size`` step by ``size - gap``; the last window along each axis is moved back to end flush with the
  image edge, and an image smaller than a window gets one window padded with ``pad_value``;
- at each ``rate`` the image and its polygons are rescaled first (multi-scale splitting);
- an object is kept in a window when its iof (area inside the window / its own area) reaches ``iof_thr``; objects
  wholly inside keep their polygon and difficulty, cut ones are clipped to the window, reduced to a 4-point polygon
  and marked difficult (``truncated_difficulty``, 2 as in the devkit); a clipped shape with more than 4
  corners loses its smallest corners (shortest edges merged) until 4 remain. The devkit also keeps 0 < iof < thr
  objects as
  difficult; ``keep_low_iof=True`` does that, the default drops them as mmrotate does;
- names ``<stem>__<rate>__<x>___<y>.png``: mmrotate's patch merging parses the offsets (``__(\\d+)___(\\d+)``) and
  the devkit's the rate, so detections map back to full images.

Output of :func:`split_dataset` (mmrotate's split layout): ``images/``, ``annfiles/`` and ``index.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from shapely import Polygon, box

from rsfm.data.annotations import DotaLabel, OrientedObject, read_dior_xml, read_dota_label, write_dota_label
from rsfm.data.loveda import link_or_copy
from rsfm.data.parallel import parallel_map
from rsfm.errors import DataError
from rsfm.io import atomic_dir, atomic_write, read_image, write_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_EPS = 1e-6


def axis_starts(length: int, size: int, step: int) -> list[int]:
    """Window starts along one axis: 0, step, 2*step, ... then one flush with the end (deduplicated)."""
    if length <= size:
        return [0]
    starts = list(range(0, length - size, step))
    starts.append(length - size)
    return sorted(set(starts))


def sliding_windows(width: int, height: int, size: int, gap: int) -> list[tuple[int, int]]:
    """Top-left corners (x, y) of the windows covering a ``width`` x ``height`` image, row by row."""
    if not 0 <= gap < size:
        raise ValueError(f"gap ({gap}) must be in [0, size) with size {size}")
    step = size - gap
    xs, ys = axis_starts(width, size, step), axis_starts(height, size, step)
    return [(x, y) for y in ys for x in xs]


def _order_like(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Clockwise (in image coordinates) 4 points, starting at the one closest to the reference's first vertex."""
    centre = points.mean(axis=0)
    angles = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    points = points[np.argsort(angles)]  # increasing angle with y down = clockwise on screen
    first = int(np.argmin(np.linalg.norm(points - reference[0], axis=1)))
    return np.roll(points, -first, axis=0)


def _to_quad(clipped: Polygon, original: np.ndarray) -> np.ndarray:
    """Reduce a clipped (convex) polygon to 4 points inside the window.

    As the devkit does for the 5-point case, the two ends of the shortest edge are merged into their midpoint, here
    repeated until 4 points remain: midpoints of points inside the window stay inside it, and only the smallest
    corners of the clipped shape are cut off (a minimum-area rectangle would stick out of the window instead).
    """
    points = np.asarray(clipped.exterior.coords)[:-1]
    while len(points) > 4:
        edges = np.linalg.norm(np.roll(points, -1, axis=0) - points, axis=1)
        i = int(np.argmin(edges))
        j = (i + 1) % len(points)
        points[i] = (points[i] + points[j]) / 2
        points = np.delete(points, j, axis=0)
    return _order_like(points, original)


def clip_objects(
    objects: list[OrientedObject],
    x: int,
    y: int,
    size: int,
    *,
    iof_thr: float = 0.7,
    truncated_difficulty: int = 2,
    keep_low_iof: bool = False,
) -> list[OrientedObject]:
    """Objects of a window [x, x+size) x [y, y+size), in window coordinates (see the module docstring)."""
    window = box(x, y, x + size, y + size)
    kept = []
    for obj in objects:
        lo, hi = obj.poly.min(axis=0), obj.poly.max(axis=0)
        if hi[0] <= x or hi[1] <= y or lo[0] >= x + size or lo[1] >= y + size:
            continue  # bounding boxes do not meet: skip the geometry
        if lo[0] >= x and lo[1] >= y and hi[0] <= x + size and hi[1] <= y + size:
            kept.append(OrientedObject(obj.poly - (x, y), obj.name, obj.difficult))
            continue
        polygon = Polygon(obj.poly)
        if not polygon.is_valid:
            polygon = polygon.buffer(0)
        if polygon.area <= _EPS:
            continue
        inter = polygon.intersection(window)
        iof = inter.area / polygon.area
        if iof <= _EPS or (iof < iof_thr and not keep_low_iof):
            continue
        if iof >= 1 - _EPS:
            kept.append(OrientedObject(obj.poly - (x, y), obj.name, obj.difficult))
            continue
        if inter.geom_type != "Polygon":  # a sliver plus a point: keep the largest piece
            inter = max(getattr(inter, "geoms", [inter]), key=lambda g: g.area)
        local = Polygon(np.asarray(inter.exterior.coords) - (x, y))
        kept.append(OrientedObject(_to_quad(local, obj.poly - (x, y)), obj.name, truncated_difficulty))
    return kept


@dataclass(frozen=True)
class SplitOptions:
    sizes: tuple[int, ...] = (1024,)
    gaps: tuple[int, ...] = (200,)
    rates: tuple[float, ...] = (1.0,)
    iof_thr: float = 0.7
    keep_empty: bool = True
    keep_low_iof: bool = False
    truncated_difficulty: int = 2
    pad_value: tuple[int, int, int] = (104, 116, 124)
    img_ext: str = ".png"
    classes: frozenset[str] | None = None


def split_scene(
    image_path: str | Path,
    label_path: str | Path | None,
    out_images: str | Path,
    out_labels: str | Path | None,
    options: SplitOptions = SplitOptions(),
) -> list[dict]:
    """Split one scene; returns one record per window written."""
    image_path = Path(image_path)
    image = read_image(image_path, mode="RGB")
    objects = read_dota_label(label_path).objects if label_path is not None else []
    if options.classes is not None:
        unknown = sorted({o.name for o in objects} - options.classes)
        if unknown:
            raise DataError(f"{label_path}: classes {unknown} are not in the dataset's class list")
    records = []
    for size, gap in zip(options.sizes, options.gaps, strict=True):
        for rate in options.rates:
            scaled = image if rate == 1 else cv2.resize(image, None, fx=rate, fy=rate, interpolation=cv2.INTER_LINEAR)
            scaled_objects = [OrientedObject(o.poly * rate, o.name, o.difficult) for o in objects]
            # Bounding boxes of all objects once, so each window only looks at the objects that can touch it:
            # the cost grows with windows + objects, not windows x objects.
            polys = np.stack([o.poly for o in scaled_objects]) if scaled_objects else np.zeros((0, 4, 2))
            lo, hi = polys.min(axis=1), polys.max(axis=1)
            height, width = scaled.shape[:2]
            for x, y in sliding_windows(width, height, size, gap):
                near = np.flatnonzero((hi[:, 0] > x) & (hi[:, 1] > y) & (lo[:, 0] < x + size) & (lo[:, 1] < y + size))
                window_objects = clip_objects(
                    [scaled_objects[i] for i in near],
                    x,
                    y,
                    size,
                    iof_thr=options.iof_thr,
                    keep_low_iof=options.keep_low_iof,
                    truncated_difficulty=options.truncated_difficulty,
                )
                if not window_objects and not options.keep_empty:
                    continue
                crop = scaled[y : y + size, x : x + size]
                if crop.shape[:2] != (size, size):
                    padded = np.empty((size, size, 3), dtype=scaled.dtype)
                    padded[:] = options.pad_value
                    padded[: crop.shape[0], : crop.shape[1]] = crop
                    crop = padded
                stem = f"{image_path.stem}__{rate:g}__{x}___{y}"
                write_image(Path(out_images) / f"{stem}{options.img_ext}", crop, atomic=False)
                if out_labels is not None:
                    write_dota_label(Path(out_labels) / f"{stem}.txt", DotaLabel(window_objects))
                records.append(
                    {"image": f"{stem}{options.img_ext}", "source": image_path.stem, "rate": rate, "size": size,
                     "x": x, "y": y, "objects": len(window_objects),
                     "truncated": sum(o.difficult == options.truncated_difficulty for o in window_objects)}
                )  # fmt: skip
    return records


def _split_job(args: tuple[Path, Path | None, Path, Path | None, SplitOptions]) -> list[dict]:
    return split_scene(*args)


def split_dataset(
    images_dir: str | Path,
    labels_dir: str | Path | None,
    out_dir: str | Path,
    *,
    workers: int = 2,
    **options: object,
) -> pd.DataFrame:
    """Split every image of ``images_dir`` (labels from ``labels_dir/<stem>.txt``) into ``out_dir`` atomically."""
    images_dir = Path(images_dir)
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"no images in {images_dir}")
    opts = SplitOptions(**options)  # type: ignore[arg-type]
    labels: list[Path | None] = [None] * len(images)
    if labels_dir is not None:
        labels = [Path(labels_dir) / f"{p.stem}.txt" for p in images]
        missing = [str(p) for p in labels if not p.is_file()]
        if missing:
            raise DataError(f"label files missing for {len(missing)} images, e.g. {missing[0]}")
    with atomic_dir(out_dir) as tmp:
        (tmp / "images").mkdir()
        out_labels = tmp / "annfiles" if labels_dir is not None else None
        if out_labels is not None:
            out_labels.mkdir()
        jobs = [(img, lab, tmp / "images", out_labels, opts) for img, lab in zip(images, labels, strict=True)]
        records = [r for rows in parallel_map(_split_job, jobs, workers=workers, desc="splitting") for r in rows]
        index = pd.DataFrame.from_records(
            records, columns=["image", "source", "rate", "size", "x", "y", "objects", "truncated"]
        ).sort_values("image", ignore_index=True)
        with atomic_write(tmp / "index.csv") as handle:
            index.to_csv(handle, index=False)
    return index


# --- release layouts -> <split>/images + <split>/labelTxt ----------------------------------------------------------


def dota_layout_from_extracted(extracted: str | Path, out_root: str | Path) -> None:
    """Validate DOTA's extracted layout and mirror it (hard links) as ``<split>/images`` + ``<split>/labelTxt``.

    Mirroring rather than pointing at the release keeps every later step reading from ``prepared/``, whatever
    the source (synthetic, downloaded or a user's extracted folder), at no disk cost.
    """
    extracted = Path(extracted)
    splits = [s for s in ("train", "val", "trainval", "test") if (extracted / s / "images").is_dir()]
    if not splits:
        raise DataError(f"{extracted} has no <split>/images folder (expected train/, val/ and test/ as DOTA ships)")
    with atomic_dir(out_root) as tmp:
        for split in splits:
            images = sorted(p for p in (extracted / split / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            labels_dir = extracted / split / "labelTxt"
            for image in images:
                link_or_copy(image, tmp / split / "images" / image.name)
                if labels_dir.is_dir():
                    label = labels_dir / f"{image.stem}.txt"
                    if not label.is_file():
                        raise DataError(f"{label} is missing (every image of {split} needs its DOTA label file)")
                    link_or_copy(label, tmp / split / "labelTxt" / label.name)


def convert_dior_r(
    extracted: str | Path, out_root: str | Path, *, splits: tuple[str, ...] = ("train", "val", "test")
) -> None:
    """DIOR-R (VOC-style XML with <robndbox>) -> ``<split>/images`` + ``<split>/labelTxt`` in DOTA format."""
    extracted = Path(extracted)
    annotations = extracted / "Annotations" / "Oriented Bounding Boxes"
    with atomic_dir(out_root) as tmp:
        for split in splits:
            list_file = extracted / "ImageSets" / "Main" / f"{split}.txt"
            if not list_file.is_file():
                raise DataError(f"{list_file} is missing: DIOR-R's ImageSets/Main/{split}.txt lists the split")
            image_dir = extracted / ("JPEGImages-test" if split == "test" else "JPEGImages-trainval")
            for image_id in list_file.read_text().split():
                image = image_dir / f"{image_id}.jpg"
                xml = annotations / f"{image_id}.xml"
                if not image.is_file() or not xml.is_file():
                    raise DataError(f"DIOR-R {split} image {image_id}: {image if not image.is_file() else xml} missing")
                objects, _ = read_dior_xml(xml)
                link_or_copy(image, tmp / split / "images" / image.name)
                write_dota_label(tmp / split / "labelTxt" / f"{image_id}.txt", DotaLabel(objects))
