"""Pinned bytes of the synthetic writers: one small dataset per kind, written with a fixed seed and hashed.

A refactoring of the painter (names, comments, structure) must leave every byte alone; these digests show it did.
They hold for the locked environment (envs/lock.txt: numpy, OpenCV, Pillow, tifffile, h5py): a deliberate change of
the painter, or a new version of one of those, updates them here. HDF5 files are hashed by what they hold (datasets
and attributes), not by their container bytes, which differ between builds of the HDF5 library of one h5py version.
"""

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rsfm.data import synthetic
from rsfm.data.synthetic import objects

SEED = 7


def write_dota(root: Path) -> None:
    # 1 m pixels: a 480 m scene is large enough for a runway, so every DOTA class but the sports grounds shows up.
    synthetic.write_dota_like(root, {"train": 1, "test": 1}, scene_size=(480, 560), seed=SEED, gsd=1.0)


def write_dior_r(root: Path) -> None:
    synthetic.write_dior_r_like(root, {"train": 2, "val": 1, "test": 1}, image_size=256, seed=SEED)


def write_potsdam(root: Path) -> None:
    tiles = {"train": ["2_10"], "test": ["2_13"]}
    synthetic.write_potsdam_like(root / "RGB", tiles, tile_size=192, seed=SEED)
    synthetic.write_potsdam_like(root / "RGBIR", tiles, tile_size=192, seed=SEED, imagery="RGBIR")  # the IR band


def write_loveda(root: Path) -> None:
    synthetic.write_loveda_like(root, {"Train": 1, "Val": 1, "Test": 1}, image_size=128, seed=SEED)


def write_millionaid(root: Path) -> None:
    synthetic.write_millionaid_like(root, 9, seed=SEED, size_range=(96, 160))


def write_class_folders(root: Path) -> None:
    # 1.5 m pixels fit track fields, pitches and courts into 128-pixel scenes; "thing" takes the hashed recipe.
    classes = ["Forest", "harbor", "tenniscourt", "stadium", "football", "cloud", "thing"]
    synthetic.write_class_folders_like(root / "aerial", "Images", classes, 1, 128, ".jpg", seed=SEED, gsd=1.5)
    synthetic.write_class_folders_like(root / "s2", "2750", ["AnnualCrop", "River"], 2, 64, ".tif", seed=SEED)


def write_geobench(root: Path) -> None:
    bands = ("01 - VH.Real", "02 - VH.Imaginary", "05 - VH.LEE Filtered", "04 - Red", "08 - NIR")
    classes = ["Forest", "SeaLake", "Industrial"]
    splits = {"train": 2, "valid": 1, "test": 1}
    synthetic.write_geobench_like(root / "single", "m-task", classes, splits, bands, image_size=32, seed=SEED)
    labels = ["Water bodies", "Coniferous forest", "Arable land", "Pastures", "Industrial or commercial units", "other"]
    synthetic.write_geobench_like(root / "multi", "m-multi", labels, {"train": 2, "test": 1}, synthetic.S2_BANDS[:5],
                                  image_size=32, multilabel=True, seed=SEED)  # fmt: skip


def write_render_scene(root: Path) -> None:
    # The general entry point, not a writer: its image, land cover and boxes as raw bytes.
    rng = np.random.default_rng(SEED)
    image, cover, boxes = synthetic.render_scene(rng, 320, 240, {"low_vegetation": 1.0, "building": 0.5, "road": 1.0},
                                                 ["small-vehicle", "swimming-pool", "building"])  # fmt: skip
    root.mkdir()
    (root / "image.bin").write_bytes(image.tobytes())
    (root / "cover.bin").write_bytes(cover.tobytes())
    (root / "objects.txt").write_text("".join(f"{o.name} {o.poly.tobytes().hex()}\n" for o in boxes))


WRITERS = {
    "dota": write_dota,
    "dior_r": write_dior_r,
    "potsdam": write_potsdam,
    "loveda": write_loveda,
    "millionaid": write_millionaid,
    "class_folders": write_class_folders,
    "geobench": write_geobench,
    "render_scene": write_render_scene,
}

PINNED = {
    "dota": "6f4eda94cd6d7cf399eb78e2c21c1708ffad2f1cd66d9112095bdc1eb8ed954b",
    "dior_r": "ff2963a439f14667643c764fa7df2b7b1c72c141a2757fb28b76e12fa49bb6a0",
    "potsdam": "99b50a8cd92874271d84ca36c0ca06b32dfbd241b621f2cd0f03216e98cec9fd",
    "loveda": "cf555aa08013ea45e6f8e94c81b5cfaf9e3d27819d08e6b72a5269961fc4737f",
    "millionaid": "534ca01a1966896edd273a9f454e18b9093712620a3d00cc6fe4808e930de105",
    "class_folders": "e29d522ca39caef71f5fe96d021869c16b21f2873d209c7c4779e484da45dbf6",
    "geobench": "e3abbfb098ffce393dfda4ae584d3fe34cc8b1cb5102323538ce03aa3313f556",
    "render_scene": "aef2de7bf697a42434bb73f3a847ae36b2d089556474c871b1233cb6bb8986b1",
}


def hdf5_content(path: Path) -> bytes:
    """An HDF5 file's datasets (name, dtype, shape, bytes) and attributes (name, repr of the value, arrays as lists so
    that numpy does not summarise them), in sorted order."""
    import h5py

    parts: list[bytes] = []

    def attributes(node) -> None:
        for key in sorted(node.attrs):
            value = node.attrs[key]
            parts.append(f"{node.name}@{key}={value.tolist() if isinstance(value, np.ndarray) else value!r}".encode())

    def visit(name: str, node) -> None:
        if isinstance(node, h5py.Dataset):
            assert node.dtype != object, f"{path}:{name}: variable-length data has no fixed bytes to hash"
            parts.append(f"{name}:{node.dtype.str}:{node.shape}".encode())
            parts.append(np.ascontiguousarray(node[()]).tobytes())
        attributes(node)

    with h5py.File(path, "r") as handle:
        attributes(handle)
        handle.visititems(visit)  # visits in name order
    return b"".join(parts)


def tree_sha256(root: Path) -> str:
    """sha256 over every file below ``root``: its relative path, then its bytes (an HDF5 file's content), in sorted
    path order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(hdf5_content(path) if path.suffix == ".hdf5" else path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Every kind written once: (digest per kind, the object styles drawn along the way)."""
    drawn: set[str] = set()

    def counting(name, draw):
        def wrapper(*args, **kwargs):
            drawn.add(name)
            return draw(*args, **kwargs)

        return wrapper

    root = tmp_path_factory.mktemp("synthetic")
    with pytest.MonkeyPatch.context() as patch:  # count the drawing calls; the drawing itself is unchanged
        for name, style in list(objects.STYLES.items()):
            patch.setitem(objects.STYLES, name, replace(style, draw=counting(name, style.draw)))
        patch.setattr(objects, "draw_building", counting("building", objects.draw_building))
        digests = {}
        for kind, write in WRITERS.items():
            write(root / kind)
            digests[kind] = tree_sha256(root / kind)
    return digests, drawn


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_writer_bytes_are_pinned(written, kind):
    digests, _ = written
    assert digests[kind] == PINNED[kind]


def test_pinned_datasets_draw_every_object_style(written):
    _, drawn = written
    assert drawn == {*objects.STYLES, "building"}
