import numpy as np
import pytest

from rsfm.errors import DataError
from rsfm.io import atomic_dir, atomic_write, read_image, write_image


def test_atomic_dir_appears_only_on_success(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(target) as tmp:
        (tmp / "done.txt").write_text("done")
    assert (target / "done.txt").read_text() == "done"
    with atomic_dir(target) as tmp:  # replacing a previous output swaps it whole
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(ValueError), atomic_write(target) as handle:
        handle.write("new")
        raise ValueError
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_image_round_trip_and_unreadable_image(tmp_path, suffix):
    image = np.full((12, 10, 3), 200, np.uint8)
    write_image(tmp_path / f"a{suffix}", image)
    assert read_image(tmp_path / f"a{suffix}").shape == (12, 10, 3)
    (tmp_path / f"bad{suffix}").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match=rf"bad\{suffix}.*truncated or not an image"):
        read_image(tmp_path / f"bad{suffix}")
    with pytest.raises(DataError, match="does not exist"):
        read_image(tmp_path / f"missing{suffix}")
