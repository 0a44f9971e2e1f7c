"""Atomic file and directory writes, and image I/O with clear errors.

Outputs are written under a temporary sibling name and renamed into place only when complete, so an interrupted job
never leaves a half-written output that a rerun (or Snakemake) would mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from rsfm.errors import DataError


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; rename it to ``path`` when the block succeeds.

    On an exception the temporary directory is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(f"{path} already exists")
        # Move the old output aside first so the swap is a rename, then drop it.
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.replace(path, old / path.name)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` for writing; rename it to ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_image(path: str | os.PathLike[str], *, mode: str | None = None) -> np.ndarray:
    """Read an image (PNG, JPEG, TIFF, ...) into a numpy array (H, W[, C]).

    Raises DataError naming the file when it is missing, truncated or not an image. ``mode`` converts with PIL
    (e.g. ``"RGB"``); TIFFs that PIL cannot decode are read with tifffile.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"image {path} does not exist: check the dataset layout or rerun its preparation step")
    Image.MAX_IMAGE_PIXELS = None  # RS scenes (DOTA, Potsdam) are legitimately huge
    try:
        with Image.open(path) as image:
            if mode is not None and image.mode != mode:
                image = image.convert(mode)
            return np.asarray(image).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as pil_error:
        if path.suffix.lower() in {".tif", ".tiff"}:
            try:
                import tifffile

                return tifffile.imread(path)
            except Exception:  # fall through to the common message
                pass
        raise DataError(
            f"cannot read image {path} ({pil_error}): the file is truncated or not an image; "
            f"delete it and re-extract or re-download the dataset"
        ) from pil_error


def write_image(path: str | os.PathLike[str], array: np.ndarray, *, atomic: bool = True, **save_kwargs: Any) -> None:
    """Write an image; the format follows the suffix (PNG, JPEG, TIFF).

    ``atomic=False`` skips the temp-file-and-fsync dance for files written inside an :func:`atomic_dir`, whose rename
    already makes the whole output appear at once (per-file fsync would dominate tiling time on network filesystems).
    """
    from PIL import Image

    path = Path(path)
    suffix = path.suffix.lower()
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}.get(suffix)
    if fmt is None:
        raise ValueError(f"unsupported image suffix {suffix!r} for {path}")
    if fmt == "PNG":
        # zlib level 1 writes ~4x faster than PIL's default 6 and, on textured aerial imagery, is about as small;
        # tiling writes hundreds of thousands of PNGs, so this dominates its cost.
        save_kwargs.setdefault("compress_level", 1)
    image = Image.fromarray(np.ascontiguousarray(array))
    if atomic:
        with atomic_write(path, "wb") as handle:
            image.save(handle, format=fmt, **save_kwargs)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format=fmt, **save_kwargs)
