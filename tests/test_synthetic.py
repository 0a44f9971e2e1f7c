"""Synthetic data: deterministic, in the real releases' layouts and formats, with plausible objects, and learnable."""

import ast
import hashlib
import io
import json
import pickle
from collections import defaultdict

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from rsfm.data import synthetic
from rsfm.data.annotations import DIOR_R_CLASSES, DOTA_V2_CLASSES, read_dior_xml, read_dota_label
from rsfm.data.kinds.potsdam import PALETTE
from rsfm.data.synthetic import objects as synthetic_objects


def digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def shoelace(poly):
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


# Each writer with tiny sizes, for the determinism check.
WRITERS = {
    "dota": lambda root, seed: synthetic.write_dota_like(root, {"train": 1, "test": 1}, scene_size=500, seed=seed),
    "dior": lambda root, seed: synthetic.write_dior_r_like(root, {"train": 1, "val": 1, "test": 1}, 256, seed=seed),
    "potsdam": lambda root, seed: synthetic.write_potsdam_like(root, {"train": ["2_10"]}, tile_size=256, seed=seed),
    "loveda": lambda root, seed: synthetic.write_loveda_like(root, {"Train": 1, "Test": 1}, image_size=128, seed=seed),
    "millionaid": lambda root, seed: synthetic.write_millionaid_like(root, 4, seed=seed, size_range=(96, 160)),
    "classes": lambda root, seed: synthetic.write_class_folders_like(root, "2750", ["Forest", "River"], 2, 64,
                                                                      ".jpg", seed),
    "geobench": lambda root, seed: synthetic.write_geobench_like(root, "m-task", ["Forest", "SeaLake"],
                                                                 {"train": 2, "valid": 1, "test": 1},
                                                                 synthetic.S2_BANDS[:4], image_size=32, seed=seed),
}  # fmt: skip


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, writer):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        WRITERS[writer](tmp_path / name, seed)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no temporary folders left behind


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    from rsfm.data.synthetic import writers

    calls = []

    def failing_write(*args, **kwargs):
        calls.append(args)
        raise KeyboardInterrupt

    monkeypatch.setattr(writers, "write_image", failing_write)
    with pytest.raises(KeyboardInterrupt):
        synthetic.write_dota_like(tmp_path / "dota", {"train": 1}, scene_size=300)
    assert calls and list(tmp_path.iterdir()) == []


def test_render_scene_outputs():
    rng = np.random.default_rng(0)
    image, cover, objects = synthetic.render_scene(
        rng, 640, 480, {"low_vegetation": 1.0, "tree": 0.5, "building": 0.5, "road": 1.0},
        ["small-vehicle", "ship", "tennis-court", "building"],
    )  # fmt: skip
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8
    assert cover.shape == (480, 640) and cover.dtype == np.uint8 and cover.max() < len(synthetic.COVER_NAMES)
    names = {o.name for o in objects}
    assert {"small-vehicle", "building"} <= names <= {"small-vehicle", "ship", "tennis-court", "building"}
    for obj in objects:
        assert obj.poly.shape == (4, 2) and shoelace(obj.poly) > 0  # clockwise in image coordinates
    assert np.mean(image.std(axis=(0, 1))) > 10  # textured, not flat colour
    with pytest.raises(ValueError, match="unknown"):
        synthetic.render_scene(rng, 64, 64, ["lava"])


def test_dota_layout_labels_and_object_statistics(tmp_path):
    counts = synthetic.write_dota_like(tmp_path, {"train": 2, "val": 1, "test": 1}, scene_size=(1100, 1400), seed=3)
    assert sorted(p.name for p in (tmp_path / "train/images").iterdir()) == ["P0000.png", "P0001.png"]
    assert sorted(p.name for p in (tmp_path / "train/labelTxt").iterdir()) == ["P0000.txt", "P0001.txt"]
    assert [p.name for p in (tmp_path / "val/images").iterdir()] == ["P0002.png"]
    assert [p.name for p in (tmp_path / "test/images").iterdir()] == ["P0003.png"]
    assert not (tmp_path / "test/labelTxt").exists()
    gsd = 0.4
    sizes: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for split in ("train", "val"):
        for label_path in sorted((tmp_path / split / "labelTxt").glob("*.txt")):
            with Image.open(tmp_path / split / "images" / f"{label_path.stem}.png") as image:
                assert image.mode == "RGB"
                width, height = image.size
            assert 1100 <= width <= 1400 and 1100 <= height <= 1400
            label = read_dota_label(label_path)
            assert label.meta == {"imagesource": "synthetic", "gsd": "0.4"}
            for obj in label.objects:
                assert obj.name in DOTA_V2_CLASSES and obj.difficult == 0
                assert obj.poly.min() >= 0 and (obj.poly[:, 0] <= width).all() and (obj.poly[:, 1] <= height).all()
                assert shoelace(obj.poly) > 0
                length = np.linalg.norm(obj.poly[0] - obj.poly[3]) * gsd  # along the heading, metres
                across = np.linalg.norm(obj.poly[1] - obj.poly[0]) * gsd
                sizes[obj.name].append((length, length / across))
    assert counts["train_objects"] + counts["val_objects"] == sum(len(v) for v in sizes.values()) > 300
    assert len(sizes) >= 8, sorted(sizes)
    assert len(sizes["small-vehicle"]) > 100
    for name, values in sizes.items():  # every object within its class's size and aspect ranges
        if name == "bridge":  # a bridge is as long as the crossing
            continue
        style = synthetic.STYLES[name]
        lengths, aspects = np.array(values).T
        assert style.length_m[0] * 0.97 <= lengths.min() and lengths.max() <= style.length_m[1] * 1.03, name
        assert style.aspect[0] * 0.97 <= aspects.min() and aspects.max() <= style.aspect[1] * 1.03, name
    # in pixels at 0.4 m: cars ~10 x 5, trucks ~25 x 7, ships 40-120 long
    assert 9 <= np.median([v[0] for v in sizes["small-vehicle"]]) / gsd <= 13


def test_detection_sets_take_a_gsd_range_and_an_object_density(tmp_path):
    """``gsd`` as a [min, max] range is drawn per scene (and written to DOTA's gsd line); ``object_density`` scales the
    objects of DIOR-R's images: the settings of the learnability experiments in docs/finetuning.md."""
    synthetic.write_dota_like(tmp_path / "dota", {"train": 3}, scene_size=300, seed=1, gsd=(0.2, 0.3))
    drawn = [float(read_dota_label(p).meta["gsd"]) for p in sorted((tmp_path / "dota/train/labelTxt").iterdir())]
    assert all(0.2 <= g <= 0.3 for g in drawn) and len(set(drawn)) == 3
    options = {"image_size": 256, "seed": 2, "classes": ["airplane", "tenniscourt", "storagetank"], "gsd": (0.5, 0.7)}
    sparse = synthetic.write_dior_r_like(tmp_path / "sparse", {"train": 8}, **options)
    dense = synthetic.write_dior_r_like(tmp_path / "dense", {"train": 8}, **options, object_density=100)
    assert dense["train_objects"] > sparse["train_objects"], (sparse, dense)


def test_dota_rejects_classes_it_cannot_draw(tmp_path):
    from rsfm.errors import ConfigError

    with pytest.raises(ConfigError, match="helicopter"):
        synthetic.write_dota_like(tmp_path, {"train": 1}, classes=["plane", "helicopter"])
    assert not tmp_path.joinpath("train").exists()


def test_objects_do_not_overlap():
    import cv2

    rng = np.random.default_rng(5)
    scene = synthetic.render(rng, 900, 900, synthetic.recipes.detection_recipe(rng, synthetic.DOTA_SYNTHETIC_CLASSES),
                             0.4)  # fmt: skip
    count = np.zeros((900, 900), np.int32)
    for obj in scene.objects:
        mask = np.zeros((900, 900), np.uint8)
        cv2.fillPoly(mask, [np.round(obj.poly).astype(np.int32)], 1)
        count += mask
    assert len(scene.objects) > 30 and (count > 1).mean() < 0.002  # at most edge pixels shared after rounding


def test_dior_r_layout(tmp_path):
    counts = synthetic.write_dior_r_like(tmp_path, {"train": 3, "val": 1, "test": 2}, image_size=800, seed=0)
    main = tmp_path / "ImageSets/Main"
    assert [main.joinpath(f"{s}.txt").read_text().split() for s in ("train", "val", "test")] == [
        ["00001", "00002", "00003"], ["00004"], ["00005", "00006"]]  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "JPEGImages-trainval").iterdir()) == [f"0000{i}.jpg" for i in range(1, 5)]
    assert sorted(p.name for p in (tmp_path / "JPEGImages-test").iterdir()) == ["00005.jpg", "00006.jpg"]
    names = set()
    total = 0
    for k in range(1, 7):
        objects, size = read_dior_xml(tmp_path / f"Annotations/Oriented Bounding Boxes/{k:05d}.xml")
        assert size == (800, 800)
        for obj in objects:
            assert obj.poly.min() >= 0 and obj.poly.max() <= 800
        names |= {o.name for o in objects}
        total += len(objects)
    folder = "JPEGImages-test" if k > 4 else "JPEGImages-trainval"
    with Image.open(tmp_path / folder / f"{k:05d}.jpg") as image:
        assert image.format == "JPEG" and image.size == (800, 800)
    assert names <= set(DIOR_R_CLASSES) and len(names) >= 5
    assert total == sum(counts[f"{s}_objects"] for s in ("train", "val", "test"))
    assert set(synthetic.DIOR_STYLES) <= set(DIOR_R_CLASSES) and len(synthetic.DIOR_STYLES) >= 6


def test_potsdam_layout_palette_boundaries_and_class_colours(tmp_path):
    synthetic.write_potsdam_like(tmp_path, {"train": ["2_10", "2_11"], "test": ["2_13"]}, tile_size=700, seed=0)
    for tile in ("2_10", "2_11", "2_13"):
        assert (tmp_path / f"2_Ortho_RGB/top_potsdam_{tile}_RGB.tif").is_file()
    codes = {r * 65536 + g * 256 + b for r, g, b in PALETTE}  # colours as integers: faster to compare
    means = defaultdict(list)
    for tile in ("2_10", "2_11", "2_13"):
        image = tifffile.imread(tmp_path / f"2_Ortho_RGB/top_potsdam_{tile}_RGB.tif")
        label = tifffile.imread(tmp_path / f"5_Labels_all/top_potsdam_{tile}_label.tif")
        eroded = tifffile.imread(tmp_path / f"5_Labels_all_noBoundary/top_potsdam_{tile}_label_noBoundary.tif")
        assert image.shape == label.shape == eroded.shape == (700, 700, 3) and image.dtype == np.uint8
        label_code = label.astype(np.int32) @ np.array([65536, 256, 1])
        eroded_code = eroded.astype(np.int32) @ np.array([65536, 256, 1])
        present = set(np.unique(label_code).tolist())
        assert present <= codes and len(present) >= 5
        black = eroded_code == 0
        assert set(np.unique(eroded_code[~black]).tolist()) <= codes
        assert 0.03 < black.mean() < 0.3 and (eroded_code[~black] == label_code[~black]).all()
        for code in present:  # class colours over the non-boundary pixels
            inside = eroded_code == code
            if inside.sum() > 200:
                means[code].append(image[inside].mean(axis=0))
    assert len(means) >= 5
    centres = {c: np.mean(v, axis=0) for c, v in means.items()}
    gaps = [np.abs(centres[a] - centres[b]).max() for i, a in enumerate(centres) for b in list(centres)[i + 1 :]]
    assert min(gaps) > 20  # every pair of classes differs clearly in mean colour


def test_loveda_layout_and_masks(tmp_path):
    counts = synthetic.write_loveda_like(tmp_path, {"Train": 2, "Val": 1, "Test": 1}, image_size=256, seed=0)
    assert counts == {f"{s}/{d}": n for s, n in (("Train", 2), ("Val", 1), ("Test", 1)) for d in ("Urban", "Rural")}
    names = [p.name for p in tmp_path.rglob("images_png/*.png")]
    assert sorted(names, key=lambda n: int(n[:-4])) == [f"{k}.png" for k in range(8)]  # unique across the set
    assert not (tmp_path / "Test/Urban/masks_png").exists() and not (tmp_path / "Test/Rural/masks_png").exists()
    values = set()
    for mask_path in tmp_path.rglob("masks_png/*.png"):
        image_path = mask_path.parent.parent / "images_png" / mask_path.name
        with Image.open(mask_path) as mask_image, Image.open(image_path) as image:
            assert mask_image.mode == "L" and image.mode == "RGB" and mask_image.size == image.size == (256, 256)
            mask, rgb = np.asarray(mask_image), np.asarray(image)
        assert mask.max() <= 7
        assert (rgb[mask == 0] == 0).all()  # no-data is black in the image
        values |= set(np.unique(mask).tolist())
    assert 0 in values and {1, 2, 3, 6, 7} <= values


def test_millionaid_layout(tmp_path):
    synthetic.write_millionaid_like(tmp_path, 9, seed=0, size_range=(100, 180))
    images = sorted(tmp_path.rglob("*.jpg"))
    assert len(images) == 9
    nested = [p.relative_to(tmp_path).parts for p in images if p.parts[-2] != "test"]
    assert nested and all(len(parts) == 5 and parts[0] == "train" for parts in nested)
    assert len(list((tmp_path / "test").glob("*.jpg"))) == 6
    sizes = set()
    for path in images:
        with Image.open(path) as image:
            assert image.format == "JPEG" and 100 <= min(image.size) <= max(image.size) <= 180
            sizes.add(image.size)
    assert len(sizes) > 3


def features(image):
    x = image.astype(np.float32)
    grad = np.abs(np.diff(x, axis=0)).mean() + np.abs(np.diff(x, axis=1)).mean()
    return np.concatenate([x.mean(axis=(0, 1)), x.std(axis=(0, 1)), [grad]])


def nearest_centroid_loo(x, y):
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    correct = 0
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        centroids = np.stack([x[keep & (y == c)].mean(0) for c in np.unique(y)])
        correct += int(np.argmin(np.linalg.norm(centroids - x[i], axis=1)) == y[i])
    return correct / len(x)


@pytest.mark.parametrize(
    ("top", "classes", "size", "ext"),
    [
        ("2750", ["AnnualCrop", "Forest", "River", "Residential", "Highway"], 64, ".jpg"),
        ("UCMerced_LandUse/Images", ["agricultural", "denseresidential", "harbor", "parkinglot", "forest"], 96, "tif"),
    ],
)
def test_scene_classes_layout_and_learnability(tmp_path, top, classes, size, ext):
    n = 20 if size <= 64 else 10
    counts = synthetic.write_class_folders_like(tmp_path, top, classes, n_per_class=n, image_size=size, ext=ext, seed=0)
    assert counts == {"classes": len(classes), "images": len(classes) * n}
    suffix = ext if ext.startswith(".") else f".{ext}"
    x, y = [], []
    for label, name in enumerate(classes):
        files = sorted((tmp_path / top / name).iterdir())
        assert {p.name for p in files} == {f"{name}_{k}{suffix}" for k in range(1, n + 1)}
        for path in files:
            with Image.open(path) as image:
                assert image.size == (size, size) and image.format == ("JPEG" if suffix == ".jpg" else "TIFF")
                x.append(features(np.asarray(image.convert("RGB"))))
            y.append(label)
    assert nearest_centroid_loo(np.array(x), np.array(y)) >= 0.9


def test_unknown_class_names_get_distinct_recipes(tmp_path):
    classes = ["snowberg", "sea_ice", "thing_a", "thing_b", "cloud"]
    synthetic.write_class_folders_like(tmp_path, "X", classes, n_per_class=12, image_size=48, seed=1)
    x, y = [], []
    for label, name in enumerate(classes):
        for path in sorted((tmp_path / "X" / name).iterdir()):
            x.append(features(np.asarray(Image.open(path).convert("RGB"))))
            y.append(label)
    assert nearest_centroid_loo(np.array(x), np.array(y)) >= 0.8
    assert synthetic.class_recipe("thing_a") == synthetic.class_recipe("thing_a")


class PlainUnpickler(pickle.Unpickler):
    """Refuses anything but builtins: the attributes must be plain Python types."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"{module}.{name} is not a plain type")


def read_sample(path):
    with h5py.File(path, "r") as handle:
        attrs = PlainUnpickler(io.BytesIO(ast.literal_eval(handle.attrs["pickle"]))).load()
        bands = {name: handle[name][()] for name in handle}
    return attrs, bands


def test_geobench_single_label_samples(tmp_path):
    from rsfm.data.registry import get_dataset

    bands = get_dataset("geobench_m_eurosat").bands
    classes = ["AnnualCrop", "Forest", "Industrial", "SeaLake"]
    counts = synthetic.write_geobench_like(tmp_path, "m-eurosat", classes, {"train": 12, "valid": 4, "test": 4},
                                           bands, image_size=32, seed=0)  # fmt: skip
    assert counts == {"train": 12, "valid": 4, "test": 4}
    partition = json.loads((tmp_path / "m-eurosat/default_partition.json").read_text())
    assert {k: len(v) for k, v in partition.items()} == counts
    names = [n for v in partition.values() for n in v]
    assert sorted(p.stem for p in (tmp_path / "m-eurosat").glob("*.hdf5")) == sorted(names)
    labels, ndvi, nir = [], defaultdict(list), defaultdict(list)
    for name in names:
        attrs, data = read_sample(tmp_path / "m-eurosat" / f"{name}.hdf5")
        assert attrs["bands_order"] == list(bands) and set(data) == set(bands)
        assert isinstance(attrs["label"], int) and 0 <= attrs["label"] < len(classes)
        assert attrs["04 - Red"]["band_info"]["name"] == "04 - Red" and attrs["04 - Red"]["band_info"]["wavelength"]
        assert all(a.dtype == np.uint16 and a.shape == (32, 32) for a in data.values())
        red, near = data["04 - Red"].astype(float), data["08 - NIR"].astype(float)
        ndvi[classes[attrs["label"]]].append(((near - red) / (near + red + 1)).mean())
        nir[classes[attrs["label"]]].append(near.mean())
        labels.append(attrs["label"])
    assert np.bincount(labels).tolist() == [5, 5, 5, 5]  # balanced
    assert min(ndvi["Forest"]) > max(ndvi["Industrial"]) and min(ndvi["Forest"]) > max(ndvi["SeaLake"])
    assert max(nir["SeaLake"]) < min(nir["AnnualCrop"])  # water is dark in the near infrared


def test_geobench_illumination_varies_brightness_within_a_class_and_nothing_else(tmp_path):
    """``illumination`` scales each sample's bands (so mean colour tells less about the class); the scenes and every
    other draw stay those of illumination 0, so the pixels of a sample differ by per-band factors only."""
    classes, bands = ["Forest", "Industrial"], ["04 - Red", "03 - Green", "02 - Blue", "08 - NIR"]
    split = {"train": 8, "valid": 1, "test": 1}
    for name, spread in (("plain", 0.0), ("lit", 0.3)):
        synthetic.write_geobench_like(tmp_path / name, "m-eurosat", classes, split, bands, 32, seed=4,
                                      illumination=spread)  # fmt: skip
    brightness: dict[str, list[list[float]]] = {"plain": [], "lit": []}
    for path in sorted((tmp_path / "plain/m-eurosat").glob("*.hdf5")):
        (plain_attrs, plain), (lit_attrs, lit) = read_sample(path), read_sample(tmp_path / "lit/m-eurosat" / path.name)
        assert plain_attrs["label"] == lit_attrs["label"]
        ratios = [lit[b].astype(float).mean() / plain[b].astype(float).mean() for b in bands]
        for band, ratio in zip(bands, ratios, strict=True):  # one factor per band, same scene and noise
            bright = plain[band] > 200
            np.testing.assert_allclose(lit[band][bright] / plain[band][bright].astype(float), ratio, rtol=0.02)
        brightness["lit"].append(ratios)
    factors = np.log(np.array(brightness["lit"]))
    assert 0.15 < factors.mean(axis=1).std() < 0.6  # exp(N(0, 0.3)) per sample, plus per-band N(0, 0.15)
    assert factors.std(axis=1).mean() > 0.05  # and the bands move apart


def test_geobench_multilabel_and_sar_samples(tmp_path):
    from rsfm.data.registry import BIGEARTHNET_43_CLASSES, get_dataset

    bands = (*get_dataset("geobench_m_so2sat").bands[:3], "04 - Red", "08 - NIR")
    splits = {"train": 8, "valid": 2, "test": 2}
    synthetic.write_geobench_like(
        tmp_path, "m-bigearthnet", BIGEARTHNET_43_CLASSES, splits, bands, image_size=40, multilabel=True, seed=0
    )
    water = [i for i, n in enumerate(BIGEARTHNET_43_CLASSES) if n in {"Water bodies", "Sea and ocean"}]
    for path in sorted((tmp_path / "m-bigearthnet").glob("*.hdf5")):
        attrs, data = read_sample(path)
        label = np.asarray(attrs["label"])
        assert isinstance(attrs["label"], list) and label.shape == (43,) and 1 <= label.sum() <= 4
        assert set(np.unique(label)) <= {0, 1}
        assert data["01 - VH.Real"].dtype == np.float32 and data["02 - VH.Imaginary"].dtype == np.float32
        assert data["04 - Red"].dtype == np.uint16 and data["04 - Red"].shape == (40, 40)
        assert attrs["01 - VH.Real"]["band_info"]["wavelength"] is None
        if label[water].any() and label.sum() == 1:  # a pure water patch is dark in the NIR
            assert data["08 - NIR"].mean() < 800


def test_potsdam_accepts_a_tile_list(tmp_path):
    counts = synthetic.write_potsdam_like(tmp_path, ["7_7"], tile_size=128, seed=0)
    assert counts == {"tiles": 1}
    assert sorted(p.name for p in tmp_path.rglob("*.tif")) == [
        "top_potsdam_7_7_RGB.tif", "top_potsdam_7_7_label.tif", "top_potsdam_7_7_label_noBoundary.tif"]  # fmt: skip


def test_styles_cover_the_detection_classes():
    assert set(synthetic.DOTA_SYNTHETIC_CLASSES) <= set(DOTA_V2_CLASSES) & set(synthetic.STYLES)
    assert len(synthetic.DOTA_SYNTHETIC_CLASSES) >= 6
    assert all(style in synthetic_objects.STYLE_INDEX for style in synthetic.STYLES)
