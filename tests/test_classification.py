import pickle
import sys
import types

import h5py
import numpy as np
import pandas as pd
import pytest

from rsfm.data import classification
from rsfm.errors import DataError
from rsfm.io import write_image


def test_class_folders_stratified_split(tmp_path, rng):
    classes = ["Forest", "River", "Highway"]
    for name in classes:
        for k in range(10):
            write_image(tmp_path / "raw/2750" / name / f"{name}_{k}.jpg", rng.integers(0, 256, (16, 16, 3), np.uint8))
    fractions = {"train": 0.6, "val": 0.2, "test": 0.2}
    frames = classification.prepare_class_folders(
        tmp_path / "raw",
        tmp_path / "prepared",
        fractions=fractions,
        seed=1,
        known_classes=["River", "Highway", "Forest"],
    )
    assert {split: len(f) for split, f in frames.items()} == {"train": 18, "val": 6, "test": 6}
    for frame in frames.values():
        assert frame["label"].value_counts().to_dict() == {0: len(frame) // 3, 1: len(frame) // 3, 2: len(frame) // 3}
    all_paths = pd.concat(frames.values())["path"]
    assert all_paths.is_unique and len(all_paths) == 30
    train = pd.read_csv(tmp_path / "prepared/train.csv")
    assert (train["label_name"] == train["path"].str.split("/").str[1]).all()
    assert train.loc[train["label"] == 0, "label_name"].eq("River").all()  # official order kept
    again = classification.prepare_class_folders(tmp_path / "raw", tmp_path / "p2", fractions=fractions, seed=1)
    assert set(again["test"]["path"]) == set(frames["test"]["path"])


def _geobench_module():
    """A stand-in for the geobench package: samples are pickled with its classes, then it is removed again."""
    module = types.ModuleType("geobench.dataset")

    class BandInfo:
        def __init__(self, name):
            self.name = name

    BandInfo.__module__ = "geobench.dataset"
    BandInfo.__qualname__ = "BandInfo"
    module.BandInfo = BandInfo
    return module


def _write_sample(path, bands, label, module):
    attrs = {"bands_order": list(bands), "label": label}
    with h5py.File(path, "w") as handle:
        for name, data in bands.items():
            handle.create_dataset(name, data=data)
            attrs[name] = {"band_info": module.BandInfo(name), "spatial_resolution": 10.0}
        handle.attrs["pickle"] = str(pickle.dumps(attrs))


@pytest.mark.parametrize("multilabel", [False, True])
def test_geobench_reader_without_geobench_installed(tmp_path, rng, multilabel):
    module = _geobench_module()
    sys.modules["geobench"] = types.ModuleType("geobench")
    sys.modules["geobench.dataset"] = module
    task = tmp_path / "raw" / "m-task"
    task.mkdir(parents=True)
    classes = ["a", "b", "c"]
    names = {"train": [f"s{i}" for i in range(4)], "valid": ["s4"], "test": ["s5", "s6"]}
    expected = {}
    try:
        for i in range(7):
            bands = {b: rng.normal(size=(8, 8)).astype(np.float32) for b in ("02 - Blue", "03 - Green", "04 - Red")}
            label = (np.arange(3) == i % 3).astype(int) | (np.arange(3) == 2) if multilabel else i % 3
            _write_sample(task / f"s{i}.hdf5", bands, label, module)
            expected[f"s{i}"] = (bands, label)
    finally:
        del sys.modules["geobench.dataset"], sys.modules["geobench"]
    (task / "default_partition.json").write_text(__import__("json").dumps(names))

    frames = classification.prepare_geobench(
        tmp_path / "raw", tmp_path / "prepared", classes=classes, multilabel=multilabel
    )
    assert {k: len(v) for k, v in frames.items()} == {"train": 4, "val": 1, "test": 2}
    row = frames["train"].iloc[1]
    if multilabel:
        assert row["labels"] == "1 2"
    else:
        assert row["label"] == 1 and row["label_name"] == "b"
    array, band_names, label = classification.read_geobench_sample(
        tmp_path / "raw" / row["path"], bands=["04 - Red", "02 - Blue"]
    )
    bands, _ = expected["s1"]
    assert band_names == ["04 - Red", "02 - Blue"]
    assert np.array_equal(array, np.stack([bands["04 - Red"], bands["02 - Blue"]]))
    with pytest.raises(DataError, match="bands"):
        classification.read_geobench_sample(tmp_path / "raw" / row["path"], bands=["08 - NIR"])


def test_geobench_missing_sample_is_named(tmp_path):
    task = tmp_path / "raw" / "m-task"
    task.mkdir(parents=True)
    (task / "default_partition.json").write_text('{"train": ["gone"], "valid": [], "test": []}')
    with pytest.raises(DataError, match=r"gone\.hdf5"):
        classification.prepare_geobench(tmp_path / "raw", tmp_path / "prepared", classes=["a", "b"])
    assert not (tmp_path / "prepared").exists()
