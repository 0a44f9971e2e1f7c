"""Synthetic data: deterministic, in the real releases' formats, and learnable."""

import ast
import hashlib
import pickle

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from rsfm.data import synthetic
from rsfm.data.annotations import read_dior_xml, read_dota_label
from rsfm.data.potsdam import PALETTE


def digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        synthetic.write_dota_like(tmp_path / name, {"train": 1, "test": 1}, scene_size=600, seed=seed)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_dota_layout_and_objects(tmp_path):
    counts = synthetic.write_dota_like(tmp_path, {"train": 2, "val": 1, "test": 1}, scene_size=1200, seed=3)
    assert sorted(p.name for p in (tmp_path / "train/images").iterdir()) == ["P0000.png", "P0001.png"]
    assert not (tmp_path / "test/labelTxt").exists() and (tmp_path / "test/images/P0003.png").is_file()
    lengths: dict[str, list[float]] = {}
    for label_path in (tmp_path / "train/labelTxt").glob("*.txt"):
        image = Image.open(tmp_path / "train/images" / f"{label_path.stem}.png")
        label = read_dota_label(label_path)
        assert label.meta == {"imagesource": "synthetic", "gsd": "0.3"}
        for obj in label.objects:
            assert obj.poly.min() >= 0 and obj.poly[:, 0].max() <= image.width and obj.poly[:, 1].max() <= image.height
            sides = np.linalg.norm(np.roll(obj.poly, -1, axis=0) - obj.poly, axis=1)
            lengths.setdefault(obj.name, []).append(sides.max() / max(sides.min(), 1e-6))
            assert obj.name in synthetic.STYLES
    assert counts["train_objects"] > 50 and len(lengths) >= 5
    for name, ratios in lengths.items():  # aspect ratios stay in each class's range
        low, high = synthetic.STYLES[name].aspect
        assert min(low, 1 / high) - 0.05 <= np.median(ratios) <= max(high, 1 / low) + 0.05, name


def test_dior_r_layout(tmp_path):
    synthetic.write_dior_r_like(tmp_path, {"train": 2, "val": 1, "test": 1}, image_size=800, seed=0)
    assert (tmp_path / "ImageSets/Main/val.txt").read_text().split() == ["00003"]
    assert (tmp_path / "JPEGImages-test/00004.jpg").is_file()
    objects, size = read_dior_xml(tmp_path / "Annotations/Oriented Bounding Boxes/00001.xml")
    assert size == (800, 800) and objects and {o.name for o in objects} <= set(synthetic.DIOR_STYLE_OF)


def test_potsdam_labels_use_the_isprs_palette_and_classes_differ(tmp_path):
    synthetic.write_potsdam_like(tmp_path, {"train": ["2_10"]}, tile_size=600, seed=0)
    image = tifffile.imread(tmp_path / "2_Ortho_RGB/top_potsdam_2_10_RGB.tif")
    label = tifffile.imread(tmp_path / "5_Labels_all/top_potsdam_2_10_label.tif")
    eroded = tifffile.imread(tmp_path / "5_Labels_all_noBoundary/top_potsdam_2_10_label_noBoundary.tif")
    colours = {tuple(c) for c in np.unique(label.reshape(-1, 3), axis=0)}
    assert colours <= set(PALETTE) and len(colours) >= 5
    assert {tuple(c) for c in np.unique(eroded.reshape(-1, 3), axis=0)} <= set(PALETTE) | {(0, 0, 0)}
    assert 0.01 < (eroded == 0).all(axis=-1).mean() < 0.3
    means = [image[(label == c).all(axis=-1)].mean(axis=0) for c in colours]
    gaps = [np.abs(a - b).max() for i, a in enumerate(means) for b in means[i + 1 :]]
    assert min(gaps) > 15  # every pair of classes differs clearly in mean colour


def test_loveda_masks(tmp_path):
    synthetic.write_loveda_like(tmp_path, {"Train": 1, "Test": 1}, image_size=256, seed=0)
    mask = np.asarray(Image.open(tmp_path / "Train/Urban/masks_png/0.png"))
    assert mask.ndim == 2 and mask.max() <= 7 and len(np.unique(mask)) >= 4
    assert not (tmp_path / "Test/Rural/masks_png").exists()
    assert (tmp_path / "Test/Rural/images_png/3.png").is_file()


def features(image):
    x = image.astype(np.float32)
    grad = np.abs(np.diff(x, axis=0)).mean() + np.abs(np.diff(x, axis=1)).mean()
    return np.concatenate([x.mean(axis=(0, 1)), x.std(axis=(0, 1)), [grad]])


def test_scene_classes_are_learnable(tmp_path):
    classes = ["AnnualCrop", "Forest", "River", "Residential", "Highway"]
    synthetic.write_class_folders_like(tmp_path, "2750", classes, n_per_class=20, image_size=64, seed=0)
    x, y = [], []
    for label, name in enumerate(classes):
        for path in sorted((tmp_path / "2750" / name).iterdir()):
            x.append(features(np.asarray(Image.open(path).convert("RGB"))))
            y.append(label)
    x, y = np.array(x), np.array(y)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    correct = 0
    for i in range(len(x)):  # leave-one-out nearest centroid
        mask = np.arange(len(x)) != i
        centroids = np.stack([x[mask & (y == c)].mean(0) for c in range(len(classes))])
        correct += int(np.argmin(np.linalg.norm(centroids - x[i], axis=1)) == y[i])
    assert correct / len(x) >= 0.9


@pytest.mark.parametrize("multilabel", [False, True])
def test_geobench_samples(tmp_path, multilabel):
    bands = ["02 - Blue", "03 - Green", "04 - Red", "08 - NIR", "01 - VH.Real"]
    classes = ["Forest", "SeaLake", "Industrial"]
    counts = synthetic.write_geobench_like(
        tmp_path, "m-task", classes, bands, {"train": 6, "valid": 2, "test": 2}, image_size=32,
        multilabel=multilabel, seed=0,
    )  # fmt: skip
    assert counts == {"train": 6, "valid": 2, "test": 2}
    sample = tmp_path / "m-task" / "m-task_000000.hdf5"
    with h5py.File(sample) as handle:
        attrs = pickle.loads(ast.literal_eval(handle.attrs["pickle"]))
        assert attrs["bands_order"] == bands and set(handle.keys()) == set(bands)
        assert handle["08 - NIR"].dtype == np.uint16 and handle["08 - NIR"].shape == (32, 32)
        assert handle["01 - VH.Real"].dtype == np.float32
    label = attrs["label"]
    if multilabel:
        assert np.asarray(label).shape == (3,) and 1 <= np.asarray(label).sum() <= 3
    else:
        assert 0 <= int(label) < 3
