"""Dataset writers: synthetic scenes in the raw extracted layout and file formats of each real release.

Each writer renders every image from its own generator seeded by (seed, image number) (or (seed, class, number)),
so a dataset is byte-identical for the same seed, and writes the whole dataset through :func:`rsfm.io.atomic_dir`.
"""

from __future__ import annotations

import json
import pickle
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile

from rsfm.data.annotations import DOTA_V2_CLASSES, DotaLabel, OrientedObject, write_dior_xml, write_dota_label
from rsfm.data.registry import POTSDAM_IMAGERY, POTSDAM_LABELS
from rsfm.data.synthetic.objects import STYLE_INDEX
from rsfm.data.synthetic.recipes import Recipe, class_recipe, default_gsd, detection_recipe, render
from rsfm.data.synthetic.scene import (
    COVER,
    COVER_NAMES,
    COVERS,
    Canvas,
    cast_shadows,
    finish,
    paint,
    smooth_noise,
    voronoi,
)
from rsfm.errors import ConfigError
from rsfm.io import atomic_dir, write_image

# --- detection: DOTA and DIOR-R -------------------------------------------------------------------------------------

DOTA_SYNTHETIC_CLASSES: tuple[str, ...] = (
    "plane", "ship", "storage-tank", "tennis-court", "basketball-court", "ground-track-field", "soccer-ball-field",
    "swimming-pool", "harbor", "bridge", "large-vehicle", "small-vehicle",
)  # fmt: skip
# DIOR-R class -> the styles drawn for it (DIOR's "vehicle" covers cars and trucks).
DIOR_STYLES: dict[str, tuple[str, ...]] = {
    "airplane": ("plane",), "ship": ("ship",), "storagetank": ("storage-tank",),
    "vehicle": ("small-vehicle", "large-vehicle"), "tenniscourt": ("tennis-court",),
    "basketballcourt": ("basketball-court",), "groundtrackfield": ("ground-track-field",), "harbor": ("harbor",),
    "bridge": ("bridge",),
}  # fmt: skip


def _image_rng(seed: int, *keys: int) -> np.random.Generator:
    """The generator of one image, seeded by the dataset's seed and the image's keys: an image does not depend on
    how many draws the images before it took."""
    return np.random.default_rng([int(seed), *keys])


def _side_length(rng: np.random.Generator, size: int | Sequence[int]) -> int:
    """``size`` itself, or a length drawn from its (min, max) range."""
    if isinstance(size, int | np.integer):
        return int(size)
    low, high = (int(v) for v in size)
    return int(rng.integers(low, high + 1))


def _draw_gsd(rng: np.random.Generator, gsd: float | Sequence[float]) -> float:
    """``gsd`` itself, or a ground sampling distance drawn from its (min, max) range."""
    if isinstance(gsd, int | float | np.number):
        return float(gsd)
    low, high = (float(v) for v in gsd)
    return float(rng.uniform(low, high))


def _check_classes(classes: Sequence[str], known: Sequence[str], dataset: str) -> None:
    """Refuse (ConfigError) classes the painter has no style for."""
    unknown = [c for c in classes if c not in known]
    if unknown:
        raise ConfigError(f"synthetic {dataset} cannot draw classes {unknown}; supported: {', '.join(known)}")


def write_dota_like(
    root: str | Path,
    splits: Mapping[str, int] | None = None,
    scene_size: int | Sequence[int] = (1500, 2500),
    seed: int = 0,
    classes: Sequence[str] = DOTA_SYNTHETIC_CLASSES,
    *,
    gsd: float | Sequence[float] = 0.4,
    object_density: float = 1.0,
) -> dict[str, int]:
    """DOTA v2 layout: ``<split>/images/P0000.png`` and ``<split>/labelTxt/P0000.txt``; the test split has images only.

    ``scene_size`` is a side length or a (min, max) range drawn per side (DOTA scenes are not square), ``gsd`` (metres
    per pixel) a value or a range drawn per scene. Image ids run across splits. Returns images and objects per split.
    """
    splits = dict(splits) if splits is not None else {"train": 3, "val": 1, "test": 1}
    _check_classes(classes, [c for c in DOTA_SYNTHETIC_CLASSES if c in DOTA_V2_CLASSES], "DOTA")
    counts: dict[str, int] = {}
    with atomic_dir(root) as tmp:
        number = 0
        for split, n_images in splits.items():
            (tmp / split / "images").mkdir(parents=True, exist_ok=True)
            if split != "test":
                (tmp / split / "labelTxt").mkdir(parents=True, exist_ok=True)
            found = 0
            for _ in range(n_images):
                rng = _image_rng(seed, number)
                width, height = _side_length(rng, scene_size), _side_length(rng, scene_size)
                scene_gsd = _draw_gsd(rng, gsd)
                scene = render(rng, width, height, detection_recipe(rng, classes), scene_gsd, object_density)
                name = f"P{number:04d}"
                write_image(tmp / split / "images" / f"{name}.png", scene.image, atomic=False)
                if split != "test":
                    meta = {"imagesource": "synthetic", "gsd": f"{scene_gsd:g}"}
                    write_dota_label(tmp / split / "labelTxt" / f"{name}.txt", DotaLabel(scene.objects, meta))
                found += len(scene.objects)
                number += 1
            counts[split] = n_images
            counts[f"{split}_objects"] = found
    return counts


def write_dior_r_like(
    root: str | Path,
    splits: Mapping[str, int] | None = None,
    image_size: int = 800,
    seed: int = 0,
    classes: Sequence[str] = tuple(DIOR_STYLES),
    *,
    gsd: float | Sequence[float] = (0.4, 0.7),
    object_density: float = 1.5,
) -> dict[str, int]:
    """DIOR-R layout: ``JPEGImages-trainval/<id>.jpg``, ``JPEGImages-test/<id>.jpg``, ``Annotations/Oriented Bounding
    Boxes/<id>.xml`` (every image, test included, as released) and ``ImageSets/Main/{train,val,test}.txt``.

    Ids are 00001, 00002, ... across splits in order. Each image features one main class (cycling through
    ``classes``) and one or two others, as DIOR images show one or a few categories.
    """
    splits = dict(splits) if splits is not None else {"train": 8, "val": 2, "test": 2}
    _check_classes(classes, tuple(DIOR_STYLES), "DIOR-R")
    counts: dict[str, int] = {}
    with atomic_dir(root) as tmp:
        (tmp / "ImageSets" / "Main").mkdir(parents=True)
        (tmp / "Annotations" / "Oriented Bounding Boxes").mkdir(parents=True)
        number = 1
        for split, n_images in splits.items():
            folder = tmp / ("JPEGImages-test" if split == "test" else "JPEGImages-trainval")
            folder.mkdir(exist_ok=True)
            ids, found = [], 0
            for _ in range(n_images):
                rng = _image_rng(seed, number)
                main_class = classes[(number - 1) % len(classes)]
                others = [c for c in classes if c != main_class]
                extra = rng.choice(others, min(len(others), int(rng.integers(1, 3))), replace=False).tolist()
                chosen = [main_class, *extra]  # one main class and one or two others
                styles = [s for c in chosen for s in DIOR_STYLES[c]]
                class_of_style = {s: c for c in chosen for s in DIOR_STYLES[c]}
                recipe = detection_recipe(rng, styles, density=object_density)
                scene = render(rng, image_size, image_size, recipe, _draw_gsd(rng, gsd))
                objects = [OrientedObject(o.poly, class_of_style[o.name], o.difficult) for o in scene.objects]
                image_id = f"{number:05d}"
                write_image(folder / f"{image_id}.jpg", scene.image, atomic=False, quality=92)
                write_dior_xml(tmp / "Annotations" / "Oriented Bounding Boxes" / f"{image_id}.xml", f"{image_id}.jpg",
                               (image_size, image_size), objects)  # fmt: skip
                ids.append(image_id)
                found += len(objects)
                number += 1
            (tmp / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
            counts[split] = n_images
            counts[f"{split}_objects"] = found
    return counts


# --- segmentation: ISPRS Potsdam and LoveDA -------------------------------------------------------------------------

POTSDAM_COLOURS: dict[str, tuple[int, int, int]] = {
    "impervious_surface": (255, 255, 255), "building": (0, 0, 255), "low_vegetation": (0, 255, 255),
    "tree": (0, 255, 0), "car": (255, 255, 0), "clutter": (255, 0, 0),
}  # fmt: skip
_POTSDAM_OF_COVER = {"impervious": "impervious_surface", "road": "impervious_surface", "building": "building",
                     "low_vegetation": "low_vegetation", "agriculture": "low_vegetation", "tree": "tree",
                     "water": "clutter", "bare": "clutter", "clutter": "clutter"}  # fmt: skip
POTSDAM_SCENE = Recipe(
    covers={"low_vegetation": 1.0, "impervious": 0.45, "tree": 0.25},
    region_m=60.0,
    parcel_m=30.0,
    urban=1.0,
    street_spacing_m=(60.0, 110.0),
    buildings=45.0,
    building_m=(12.0, 34.0),
    flat_roofs=0.15,
    trees=40.0,
    clutter=6.0,
    objects={"small-vehicle": 4.0},
)


def potsdam_label(cover: np.ndarray, object_mask: np.ndarray) -> np.ndarray:
    """ISPRS colour label (H x W x 3 uint8) of a land-cover map with cars from the object mask."""
    colour_of_cover = np.array([POTSDAM_COLOURS[_POTSDAM_OF_COVER[n]] for n in COVER_NAMES], np.uint8)
    label = colour_of_cover[cover]
    cars = np.isin(object_mask, [STYLE_INDEX["small-vehicle"], STYLE_INDEX["large-vehicle"]])
    label[cars] = POTSDAM_COLOURS["car"]
    return label


def erode_boundaries(label: np.ndarray, radius: int = 3) -> np.ndarray:
    """The ISPRS 'noBoundary' label: pixels within ``radius`` of a class boundary set to black (0, 0, 0)."""
    code = label[..., 0].astype(np.int32) * 65536 + label[..., 1].astype(np.int32) * 256 + label[..., 2]
    compact = np.unique(code, return_inverse=True)[1].reshape(code.shape).astype(np.uint8)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    boundary = cv2.dilate(compact, disc) != cv2.erode(compact, disc)
    eroded = label.copy()
    eroded[boundary] = 0
    return eroded


def write_potsdam_like(
    root: str | Path,
    tiles: Mapping[str, Sequence[str]] | Sequence[str],
    tile_size: int = 1200,
    seed: int = 0,
    *,
    gsd: float = 0.15,
    imagery: str = "RGB",
) -> dict[str, int]:
    """ISPRS Potsdam layout: the ortho tiles of ``imagery`` (``2_Ortho_RGB/top_potsdam_<id>_RGB.tif``, RGB uint8;
    ``3_Ortho_IRRG/..._IRRG.tif``, IR-R-G; ``4_Ortho_RGBIR/..._RGBIR.tif``, R-G-B-IR with the IR as an unspecified
    extra sample, as GDAL writes it), ``5_Labels_all/top_potsdam_<id>_label.tif`` (ISPRS colours) and
    ``5_Labels_all_noBoundary/top_potsdam_<id>_label_noBoundary.tif`` (boundaries eroded to black). ``tiles`` is the
    split -> tile ids mapping of the config (or a list of ids).

    The real tiles are 6000 x 6000 at 5 cm; the synthetic ones default to 1200 pixels at 15 cm, so a tile still shows
    a few blocks of a suburb: streets, houses, gardens, trees, parked and driving cars, some clutter. The IR band is
    the covers' near-infrared signature (vegetation bright, water dark) modulated by the rendering.
    """
    if imagery not in POTSDAM_IMAGERY:
        raise ConfigError(f"Potsdam imagery {imagery!r} is none of {', '.join(POTSDAM_IMAGERY)}")
    product = POTSDAM_IMAGERY[imagery]
    full, eroded = POTSDAM_LABELS["full"], POTSDAM_LABELS["eroded"]
    ortho, full_dir, eroded_dir = (part.archive.removesuffix(".zip") for part in (product, full, eroded))
    tile_ids = [t for ids in tiles.values() for t in ids] if isinstance(tiles, Mapping) else list(tiles)
    with atomic_dir(root) as tmp:
        for folder in (ortho, full_dir, eroded_dir):
            (tmp / folder).mkdir()
        for tile_id in tile_ids:
            rng = _image_rng(seed, zlib.crc32(str(tile_id).encode()))
            scene = render(rng, tile_size, tile_size, POTSDAM_SCENE, gsd)
            label = potsdam_label(scene.cover, scene.object_mask)
            bands = {"R": scene.image[..., 0], "G": scene.image[..., 1], "B": scene.image[..., 2]}
            if "IR" in product.bands:  # drawn only then, so the RGB tiles stay what they were for a seed
                nir = band_values("08 - NIR", scene.cover, scene.image, rng)
                bands["IR"] = np.clip(nir / 16, 0, 255).astype(np.uint8)  # reflectance x 10000 -> 8 bit
            extra = {"extrasamples": ["unspecified"]} if len(product.bands) > 3 else {}
            tifffile.imwrite(tmp / ortho / f"top_potsdam_{tile_id}_{product.suffix}.tif",
                             np.dstack([bands[b] for b in product.bands]), photometric="rgb", **extra)  # fmt: skip
            tifffile.imwrite(tmp / full_dir / f"top_potsdam_{tile_id}_{full.suffix}.tif", label, photometric="rgb")
            tifffile.imwrite(tmp / eroded_dir / f"top_potsdam_{tile_id}_{eroded.suffix}.tif", erode_boundaries(label),
                             photometric="rgb")  # fmt: skip
    return {"tiles": len(tile_ids)}


# LoveDA mask values: 0 no-data, 1 background, 2 building, 3 road, 4 water, 5 barren, 6 forest, 7 agriculture.
LOVEDA_OF_COVER = {"impervious": 1, "road": 3, "building": 2, "low_vegetation": 1, "tree": 6, "water": 4, "bare": 5,
                   "agriculture": 7, "clutter": 1}  # fmt: skip
LOVEDA_SCENES = {
    "Urban": Recipe(covers={"low_vegetation": 1.0, "impervious": 0.5, "tree": 0.35, "water": 0.08, "bare": 0.12},
                    region_m=90.0, parcel_m=40.0, roads=1, urban=0.8, street_spacing_m=(50.0, 110.0), buildings=30.0,
                    building_m=(10.0, 40.0), flat_roofs=0.6, trees=15.0),
    "Rural": Recipe(covers={"agriculture": 1.2, "tree": 0.6, "low_vegetation": 0.4, "water": 0.15, "bare": 0.2},
                    region_m=120.0, parcel_m=45.0, roads=1, urban=0.12, street_spacing_m=(40.0, 80.0),
                    buildings=30.0, building_m=(8.0, 18.0), trees=8.0),
}  # fmt: skip


def _no_data_corner(rng: np.random.Generator, size: int) -> np.ndarray:
    """A no-data region at the edge of an image (black in the image, 0 in the mask), as in some LoveDA tiles."""
    mask = np.zeros((size, size), np.uint8)
    corner = np.array([[0, 0], [size, 0], [size, size], [0, size]])[rng.integers(4)]
    cut = corner + (rng.uniform(0.1, 0.5) * size * (1 - 2 * (corner > 0)))
    triangle = np.array([corner, [cut[0], corner[1]], [corner[0], cut[1]]], np.int32)
    cv2.fillPoly(mask, [triangle], 1)
    return mask.astype(bool)


def write_loveda_like(
    root: str | Path,
    splits: Mapping[str, int] | None = None,
    domains: Sequence[str] = ("Urban", "Rural"),
    image_size: int = 1024,
    seed: int = 0,
    *,
    gsd: float = 0.3,
) -> dict[str, int]:
    """LoveDA layout: ``<Split>/<Domain>/images_png/<k>.png`` and ``masks_png/<k>.png`` (single-channel uint8,
    0 no-data, 1..7 classes); Test has images only; ``k`` counts across the whole dataset. ``splits`` gives the
    images per split and domain."""
    splits = dict(splits) if splits is not None else {"Train": 2, "Val": 1, "Test": 1}
    class_of_cover = np.array([LOVEDA_OF_COVER[n] for n in COVER_NAMES], np.uint8)
    counts: dict[str, int] = {}
    with atomic_dir(root) as tmp:
        number = 0
        for split, n_images in splits.items():
            for domain in domains:
                recipe = LOVEDA_SCENES.get(domain, LOVEDA_SCENES["Rural"])
                (tmp / split / domain / "images_png").mkdir(parents=True)
                if split != "Test":
                    (tmp / split / domain / "masks_png").mkdir(parents=True)
                for _ in range(n_images):
                    rng = _image_rng(seed, number)
                    scene = render(rng, image_size, image_size, recipe, gsd)
                    image, mask = scene.image, class_of_cover[scene.cover]
                    if number % 3 == 0:  # a little no-data, as at the edges of some LoveDA tiles
                        hole = _no_data_corner(rng, image_size)
                        image[hole], mask[hole] = 0, 0
                    write_image(tmp / split / domain / "images_png" / f"{number}.png", image, atomic=False)
                    if split != "Test":
                        write_image(tmp / split / domain / "masks_png" / f"{number}.png", mask, atomic=False)
                    number += 1
                counts[f"{split}/{domain}"] = n_images
    return counts


# --- pretraining: MillionAID ----------------------------------------------------------------------------------------

MILLIONAID_CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("agriculture_land", "arable_land", "dry_field"),
    ("agriculture_land", "woodland", "forest"),
    ("residential_land", "urban_residential", "apartment"),
    ("transportation_land", "airport_area", "apron"),
    ("transportation_land", "highway_area", "parking_lot"),
    ("water_area", "river", "river"),
    ("industrial_land", "factory_area", "storage_tank"),
    ("unutilized_land", "bare_land", "desert"),
)


def write_millionaid_like(
    root: str | Path, n_images: int = 64, seed: int = 0, size_range: tuple[int, int] = (256, 512)
) -> dict[str, int]:
    """MillionAID layout: unlabeled scenes of varying size (and ground resolution) under ``test/<k>.jpg``, and every
    third under ``train/<l1>/<l2>/<l3>/<k>.jpg``, MillionAID's category tree."""
    with atomic_dir(root) as tmp:
        for k in range(n_images):
            rng = _image_rng(seed, k)
            width, height = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, 2))
            category = MILLIONAID_CATEGORIES[int(rng.integers(len(MILLIONAID_CATEGORIES)))]
            gsd = float(np.exp(rng.uniform(np.log(0.3), np.log(1.5))))
            scene = render(rng, width, height, class_recipe(category[2]), gsd)
            folder = tmp / "train" / Path(*category) if k % 3 == 0 else tmp / "test"
            folder.mkdir(parents=True, exist_ok=True)
            write_image(folder / f"{k:06d}.jpg", scene.image, atomic=False, quality=90)
    return {"images": n_images}


# --- scene classification: class folders and GEO-Bench --------------------------------------------------------------


def render_class_image(rng: np.random.Generator, name: str, size: int, gsd: float | None = None) -> np.ndarray:
    """One image of scene class ``name`` (see :func:`class_recipe`), ``size`` x ``size`` pixels."""
    return render(rng, size, size, class_recipe(name), gsd or default_gsd(size)).image


def write_class_folders_like(
    root: str | Path,
    top: str,
    classes: Sequence[str],
    n_per_class: int = 20,
    image_size: int = 64,
    ext: str = ".jpg",
    seed: int = 0,
    *,
    gsd: float | None = None,
) -> dict[str, int]:
    """Single-label scene classification in the class-folder layout of EuroSAT, UC Merced, AID and NWPU-RESISC45:
    ``<top>/<class>/<class>_<k><ext>`` (k from 1). ``gsd`` defaults to 10 m for patches of 64 pixels or less
    (Sentinel-2, as EuroSAT) and 0.5 m above."""
    ext = ext if ext.startswith(".") else f".{ext}"
    with atomic_dir(root) as tmp:
        for name in classes:
            folder = tmp / top / name
            folder.mkdir(parents=True)
            for k in range(n_per_class):
                rng = _image_rng(seed, zlib.crc32(name.encode()), k)
                image = render_class_image(rng, name, image_size, gsd)
                options = {"quality": 95} if ext.lower() in {".jpg", ".jpeg"} else {}
                write_image(folder / f"{name}_{k + 1}{ext}", image, atomic=False, **options)
    return {"classes": len(classes), "images": len(classes) * n_per_class}


S2_BANDS: tuple[str, ...] = (
    "01 - Coastal aerosol", "02 - Blue", "03 - Green", "04 - Red", "05 - Vegetation Red Edge",
    "06 - Vegetation Red Edge", "07 - Vegetation Red Edge", "08 - NIR", "08A - Vegetation Red Edge",
    "09 - Water vapour", "10 - SWIR - Cirrus", "11 - SWIR", "12 - SWIR",
)  # fmt: skip
_S2_CODES = ("01", "02", "03", "04", "05", "06", "07", "08", "08A", "09", "10", "11", "12")
_S2_WAVELENGTH_UM = (0.443, 0.49, 0.56, 0.665, 0.705, 0.74, 0.783, 0.842, 0.865, 0.945, 1.375, 1.61, 2.19)
# Reflectance x 10000 per cover for B01..B12 (with B8A): vegetation's red edge and NIR plateau, water absorbing beyond
# red, bare soil rising into the SWIR, roofs and pavement flat and bright.
S2_SIGNATURES: dict[str, tuple[int, ...]] = {
    "impervious": (1400, 1350, 1300, 1350, 1450, 1550, 1600, 1650, 1700, 600, 30, 2000, 1800),
    "road": (1100, 1050, 1000, 1000, 1050, 1100, 1150, 1200, 1250, 450, 25, 1600, 1500),
    "building": (1300, 1200, 1250, 1600, 1700, 1750, 1800, 1850, 1900, 650, 30, 2300, 2000),
    "low_vegetation": (900, 800, 1000, 700, 1400, 2800, 3300, 3500, 3600, 1100, 20, 2200, 1300),
    "tree": (700, 500, 700, 400, 900, 2200, 2800, 3000, 3100, 900, 15, 1400, 700),
    "water": (1000, 900, 800, 500, 350, 250, 220, 200, 180, 60, 10, 100, 80),
    "bare": (1600, 1700, 2000, 2400, 2600, 2700, 2800, 2900, 3000, 1000, 35, 3600, 3000),
    "agriculture": (1000, 900, 1200, 900, 1600, 2600, 3000, 3200, 3300, 1000, 20, 2500, 1600),
    "clutter": (1500, 1500, 1400, 1500, 1600, 1700, 1700, 1800, 1800, 600, 30, 2100, 1900),
}
# Sentinel-1 backscatter (dB) per cover: (VV, VH).
S1_BACKSCATTER_DB: dict[str, tuple[float, float]] = {
    "impervious": (-8, -14), "road": (-12, -20), "building": (-3, -9), "low_vegetation": (-11, -17),
    "tree": (-7, -12), "water": (-20, -26), "bare": (-13, -19), "agriculture": (-10, -16), "clutter": (-9, -15),
}  # fmt: skip


def _band_info(band: str) -> dict[str, Any]:
    """GEO-Bench's band_info of a band descriptor: its name, centre wavelength (µm; None for SAR) and resolution."""
    code = band.split(" - ")[0].strip()
    sar = "VV" in band or "VH" in band
    wavelength = None if sar or code not in _S2_CODES else _S2_WAVELENGTH_UM[_S2_CODES.index(code)]
    return {"name": band, "wavelength": wavelength, "spatial_resolution": 10.0}


def band_values(
    band: str, cover: np.ndarray, rgb: np.ndarray, rng: np.random.Generator, gain: np.ndarray | None = None
) -> np.ndarray:
    """One band of a multispectral patch: the cover's spectral signature, modulated by the rendering's texture and
    colours (objects, shadows, class casts) and by ``gain`` (a per-pixel factor), with sensor noise.

    Sentinel-2 bands come out as uint16 reflectance x 10000; Sentinel-1 bands (VV/VH) as float32 (real/imaginary
    parts of the complex backscatter, or Lee-filtered intensity)."""
    code = band.split(" - ")[0].strip()
    rgb = rgb.astype(np.float32)
    base_rgb = np.array([c.rgb for c in COVERS.values()], np.float32)[cover]
    luminance = np.clip(rgb.mean(axis=-1) / (base_rgb.mean(axis=-1) + 1), 0.3, 2.0)
    gain = np.ones(cover.shape, np.float32) if gain is None else gain.astype(np.float32)
    if "VV" in band or "VH" in band:
        polarisation = 0 if "VV" in band else 1
        backscatter_db = np.array([S1_BACKSCATTER_DB[n][polarisation] for n in COVER_NAMES], np.float32)[cover]
        speckle = rng.gamma(4.0, 0.25, cover.shape).astype(np.float32)  # 4-look speckle, mean 1
        intensity = 10 ** (backscatter_db / 10) * luminance * gain * speckle
        phase = rng.uniform(0, 2 * np.pi, cover.shape).astype(np.float32)
        if "LEE" in band.upper():
            intensity = cv2.blur(intensity, (5, 5))  # a 5 x 5 mean stands in for the Lee filter's smoothing
        amplitude = np.sqrt(intensity)
        if "Imaginary" in band:
            return (amplitude * np.sin(phase)).astype(np.float32)
        if "Real" in band:
            return (amplitude * np.cos(phase)).astype(np.float32)
        return intensity.astype(np.float32)
    position = _S2_CODES.index(code) if code in _S2_CODES else 7
    table = np.array([S2_SIGNATURES[n][position] for n in COVER_NAMES], np.float32)
    values = table[cover]
    if code in {"02", "03", "04"}:  # visible bands follow the rendered colour channel
        channel = {"04": 0, "03": 1, "02": 2}[code]
        values = values * np.clip(rgb[..., channel] / (base_rgb[..., channel] + 1), 0.2, 3.0)
    else:
        values = values * luminance
    values = values * gain * rng.normal(1.0, 0.03, cover.shape).astype(np.float32)
    return np.clip(values, 0, 65535).astype(np.uint16)


# CORINE land-cover labels (BigEarthNet) -> the cover that shows them.
_CORINE_COVER = (
    (("continuous urban", "discontinuous urban"), "building"),
    (("industrial", "commercial", "port", "airport", "construction"), "impervious"),
    (("road", "rail"), "road"),
    (("mineral", "dump", "beach", "dune", "sand", "bare rock", "sparsely", "burnt", "salines", "intertidal"), "bare"),
    (("arable", "irrigated", "rice", "vineyard", "fruit", "olive", "crops", "cultivation", "agricultur", "agro"),
     "agriculture"),
    (("forest", "woodland"), "tree"),
    (("pasture", "grassland", "heath", "sclerophyllous", "green urban", "sport", "moors", "marsh", "peat"),
     "low_vegetation"),
    (("water", "sea", "lagoon", "estuar", "ocean"), "water"),
)  # fmt: skip


def label_cover(name: str) -> str:
    """The land cover that shows a multi-label class (CORINE names; a hash pick for other names)."""
    lowered = name.lower()
    for words, cover in _CORINE_COVER:
        if any(word in lowered for word in words):
            return cover
    options = ("low_vegetation", "tree", "agriculture", "bare", "water", "impervious", "building")
    return options[zlib.crc32(lowered.encode()) % len(options)]


def _multilabel_patch(
    rng: np.random.Generator, classes: Sequence[str], picks: np.ndarray, size: int, gsd: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A patch whose regions show the picked labels: (rgb, cover, per-pixel spectral gain of each label)."""
    fields = np.stack([smooth_noise(rng, size, size, size / 3) for _ in picks])
    region = np.argmax(fields, axis=0)
    for i in range(len(picks)):  # every picked label must be visible
        if (region == i).mean() < 0.04:
            centre = tuple(int(v) for v in rng.integers(size // 6, size - size // 6, 2))
            cv2.circle(region, centre, max(2, size // 6), i, -1)
    covers = np.array([COVER[label_cover(classes[p])] for p in picks], np.uint8)
    # Labels sharing a cover still differ a little: a per-label spectral gain from the label's name.
    gains = np.array([np.random.default_rng(zlib.crc32(classes[p].encode())).uniform(0.85, 1.15) for p in picks])
    canvas = Canvas(rng, size, size, gsd)
    canvas.cover = covers[region.astype(np.intp)]
    canvas.regions, canvas.n_regions = voronoi(rng, size, size, canvas.px(80))
    paint(canvas)
    cast_shadows(canvas)
    return finish(canvas), canvas.cover, gains.astype(np.float32)[region]


def write_geobench_like(
    root: str | Path,
    task: str,
    classes: Sequence[str],
    n_per_split: Mapping[str, int] | None = None,
    band_names: Sequence[str] = S2_BANDS,
    image_size: int = 64,
    multilabel: bool = False,
    seed: int = 0,
    *,
    gsd: float = 10.0,
    illumination: float = 0.0,
) -> dict[str, int]:
    """GEO-Bench v1 classification layout: ``<task>/<sample>.hdf5`` and ``<task>/default_partition.json``.

    Each sample holds one 2-D dataset per band (named by its band descriptor, e.g. "04 - Red") and the file attribute
    "pickle" = str(pickle.dumps(attrs)) with attrs = {"bands_order", "label", <band>: {"band_info", ...}}, plain
    Python types only. Single-label classes are balanced across samples; multi-label samples (BigEarthNet-like) have
    1-4 labels, each visible as a region of its land cover, and the label is a 0/1 list over ``classes``.

    ``illumination`` > 0 varies each sample's acquisition: every band is scaled by exp(N(0, illumination)) (sun and
    haze, all bands alike) times exp(N(0, illumination / 2)) (per band), so that a sample's mean colour says less
    about its class and its texture and layout more.
    """
    import h5py

    n_per_split = dict(n_per_split) if n_per_split is not None else {"train": 40, "valid": 10, "test": 10}
    order_rng = _image_rng(seed, 0x5EED)  # single-label classes: balanced within every split
    single_labels = np.concatenate(
        [order_rng.permutation(np.arange(n_images) % len(classes)) for n_images in n_per_split.values()]
    )
    partition: dict[str, list[str]] = {}
    with atomic_dir(root) as tmp:
        (tmp / task).mkdir(parents=True)
        number = 0
        for split, n_images in n_per_split.items():
            partition[split] = []
            for _ in range(n_images):
                rng = _image_rng(seed, number)
                gain = None
                if multilabel:
                    picks = np.sort(rng.choice(len(classes), int(rng.integers(1, min(4, len(classes)) + 1)), False))
                    label: Any = [int(i in set(picks.tolist())) for i in range(len(classes))]
                    rgb, cover, gain = _multilabel_patch(rng, classes, picks, image_size, gsd)
                else:
                    label = int(single_labels[number])
                    scene = render(rng, image_size, image_size, class_recipe(classes[label]), gsd)
                    rgb, cover = scene.image, scene.cover
                name = f"{task}_{number:06d}"
                attrs: dict[str, Any] = {"bands_order": list(band_names), "label": label, "sample_name": name}
                scales = np.ones(len(band_names))
                if illumination > 0:  # drawn apart, so that illumination 0 leaves every other draw as it was
                    light = _image_rng(seed, number, 0x11)
                    scales = np.exp(light.normal(0, illumination) + light.normal(0, illumination / 2, len(band_names)))
                with h5py.File(tmp / task / f"{name}.hdf5", "w") as handle:
                    for band, scale in zip(band_names, scales, strict=True):
                        band_gain = gain
                        if illumination > 0:
                            band_gain = np.full(cover.shape, scale, np.float32) if gain is None else gain * scale
                        data = band_values(band, cover, rgb, rng, band_gain)
                        handle.create_dataset(band, data=data, track_times=False)
                        attrs[band] = {"band_info": _band_info(band), "spatial_resolution": gsd, "date": None,
                                       "transform": None, "crs": None, "meta_info": None}  # fmt: skip
                    handle.attrs["pickle"] = str(pickle.dumps(attrs, protocol=4))
                partition[split].append(name)
                number += 1
        (tmp / task / "default_partition.json").write_text(json.dumps(partition, indent=1))
    return {split: len(names) for split, names in partition.items()}
