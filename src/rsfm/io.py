"""Atomic file and directory writes, and image I/O with clear errors.

Outputs are written under a temporary sibling name and renamed into place only when complete, so an interrupted job
never leaves a half-written output that a rerun (or Snakemake) would mistake for a finished one.

The temporary names are created with the modes of a normal write (0666 for files, 0777 for folders, which the kernel
reduces by the umask and any default ACL), not tempfile's private 0600/0700: the rename keeps the mode, and prepared
data on a group's shared filesystem must be readable by the group as any other file written there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from rsfm.errors import DataError


def _unique_sibling(parent: Path, prefix: str, create: Callable[[Path], None]) -> Path:
    """Create ``parent/<prefix><random>`` with ``create`` (which must fail with FileExistsError on a clash)."""
    for _ in range(100):
        candidate = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            create(candidate)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"could not create a temporary name {prefix}* in {parent}: 100 names were taken")


def _new_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the mode a plain open() gives


def _new_dir(path: Path) -> None:
    os.mkdir(path, 0o777)  # the mode a plain mkdir gives


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; rename it to ``path`` when the block succeeds.

    On an exception the temporary directory is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _unique_sibling(path.parent, f".{path.name}.tmp-", _new_dir)
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
        old = _unique_sibling(path.parent, f".{path.name}.old-", _new_dir)
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
    tmp = _unique_sibling(path.parent, f".{path.name}.tmp-", _new_file)
    try:
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_csv(frame: Any, path: str | os.PathLike[str]) -> None:
    """A pandas table as CSV (no index), in one step: no half-written table."""
    with atomic_write(path) as handle:
        frame.to_csv(handle, index=False)


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link when source and target share a filesystem (no extra space, instant), otherwise copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def read_image(path: str | os.PathLike[str], *, mode: str | None = None) -> np.ndarray:
    """Read an image (PNG, JPEG, TIFF, ...) into a numpy array (H, W[, C]).

    Raises DataError naming the file when it is missing, truncated or not an image. ``mode`` converts with PIL
    (e.g. ``"RGB"``); TIFFs that PIL cannot decode, or whose extra bands (NIR) it would drop, are read with tifffile.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"image {path} does not exist: check the dataset layout or rerun its preparation step")
    Image.MAX_IMAGE_PIXELS = None  # RS scenes (DOTA, Potsdam) are legitimately huge
    try:
        with Image.open(path) as image:
            # PIL reads a TIFF with an "unspecified" extra sample (an RGB+NIR tile as GDAL writes it) as RGB alone
            dropped = image.format == "TIFF" and image.tag_v2.get(277, 1) > len(image.getbands())
            if mode is None and dropped:
                return _read_all_samples(path)
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


def _read_all_samples(path: Path) -> np.ndarray:
    import tifffile

    try:
        return tifffile.imread(path)
    except Exception as error:
        raise DataError(
            f"cannot read all bands of {path} ({error}); if it names a compression, install the `imagecodecs` "
            "package into the environment, else the file is truncated: re-extract or re-download the dataset"
        ) from error


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
