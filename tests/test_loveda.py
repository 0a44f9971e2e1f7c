import numpy as np
import pandas as pd
import pytest

from rsfm.data.kinds import loveda
from rsfm.errors import DataError
from rsfm.io import write_image


def _build(root, rng, size=32, bad_mask=False):
    number = 0
    for release_split in ("Train", "Val", "Test"):
        for domain in loveda.DOMAINS:
            for _ in range(2):
                name = f"{number}.png"
                number += 1
                write_image(
                    root / release_split / domain / "images_png" / name, rng.integers(0, 256, (size, size, 3), np.uint8)
                )
                if release_split != "Test":
                    mask = rng.integers(0, 8, (size, size), np.uint8)
                    if bad_mask and number == 1:
                        mask[0, 0] = 9
                    write_image(root / release_split / domain / "masks_png" / name, mask)


def test_prepare_builds_mmseg_layout_and_counts(tmp_path, rng):
    _build(tmp_path / "raw", rng)
    index = loveda.prepare(tmp_path / "raw", tmp_path / "prepared", workers=2)
    assert index.groupby("split").size().to_dict() == {"test": 4, "train": 4, "val": 4}
    assert len(list((tmp_path / "prepared/img_dir/train").glob("*.png"))) == 4
    assert len(list((tmp_path / "prepared/ann_dir/val").glob("*.png"))) == 4
    assert not (tmp_path / "prepared/ann_dir/test").exists()
    counts = pd.read_csv(tmp_path / "prepared/counts.csv")
    pixels = counts[(counts["unit"] == "pixels") & (counts["split"] == "train")]["count"].sum()
    assert pixels == 4 * 32 * 32


def test_mask_out_of_range_fails_cleanly(tmp_path, rng):
    _build(tmp_path / "raw", rng, bad_mask=True)
    with pytest.raises(DataError, match=r"outside 0\.\.7"):
        loveda.prepare(tmp_path / "raw", tmp_path / "prepared", workers=1)
    assert not (tmp_path / "prepared").exists()


def test_incomplete_layout_is_reported(tmp_path, rng):
    _build(tmp_path / "raw", rng)
    for mask in (tmp_path / "raw/Val/Rural/masks_png").iterdir():
        mask.unlink()
    with pytest.raises(DataError, match="Val/Rural/masks_png"):
        loveda.find_pairs(tmp_path / "raw")
