import zipfile

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml

from rsfm.config import validate_config
from rsfm.data import pipeline, synthetic
from rsfm.data.kinds import potsdam
from rsfm.data.registry import POTSDAM_IMAGERY, POTSDAM_LABELS, release_settings
from rsfm.errors import ConfigError, DataError
from rsfm.io import read_image

from .conftest import REPO


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
    assert crops["train"] == 9 and crops["test"] == 1  # the scored split: the tile whole, each pixel once
    assert pd.read_csv(out / "index.csv").shape[0] == 10
    assert np.array_equal(read_image(out / "img_dir" / "test" / "2_13.png"), image[:600, :700])
    assert np.array_equal(read_image(out / "ann_dir" / "test" / "2_13.png"), index[:600, :700])
    pixels = counts[(counts["unit"] == "pixels") & (counts["split"] == "test")].set_index("class")["count"]
    assert pixels.sum() == 600 * 700 and pixels["ignore"] == (index[:600, :700] == 255).sum()


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


# --- the release's products: RGB, IRRG, RGBIR ----------------------------------------------------------------------


def _rgbir_tile(rng, height, width):
    return rng.integers(0, 256, size=(height, width, 4), dtype=np.uint8)


def _write_rgbir(path, image):
    # as GDAL writes a 4-band ortho: RGB with the IR as an unspecified extra sample (PIL alone reads only R, G, B)
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, image, photometric="rgb", extrasamples=["unspecified"])


def _config(potsdam_cfg):
    config = {"data": {"root": "data", "datasets": {"potsdam": {"source": "official", **potsdam_cfg}}}}
    return validate_config(config, REPO / "workflow/schemas/config.schema.yaml")["data"]["datasets"]["potsdam"]


@pytest.mark.parametrize("bands", [None, ["IR", "R", "G"]], ids=["default-RGB", "IRRG-order"])
def test_rgbir_release_by_the_official_route(tmp_path, rng, bands):
    """4_Ortho_RGBIR.zip and 5_Labels_all_noBoundary.zip, as the ISPRS link gives them, through download, verify,
    extract, convert and tile: 3-channel PNG crops of the configured bands."""
    release = tmp_path / "release"
    images = {tile_id: _rgbir_tile(rng, 300, 320) for tile_id in ("2_10", "2_13")}
    labels = {tile_id: _label_raster(rng, 300, 320) for tile_id in images}
    for tile_id, image in images.items():
        _write_rgbir(release / "4_Ortho_RGBIR" / f"top_potsdam_{tile_id}_RGBIR.tif", image)
        tifffile.imwrite(release / f"top_potsdam_{tile_id}_label_noBoundary.tif", labels[tile_id][1])
    archives = tmp_path / "data/raw/potsdam/archives"
    archives.mkdir(parents=True)
    with zipfile.ZipFile(archives / "4_Ortho_RGBIR.zip", "w") as zf:  # a folder inside, as released
        for tile_id in images:
            zf.write(release / "4_Ortho_RGBIR" / f"top_potsdam_{tile_id}_RGBIR.tif",
                     f"4_Ortho_RGBIR/top_potsdam_{tile_id}_RGBIR.tif")  # fmt: skip
    with zipfile.ZipFile(archives / "5_Labels_all_noBoundary.zip", "w") as zf:  # flat, as released
        for tile_id in images:
            zf.write(
                release / f"top_potsdam_{tile_id}_label_noBoundary.tif", f"top_potsdam_{tile_id}_label_noBoundary.tif"
            )
    cfg = _config(
        {"imagery": "RGBIR", "splits": {"train": ["2_10"], "test": ["2_13"]}, "crop": {"size": 256, "stride": 256}}
        | ({"bands": bands} if bands else {})
    )
    settings = release_settings("potsdam", cfg)
    assert settings == {"imagery": "RGBIR", "labels": "eroded"}
    raw = tmp_path / "data/raw/potsdam"
    pipeline.download("potsdam", settings, archives, raw / "archives.json")
    pipeline.verify("potsdam", settings, archives, raw / "verified.json")
    pipeline.extract("potsdam", settings, archives, raw / "extracted")
    pipeline.convert("potsdam", cfg, raw / "extracted", tmp_path / "data/prepared/potsdam", workers=1)
    out = tmp_path / "data/tiles/potsdam"
    pipeline.tile("potsdam", cfg, tmp_path / "data/prepared/potsdam", out, workers=1)
    channels = [("R", "G", "B", "IR").index(band) for band in (bands or ["R", "G", "B"])]
    index = pd.read_csv(out / "index.csv")
    assert index.groupby("split").size().to_dict() == {"test": 1, "train": 4}  # the test tile whole
    for row in index.itertuples():
        crop = read_image(out / "img_dir" / row.split / row.name)
        extent = 256 if row.split == "train" else 320
        window = (slice(row.y, row.y + extent), slice(row.x, row.x + extent))
        assert crop.shape == ((256, 256, 3) if row.split == "train" else (300, 320, 3))
        assert np.array_equal(crop, images[row.tile][window][..., channels])
        assert np.array_equal(read_image(out / "ann_dir" / row.split / row.name), labels[row.tile][0][window])


def test_a_folder_of_other_products_names_the_setting_to_use(tmp_path, rng):
    _, label_rgb = _label_raster(rng, 64, 64)
    for tile_id in ("2_10", "2_11"):
        _write_rgbir(tmp_path / "4_Ortho_RGBIR" / f"top_potsdam_{tile_id}_RGBIR.tif", _rgbir_tile(rng, 64, 64))
        tifffile.imwrite(tmp_path / f"top_potsdam_{tile_id}_label.tif", label_rgb)
    splits = {"train": ["2_10", "2_11"]}
    with pytest.raises(DataError) as info:
        potsdam.find_tiles(tmp_path, splits)  # the defaults: imagery RGB, labels eroded
    message = str(info.value)
    assert "top_potsdam_2_10_RGB.tif, top_potsdam_2_10_label_noBoundary.tif" in message
    assert "extract 2_Ortho_RGB.zip for imagery: RGB and 5_Labels_all_noBoundary.zip for labels: eroded" in message
    assert "the RGBIR tiles of 4_Ortho_RGBIR.zip are there: to use them set data.datasets.potsdam.imagery: RGBIR" in (
        message
    )
    assert "to use them set data.datasets.potsdam.labels: full" in message
    tiles = potsdam.find_tiles(tmp_path, splits, labels="full", imagery="RGBIR")
    assert [(t.tile_id, t.imagery, t.image.name) for t in tiles] == [
        ("2_10", "RGBIR", "top_potsdam_2_10_RGBIR.tif"),
        ("2_11", "RGBIR", "top_potsdam_2_11_RGBIR.tif"),
    ]


def test_bands_the_imagery_lacks_fail_before_anything_is_written(tmp_path):
    assert potsdam.band_positions("RGBIR", ["IR", "R", "G"]) == (3, 0, 1)
    assert potsdam.band_positions("IRRG", ["IR", "R", "G"]) == (0, 1, 2)
    with pytest.raises(ConfigError) as info:
        potsdam.band_positions("IRRG", ["R", "G", "B"])
    assert str(info.value) == (
        "config key 'data.datasets.potsdam.bands': B not in imagery IRRG (3_Ortho_IRRG.zip has IR, R, G); choose "
        "bands of it, or set imagery: RGB or imagery: RGBIR (it has R, G, B)"
    )
    with pytest.raises(ConfigError, match="IR not in imagery RGB"):  # named when the config is read
        _config({"imagery": "RGB", "bands": ["IR", "R", "G"], "splits": {"train": ["2_10"]}})
    cfg = {**_config({"imagery": "RGB", "splits": {"train": ["2_10"]}}), "bands": ["IR", "R", "G"]}
    (tmp_path / "extracted").mkdir()
    with pytest.raises(ConfigError, match="IR not in imagery RGB"):
        pipeline.convert("potsdam", cfg, tmp_path / "extracted", tmp_path / "prepared", workers=1)
    assert not (tmp_path / "prepared").exists()


def test_schema_offers_the_registrys_products_and_bands():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["$defs"]["potsdam"]
    assert schema["properties"]["imagery"]["enum"] == list(POTSDAM_IMAGERY)
    assert schema["properties"]["labels"]["enum"] == list(POTSDAM_LABELS)
    assert schema["properties"]["bands"]["items"]["enum"] == list(POTSDAM_IMAGERY["RGBIR"].bands)
    assert _config({"splits": {"train": ["2_10"]}}) == {
        "source": "official", "splits": {"train": ["2_10"]}, "imagery": "RGB", "bands": ["R", "G", "B"],
        "labels": "eroded", "clutter": "class",
    }  # fmt: skip


def test_synthetic_rgbir_tiles_add_an_infrared_band_to_the_same_rgb(tmp_path):
    synthetic.write_potsdam_like(tmp_path / "rgb", ["2_10"], tile_size=256, seed=1)
    synthetic.write_potsdam_like(tmp_path / "rgbir", ["2_10"], tile_size=256, seed=1, imagery="RGBIR")
    rgb = read_image(tmp_path / "rgb/2_Ortho_RGB/top_potsdam_2_10_RGB.tif")
    rgbir = read_image(tmp_path / "rgbir/4_Ortho_RGBIR/top_potsdam_2_10_RGBIR.tif")
    assert rgbir.shape == (256, 256, 4) and np.array_equal(rgbir[..., :3], rgb)
    index = potsdam.colour_to_index(read_image(tmp_path / "rgbir/5_Labels_all/top_potsdam_2_10_label.tif"))
    vegetation, impervious = np.isin(index, [2, 3]), index == 0
    assert rgbir[..., 3][vegetation].mean() > rgbir[..., 3][impervious].mean() + 30  # NIR: vegetation is bright
    assert not (tmp_path / "rgbir/2_Ortho_RGB").exists()
