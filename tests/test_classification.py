import collections
import copyreg
import datetime
import io
import json
import pickle
import re
import sys
import types

import h5py
import numpy as np
import pandas as pd
import pytest

from rsfm.data import classification
from rsfm.data.kinds import class_folders, geobench
from rsfm.data.registry import EUROSAT_CLASSES
from rsfm.errors import DataError
from rsfm.io import write_image


def test_class_folders_stratified_split(tmp_path, rng):
    classes = ["Forest", "River", "Highway"]
    for name in classes:
        for k in range(10):
            write_image(tmp_path / "raw/2750" / name / f"{name}_{k}.jpg", rng.integers(0, 256, (16, 16, 3), np.uint8))
    fractions = {"train": 0.6, "val": 0.2, "test": 0.2}
    frames = class_folders.prepare_class_folders(
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
    again = class_folders.prepare_class_folders(tmp_path / "raw", tmp_path / "p2", fractions=fractions, seed=1)
    assert set(again["test"]["path"]) == set(frames["test"]["path"])


def _eurosat_rgb(root, rng, classes=EUROSAT_CLASSES, n=3):
    """EuroSAT.zip as extracted: 2750/<Class>/<Class>_<k>.jpg."""
    for name in classes:
        for k in range(1, n + 1):
            write_image(root / "2750" / name / f"{name}_{k}.jpg", rng.integers(0, 256, (8, 8, 3), np.uint8))


def test_class_order_is_the_registrys_not_the_folders_found(tmp_path, rng):
    _eurosat_rgb(tmp_path / "raw", rng)
    (tmp_path / "raw/2750/.ipynb_checkpoints").mkdir()  # no images: not a class, and must not shift the labels
    frames = class_folders.prepare_class_folders(
        tmp_path / "raw", tmp_path / "prepared", fractions={"train": 1.0}, known_classes=EUROSAT_CLASSES
    )
    train = frames["train"]
    assert (train["label_name"] == [EUROSAT_CLASSES[i] for i in train["label"]]).all()
    assert set(train.loc[train["label_name"] == "SeaLake", "label"]) == {9}
    assert json.loads((tmp_path / "prepared/meta.json").read_text())["classes"] == list(EUROSAT_CLASSES)


def test_partial_release_is_refused(tmp_path, rng):
    _eurosat_rgb(tmp_path / "raw", rng, classes=["River", "SeaLake"])
    (tmp_path / "raw/2750/Forest").mkdir()  # a folder without images is not a class found
    expected = (r"2750: class folders \['AnnualCrop', 'Forest', .*'Residential'\] are missing or hold no images "
                r"\(2 of the 10 classes found\).*re-extract the complete archive")  # fmt: skip
    with pytest.raises(DataError, match=expected):
        class_folders.prepare_class_folders(
            tmp_path / "raw", tmp_path / "prepared", fractions={"train": 1.0}, known_classes=EUROSAT_CLASSES
        )
    assert not (tmp_path / "prepared").exists()


def test_unknown_class_folders_are_named_with_the_closest_class(tmp_path, rng):
    _eurosat_rgb(tmp_path / "raw", rng, classes=[*EUROSAT_CLASSES[:-1], "Sea_Lake", "extra"])
    expected = (r"the folders 'Sea_Lake' \(did you mean 'SeaLake'\?\), 'extra' are not classes of this dataset, "
                r"whose classes are \['AnnualCrop'.*rename or remove them")  # fmt: skip
    with pytest.raises(DataError, match=expected):
        class_folders.prepare_class_folders(
            tmp_path / "raw", tmp_path / "prepared", fractions={"train": 1.0}, known_classes=EUROSAT_CLASSES
        )


def test_eurosat_all_bands_release_is_refused(tmp_path, rng):
    import tifffile

    top = tmp_path / "raw/ds/images/remote_sensing/otherDatasets/sentinel_2/tif"
    for name in EUROSAT_CLASSES:
        (top / name).mkdir(parents=True)
        for k in (1, 2):
            bands = rng.integers(0, 4000, (8, 8, 13), np.uint16)  # one page, 13 samples per pixel, as GDAL writes
            tifffile.imwrite(top / name / f"{name}_{k}.tif", bands, photometric="minisblack", planarconfig="contig")
    expected = (r"sentinel_2/tif is EuroSAT's 13-band release \(EuroSATallBands\.zip: .*AnnualCrop_1\.tif has 13 "
                r"bands\), but the eurosat dataset is the RGB release EuroSAT\.zip \(2750/<Class>/\*\.jpg\)\. Use "
                r"`source: official`.*set `path:` to the folder holding 2750/.*geobench_m_eurosat")  # fmt: skip
    with pytest.raises(DataError, match=expected):
        class_folders.prepare_class_folders(
            tmp_path / "raw", tmp_path / "prepared", fractions={"train": 1.0}, known_classes=EUROSAT_CLASSES
        )
    for name in ("a", "b"):  # any other multispectral class-folder set
        (tmp_path / "other" / name).mkdir(parents=True)
        tifffile.imwrite(tmp_path / "other" / name / "x.tif", np.zeros((4, 4, 8), np.uint16), planarconfig="contig")
    with pytest.raises(DataError, match=r"a/x\.tif has 8 bands, but class-folder datasets are read as RGB images"):
        class_folders.prepare_class_folders(tmp_path / "other", tmp_path / "p2", fractions={"train": 1.0})
    assert not (tmp_path / "prepared").exists() and not (tmp_path / "p2").exists()


def _geobench_module(name="geobench.dataset"):
    """A stand-in for geobench's dataset module (its class names and hierarchy, under one of the module names geobench
    has used): samples are pickled with its classes, then it is removed again."""
    module = types.ModuleType(name)

    class BandInfo:
        def __init__(self, name, alt_names=(), spatial_resolution=None):
            self.name, self.alt_names, self.spatial_resolution = name, alt_names, spatial_resolution

    class SpectralBand(BandInfo):
        def __init__(self, name=None, alt_names=(), spatial_resolution=None, wavelength=None):
            super().__init__(name, alt_names, spatial_resolution)
            self.wavelength = wavelength

    class Sentinel2(SpectralBand):
        pass

    for cls in (BandInfo, SpectralBand, Sentinel2):
        cls.__module__, cls.__qualname__ = name, cls.__name__
        setattr(module, cls.__name__, cls)
    return module


def _write_sample(path, bands, label, module, protocol=None, extra=None):
    """A sample as geobench's ``write_sample_hdf5`` writes it: one dataset per band, all metadata in one pickle."""
    attrs = {"bands_order": list(bands), "label": label}
    with h5py.File(path, "w") as handle:
        for name, data in bands.items():
            handle.create_dataset(name, data=data)
            attrs[name] = {"band_info": module.Sentinel2(name, spatial_resolution=10.0), "spatial_resolution": 10.0,
                           **(extra or {})}  # fmt: skip
        handle.attrs["pickle"] = str(pickle.dumps(attrs, protocol=protocol))


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

    frames = geobench.prepare_geobench(tmp_path / "raw", tmp_path / "prepared", classes=classes, multilabel=multilabel)
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
        geobench.prepare_geobench(tmp_path / "raw", tmp_path / "prepared", classes=["a", "b"])
    assert not (tmp_path / "prepared").exists()


# --- GEO-Bench metadata from untrusted files -------------------------------------------------------------------------


class _Affine(collections.namedtuple("Affine", "a b c d e f g h i")):
    """Pickles like affine.Affine (a namedtuple subclass: NEWOBJ with the nine coefficients)."""

    def __new__(cls, a, b, c, d, e, f, g=0.0, h=0.0, i=1.0):
        return super().__new__(cls, a, b, c, d, e, f, g, h, i)


class _CRS:
    """Pickles like rasterio.crs.CRS (state: its WKT)."""

    def __init__(self, wkt):
        self._wkt = wkt

    def __getstate__(self):
        return {"wkt": self._wkt}


_Affine.__module__, _Affine.__qualname__ = "affine", "Affine"
_CRS.__module__, _CRS.__qualname__ = "rasterio.crs", "CRS"


class _Plain:
    pass


@pytest.fixture
def geobench_modules(monkeypatch):
    """geobench (under all three package names), affine and rasterio.crs stand-ins, importable while pickling."""
    for cls in (_Affine, _CRS):
        module = types.ModuleType(cls.__module__)
        setattr(module, cls.__qualname__, cls)
        monkeypatch.setitem(sys.modules, cls.__module__, module)
    monkeypatch.setitem(sys.modules, "rasterio", types.ModuleType("rasterio"))
    modules = {}
    for name in ("geobench.dataset", "geobench.io.dataset", "ccb.io.dataset"):
        for parent in ("geobench", "geobench.io", "ccb", "ccb.io"):
            monkeypatch.setitem(sys.modules, parent, sys.modules.get(parent, types.ModuleType(parent)))
        modules[name] = _geobench_module(name)
        monkeypatch.setitem(sys.modules, name, modules[name])
    return modules


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("label_kind", ["int", "int64", "uint8 vector", "int64 vector", "list vector"])
def test_geobench_real_metadata_reads(tmp_path, rng, geobench_modules, protocol, label_kind):
    module = geobench_modules[{2: "ccb.io.dataset", 3: "geobench.io.dataset"}.get(protocol, "geobench.dataset")]
    task = tmp_path / "raw" / "m-task"
    task.mkdir(parents=True)
    classes, multilabel = ["a", "b", "c"], label_kind.endswith("vector")
    extra = {
        "date": datetime.date(2019, 7, 1), "date_id": 0, "transform": _Affine(10.0, 0.0, 3e5, 0.0, -10.0, 5e6),
        "crs": _CRS('GEOGCS["WGS 84"]'), "meta_info": {"mean": np.arange(3, dtype=np.float32), "n": np.int32(7)},
    }  # fmt: skip
    labels = {
        "int": lambda i: i % 3, "int64": lambda i: np.int64(i % 3),
        "uint8 vector": lambda i: (np.arange(3) == i % 3).astype(np.uint8),
        "int64 vector": lambda i: (np.arange(3) >= i % 3).astype(np.int64),
        "list vector": lambda i: [int(v) for v in np.arange(3) >= i % 3],
    }[label_kind]  # fmt: skip
    bands = {}
    for i in range(3):
        bands[i] = {b: rng.normal(size=(4, 5)).astype(np.float32) for b in ("04 - Red", "08 - NIR")}
        _write_sample(task / f"s{i}.hdf5", bands[i], labels(i), module, protocol=protocol, extra=extra)
    (task / "default_partition.json").write_text('{"train": ["s0", "s1"], "valid": [], "test": ["s2"]}')
    for name in [*geobench_modules, "affine", "rasterio.crs"]:
        sys.modules.pop(name)  # read as without geobench, affine or rasterio installed

    frames = geobench.prepare_geobench(tmp_path / "raw", tmp_path / "out", classes=classes, multilabel=multilabel)
    if multilabel:
        expected = [" ".join(map(str, np.flatnonzero(labels(i)))) for i in (0, 1)]
        assert frames["train"]["labels"].tolist() == expected
    else:
        assert frames["train"]["label"].tolist() == [0, 1] and frames["test"]["label_name"].tolist() == ["c"]
    with h5py.File(task / "s1.hdf5", "r") as handle:
        attrs = classification.read_geobench_attrs(handle)
    label = attrs["label"]
    assert type(label) is type(labels(1)) and np.array_equal(label, labels(1))
    assert getattr(label, "dtype", None) == getattr(labels(1), "dtype", None)
    band = attrs["08 - NIR"]
    assert band["band_info"].source == "geobench.Sentinel2" and band["band_info"].get("name") == "08 - NIR"
    assert band["date"] == datetime.date(2019, 7, 1) and band["transform"].args[:3] == (10.0, 0.0, 3e5)
    assert band["crs"].get("wkt") == 'GEOGCS["WGS 84"]'
    mean = band["meta_info"]["mean"]
    assert type(mean) is np.ndarray and mean.dtype == np.float32 and mean.tolist() == [0, 1, 2]
    assert band["meta_info"]["n"] == 7 and type(band["meta_info"]["n"]) is np.int32
    array, names, _ = classification.read_geobench_sample(task / "s1.hdf5")
    assert names == ["04 - Red", "08 - NIR"] and np.array_equal(array, np.stack(list(bands[1].values())))


def test_geobench_synthetic_task_reads(tmp_path):
    from rsfm.data.synthetic import write_geobench_like

    write_geobench_like(tmp_path / "raw", "m-task", ["a", "b"], {"train": 4, "valid": 2, "test": 2}, image_size=16)
    frames = geobench.prepare_geobench(tmp_path / "raw", tmp_path / "out", classes=["a", "b"])
    assert {k: len(v) for k, v in frames.items()} == {"train": 4, "val": 2, "test": 2}


def _text(value):
    """Pickle opcodes that push ``value`` (plain data only), to splice into hand-made pickles."""
    return pickle.dumps(value, protocol=3)[2:-1]


def _stack_global(module, name):
    return _text(module) + _text(name) + pickle.STACK_GLOBAL


def _global(module, name):
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _call(function, *args):
    return function + pickle.MARK + b"".join(_text(a) if not isinstance(a, _Ops) else a for a in args) + b"t" + b"R"


class _Ops(bytes):
    """Opcodes (not a value) in a _call argument list."""


def _proto(ops, protocol=4):
    return pickle.PROTO + bytes([protocol]) + ops + pickle.STOP


class _Exec:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return exec, (self.code,)


def _dtype_ops(code, state):
    return _Ops(_call(_global("numpy", "dtype"), code, False, True) + _text(state) + pickle.BUILD)


def _hostile(case, tmp_path, marker):
    """(pickle, the refused global or value the error must name) of each hostile case."""
    code = f"open({str(marker)!r}, 'w').close()"
    np_core = "numpy._core.multiarray"
    if case == "dotted-eval":
        # protocol 4 resolves dotted names: collections.__builtins__ is a dict, its .get reaches eval
        get = _stack_global("collections", "__builtins__.get")
        return _proto(_call(_Ops(_call(get, "eval")), code)), "collections.__builtins__.get"
    if case == "os.system":
        return _proto(_call(_global("os", "system"), f"touch '{marker}'"), 2), "os.system"
    if case == "builtins.eval":
        return _proto(_call(_stack_global("builtins", "eval"), code)), "builtins.eval"
    if case == "builtins.getattr":
        return _proto(_call(_global("builtins", "getattr"), 0, "real")), "builtins.getattr"
    if case == "subprocess.run":
        return _proto(_call(_global("subprocess", "run"), ["touch", str(marker)])), "subprocess.run"
    if case == "numpy.load":
        npy = tmp_path / "payload.npy"
        np.save(npy, np.array([_Exec(code)], dtype=object), allow_pickle=True)
        return _proto(_call(_global("numpy", "load"), str(npy), None, True)), "numpy.load"
    if case == "numpy.testing":
        return _proto(_call(_global("numpy.testing", "run_module_suite"))), "numpy.testing.run_module_suite"
    if case == "object-dtype scalar":
        scalar = _call(_global(np_core, "scalar"), _dtype_ops("O8", (3, "|", None, None, None, -1, -1, 63)),
                       pickle.dumps(_Exec(code)))  # fmt: skip
        return _proto(scalar), "O8"
    if case == "object-dtype array":
        return pickle.dumps({"label": np.array([1, "x"], dtype=object)}, protocol=4), "O8"
    if case == "structured dtype":
        return pickle.dumps({"label": np.zeros(2, dtype=[("a", "f4")])}, protocol=4), "V4"
    if case == "MaskedArray":
        return pickle.dumps({"label": np.ma.MaskedArray([1, 2])}, protocol=4), "numpy.ma.core._mareconstruct"
    if case == "recarray":
        return pickle.dumps({"label": np.rec.array([(1,)], dtype=[("a", "i8")])}, protocol=4), "numpy.rec.recarray"
    if case == "ndarray subclass":  # _reconstruct of a class that is allowed elsewhere
        subclass = _Ops(_global("geobench.dataset", "Sentinel2"))
        reconstruct = _call(_global(np_core, "_reconstruct"), subclass, (0,), b"b")
        return _proto(reconstruct), "_reconstruct of <class"
    if case == "BUILD on a builder":  # would write into the function's attributes
        return _proto(_global("numpy", "dtype") + _text({"__call__": 1}) + pickle.BUILD), "a BUILD on numpy.dtype"
    if case == "copyreg._reconstructor":
        return _proto(_call(_global("copyreg", "_reconstructor"), _Ops(_global("os", "system")))), "copyreg"
    if case == "copy_reg protocol 0":
        return pickle.dumps({"x": _Plain()}, protocol=0), "copy_reg._reconstructor"
    if case == "_codecs smuggling":  # a second-stage pickle spelled as latin1 text, handed to pickle.loads
        loads = _stack_global("numpy.lib._npyio_impl", "pickle.loads")
        second = _Ops(_call(_global("_codecs", "encode"), pickle.dumps(_Exec(code)).decode("latin1"), "latin1"))
        return _proto(_call(loads, second)), "numpy.lib._npyio_impl.pickle.loads"
    if case == "_codecs other codec":
        return _proto(_call(_global("_codecs", "encode"), "cHJpbnQ=", "base64")), "base64"
    if case == "imported into geobench":  # geobench.dataset imports Path: not one of its classes
        return _proto(_call(_global("geobench.dataset", "Path"), str(marker))), "geobench.dataset.Path"
    if case == "persistent id":
        return _proto(b"P" + f"{marker}\n".encode(), 0), "PERSID"
    if case == "binary persistent id":
        return _proto(_text(str(marker)) + pickle.BINPERSID), "BINPERSID"
    if case == "bytes bomb":
        return _proto(_call(_global("builtins", "bytes"), 10**12), 2), "bytes(1000000000000"
    raise AssertionError(case)


HOSTILE = [
    "dotted-eval", "os.system", "builtins.eval", "builtins.getattr", "subprocess.run", "numpy.load", "numpy.testing",
    "object-dtype scalar", "object-dtype array", "structured dtype", "MaskedArray", "recarray", "ndarray subclass",
    "BUILD on a builder", "copyreg._reconstructor", "copy_reg protocol 0", "_codecs smuggling", "_codecs other codec",
    "imported into geobench", "persistent id", "binary persistent id", "bytes bomb",
]  # fmt: skip


def _task_with(tmp_path, payload):
    task = tmp_path / "raw" / "m-task"
    task.mkdir(parents=True, exist_ok=True)
    with h5py.File(task / "evil.hdf5", "w") as handle:
        handle.create_dataset("04 - Red", data=np.zeros((2, 2), np.float32))
        handle.attrs["pickle"] = str(payload) if isinstance(payload, bytes) else payload
    (task / "default_partition.json").write_text('{"train": ["evil"], "valid": [], "test": []}')
    return task / "evil.hdf5"


@pytest.mark.parametrize("case", HOSTILE)
def test_geobench_hostile_pickle_is_refused(tmp_path, case):
    marker = tmp_path / "executed"
    payload, refused = _hostile(case, tmp_path, marker)
    sample = _task_with(tmp_path, payload)
    message = rf"evil\.hdf5: refusing to unpickle .*{re.escape(refused)}.*not written by GEO-Bench and may be malicious"
    with pytest.raises(DataError, match=message) as error:
        geobench.prepare_geobench(tmp_path / "raw", tmp_path / "out", classes=["a", "b"])
    assert "re-extract the official archive" in str(error.value)
    with pytest.raises(DataError, match=message):
        classification.read_geobench_sample(sample)
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("warm", [False, True])
def test_geobench_extension_codes_are_refused(tmp_path, warm):
    """EXT opcodes bypass find_class once copyreg's cache holds the code (any earlier unpickling fills it)."""
    marker = tmp_path / "executed"
    copyreg.add_extension("builtins", "exec", 0xF0)
    try:
        if warm:
            assert pickle.loads(_proto(pickle.EXT1 + b"\xf0", 2)) is exec
        payload = _proto(pickle.EXT1 + b"\xf0" + pickle.MARK + _text(f"open({str(marker)!r}, 'w').close()") + b"tR", 2)
        sample = _task_with(tmp_path, payload)
        with pytest.raises(DataError, match=r"evil\.hdf5: refusing to unpickle the EXT1 opcode.*may be malicious"):
            classification.read_geobench_sample(sample)
    finally:
        copyreg.remove_extension("builtins", "exec", 0xF0)
    assert not marker.exists()


def test_geobench_oversized_or_damaged_metadata(tmp_path):
    sample = _task_with(tmp_path, "b'" + "x" * (4 * 2**20 + 8) + "'")
    with pytest.raises(DataError, match=r"evil\.hdf5: its 'pickle' attribute is 4194315 characters"):
        classification.read_geobench_sample(sample)
    sample = _task_with(tmp_path, "__import__('os')")
    with pytest.raises(DataError, match=r"evil\.hdf5 .*not a bytes literal.*re-extract"):
        classification.read_geobench_sample(sample)
    sample = _task_with(tmp_path, pickle.dumps({"bands_order": ["04 - Red"], "label": 1})[:-3])
    with pytest.raises(DataError, match=r"metadata of GEO-Bench sample .*evil\.hdf5 .*damaged"):
        classification.read_geobench_sample(sample)


def test_geobench_unpickler_refuses_without_the_opcode_scan():
    """Behind the opcode scan, extension codes still go through find_class (CPython does, while the cache is cold)
    and persistent ids through persistent_load: both refuse."""
    from rsfm.data import geobench_pickle

    copyreg.add_extension("builtins", "exec", 0xF0)
    try:
        cases = ((_proto(pickle.EXT1 + b"\xf0", 2), "global builtins.exec"),
                 (_proto(_text("x") + pickle.BINPERSID), "persistent id 'x'"))  # fmt: skip
        for payload, refused in cases:
            with pytest.raises(geobench_pickle.UnsafePickle, match=refused):
                geobench_pickle._Unpickler(io.BytesIO(payload)).load()
    finally:
        copyreg.remove_extension("builtins", "exec", 0xF0)
