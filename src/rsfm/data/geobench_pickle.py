"""A reader of GEO-Bench v1 sample metadata (``attrs["pickle"]``) that cannot execute code, by construction.

GEO-Bench keeps each sample's label and band order only in a pickle (h5py sorts the band datasets by name), so the
pickle has to be read. Here every global a pickle names resolves through one exact (module, name) table to objects of
this module: inert stand-ins for geobench's classes and for affine.Affine / rasterio's CRS, validating builders for
numpy arrays, scalars and dtypes (plain numeric dtypes only), and the real datetime classes. Nothing else is
importable, numpy never sees the pickle (arrays are rebuilt with ``np.frombuffer`` from checked bytes), persistent ids
and extension codes are refused before loading, and the input size is bounded.
"""

from __future__ import annotations

import datetime
import io
import math
import pickle
import pickletools
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

MAX_PICKLE_BYTES = 1 << 20  # real samples hold a few KB; bounds memory and time on hostile input

# Module names geobench's classes have been pickled under (the package moved from ccb.io to geobench.io to geobench;
# geobench/__init__.py aliases the old names), and the classes its dataset and label modules have defined.
GEOBENCH_MODULES = (
    "geobench", "geobench.dataset", "geobench.label", "geobench.task", "geobench.io", "geobench.io.dataset",
    "geobench.io.label", "geobench.io.task", "ccb", "ccb.io", "ccb.io.dataset", "ccb.io.label", "ccb.io.task",
)  # fmt: skip
GEOBENCH_CLASSES = (
    "Band", "BandInfo", "CCBDataset", "CloudProbability", "Dataset", "ElevationBand", "GeneratorWithLength",
    "GeobenchDataset", "Height", "HyperSpectralBands", "Landsat8", "Mask", "MultiBand", "Partition", "Sample",
    "SegmentationClasses", "Sentinel1", "Sentinel2", "SpectralBand", "Stats",
    "Classification", "Detection", "LabelType", "MultiLabelClassification", "PointAnnotation", "Regression",
    "SemanticSegmentation",
)  # fmt: skip
# Opcodes whose objects would not come from find_class: persistent ids call persistent_load, extension codes are
# served from copyreg's process-wide cache once any unpickler resolved them, out-of-band buffers are never written.
_REFUSED_OPCODES = {"PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER", "READONLY_BUFFER"}
_MAX_DEPTH = 64
_MAX_NDIM = 32
# Plain numeric dtypes as numpy pickles them (np.dtype(code).__reduce__): no object, structured, string or time types.
_DTYPE_CODES = frozenset(
    ["b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"]
)  # fmt: skip


class UnsafePickle(pickle.UnpicklingError):
    """The pickle names a global, opcode or value GEO-Bench never writes."""


class _Inert:
    """Base of the objects find_class hands out: no instance dict, and pickle's BUILD on them is refused."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickle(f"a BUILD on {self!r}")


class Record:
    """Stand-in for a class GEO-Bench pickles (Sentinel2, BandInfo, affine.Affine, rasterio.crs.CRS, ...): keeps the
    constructor arguments and the pickled state as data; none of the original class's code exists here."""

    __slots__ = ("args", "kwargs", "state")
    source: ClassVar[str] = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Record:
        self = object.__new__(cls)
        self.args, self.kwargs, self.state = args, kwargs, None
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # __new__ kept them (NEWOBJ calls __new__ only)
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and all(s is None or isinstance(s, dict) for s in state):
            state = {**(state[0] or {}), **(state[1] or {})}  # (dict, slots) from object.__reduce_ex__
        self.state = state

    def get(self, name: str, default: Any = None) -> Any:
        """An attribute of the original object, from its pickled state."""
        return self.state.get(name, default) if isinstance(self.state, dict) else default

    def __repr__(self) -> str:
        return f"<{self.source} {self.state if self.state is not None else self.args}>"


def _record_type(source: str) -> type[Record]:
    return type(source.rpartition(".")[2], (Record,), {"__slots__": (), "source": source})


class _Builder(_Inert):
    """A function reachable from a pickle: validates its arguments and returns data or a placeholder."""

    __slots__ = ("fn", "name")

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self.name, self.fn = name, fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return self.name


class _NdarrayMarker(_Inert):
    """What ``numpy.ndarray`` resolves to: only accepted as the first argument of ``_reconstruct``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "numpy.ndarray"


_NDARRAY = _NdarrayMarker()


class _DtypeStub(_Inert):
    __slots__ = ("built", "dtype")

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype, self.built = dtype, False

    def __setstate__(self, state: Any) -> None:
        # numpy's state of a plain dtype: (3, byteorder, None, None, None, -1, -1, 0) (+ None metadata in version 4)
        plain = (
            isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4) and state[1] in ("<", ">", "|")
            and state[2:8] == (None, None, None, -1, -1, 0) and (len(state) == 8 or state[8] is None)
        )  # fmt: skip
        if self.built or not plain:
            raise UnsafePickle(f"dtype state {state!r} (only plain numeric dtypes are read)")
        if state[1] in "<>" and self.dtype.itemsize > 1:
            self.dtype = self.dtype.newbyteorder(state[1])
        self.built = True

    def __repr__(self) -> str:
        return f"dtype({self.dtype.str!r})"


class _ScalarStub(_Inert):
    __slots__ = ("value",)

    def __init__(self, value: np.generic) -> None:
        self.value = value


class _ArrayStub(_Inert):
    __slots__ = ("array",)

    def __init__(self, array: np.ndarray | None = None) -> None:
        self.array = array

    def __setstate__(self, state: Any) -> None:
        # ndarray.__reduce__ state: (1, shape, dtype, is_fortran, raw bytes)
        if self.array is not None or not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise UnsafePickle(f"array state {_short(state)}")
        _, shape, dtype, fortran, data = state
        if not isinstance(fortran, bool):
            raise UnsafePickle(f"array state {_short(state)}")
        self.array = _array_from_bytes(data, dtype, shape, "F" if fortran else "C")

    def __repr__(self) -> str:
        return "ndarray"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _array_from_bytes(data: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    if not isinstance(dtype, _DtypeStub):
        raise UnsafePickle(f"array dtype {_short(dtype)} (not a plain numeric dtype)")
    dims = isinstance(shape, tuple) and len(shape) <= _MAX_NDIM and all(type(n) is int and n >= 0 for n in shape)
    if not dims or order not in ("C", "F") or not isinstance(data, bytes | bytearray):
        raise UnsafePickle(f"array of shape {_short(shape)}, order {order!r}, data {type(data).__name__}")
    if math.prod(shape) * dtype.dtype.itemsize != len(data):
        raise UnsafePickle(f"array of shape {shape} and dtype {dtype.dtype} with {len(data)} bytes of data")
    return np.frombuffer(bytes(data), dtype=dtype.dtype).reshape(shape, order=order).copy(order="K")


def _dtype(code: Any, align: Any = False, copy: Any = True) -> _DtypeStub:
    if not (isinstance(code, str) and code in _DTYPE_CODES and align in (False, 0) and copy in (True, 1)):
        raise UnsafePickle(
            f"numpy.dtype{_short((code, align, copy))}: only plain numeric dtypes are read (numpy unpickles the "
            "items of object dtypes without any restriction)"
        )
    return _DtypeStub(np.dtype(code))


def _scalar(dtype: Any, data: Any) -> _ScalarStub:
    if not isinstance(dtype, _DtypeStub) or not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        raise UnsafePickle(f"numpy scalar{_short((dtype, data))}: only plain numeric scalars are read")
    return _ScalarStub(np.frombuffer(data, dtype=dtype.dtype, count=1)[0])


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> _ArrayStub:
    if subtype is not _NDARRAY:
        raise UnsafePickle(f"_reconstruct of {_short(subtype)}: only plain numpy.ndarray is read, no subclasses")
    if shape != (0,) or typecode not in (b"b", "b"):
        raise UnsafePickle(f"_reconstruct{_short((subtype, shape, typecode))}")
    return _ArrayStub()


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> _ArrayStub:
    return _ArrayStub(_array_from_bytes(buffer, dtype, shape, order))


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # Protocols < 3 spell bytes as _codecs.encode(<latin-1 str>, "latin1"); no other codec is accepted.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickle(f"_codecs.encode{_short((text, encoding))}: only the latin1 spelling of bytes is read")
    return text.encode("latin-1")


def _bytes_type(kind: type[bytes] | type[bytearray]) -> Callable[..., Any]:
    def build(*args: Any) -> bytes | bytearray:
        if args == ():
            return kind()
        if len(args) == 1 and isinstance(args[0], bytes | bytearray):
            return kind(args[0])
        if len(args) == 2 and args[1] in ("latin1", "latin-1") and isinstance(args[0], str):
            return kind(args[0].encode("latin-1"))  # bytearray.__reduce_ex__ below protocol 3
        raise UnsafePickle(f"{kind.__name__}{_short(args)}")  # e.g. bytes(10**12)

    return build


def _set_type(kind: type[set] | type[frozenset]) -> Callable[..., Any]:
    def build(*args: Any) -> set | frozenset:
        if args == () or (len(args) == 1 and type(args[0]) in (list, tuple)):
            return kind(*args)
        raise UnsafePickle(f"{kind.__name__}{_short(args)}")

    return build


def _ordered_dict(*args: Any) -> dict:
    # OrderedDict pickles as REDUCE(OrderedDict, ()) + SETITEMS; a plain dict keeps the order and has no __dict__ a
    # BUILD could write into.
    if args != ():
        raise UnsafePickle(f"collections.OrderedDict{_short(args)}")
    return {}


def _globals() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {}
    records = {name: _record_type(f"geobench.{name}") for name in GEOBENCH_CLASSES}
    for module in GEOBENCH_MODULES:
        for name in GEOBENCH_CLASSES:
            table[module, name] = records[name]
    table["affine", "Affine"] = _record_type("affine.Affine")
    table["rasterio.crs", "CRS"] = _record_type("rasterio.crs.CRS")
    for name in ("date", "datetime", "time", "timedelta", "timezone"):
        table["datetime", name] = getattr(datetime, name)
    table["collections", "OrderedDict"] = _Builder("collections.OrderedDict", _ordered_dict)
    table["numpy", "dtype"] = _Builder("numpy.dtype", _dtype)
    table["numpy", "ndarray"] = _NDARRAY
    for core in ("numpy.core", "numpy._core"):  # numpy 1.x and 2.x spellings
        table[f"{core}.multiarray", "_reconstruct"] = _Builder(f"{core}.multiarray._reconstruct", _reconstruct)
        table[f"{core}.multiarray", "scalar"] = _Builder(f"{core}.multiarray.scalar", _scalar)
        table[f"{core}.numeric", "_frombuffer"] = _Builder(f"{core}.numeric._frombuffer", _frombuffer)
    table["_codecs", "encode"] = _Builder("_codecs.encode", _encode)
    for builtins in ("builtins", "__builtin__"):  # protocol 2 writes Python 2 names
        table[builtins, "bytes"] = _Builder("bytes", _bytes_type(bytes))
        table[builtins, "bytearray"] = _Builder("bytearray", _bytes_type(bytearray))
        table[builtins, "set"] = _Builder("set", _set_type(set))
        table[builtins, "frozenset"] = _Builder("frozenset", _set_type(frozenset))
    return table


GLOBALS: dict[tuple[str, str], Any] = _globals()


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return GLOBALS[module, name]  # exact pairs: a dotted name or another module never matches
        except KeyError:
            raise UnsafePickle(f"the global {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickle(f"the persistent id {_short(pid)}")


_PLAIN_TYPES = frozenset(
    [type(None), bool, int, float, complex, str, bytes, bytearray, datetime.date, datetime.datetime, datetime.time,
     datetime.timedelta, datetime.timezone]
)  # fmt: skip


def _resolve(obj: Any, memo: dict[int, tuple[Any, Any]], depth: int = 0) -> Any:
    """Replace the placeholders by real numpy objects; refuse anything the loader should not have produced.

    ``memo`` maps id(original) to (original, result): the original stays alive, so its id is never reused.
    """
    kind = type(obj)
    if kind in _PLAIN_TYPES:
        return obj
    if id(obj) in memo:
        if memo[id(obj)][1] is _IN_PROGRESS:
            raise pickle.UnpicklingError("a recursive tuple or set (GEO-Bench never writes one)")
        return memo[id(obj)][1]
    if depth > _MAX_DEPTH:
        raise pickle.UnpicklingError(f"nesting deeper than {_MAX_DEPTH} levels")
    result = obj
    if kind is list:
        memo[id(obj)] = obj, obj
        obj[:] = [_resolve(v, memo, depth + 1) for v in obj]
    elif kind is dict:
        memo[id(obj)] = obj, obj
        items = [(_resolve(k, memo, depth + 1), _resolve(v, memo, depth + 1)) for k, v in obj.items()]
        obj.clear()
        obj.update(items)
    elif kind in (tuple, set, frozenset):
        memo[id(obj)] = obj, _IN_PROGRESS
        result = kind(_resolve(v, memo, depth + 1) for v in obj)
    elif isinstance(obj, Record):
        memo[id(obj)] = obj, obj
        obj.args = _resolve(obj.args, memo, depth + 1)
        obj.kwargs = _resolve(obj.kwargs, memo, depth + 1)
        obj.state = _resolve(obj.state, memo, depth + 1)
    elif kind is _ArrayStub:
        if obj.array is None:
            raise pickle.UnpicklingError("an array without data")
        result = obj.array
    elif kind is _ScalarStub:
        result = obj.value
    elif kind is _DtypeStub:
        result = obj.dtype
    else:  # a class or builder as a value: GEO-Bench stores instances only
        raise UnsafePickle(f"{obj!r} as a value")
    memo[id(obj)] = obj, result
    return result


_IN_PROGRESS = object()


def _check_opcodes(data: bytes) -> None:
    try:
        for opcode, _, _ in pickletools.genops(data):
            if opcode.name in _REFUSED_OPCODES:
                raise UnsafePickle(f"the {opcode.name} opcode")
    except (ValueError, EOFError) as error:  # genops: unknown opcode or truncated argument
        raise pickle.UnpicklingError(f"not a valid pickle ({error})") from None


def loads(data: bytes) -> Any:
    """Unpickle GEO-Bench metadata: plain Python data, datetime values, numpy arrays/scalars, :class:`Record`s.

    Raises :class:`UnsafePickle` for anything GEO-Bench never writes and ``pickle.UnpicklingError`` (or the error
    of a failing builder) for a damaged pickle.
    """
    if len(data) > MAX_PICKLE_BYTES:
        raise UnsafePickle(f"a {len(data)}-byte pickle (at most {MAX_PICKLE_BYTES} expected)")
    _check_opcodes(data)
    return _resolve(_Unpickler(io.BytesIO(data)).load(), {})
