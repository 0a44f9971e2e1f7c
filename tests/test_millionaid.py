import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rsfm.data import millionaid
from rsfm.errors import DataError
from rsfm.io import write_image


def _build(root, rng, n=10):
    paths = []
    for k in range(n):
        folder = root / "test" if k % 2 else root / "train" / "agriculture" / "arable" / "dry_field"
        side = int(rng.integers(40, 120))
        path = folder / f"{k}.jpg"
        write_image(path, rng.integers(0, 256, (side, side + 7, 3), np.uint8), quality=90)
        paths.append(path)
    return paths


def test_shards_index_random_access_and_streaming(tmp_path, rng):
    sources = _build(tmp_path / "raw", rng)
    index = millionaid.write_shards(tmp_path / "raw", tmp_path / "shards", images_per_shard=4, seed=3, workers=2)
    assert sorted((tmp_path / "shards").glob("shard-*.tar")) and len(index) == 10
    assert index["shard"].nunique() == 3  # 4 + 4 + 2
    on_disk = pd.read_csv(tmp_path / "shards/index.csv", dtype={"key": str})
    for row in on_disk.itertuples():
        payload = millionaid.read_member(tmp_path / "shards", row.shard, row.offset, row.size)
        assert payload == (tmp_path / "raw" / row.source).read_bytes()  # JPEGs under max_side are kept byte-exact
    streamed = {key for shard in sorted((tmp_path / "shards").glob("*.tar")) for key, _ in millionaid.iter_shard(shard)}
    assert streamed == set(on_disk["key"])
    # the seed fixes the order; every source appears exactly once
    again = millionaid.write_shards(tmp_path / "raw", tmp_path / "shards2", images_per_shard=4, seed=3, workers=1)
    assert list(again["source"]) == list(index["source"])
    assert sorted(index["source"]) == sorted(str(p.relative_to(tmp_path / "raw")) for p in sources)


def test_max_side_downscales(tmp_path, rng):
    _build(tmp_path / "raw", rng, n=3)
    index = millionaid.write_shards(tmp_path / "raw", tmp_path / "shards", max_side=32, workers=1)
    for row in index.itertuples():
        payload = millionaid.read_member(tmp_path / "shards", row.shard, row.offset, row.size)
        width, height = Image.open(io.BytesIO(payload)).size
        assert max(width, height) == 32 and (width, height) == (row.width, row.height)


def test_corrupt_image_fails_with_name_or_is_skipped(tmp_path, rng):
    sources = _build(tmp_path / "raw", rng, n=4)
    sources[1].write_bytes(sources[1].read_bytes()[:200])  # truncated JPEG
    with pytest.raises(DataError, match=sources[1].name):
        millionaid.write_shards(tmp_path / "raw", tmp_path / "shards", workers=2)
    assert not (tmp_path / "shards").exists()
    index = millionaid.write_shards(tmp_path / "raw", tmp_path / "shards", on_unreadable="skip", workers=2)
    assert len(index) == 3
    skipped = pd.read_csv(tmp_path / "shards/skipped.csv")
    assert skipped["source"].str.endswith(sources[1].name).all()
