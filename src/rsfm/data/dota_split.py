"""Split large rotated-detection scenes (DOTA v2.0, DIOR-R) into fixed-size windows with clipped oriented labels.

The behaviour follows the DOTA devkit's ``ImgSplit`` and mmrotate 1.x's ``tools/data/dota/split`` (written anew here,
from their documented behaviour); the window grid and the clipping of objects are :mod:`rsfm.data.polygons`.

- **Rates.** For each rate the image is resized with ``cv2.resize`` (bilinear) and the polygons are scaled by the rate
  before windowing, as the devkit does (mmrotate instead grows the window by 1/rate and lets the model resize).
- **Padding.** A window reaching past the (rescaled) image is padded with ``pad_value``, as mmrotate pads.
- **Names.** ``<stem>__<rate>__<x>___<y>.png`` (rate formatted with ``:g``), the devkit's pattern: mmrotate's patch
  merging takes the offsets from ``__(\\d+)___(\\d+)`` and the devkit's merging the rate from ``__([\\d.]+)__``.

:func:`split_dataset` writes mmrotate's split layout: ``images/``, ``annfiles/`` (DOTA label files) and
``index.csv`` (one row per window), all inside an atomic directory.
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from rsfm.data.annotations import OrientedObject, format_dota_object, read_dota_label
from rsfm.data.parallel import parallel_map
from rsfm.data.polygons import EPS, QUAD_FITS, axis_starts, clip_window, geometries, objects_per_window
from rsfm.errors import DataError
from rsfm.io import atomic_dir, read_image, write_csv, write_image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
INDEX_COLUMNS = ("image", "source", "rate", "size", "x", "y", "width", "height", "objects", "truncated")


# --- one scene -----------------------------------------------------------------------------------------------------


def write_label(path: Path, objects: Iterable[OrientedObject]) -> None:
    """A DOTA label file, lines as write_dota_label formats them, without its per-file fsync: the files are written
    inside an atomic directory, whose rename already publishes them all at once (fsync would be 4 ms a file)."""
    lines = [format_dota_object(obj) + "\n" for obj in objects]
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(lines)


def _check_options(sizes: Sequence[int], gaps: Sequence[int], rates: Sequence[float], img_ext: str) -> None:
    if len(sizes) != len(gaps) or not sizes:
        raise ValueError(f"sizes {tuple(sizes)} and gaps {tuple(gaps)} must be non-empty and of the same length")
    if len(set(sizes)) > 1:
        raise ValueError(
            f"several window sizes {tuple(sizes)} would give windows of the same name (<stem>__<rate>__<x>___<y> has "
            f"no size); split once per size into separate folders"
        )
    for size, gap in zip(sizes, gaps, strict=True):
        if size <= 0 or not 0 <= gap < size:
            raise ValueError(f"window size {size} and gap {gap}: need size > 0 and 0 <= gap < size")
    if not rates or any(rate <= 0 for rate in rates) or len({f"{rate:g}" for rate in rates}) != len(rates):
        raise ValueError(f"rates {tuple(rates)} must be positive and distinct")
    if img_ext.lower() not in {".png", ".jpg", ".jpeg", ".tif", ".tiff"}:
        raise ValueError(f"img_ext {img_ext!r} must be one of .png, .jpg, .jpeg, .tif, .tiff")


def split_scene(
    image_path: str | Path,
    label_path: str | Path | None,
    out_images_dir: str | Path,
    out_labels_dir: str | Path | None,
    *,
    sizes: Sequence[int] = (1024,),
    gaps: Sequence[int] = (200,),
    rates: Sequence[float] = (1.0,),
    iof_thr: float = 0.7,
    keep_empty: bool = True,
    pad_value: Sequence[int] = (104, 116, 124),
    img_ext: str = ".png",
    keep_low_iof: bool = False,
    truncated_difficulty: int = 2,
    classes: Iterable[str] | None = None,
    quad_fit: str = "best",
) -> list[dict[str, Any]]:
    """Split one scene into windows; returns one record per window written (the columns of :data:`INDEX_COLUMNS`).

    ``label_path=None`` (a test image): every window is written and no label file. Otherwise windows without any
    object are skipped unless ``keep_empty``; label files go to ``out_labels_dir`` when it is given. A record's
    ``width``/``height`` is the part of the window inside the (rescaled) image, i.e. before padding; ``truncated``
    counts the objects clipped by the window. ``classes``: the dataset's class names; a label with another class is a
    DataError naming the file and the class.
    """
    _check_options(sizes, gaps, rates, img_ext)
    if quad_fit not in QUAD_FITS:
        raise ValueError(f"quad_fit must be one of {QUAD_FITS}, got {quad_fit!r}")
    image_path = Path(image_path)
    objects = read_dota_label(label_path).objects if label_path is not None else []
    if classes is not None:
        known = set(classes)
        unknown = sorted({obj.name for obj in objects} - known)
        if unknown:
            raise DataError(
                f"{label_path}: class {', '.join(map(repr, unknown))} is not a class of this dataset "
                f"(expected one of {sorted(known)}); fix the label file or the dataset's class list"
            )
    image = read_image(image_path, mode="RGB")
    polys = np.stack([obj.poly for obj in objects]).astype(float) if objects else np.zeros((0, 4, 2))
    _, areas = geometries(polys)
    degenerate = areas <= EPS
    if degenerate.any():
        log.warning("%s: dropped %d degenerate (zero-area) objects", label_path, int(degenerate.sum()))
        objects = [obj for obj, bad in zip(objects, degenerate, strict=True) if not bad]
        polys = polys[~degenerate]
    names = [obj.name for obj in objects]
    difficulties = [obj.difficult for obj in objects]
    pad = np.asarray(pad_value, dtype=image.dtype)
    out_images_dir = Path(out_images_dir)
    out_labels = Path(out_labels_dir) if out_labels_dir is not None and label_path is not None else None
    out_images_dir.mkdir(parents=True, exist_ok=True)
    if out_labels is not None:
        out_labels.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for size, gap in zip(sizes, gaps, strict=True):
        for rate in rates:
            # fx/fy (no dsize) make OpenCV map pixels by exactly the rate, as the polygons are scaled
            resized = rate != 1
            scaled = cv2.resize(image, None, fx=rate, fy=rate, interpolation=cv2.INTER_LINEAR) if resized else image
            scaled_polys = polys * rate
            geoms, scaled_areas = geometries(scaled_polys)
            low, high = scaled_polys.min(axis=1), scaled_polys.max(axis=1)
            scene_h, scene_w = scaled.shape[:2]
            xs = axis_starts(scene_w, size, size - gap)
            ys = axis_starts(scene_h, size, size - gap)
            buckets = objects_per_window(low, high, xs, ys, size)
            for (y, x), bucket in zip(itertools.product(ys, xs), buckets, strict=True):
                kept = clip_window(
                    scaled_polys, geoms, scaled_areas, low, high, np.asarray(bucket, dtype=int), x, y, size,
                    iof_thr=iof_thr, keep_low_iof=keep_low_iof, quad_fit=quad_fit, counts=None,
                )  # fmt: skip
                if not kept and not keep_empty and label_path is not None:
                    continue
                crop = scaled[y : y + size, x : x + size]
                crop_h, crop_w = crop.shape[:2]
                if (crop_h, crop_w) != (size, size):
                    padded = np.empty((size, size, 3), dtype=scaled.dtype)
                    padded[...] = pad
                    padded[:crop_h, :crop_w] = crop
                    crop = padded
                stem = f"{image_path.stem}__{rate:g}__{x}___{y}"
                write_image(out_images_dir / f"{stem}{img_ext}", crop, atomic=False)
                if out_labels is not None:
                    write_label(
                        out_labels / f"{stem}.txt",
                        (
                            OrientedObject(poly, names[i], truncated_difficulty if truncated else difficulties[i])
                            for i, poly, truncated in kept
                        ),
                    )
                records.append(
                    {"image": f"{stem}{img_ext}", "source": image_path.stem, "rate": float(rate), "size": size,
                     "x": x, "y": y, "width": crop_w, "height": crop_h, "objects": len(kept),
                     "truncated": sum(truncated for _, _, truncated in kept)}
                )  # fmt: skip
    return records


# --- a folder of scenes --------------------------------------------------------------------------------------------


def _split_job(job: tuple[Path, Path | None, Path, Path | None, dict[str, Any]]) -> list[dict[str, Any]]:
    image, label, out_images, out_labels, options = job
    try:
        return split_scene(image, label, out_images, out_labels, **options)
    except DataError:
        raise  # already names the file
    except Exception as error:  # cv2 / numpy / OS errors: say which scene, the traceback says the rest
        error.add_note(f"while splitting {image}")
        raise


def list_images(images_dir: str | Path) -> list[Path]:
    """The images of a folder (png, jpg, tif, bmp; hidden files skipped), sorted; DataError if none or names clash."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise DataError(f"image folder {images_dir} does not exist")
    images = sorted(
        p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )
    if not images:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {images_dir}")
    stems = Counter(p.stem for p in images)
    clashes = sorted(stem for stem, n in stems.items() if n > 1)
    if clashes:
        raise DataError(f"{images_dir}: several images share the name {clashes[0]!r} (e.g. .png and .jpg); keep one")
    return images


def split_dataset(
    images_dir: str | Path,
    labels_dir: str | Path | None,
    out_dir: str | Path,
    *,
    workers: int = 2,
    **split_kwargs: Any,
) -> pd.DataFrame:
    """Split every image of ``images_dir`` (labels ``labels_dir/<stem>.txt``) into ``out_dir``, atomically.

    ``out_dir`` gets ``images/``, ``annfiles/`` (only with labels) and ``index.csv`` (one row per window, sorted by
    name; also returned). Scenes are split by ``workers`` processes, one scene per task. ``split_kwargs`` are those of
    :func:`split_scene`. Nothing is left at ``out_dir`` when an image is unreadable, a label file is missing (unless
    ``labels_dir`` is None: test images) or malformed.
    """
    signature = inspect.signature(split_scene)
    signature.bind(None, None, None, None, **split_kwargs)  # TypeError on an unknown option, before any work
    option = {name: split_kwargs.get(name, signature.parameters[name].default) for name in signature.parameters}
    _check_options(option["sizes"], option["gaps"], option["rates"], option["img_ext"])
    if "classes" in split_kwargs and split_kwargs["classes"] is not None:
        split_kwargs["classes"] = frozenset(split_kwargs["classes"])
    images = list_images(images_dir)
    labels: list[Path | None] = [None] * len(images)
    if labels_dir is not None:
        labels = [Path(labels_dir) / f"{image.stem}.txt" for image in images]
        missing = [str(label) for label in labels if not label.is_file()]
        if missing:
            raise DataError(
                f"{len(missing)} of {len(images)} images in {images_dir} have no label file, e.g. {missing[0]}; "
                f"every image needs <stem>.txt in {labels_dir}"
            )
    with atomic_dir(out_dir) as tmp:
        out_images = tmp / "images"
        out_images.mkdir()
        out_labels = tmp / "annfiles" if labels_dir is not None else None
        if out_labels is not None:
            out_labels.mkdir()
        jobs = [
            (image, label, out_images, out_labels, split_kwargs) for image, label in zip(images, labels, strict=True)
        ]
        per_scene = parallel_map(_split_job, jobs, workers=workers, desc=f"splitting {Path(images_dir).name}")
        index = pd.DataFrame.from_records(
            [record for records in per_scene for record in records], columns=list(INDEX_COLUMNS)
        )
        index = index.sort_values("image", ignore_index=True)
        write_csv(index, tmp / "index.csv")
    return index
