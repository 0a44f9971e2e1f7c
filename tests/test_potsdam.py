import numpy as np
import pandas as pd
import pytest
import tifffile

from rsfm.data import potsdam
from rsfm.errors import DataError
from rsfm.io import read_image


def _label_raster(rng, height, width):
    index = rng.integers(0, 6, size=(height, width))
    rgb = np.array(potsdam.PALETTE, dtype=np.uint8)[index]
    return index.astype(np.uint8), rgb


def test_colour_to_index_maps_palette_boundary_and_clutter():
    colours = np.array([[*potsdam.PALETTE, (0, 0, 0)]], dtype=np.uint8)  # 1 x 7 x 3
    assert potsdam.colour_to_index(colours).tolist() == [[0, 1, 2, 3, 4, 5, 255]]
    assert potsdam.colour_to_index(colours, clutter="ignore").tolist() == [[0, 1, 2, 3, 4, 255, 255]]


def test_colour_to_index_tolerates_few_unknown_colours_but_not_many(rng):
    index, rgb = _label_raster(rng, 100, 100)
    rgb[0, :50] = (12, 34, 56)  # 0.5 % off-palette pixels -> ignored
    mapped = potsdam.colour_to_index(rgb)
    assert (mapped[0, :50] == 255).all() and (mapped[1:] == index[1:]).all()
    rgb[:5] = (12, 34, 56)  # 5 %: not a label raster
    with pytest.raises(DataError, match="outside the ISPRS palette"):
        potsdam.colour_to_index(rgb, source="top_potsdam_2_10_label.tif")


def _starts(length, size, stride):
    # Independent of the tiler: every multiple of stride whose crop fits, then one crop flush with the edge.
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


def _write_tile(root, tile_id, image, label_rgb, eroded=True):
    (root / "2_Ortho_RGB").mkdir(parents=True, exist_ok=True)
    (root / "5_Labels_all_noBoundary").mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(root / "2_Ortho_RGB" / f"top_potsdam_{tile_id}_RGB.tif", image)
    suffix = "label_noBoundary" if eroded else "label"
    tifffile.imwrite(root / "5_Labels_all_noBoundary" / f"top_potsdam_{tile_id}_{suffix}.tif", label_rgb)


def test_crops_really_overlap_and_match_the_source(tmp_path, rng):
    height, width, size, stride = 1000, 1200, 512, 384
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    index, label_rgb = _label_raster(rng, height, width)
    _write_tile(tmp_path / "raw", "2_10", image, label_rgb)
    _write_tile(tmp_path / "raw", "2_13", image[:600, :700], label_rgb[:600, :700])
    tiles = potsdam.find_tiles(tmp_path / "raw", {"train": ["2_10"], "test": ["2_13"]}, labels="eroded")
    out = tmp_path / "tiles"
    frame = potsdam.crop_dataset(tiles, out, size=size, stride=stride, workers=2)

    train = frame[frame["split"] == "train"]
    expected = {(x, y) for x in _starts(width, size, stride) for y in _starts(height, size, stride)}
    assert set(zip(train["x"], train["y"], strict=True)) == expected
    assert len(expected) == 9  # 3 x 3: the stride is honoured, crops overlap
    for row in train.itertuples():
        crop = read_image(out / "img_dir" / "train" / row.name)
        assert np.array_equal(crop, image[row.y : row.y + size, row.x : row.x + size])
        mask = read_image(out / "ann_dir" / "train" / row.name)
        assert np.array_equal(mask, index[row.y : row.y + size, row.x : row.x + size])
    counts = pd.read_csv(out / "counts.csv")
    crops = counts[(counts["unit"] == "crops")].set_index("split")["count"]
    assert crops["train"] == 9 and crops["test"] == 4
    assert pd.read_csv(out / "index.csv").shape[0] == 13


def test_missing_tile_is_named(tmp_path, rng):
    _, label_rgb = _label_raster(rng, 64, 64)
    _write_tile(tmp_path, "2_10", np.zeros((64, 64, 3), np.uint8), label_rgb)
    with pytest.raises(DataError, match=r"top_potsdam_7_7_RGB\.tif"):
        potsdam.find_tiles(tmp_path, {"train": ["2_10", "7_7"]})


def test_unreadable_label_leaves_no_output(tmp_path, rng):
    _, label_rgb = _label_raster(rng, 600, 600)
    _write_tile(tmp_path / "raw", "2_10", np.zeros((600, 600, 3), np.uint8), label_rgb)
    label_path = tmp_path / "raw/5_Labels_all_noBoundary/top_potsdam_2_10_label_noBoundary.tif"
    label_path.write_bytes(b"II*\x00garbage" * 10)
    tiles = potsdam.find_tiles(tmp_path / "raw", {"train": ["2_10"]})
    with pytest.raises(DataError, match=r"top_potsdam_2_10_label_noBoundary\.tif"):
        potsdam.crop_dataset(tiles, tmp_path / "tiles", size=256, stride=256, workers=1)
    assert not (tmp_path / "tiles").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tiles")]
