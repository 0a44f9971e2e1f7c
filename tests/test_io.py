import os
import stat

import numpy as np
import pytest
import tifffile

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


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request):
    """Run the test under this umask (restored afterwards): a cluster site's usual 022 and a group's shared 002."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_outputs_get_the_modes_of_a_normal_write(tmp_path, umask):
    file_mode, dir_mode = 0o666 & ~umask, 0o777 & ~umask
    with atomic_write(tmp_path / "table.csv") as handle:
        handle.write("a,b\n")
    assert _mode(tmp_path / "table.csv") == file_mode
    for _ in range(2):  # a first output, then one replacing it
        with atomic_dir(tmp_path / "tiles") as tmp:
            (tmp / "train" / "deep").mkdir(parents=True)
            (tmp / "train" / "deep" / "crop.png").write_bytes(b"png")
            with atomic_write(tmp / "train" / "index.csv") as handle:
                handle.write("name\n")
            write_image(tmp / "train" / "atomic.png", np.zeros((4, 4, 3), np.uint8))
    out = tmp_path / "tiles"
    assert {p.relative_to(out).as_posix(): oct(_mode(p)) for p in [out, *out.rglob("*")]} == {
        ".": oct(dir_mode),
        "train": oct(dir_mode),
        "train/deep": oct(dir_mode),
        "train/deep/crop.png": oct(file_mode),
        "train/index.csv": oct(file_mode),
        "train/atomic.png": oct(file_mode),
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv", "tiles"]  # no temporary names left


def test_read_image_keeps_the_extra_bands_pil_would_drop(tmp_path, rng):
    # A 4-band ortho as GDAL writes it (RGB + an unspecified extra sample): PIL alone reads three bands.
    image = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgbir.tif", image, photometric="rgb", extrasamples=["unspecified"])
    assert np.array_equal(read_image(tmp_path / "rgbir.tif"), image)
    assert read_image(tmp_path / "rgbir.tif", mode="RGB").shape == (20, 30, 3)
    tifffile.imwrite(tmp_path / "rgba.tif", image, photometric="rgb")  # an alpha band PIL reads as RGBA
    assert np.array_equal(read_image(tmp_path / "rgba.tif"), image)
