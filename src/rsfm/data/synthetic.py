"""Deterministic synthetic remote-sensing data, written in the raw layout and format of each real release.

The embedded default config runs every rule of the pipeline on these files, so the real converters, tilers and
loaders are what gets exercised. Scenes are aerial-looking rather than flat: land cover comes from smooth random
fields (fields with stripes, blobby forest, smooth water, grainy pavement, road bands) and oriented objects are drawn
with class-specific shapes, sizes, aspect ratios, colours and placement (ships on water, vehicles in rows on
pavement, planes on aprons). Classes differ clearly in colour, texture and shape, because later stages check that
detectors, segmenters and probes actually learn on it.

Every writer takes a ``seed`` (same seed, byte-identical files) and writes through :func:`rsfm.io.atomic_dir`.
"""

from __future__ import annotations

import json
import pickle
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile

from rsfm.data.annotations import DotaLabel, OrientedObject, write_dior_xml, write_dota_label
from rsfm.io import atomic_dir, write_image

# --- land cover -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cover:
    """Appearance of one land-cover type: mean colour and amplitudes of fine grain, blobs and stripes."""

    rgb: tuple[int, int, int]
    grain: float
    blob: float
    stripes: float


COVERS: dict[str, Cover] = {
    "impervious": Cover((132, 132, 128), 10, 6, 0),
    "road": Cover((82, 82, 88), 5, 2, 0),
    "building": Cover((176, 96, 78), 6, 4, 0),
    "low_vegetation": Cover((128, 164, 82), 9, 10, 0),
    "tree": Cover((42, 88, 46), 8, 26, 0),
    "water": Cover((32, 62, 104), 2, 4, 0),
    "bare": Cover((192, 170, 128), 12, 10, 0),
    "agriculture": Cover((150, 150, 70), 6, 6, 28),
    "clutter": Cover((150, 60, 150), 22, 14, 0),
}
COVER_NAMES = tuple(COVERS)


def _smooth_noise(rng: np.random.Generator, height: int, width: int, scale: float) -> np.ndarray:
    """Unit-variance smooth noise with features ~``scale`` pixels wide (upsampled low-resolution noise)."""
    small = rng.standard_normal((max(2, int(height / scale) + 2), max(2, int(width / scale) + 2))).astype(np.float32)
    field = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return field / (field.std() + 1e-6)


def landcover_map(
    rng: np.random.Generator, height: int, width: int, weights: dict[str, float], scale: float = 120.0
) -> np.ndarray:
    """Regions of the weighted covers: argmax of one smooth field per cover, biased by log-weight."""
    names = [name for name, w in weights.items() if w > 0]
    fields = np.stack([_smooth_noise(rng, height, width, scale) + np.log(weights[n]) for n in names])
    index = np.argmax(fields, axis=0)
    lut = np.array([COVER_NAMES.index(n) for n in names], dtype=np.uint8)
    return lut[index]


def draw_roads(rng: np.random.Generator, cover: np.ndarray, count: int, width_range: tuple[int, int]) -> None:
    height, width = cover.shape
    for _ in range(count):
        if rng.random() < 0.5:
            y0, y1 = rng.integers(0, height, 2)
            points = (0, int(y0)), (width - 1, int(y1))
        else:
            x0, x1 = rng.integers(0, width, 2)
            points = (int(x0), 0), (int(x1), height - 1)
        cv2.line(cover, *points, COVER_NAMES.index("road"), int(rng.integers(*width_range)))


def render_cover(rng: np.random.Generator, cover: np.ndarray) -> np.ndarray:
    """RGB image of a land-cover map: per-cover colour plus grain, blob and stripe textures."""
    height, width = cover.shape
    grain = rng.standard_normal((height, width)).astype(np.float32)
    blob = _smooth_noise(rng, height, width, 6.0)
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    stripes = np.sign(np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * (2 * np.pi / 14.0))).astype(np.float32)
    table = np.array([[*c.rgb, c.grain, c.blob, c.stripes] for c in COVERS.values()], dtype=np.float32)
    params = table[cover]
    texture = params[..., 3] * grain + params[..., 4] * blob + params[..., 5] * stripes
    image = params[..., :3] + texture[..., None] * np.array([1.0, 1.1, 0.8], dtype=np.float32)
    shade = 1.0 + 0.06 * _smooth_noise(rng, height, width, 300.0)  # slow illumination change across the scene
    return np.clip(image * shade[..., None], 0, 255).astype(np.uint8)


# --- oriented objects -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectStyle:
    """Size (long side, pixels), aspect ratio (long/short), colour, drawn shape, where it goes, how many per Mpx."""

    length: tuple[float, float]
    aspect: tuple[float, float]
    rgb: tuple[int, int, int]
    shape: str
    on: tuple[str, ...]
    per_mpx: float
    rows: bool = False


STYLES: dict[str, ObjectStyle] = {
    "small-vehicle": ObjectStyle((12, 18), (1.9, 2.4), (225, 225, 232), "car", ("impervious", "road"), 45, rows=True),
    "large-vehicle": ObjectStyle((30, 46), (3.0, 4.2), (236, 196, 40), "truck", ("impervious", "road"), 10, rows=True),
    "ship": ObjectStyle((40, 120), (3.0, 6.0), (238, 238, 238), "ship", ("water",), 14),
    "plane": ObjectStyle((44, 70), (0.95, 1.1), (244, 244, 250), "plane", ("impervious", "bare"), 4),
    "storage-tank": ObjectStyle((20, 56), (1.0, 1.0), (214, 214, 206), "tank", ("impervious", "bare"), 7),
    "tennis-court": ObjectStyle((66, 80), (2.0, 2.3), (58, 132, 96), "court", ("low_vegetation", "impervious"), 3),
    "swimming-pool": ObjectStyle((18, 40), (1.4, 2.4), (40, 190, 230), "pool", ("low_vegetation", "impervious"), 4),
}
# DIOR-R's names for the same shapes.
DIOR_STYLE_OF = {
    "vehicle": "small-vehicle", "ship": "ship", "airplane": "plane", "storagetank": "storage-tank",
    "tenniscourt": "tennis-court", "chimney": "storage-tank",
}  # fmt: skip


def _box(centre: np.ndarray, length: float, width: float, angle: float) -> np.ndarray:
    """Clockwise corners (image coordinates) of a rotated rectangle, starting at the front-left."""
    c, s = np.cos(angle), np.sin(angle)
    along, across = np.array([c, s]) * length / 2, np.array([-s, c]) * width / 2
    return np.array(
        [centre - along - across, centre + along - across, centre + along + across, centre - along + across]
    )


def _draw_object(image: np.ndarray, poly: np.ndarray, style: ObjectStyle) -> None:
    colour = tuple(int(v) for v in style.rgb)
    dark = tuple(int(v * 0.45) for v in style.rgb)
    p = poly.astype(np.float32)
    centre = p.mean(axis=0)
    if style.shape == "tank":
        radius = int(np.linalg.norm(p[1] - p[0]) / 2)
        cv2.circle(image, tuple(centre.astype(int)), radius, colour, -1, cv2.LINE_AA)
        cv2.circle(image, tuple(centre.astype(int)), max(1, radius // 3), dark, 1, cv2.LINE_AA)
        return
    if style.shape == "plane":
        front, back = (p[1] + p[2]) / 2, (p[0] + p[3]) / 2
        left, right = (p[0] + p[1]) / 2, (p[2] + p[3]) / 2
        thickness = max(2, int(np.linalg.norm(p[1] - p[0]) / 8))
        cv2.line(image, tuple(back.astype(int)), tuple(front.astype(int)), colour, thickness, cv2.LINE_AA)
        wing_root = centre + (front - centre) * 0.15
        cv2.fillPoly(image, [np.array([left, right, wing_root], np.int32)], colour, cv2.LINE_AA)
        tail = back + (front - back) * 0.1
        stabiliser = [tuple((tail + (side - centre) * 0.3).astype(int)) for side in (left, right)]
        cv2.line(image, *stabiliser, colour, thickness, cv2.LINE_AA)
        return
    if style.shape == "ship":
        bow = (p[1] + p[2]) / 2 + (p[1] - p[0]) * 0.0
        hull = np.array([p[0], p[1] - (p[1] - p[0]) * 0.2, bow, p[2] - (p[2] - p[3]) * 0.2, p[3]], np.int32)
        cv2.fillPoly(image, [hull], colour, cv2.LINE_AA)
        cv2.fillPoly(image, [_box(centre, np.linalg.norm(p[1] - p[0]) * 0.3, np.linalg.norm(p[3] - p[0]) * 0.5,
                                  np.arctan2(*(p[1] - p[0])[::-1])).astype(np.int32)], dark, cv2.LINE_AA)  # fmt: skip
        return
    cv2.fillPoly(image, [p.astype(np.int32)], colour, cv2.LINE_AA)
    if style.shape in {"car", "truck"}:  # windscreen band near the front
        a = 0.62 if style.shape == "car" else 0.8
        band = np.array([p[0] + (p[1] - p[0]) * a, p[1] - (p[1] - p[0]) * 0.12, p[2] - (p[2] - p[3]) * 0.12,
                         p[3] + (p[2] - p[3]) * a], np.int32)  # fmt: skip
        cv2.fillPoly(image, [band], dark, cv2.LINE_AA)
    elif style.shape == "court":
        inner = centre + (p - centre) * 0.8
        cv2.polylines(image, [inner.astype(np.int32)], True, (240, 240, 240), 1, cv2.LINE_AA)
        cv2.line(image, tuple(((p[0] + p[1]) / 2).astype(int)), tuple(((p[2] + p[3]) / 2).astype(int)),
                 (240, 240, 240), 1, cv2.LINE_AA)  # fmt: skip
    elif style.shape == "pool":
        cv2.polylines(image, [p.astype(np.int32)], True, (235, 235, 225), 2, cv2.LINE_AA)


def place_objects(
    rng: np.random.Generator,
    image: np.ndarray,
    cover: np.ndarray,
    classes: Sequence[str],
    density: float = 1.0,
    style_of: dict[str, str] | None = None,
    label_map: np.ndarray | None = None,
    label_value: int | None = None,
) -> list[OrientedObject]:
    """Draw objects of ``classes`` into ``image`` where their land cover allows, without overlaps.

    ``style_of`` maps a dataset's class name to a style (default: the name itself). If ``label_map`` is given, each
    object's pixels are also written there with ``label_value`` (e.g. cars in a segmentation raster).
    """
    height, width = cover.shape
    occupied = np.zeros((height, width), dtype=bool)
    objects: list[OrientedObject] = []
    mpx = height * width / 1e6
    for name in classes:
        style = STYLES[(style_of or {}).get(name, name)]
        allowed = np.isin(cover, [COVER_NAMES.index(c) for c in style.on])
        if not allowed.any():
            continue
        target = rng.poisson(style.per_mpx * mpx * density)
        ys, xs = np.nonzero(allowed[::4, ::4])  # candidate centres on a 4-pixel grid
        placed, attempts = 0, 0
        while placed < target and attempts < 30 * target + 30:
            attempts += 1
            k = rng.integers(len(xs))
            centre = np.array([xs[k] * 4.0, ys[k] * 4.0])
            angle = rng.uniform(0, np.pi)
            count = int(rng.integers(3, 8)) if style.rows else 1
            length = rng.uniform(*style.length)
            aspect = rng.uniform(*style.aspect)
            for i in range(count):
                step = np.array([-np.sin(angle), np.cos(angle)]) * (length / aspect) * 1.6 * i
                poly = _box(centre + step, length, length / aspect, angle)
                lo, hi = np.floor(poly.min(axis=0)).astype(int), np.ceil(poly.max(axis=0)).astype(int)
                if lo.min() < 0 or hi[0] >= width or hi[1] >= height:
                    continue
                if occupied[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1].any():
                    continue
                cx, cy = np.clip(poly.mean(axis=0).astype(int), 0, [width - 1, height - 1])
                if not allowed[cy, cx]:
                    continue
                occupied[lo[1] - 2 : hi[1] + 3, lo[0] - 2 : hi[0] + 3] = True
                _draw_object(image, poly, style)
                if label_map is not None and label_value is not None:
                    cv2.fillPoly(label_map, [poly.astype(np.int32)], label_value)
                objects.append(OrientedObject(poly, name, 0))
                placed += 1
    return objects


def render_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    weights: dict[str, float],
    object_classes: Sequence[str] = (),
    object_density: float = 1.0,
    roads: int = 2,
    scale: float = 120.0,
    style_of: dict[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[OrientedObject]]:
    """(image uint8 H x W x 3, land cover H x W uint8 indices into COVER_NAMES, objects)."""
    cover = landcover_map(rng, height, width, weights, scale)
    draw_roads(rng, cover, roads, (max(3, width // 120), max(5, width // 50)))
    image = render_cover(rng, cover)
    objects = place_objects(rng, image, cover, object_classes, object_density, style_of)
    return image, cover, objects


# --- dataset writers ------------------------------------------------------------------------------------------------

_DETECTION_COVERS = {
    "impervious": 1.0,
    "water": 0.7,
    "low_vegetation": 0.8,
    "bare": 0.4,
    "tree": 0.4,
    "agriculture": 0.5,
}


def _size(rng: np.random.Generator, size: int | Sequence[int]) -> int:
    return int(size) if isinstance(size, int) else int(rng.integers(size[0], size[1] + 1))


def write_dota_like(
    root: str | Path,
    splits: dict[str, int] | None = None,
    scene_size: int | Sequence[int] = (1500, 2500),
    seed: int = 0,
    classes: Sequence[str] = tuple(STYLES),
) -> dict[str, int]:
    """DOTA layout: ``<split>/images/P0000.png`` and ``<split>/labelTxt/P0000.txt``; test has images only."""
    splits = splits or {"train": 3, "val": 1, "test": 1}
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    with atomic_dir(root) as tmp:
        number = 0
        for split, n in splits.items():
            (tmp / split / "images").mkdir(parents=True, exist_ok=True)
            for _ in range(n):
                width, height = _size(rng, scene_size), _size(rng, scene_size)
                image, _, objects = render_scene(rng, width, height, _DETECTION_COVERS, classes)
                name = f"P{number:04d}"
                number += 1
                write_image(tmp / split / "images" / f"{name}.png", image, atomic=False)
                if split != "test":
                    label = DotaLabel(objects, {"imagesource": "synthetic", "gsd": "0.3"})
                    write_dota_label(tmp / split / "labelTxt" / f"{name}.txt", label)
                counts[f"{split}_objects"] = counts.get(f"{split}_objects", 0) + len(objects)
            counts[split] = n
    return counts


def write_dior_r_like(
    root: str | Path,
    splits: dict[str, int] | None = None,
    image_size: int = 800,
    seed: int = 0,
    classes: Sequence[str] = tuple(DIOR_STYLE_OF),
) -> dict[str, int]:
    """DIOR-R layout: JPEGImages-{trainval,test}/<id>.jpg, 'Annotations/Oriented Bounding Boxes'/<id>.xml,
    ImageSets/Main/{train,val,test}.txt."""
    splits = splits or {"train": 8, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    with atomic_dir(root) as tmp:
        (tmp / "ImageSets" / "Main").mkdir(parents=True)
        number = 1
        for split, n in splits.items():
            ids = []
            folder = tmp / ("JPEGImages-test" if split == "test" else "JPEGImages-trainval")
            for _ in range(n):
                image_id = f"{number:05d}"
                number += 1
                image, _, objects = render_scene(
                    rng, image_size, image_size, _DETECTION_COVERS, classes, object_density=1.5, style_of=DIOR_STYLE_OF
                )
                write_image(folder / f"{image_id}.jpg", image, atomic=False, quality=92)
                write_dior_xml(tmp / "Annotations" / "Oriented Bounding Boxes" / f"{image_id}.xml", f"{image_id}.jpg",
                               (image_size, image_size), objects)  # fmt: skip
                ids.append(image_id)
            (tmp / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
            counts[split] = n
    return counts


POTSDAM_PALETTE = {
    "impervious": (255, 255, 255), "building": (0, 0, 255), "low_vegetation": (0, 255, 255), "tree": (0, 255, 0),
    "car": (255, 255, 0), "clutter": (255, 0, 0),
}  # fmt: skip


def _buildings(rng: np.random.Generator, cover: np.ndarray, count: int, size: tuple[int, int]) -> None:
    """Rectangular roofs drawn into the cover map (not on roads)."""
    height, width = cover.shape
    road = COVER_NAMES.index("road")
    for _ in range(count):
        centre = rng.uniform([0, 0], [width, height])
        length = rng.uniform(*size)
        poly = _box(centre, length, length * rng.uniform(0.5, 1.0), rng.uniform(0, np.pi)).astype(np.int32)
        mask = np.zeros_like(cover)
        cv2.fillPoly(mask, [poly], 1)
        if (cover[mask.astype(bool)] == road).mean() < 0.05:
            cover[mask.astype(bool)] = COVER_NAMES.index("building")


def write_potsdam_like(
    root: str | Path, tiles: dict[str, list[str]], tile_size: int = 1200, seed: int = 0
) -> dict[str, int]:
    """ISPRS layout: 2_Ortho_RGB/top_potsdam_<id>_RGB.tif, 5_Labels_all/..._label.tif (colour-coded) and
    5_Labels_all_noBoundary/..._label_noBoundary.tif (boundaries eroded to black)."""
    rng = np.random.default_rng(seed)
    palette = np.array([POTSDAM_PALETTE.get(n, (255, 255, 255)) for n in COVER_NAMES], dtype=np.uint8)
    palette[COVER_NAMES.index("road")] = POTSDAM_PALETTE["impervious"]
    car_value = len(COVER_NAMES)  # an extra index for cars, beyond the covers
    palette = np.vstack([palette, np.array(POTSDAM_PALETTE["car"], np.uint8)])
    weights = {"impervious": 1.0, "low_vegetation": 1.0, "tree": 0.8, "clutter": 0.12}
    with atomic_dir(root) as tmp:
        for folder in ("2_Ortho_RGB", "5_Labels_all", "5_Labels_all_noBoundary"):
            (tmp / folder).mkdir()
        tile_ids = [tile_id for ids in tiles.values() for tile_id in ids]
        for tile_id in tile_ids:
            cover = landcover_map(rng, tile_size, tile_size, weights, scale=tile_size / 6)
            draw_roads(rng, cover, 3, (24, 40))
            _buildings(rng, cover, int(tile_size * tile_size / 9e4), (60, 160))
            image = render_cover(rng, cover)
            label = cover.copy()
            place_objects(rng, image, cover, ["small-vehicle"], density=3.0, label_map=label, label_value=car_value)
            colour = palette[label]
            tifffile.imwrite(tmp / "2_Ortho_RGB" / f"top_potsdam_{tile_id}_RGB.tif", image)
            tifffile.imwrite(tmp / "5_Labels_all" / f"top_potsdam_{tile_id}_label.tif", colour)
            edges = cv2.morphologyEx(label, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
            eroded = colour.copy()
            eroded[cv2.dilate(edges.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0] = 0
            tifffile.imwrite(tmp / "5_Labels_all_noBoundary" / f"top_potsdam_{tile_id}_label_noBoundary.tif", eroded)
    return {"tiles": len(tile_ids)}


# LoveDA mask values of the covers drawn; every other cover (grass, pavement) is LoveDA's "background" (1).
LOVEDA_INDEX = {"building": 2, "road": 3, "water": 4, "bare": 5, "tree": 6, "agriculture": 7}


def write_loveda_like(
    root: str | Path,
    splits: dict[str, int] | None = None,
    domains: Sequence[str] = ("Urban", "Rural"),
    image_size: int = 1024,
    seed: int = 0,
) -> dict[str, int]:
    """LoveDA layout: <Split>/<Domain>/images_png/<k>.png and masks_png/<k>.png (0 no-data, 1..7); Test: images."""
    splits = splits or {"Train": 2, "Val": 1, "Test": 1}
    rng = np.random.default_rng(seed)
    lut = np.ones(len(COVER_NAMES), np.uint8)
    for cover_name, value in LOVEDA_INDEX.items():
        lut[COVER_NAMES.index(cover_name)] = value
    counts: dict[str, int] = {}
    with atomic_dir(root) as tmp:
        number = 0
        for split, n in splits.items():
            for domain in domains:
                urban = domain == "Urban"
                weights = {"low_vegetation": 1.0, "water": 0.3, "bare": 0.3, "tree": 0.5 if urban else 1.0,
                           "agriculture": 0.2 if urban else 1.2}  # fmt: skip
                for _ in range(n):
                    cover = landcover_map(rng, image_size, image_size, weights, scale=image_size / 5)
                    draw_roads(rng, cover, 3 if urban else 1, (8, 18))
                    _buildings(rng, cover, int(image_size**2 / (3e4 if urban else 2e5)), (20, 60))
                    image = render_cover(rng, cover)
                    mask = lut[cover]
                    if rng.random() < 0.3:  # no-data strip, as at the edges of some LoveDA tiles
                        mask[:, : image_size // 10] = 0
                        image[:, : image_size // 10] = 0
                    write_image(tmp / split / domain / "images_png" / f"{number}.png", image, atomic=False)
                    if split != "Test":
                        write_image(tmp / split / domain / "masks_png" / f"{number}.png", mask, atomic=False)
                    number += 1
                counts[f"{split}/{domain}"] = n
    return counts


def write_millionaid_like(
    root: str | Path, n_images: int = 64, seed: int = 0, size_range: tuple[int, int] = (256, 512)
) -> dict[str, int]:
    """Unlabeled scenes of varying size: test/<k>.jpg and train/<l1>/<l2>/<l3>/<k>.jpg (MillionAID's nesting)."""
    rng = np.random.default_rng(seed)
    categories = [("agriculture_land", "arable_land", "dry_field"), ("transportation_land", "airport_area", "apron"),
                  ("water_area", "river", "river"), ("residential_land", "urban_residential", "apartment")]  # fmt: skip
    with atomic_dir(root) as tmp:
        for k in range(n_images):
            width, height = rng.integers(size_range[0], size_range[1] + 1, 2)
            weights = {name: float(rng.uniform(0.2, 1.0)) for name in rng.choice(COVER_NAMES[:8], 4, replace=False)}
            image, _, _ = render_scene(rng, int(width), int(height), weights, tuple(STYLES), scale=float(width) / 4)
            folder = tmp / "test" if k % 3 else tmp / "train" / Path(*categories[k % len(categories)])
            write_image(folder / f"{k:06d}.jpg", image, atomic=False, quality=90)
    return {"images": n_images}


# --- scene classification -------------------------------------------------------------------------------------------

_KEYWORD_RECIPES: tuple[tuple[tuple[str, ...], dict[str, float], tuple[str, ...]], ...] = (
    (("forest", "tree", "wood"), {"tree": 1.0, "low_vegetation": 0.15}, ()),
    (("river", "sea", "lake", "water", "beach", "island", "wetland", "pond"), {"water": 1.0, "bare": 0.3}, ("ship",)),
    (("harbor", "port"), {"water": 1.0, "impervious": 0.6}, ("ship",)),
    (("residential", "building", "dense", "church", "palace", "school", "center"), {"building": 1.0, "road": 0.3},
     ("small-vehicle",)),
    (("industrial", "commercial", "power", "station"), {"impervious": 1.0, "building": 0.6}, ("large-vehicle",)),
    (("highway", "freeway", "road", "intersection", "overpass", "viaduct", "railway", "bridge"),
     {"road": 1.0, "low_vegetation": 0.6}, ("small-vehicle",)),
    (("crop", "farm", "agricult", "field", "arable", "terrace"), {"agriculture": 1.0}, ()),
    (("pasture", "meadow", "herbaceous", "grass", "golf", "park"), {"low_vegetation": 1.0, "tree": 0.2}, ()),
    (("airport", "airplane", "runway"), {"impervious": 1.0, "low_vegetation": 0.4}, ("plane",)),
    (("parking",), {"impervious": 1.0}, ("small-vehicle",)),
    (("tank",), {"impervious": 0.8, "bare": 0.5}, ("storage-tank",)),
    (("tennis", "court", "stadium", "playground", "track", "baseball", "basketball", "soccer"),
     {"low_vegetation": 1.0, "impervious": 0.3}, ("tennis-court",)),
    (("desert", "bare", "barren", "mountain", "rock", "sand", "chaparral", "kiln"), {"bare": 1.0}, ()),
)  # fmt: skip


def class_recipe(name: str) -> tuple[dict[str, float], tuple[str, ...], np.ndarray]:
    """Land-cover weights, object classes and a colour cast for a scene class; deterministic in the name.

    Known words pick a plausible recipe; the crc32 of the name then perturbs weights and colour, so two classes with
    the same keyword (AnnualCrop, PermanentCrop) still differ.
    """
    key = zlib.crc32(name.lower().encode())
    rng = np.random.default_rng(key)
    lowered = name.lower().replace("_", "").replace("-", "")
    matches = [(w, o) for words, w, o in _KEYWORD_RECIPES if any(word in lowered for word in words)]
    if matches:
        weights, objects = matches[0]
    else:
        picks = rng.choice(COVER_NAMES[:8], 2, replace=False)
        weights, objects = {str(picks[0]): 1.0, str(picks[1]): 0.4}, ()
    weights = {k: v * float(rng.uniform(0.7, 1.3)) for k, v in weights.items()}
    cast = rng.uniform(-28, 28, 3).astype(np.float32)
    return weights, tuple(objects), cast


def render_class_patch(rng: np.random.Generator, name: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    weights, objects, cast = class_recipe(name)
    render = max(size, 96)  # render large enough for objects and textures to exist, then resample
    image, cover, _ = render_scene(rng, render, render, weights, objects, object_density=6.0, roads=0,
                                   scale=render / 3)  # fmt: skip
    image = np.clip(image.astype(np.float32) + cast, 0, 255).astype(np.uint8)
    if render != size:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        cover = cv2.resize(cover, (size, size), interpolation=cv2.INTER_NEAREST)
    return image, cover


def write_class_folders_like(
    root: str | Path,
    top: str,
    classes: Sequence[str],
    n_per_class: int = 20,
    image_size: int = 64,
    ext: str = ".jpg",
    seed: int = 0,
) -> dict[str, int]:
    """Single-label scene classification in the class-folder layout: ``<top>/<class>/<class>_<k><ext>``."""
    rng = np.random.default_rng(seed)
    with atomic_dir(root) as tmp:
        for name in classes:
            for k in range(n_per_class):
                image, _ = render_class_patch(rng, name, image_size)
                path = tmp / top / name / f"{name}_{k:04d}{ext}"
                if ext.lower() in {".tif", ".tiff"}:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tifffile.imwrite(path, image)
                else:
                    write_image(path, image, atomic=False, **({"quality": 95} if ext.lower() == ".jpg" else {}))
    return {"classes": len(classes), "images": len(classes) * n_per_class}


# Reflectance (x 10000) per land cover for Sentinel-2 B1..B12 (B1 B2 B3 B4 B5 B6 B7 B8 B8A B9 B10 B11 B12): shapes
# of real spectra (vegetation's red edge and NIR plateau, water absorbing beyond red, bare soil rising into SWIR).
_S2_SIGNATURES = {
    "impervious": [1400, 1350, 1300, 1350, 1450, 1550, 1600, 1650, 1700, 600, 30, 2000, 1800],
    "road": [1100, 1050, 1000, 1000, 1050, 1100, 1150, 1200, 1250, 450, 25, 1600, 1500],
    "building": [1300, 1200, 1250, 1600, 1700, 1750, 1800, 1850, 1900, 650, 30, 2300, 2000],
    "low_vegetation": [900, 800, 1000, 700, 1400, 2800, 3300, 3500, 3600, 1100, 20, 2200, 1300],
    "tree": [700, 500, 700, 400, 900, 2200, 2800, 3000, 3100, 900, 15, 1400, 700],
    "water": [1000, 900, 800, 500, 350, 250, 220, 200, 180, 60, 10, 100, 80],
    "bare": [1600, 1700, 2000, 2400, 2600, 2700, 2800, 2900, 3000, 1000, 35, 3600, 3000],
    "agriculture": [1000, 900, 1200, 900, 1600, 2600, 3000, 3200, 3300, 1000, 20, 2500, 1600],
    "clutter": [1500, 1500, 1400, 1500, 1600, 1700, 1700, 1800, 1800, 600, 30, 2100, 1900],
}
_S2_ORDER = ("01", "02", "03", "04", "05", "06", "07", "08", "08A", "09", "10", "11", "12")
_S1_BACKSCATTER_DB = {"impervious": (-8, -14), "road": (-12, -20), "building": (-3, -9), "low_vegetation": (-11, -17),
                      "tree": (-7, -12), "water": (-20, -26), "bare": (-13, -19), "agriculture": (-10, -16),
                      "clutter": (-9, -15)}  # fmt: skip


def _band_values(band: str, cover: np.ndarray, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One band of a multispectral patch from its land cover (plus the rendering's texture for visible bands)."""
    code = band.split(" - ")[0].strip()
    if "VH" in band or "VV" in band:  # Sentinel-1: backscatter in dB per cover, speckled
        pol = 0 if "VV" in band else 1
        table = np.array([_S1_BACKSCATTER_DB[n][pol] for n in COVER_NAMES], np.float32)
        return table[cover] + rng.normal(0, 1.5, cover.shape).astype(np.float32)
    position = _S2_ORDER.index(code) if code in _S2_ORDER else 7
    table = np.array([_S2_SIGNATURES[n][position] for n in COVER_NAMES], np.float32)
    values = table[cover]
    if code in {"02", "03", "04"}:  # visible bands carry the rendered texture
        channel = {"04": 0, "03": 1, "02": 2}[code]
        values = values * (0.6 + 0.8 * rgb[..., channel].astype(np.float32) / 255.0)
    noise = rng.normal(1.0, 0.04, cover.shape).astype(np.float32)
    return np.clip(values * noise, 0, 65535).astype(np.uint16)


_CORINE_TO_COVER = (
    (("urban", "industrial", "commercial", "port", "airport", "road", "construction", "dump", "mineral"), "impervious"),
    (("arable", "irrigated", "rice", "vineyard", "fruit", "olive", "crops", "cultivation", "agricultur", "agro"),
     "agriculture"),
    (("forest", "woodland"), "tree"),
    (("pasture", "grassland", "heath", "sclerophyllous", "green urban", "sport", "moors"), "low_vegetation"),
    (("beach", "bare rock", "sparsely", "burnt", "sand"), "bare"),
    (("water", "sea", "lagoon", "estuar", "marsh", "peat", "intertidal", "salin"), "water"),
)  # fmt: skip


def _cover_of_label(name: str) -> str:
    lowered = name.lower()
    for words, cover in _CORINE_TO_COVER:
        if any(word in lowered for word in words):
            return cover
    return COVER_NAMES[zlib.crc32(lowered.encode()) % 8]


def write_geobench_like(
    root: str | Path,
    task: str,
    classes: Sequence[str],
    band_names: Sequence[str],
    n_per_split: dict[str, int] | None = None,
    image_size: int = 64,
    multilabel: bool = False,
    seed: int = 0,
) -> dict[str, int]:
    """GEO-Bench v1 classification layout: <task>/<sample>.hdf5 (one dataset per band, metadata pickled in the
    file attribute 'pickle', as geobench writes it) and <task>/default_partition.json."""
    import h5py

    n_per_split = n_per_split or {"train": 40, "valid": 10, "test": 10}
    rng = np.random.default_rng(seed)
    partition: dict[str, list[str]] = {}
    with atomic_dir(root) as tmp:
        (tmp / task).mkdir()
        number = 0
        for split, n in n_per_split.items():
            partition[split] = []
            for _ in range(n):
                if multilabel:
                    picks = np.sort(rng.choice(len(classes), int(rng.integers(1, 4)), replace=False))
                    label: Any = np.isin(np.arange(len(classes)), picks).astype(np.int8)
                    weights = {_cover_of_label(classes[i]): 1.0 for i in picks}
                    image, cover, _ = render_scene(rng, image_size, image_size, weights, roads=0, scale=image_size / 3)
                else:
                    value = int(rng.integers(len(classes)))
                    label = value
                    image, cover = render_class_patch(rng, classes[value], image_size)
                name = f"{task}_{number:06d}"
                number += 1
                attrs: dict[str, Any] = {"bands_order": list(band_names), "label": label}
                with h5py.File(tmp / task / f"{name}.hdf5", "w") as handle:
                    for band in band_names:
                        handle.create_dataset(band, data=_band_values(band, cover, image, rng))
                        attrs[band] = {"band_info": {"name": band}, "spatial_resolution": 10.0, "date": None}
                    handle.attrs["pickle"] = str(pickle.dumps(attrs))
                partition[split].append(name)
        (tmp / task / "default_partition.json").write_text(json.dumps(partition, indent=1))
    return {split: len(names) for split, names in partition.items()}
