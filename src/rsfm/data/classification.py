"""Scene classification sets as the data stage prepares them: one index per split (path, label or labels) plus
``meta.json`` with the class names, and the reader of GEO-Bench's samples.

The kinds that write this layout are :mod:`rsfm.data.kinds.class_folders` (EuroSAT, UC Merced, AID, NWPU-RESISC45:
a seeded stratified split) and :mod:`rsfm.data.kinds.geobench` (GEO-Bench v1: its official partition). Paths in the
index are relative to ``meta.json``'s ``image_root`` (itself relative to the index folder), so the data folder can
move as a whole.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsfm.data import geobench_pickle
from rsfm.errors import DataError
from rsfm.io import atomic_write, write_csv


def write_index(tmp: Path, splits: dict[str, pd.DataFrame], meta: dict[str, Any]) -> None:
    """``<split>.csv`` per split, ``meta.json`` and per-class image ``counts.csv``, into the temporary ``tmp``."""
    for split, frame in splits.items():
        write_csv(frame, tmp / f"{split}.csv")
    with atomic_write(tmp / "meta.json") as handle:
        json.dump(meta, handle, indent=2)
    classes = meta["classes"]
    rows = []
    for split, frame in splits.items():
        rows.append({"split": split, "class": "*", "count": len(frame), "unit": "images"})
        if meta["multilabel"]:
            hits = np.zeros(len(classes), dtype=np.int64)
            for labels in frame["labels"]:
                hits[[int(v) for v in str(labels).split()]] += 1
        else:
            hits = np.bincount(frame["label"].to_numpy(), minlength=len(classes))
        rows += [
            {"split": split, "class": name, "count": int(n), "unit": "images"}
            for name, n in zip(classes, hits, strict=True)
        ]
    write_csv(pd.DataFrame(rows), tmp / "counts.csv")


# --- GEO-Bench -------------------------------------------------------------------------------------------------------


def read_geobench_attrs(handle: Any) -> dict[str, Any]:
    """The metadata of an open GEO-Bench sample (``attrs["pickle"]``), read without executing anything from it.

    The label and ``bands_order`` exist only in this pickle; see :mod:`rsfm.data.geobench_pickle` for what it accepts.
    """
    path = getattr(handle, "filename", "<GEO-Bench sample>")
    raw = handle.attrs.get("pickle")
    if raw is None:
        raise DataError(f"GEO-Bench sample {path} has no 'pickle' attribute: re-extract the task archive")
    raw = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    limit = 4 * geobench_pickle.MAX_PICKLE_BYTES + 3  # str(bytes) spells a byte in at most 4 characters
    if not isinstance(raw, str) or len(raw) > limit:
        size = f"{len(raw)} characters" if isinstance(raw, str) else type(raw).__name__
        raise DataError(
            f"GEO-Bench sample {path}: its 'pickle' attribute is {size}, not a bytes literal of at most {limit}: the "
            "file is damaged or not a GEO-Bench sample; delete it and re-extract the archive"
        )
    try:
        data = ast.literal_eval(raw) if raw[:2] in ("b'", 'b"') else None
        if not isinstance(data, bytes):
            raise ValueError("the 'pickle' attribute is not a bytes literal")
        attrs = geobench_pickle.loads(data)
    except geobench_pickle.UnsafePickle as error:
        raise DataError(
            f"GEO-Bench sample {path}: refusing to unpickle {error}: GEO-Bench never writes it, so this file was not "
            "written by GEO-Bench and may be malicious. Delete it and re-extract the official archive."
        ) from None
    except Exception as error:  # a damaged pickle can fail in many ways; none of them ran code from it
        raise DataError(f"cannot read the metadata of GEO-Bench sample {path} ({type(error).__name__}: {error}): "
                        "the file is damaged; re-extract the task archive") from error  # fmt: skip
    if not isinstance(attrs, dict):
        raise DataError(f"GEO-Bench sample {path}: its metadata is a {type(attrs).__name__}, not a dict: re-extract "
                        "the task archive")  # fmt: skip
    return attrs


def read_geobench_sample(path: str | Path, bands: Sequence[str] | None = None) -> tuple[np.ndarray, list[str], Any]:
    """Read one GEO-Bench sample: (array C x H x W float32, band names, label).

    Bands keep the file's ``bands_order`` unless ``bands`` selects (and orders) a subset by name.
    """
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            attrs = read_geobench_attrs(handle)
            names = [n for n in attrs.get("bands_order", list(handle.keys())) if not n.startswith("label")]
            wanted = list(bands) if bands is not None else names
            missing = [n for n in wanted if n not in handle]
            if missing:
                raise DataError(f"{path}: bands {missing} not in the sample (it has {names})")
            array = np.stack([np.asarray(handle[n], dtype=np.float32) for n in wanted])
            label = attrs.get("label")
            if label is None and "label" in handle:
                label = np.asarray(handle["label"])
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"cannot read GEO-Bench sample {path} ({error}): re-extract the task archive") from error
    return array, wanted, label
