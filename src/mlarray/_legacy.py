"""Safe reading of files written by the published ``mlarray`` 0.0.x package.

From about 0.0.49 on, the published package stored its metadata as
``gzip.compress(pickle.dumps(meta.to_mapping()))`` in ``vlmeta["mlarray"]`` of the b2nd
file. Unpickling untrusted bytes can run arbitrary code, so this module never unpickles
freely: :class:`_AllowListUnpickler` resolves only the few globals that real legacy files
contain, each replaced by a harmless stand-in that can only build plain values:

* ``mlarray.meta._FrozenList`` / ``_FrozenDict`` (read-only list/dict subclasses, pickled
  as ``_FrozenList([...])``)                            -> ``list`` / ``dict``
* ``mlarray.meta.AxisLabelEnum`` / ``CoordSystemEnum`` (str enums a user put in a
  source/extra dict; they pass the package's ``json.dumps`` check)  -> their str value
* ``numpy.dtype`` + ``numpy[._]core.multiarray.scalar`` for ``np.float64`` (a float
  subclass, so it passes the package's checks, e.g. statistics from ``np.mean``) and
  ``np.str_`` scalars -> ``float`` / ``str``, decoded from the raw bytes without numpy
* ``collections.OrderedDict`` -> ``dict``; ``copyreg._reconstructor`` only for those types;
  ``_codecs.encode(str, 'latin1')`` (how protocol 0-2 pickles spell bytes) -> ``bytes``

Anything else (``os.system``, ``builtins.eval``, numpy arrays, ...) raises
:class:`UnsafeLegacyFileError` before it is called. The result is then checked to hold
only plain JSON-like values and to stay small, so a crafted pickle cannot exhaust memory
through shared references either.

Older packages (before ~0.0.49) stored the mapping directly in vlmeta (no pickle), with a
slightly different layout (``image``, ``_blosc2``, plain ``_has_array``);
:func:`read_legacy_mapping` accepts such a mapping and :func:`migrate_legacy_mapping`
understands both layouts.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import pickle
import struct
import zlib
from collections.abc import Mapping
from typing import Any, Optional

from ._errors import CorruptFileError, MetadataError, UnsafeLegacyFileError

__all__ = ["safe_unpickle", "read_legacy_mapping", "migrate_legacy_mapping"]

# Limits on what an unpickled mapping may expand to (values visited, counting shared ones
# each time they are reached) and how deeply it may nest. Real metadata is far below both.
_MAX_NODES = 1_000_000
_MAX_DEPTH = 64
# Decompressed size limit (gzip bombs). Real legacy metadata is a few KB.
_MAX_PICKLE_BYTES = 64 * 1024 * 1024


# ----------------------------------------------------------------------------- stand-ins

class _Refused(pickle.UnpicklingError):
    """Something outside the allow-list; turned into UnsafeLegacyFileError."""


def _enum_value(value: Any) -> str:
    """Stand-in for the published str enums: ``AxisLabelEnum('channel')`` -> ``'channel'``."""
    if type(value) is not str:
        raise _Refused(f"a str enum built from a {type(value).__name__}")
    return value


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """Stand-in for ``copyreg._reconstructor`` (protocol 0/1 pickles of list/dict subclasses).

    ``cls`` has already passed ``find_class``, so for the frozen containers it is the builtin
    list/dict they map to; anything else is refused and nothing is called.
    """
    if type(cls) is not type or cls not in (list, dict) or base is not cls:
        raise _Refused("copyreg._reconstructor for something other than a list/dict subclass")
    if state is None:
        return cls()
    if type(state) is not cls:
        raise pickle.UnpicklingError("copyreg._reconstructor state must be a plain list/dict")
    return cls(state)


class _SafeDtype:
    """Stand-in for ``numpy.dtype(spec, align, copy)``: records only what scalars need."""

    __slots__ = ("spec", "byteorder")

    def __init__(self, spec: Any = None, align: Any = False, copy: Any = True) -> None:
        if type(spec) is not str or not (spec == "f8" or (spec[:1] == "U" and spec[1:].isdigit())):
            raise _Refused(f"numpy.dtype({spec!r}) (only float64 and str scalars are allowed)")
        self.spec = spec
        self.byteorder = "<"

    def __setstate__(self, state: Any) -> None:
        # numpy's dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags)
        if (type(state) is not tuple or len(state) < 5 or state[0] not in (3, 4)
                or state[1] not in ("<", ">", "=", "|") or state[2:5] != (None, None, None)):
            raise pickle.UnpicklingError("unexpected numpy dtype state")
        self.byteorder = "<" if state[1] in ("=", "|") else state[1]


def _safe_numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """Stand-in for ``numpy.core.multiarray.scalar``: float64 -> float, str_ -> str."""
    if type(dtype) is not _SafeDtype or type(data) is not bytes:
        raise _Refused("numpy.core.multiarray.scalar with arguments other than (allowed dtype, bytes)")
    if dtype.spec == "f8":
        if len(data) != 8:
            raise pickle.UnpicklingError("float64 scalar must have 8 bytes")
        return struct.unpack(dtype.byteorder + "d", data)[0]
    if len(data) % 4:
        raise pickle.UnpicklingError("str scalar bytes must be UCS4")
    codec = "utf-32-le" if dtype.byteorder == "<" else "utf-32-be"
    try:
        return data.decode(codec).rstrip("\x00")
    except UnicodeDecodeError as exc:
        raise pickle.UnpicklingError(f"bad str scalar: {exc}") from None


def _latin1_bytes(text: Any, encoding: Any = None) -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol 0-2 pickles use to spell bytes."""
    if type(text) is not str or encoding != "latin1":
        raise _Refused("_codecs.encode with arguments other than (str, 'latin1')")
    return text.encode("latin1")


# (module, name) -> harmless stand-in. Nothing outside this table is ever resolved.
_ALLOWED_GLOBALS = {
    # list(x) / dict(x) copy; also right for NEWOBJ (``cls.__new__(cls)``) and APPENDS/SETITEMS.
    ("mlarray.meta", "_FrozenList"): list,
    ("mlarray.meta", "_FrozenDict"): dict,
    ("mlarray.meta", "AxisLabelEnum"): _enum_value,
    ("mlarray.meta", "CoordSystemEnum"): _enum_value,
    ("collections", "OrderedDict"): dict,
    ("copyreg", "_reconstructor"): _safe_reconstructor,
    ("builtins", "list"): list,
    ("builtins", "dict"): dict,
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy", "dtype"): _SafeDtype,
    ("numpy.core.multiarray", "scalar"): _safe_numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _safe_numpy_scalar,
}

_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _AllowListUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` only returns the stand-ins in ``_ALLOWED_GLOBALS``."""

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 module names, as written by protocol 0-2 pickles (pickle's fix_imports).
        module = _PY2_MODULES.get(module, module)
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise _Refused(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused(f"persistent id {pid!r}")


# ----------------------------------------------------------------------------- reading

def safe_unpickle(data: bytes, path: object = "<legacy metadata>") -> Any:
    """Unpickle ``data`` allowing only the plain containers legacy mlarray files hold.

    Returns dicts, lists, str, numbers, bools and None (tuples may also appear).
    Raises :class:`UnsafeLegacyFileError` for any other global (nothing is executed) and
    :class:`CorruptFileError` for a damaged pickle.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptFileError(path, f"legacy metadata must be bytes, got {type(data).__name__}")
    try:
        obj = _AllowListUnpickler(io.BytesIO(bytes(data))).load()  # allow-list unpickler
    except _Refused as exc:
        raise UnsafeLegacyFileError(
            path,
            f"legacy pickled metadata references {exc}, which is not on the safe allow-list; "
            "it was not loaded and nothing was executed. If you trust this file, re-save it "
            "with the published mlarray 0.0.x package's reader in an isolated environment",
        ) from None
    except RecursionError:
        raise UnsafeLegacyFileError(path, "legacy pickled metadata is nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - any failure of a damaged pickle
        raise CorruptFileError(path, f"legacy pickled metadata is damaged ({type(exc).__name__}: {exc})") from None
    _check_plain(obj, path)
    return obj


def _check_plain(obj: Any, path: object) -> None:
    """Only plain JSON-like values, bounded size and depth (iterative, no recursion)."""
    stack = [(obj, 0)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > _MAX_NODES:
            raise UnsafeLegacyFileError(path, f"legacy metadata expands to more than {_MAX_NODES} values")
        if depth > _MAX_DEPTH:
            raise UnsafeLegacyFileError(path, f"legacy metadata nests deeper than {_MAX_DEPTH} levels")
        t = type(value)
        if t is dict:
            for k, v in value.items():
                if type(k) not in (str, int, float, bool) and k is not None:
                    raise UnsafeLegacyFileError(path, f"legacy metadata has a {type(k).__name__} dict key")
                stack.append((v, depth + 1))
        elif t in (list, tuple):
            stack.extend((v, depth + 1) for v in value)
        elif value is not None and t not in (str, int, float, bool):
            raise UnsafeLegacyFileError(path, f"legacy metadata holds a {t.__name__} value")


def read_legacy_mapping(raw: bytes, path) -> dict:
    """Decode ``vlmeta["mlarray"]`` of a published-package file into its metadata mapping.

    ``raw`` is the gzip'd pickle written by mlarray 0.0.49+. (Older versions stored the
    mapping itself in vlmeta; if such a mapping is passed it is checked and returned.)
    """
    if isinstance(raw, Mapping):
        d = dict(raw)
        _check_plain(d, path)
        return d
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise CorruptFileError(path, f"legacy metadata must be gzip'd bytes, got {type(raw).__name__}")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(bytes(raw))) as f:
            data = f.read(_MAX_PICKLE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(path, f"legacy metadata is not valid gzip data ({exc or type(exc).__name__})") from None
    if len(data) > _MAX_PICKLE_BYTES:
        raise CorruptFileError(path, f"legacy metadata decompresses to more than {_MAX_PICKLE_BYTES} bytes")
    d = safe_unpickle(data, path)
    if type(d) is not dict:
        raise CorruptFileError(path, f"legacy metadata must be a mapping, got {type(d).__name__}")
    return d


# ----------------------------------------------------------------------------- migration

_SPATIAL_FLOAT_LISTS = ("spacing", "origin")
_SPATIAL_MATRICES = ("direction", "affine")
_SPATIAL_STR_LISTS = ("axis_labels", "axis_units")
_STATS_NUMBERS = ("min", "max", "mean", "median", "std", "percentile_mean", "percentile_median", "percentile_std")
_STATS_PERCENTILES = (("percentile_min_key", "percentile_min"), ("percentile_max_key", "percentile_max"))
_BLOSC2_SIZES = ("chunk_size", "block_size", "patch_size")
# Runtime Blosc2 settings of the writer; the container records its own codecs.
_BLOSC2_DROPPED = ("cparams", "dparams")
UNMAPPED_KEY = "legacy_unmapped"


def _plain(value: Any) -> Any:
    """Deep copy as JSON types (tuples -> lists, keys -> str)."""
    return json.loads(json.dumps(value))


def _unwrap(value: Any, key: str) -> Any:
    """Published single-key metas pickle as ``{key: value}``; older ones as the raw value."""
    if isinstance(value, Mapping) and set(value) == {key}:
        return value[key]
    return value


def _number(v: Any, field: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise MetadataError(field, v, "must be a number", "the legacy file is damaged")
    return float(v)


def _int(v: Any, field: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v).is_integer():
        raise MetadataError(field, v, "must be an integer", "the legacy file is damaged")
    return int(v)


def _list(v: Any, field: str) -> list:
    if not isinstance(v, (list, tuple)):
        raise MetadataError(field, v, "must be a list", "the legacy file is damaged")
    return list(v)


def _percent_key(q: float, as_fraction: bool) -> Optional[str]:
    pct = round(q * 100.0, 10) if as_fraction else float(q)
    if not math.isfinite(pct) or not 0.0 <= pct <= 100.0:
        return None
    return format(pct, "g")


def _migrate_spatial(sp: Mapping, unmapped: dict) -> dict:
    out: dict[str, Any] = {}
    for key, v in sp.items():
        if v is None or key in ("_num_spatial_axes", "_num_non_spatial_axes"):
            continue  # derived from axis_labels by the published package
        field = f"spatial.{key}"
        if key in _SPATIAL_FLOAT_LISTS:
            out[key] = [_number(x, field) for x in _list(v, field)]
        elif key in _SPATIAL_MATRICES:
            out[key] = [[_number(x, field) for x in _list(row, field)] for row in _list(v, field)]
        elif key == "shape":
            out[key] = [_int(x, field) for x in _list(v, field)]
        elif key in _SPATIAL_STR_LISTS:
            out[key] = [str(x) for x in _list(v, field)]
        elif key == "coord_system":
            out[key] = str(v)
        else:
            unmapped[field] = v
    return out


def _migrate_stats(st: Mapping, unmapped: dict) -> dict:
    out: dict[str, Any] = {}
    for key in _STATS_NUMBERS:
        if st.get(key) is not None:
            value = _number(st[key], f"stats.{key}")
            if math.isfinite(value):
                out[key] = value
            else:  # e.g. np.mean of data holding NaN; typed statistics are finite or absent
                unmapped[f"stats.{key}"] = value
    # The published package documents its percentile keys as fractions (0.05 = 5th
    # percentile). If any key is above 1 the writer evidently used percents instead.
    keys = [st.get(k) for k, _ in _STATS_PERCENTILES if st.get(k) is not None]
    as_fraction = all(_number(k, "stats.percentile_key") <= 1.0 for k in keys)
    percentiles: dict[str, float] = {}
    for key_name, value_name in _STATS_PERCENTILES:
        q, v = st.get(key_name), st.get(value_name)
        if v is None:
            continue
        name = None if q is None else _percent_key(_number(q, f"stats.{key_name}"), as_fraction)
        if name is None:
            unmapped[f"stats.{value_name}"] = v
            if q is not None:
                unmapped[f"stats.{key_name}"] = q
            continue
        value = _number(v, f"stats.{value_name}")
        if math.isfinite(value):
            percentiles[name] = value
        else:
            unmapped[f"stats.{value_name}"] = value
    if percentiles:
        out["percentiles"] = percentiles
    handled = set(_STATS_NUMBERS) | {k for pair in _STATS_PERCENTILES for k in pair}
    for key, v in st.items():
        if key not in handled and v is not None:  # fields this format does not have
            unmapped[f"stats.{key}"] = v
    return out


def _migrate_bbox(bb: Any, unmapped: dict) -> dict:
    if isinstance(bb, (list, tuple)):  # old packages stored just the list of boxes
        bb = {"bboxes": bb}
    if not isinstance(bb, Mapping):
        raise MetadataError("bbox", bb, "must be a mapping or a list of boxes", "the legacy file is damaged")
    out = {}
    for key, v in bb.items():
        if v is None:
            continue
        if key in ("bboxes", "labels", "scores"):
            out[key] = _plain(_list(v, f"bbox.{key}"))
        else:
            unmapped[f"bbox.{key}"] = v
    return out


def _migrate_blosc2(b: Mapping, unmapped: dict) -> dict:
    out = {}
    for key, v in b.items():
        if v is None or key in _BLOSC2_DROPPED:
            continue
        if key in _BLOSC2_SIZES:
            out[key] = [_int(x, f"blosc2.{key}") for x in _list(v, f"blosc2.{key}")]
        else:
            unmapped[f"blosc2.{key}"] = v
    return out


def _dict_field(d: Mapping, names: tuple, field: str) -> Optional[dict]:
    for name in names:
        if name in d:
            v = _unwrap(d[name], "data")
            if v is None:
                return None
            if not isinstance(v, Mapping):
                raise MetadataError(field, v, "must be a mapping", "the legacy file is damaged")
            return _plain(dict(v))
    return None


def migrate_legacy_mapping(d: dict) -> dict:
    """Convert a published-package metadata mapping into the v1 metadata mapping.

    Values with no v1 field (e.g. ``spatial.weird``) are kept, not dropped, under
    ``extra["legacy_unmapped"]`` keyed by their dotted legacy name.
    """
    if not isinstance(d, Mapping):
        raise MetadataError("metadata", d, "must be a mapping", "the legacy file is damaged")
    unmapped: dict[str, Any] = {}
    out: dict[str, Any] = {"format_version": 1}

    version = _unwrap(d.get("_mlarray_version"), "mlarray_version")
    out["writer"] = f"mlarray {version if version else '0.0.x'} (legacy pickle)"

    has_array = _unwrap(d.get("_has_array", d.get("has_array")), "has_array")
    if has_array is not None:
        out["has_array"] = bool(has_array)

    spatial = d.get("spatial")
    if isinstance(spatial, Mapping):
        sp = _migrate_spatial(spatial, unmapped)
        if sp:
            out["spatial"] = sp

    stats = d.get("stats")
    if isinstance(stats, Mapping):
        st = _migrate_stats(stats, unmapped)
        if st:
            out["stats"] = st

    if d.get("bbox") is not None:
        bb = _migrate_bbox(d["bbox"], unmapped)
        if bb:
            out["bbox"] = bb

    if "is_seg" in d:
        is_seg = _unwrap(d["is_seg"], "is_seg")
        if is_seg is not None and not isinstance(is_seg, bool):
            raise MetadataError("is_seg", is_seg, "must be a bool or None", "the legacy file is damaged")
        out["is_seg"] = is_seg

    source = _dict_field(d, ("source", "image"), "source")
    if source is not None:
        out["source"] = source

    fmt = _unwrap(d.get("_image_meta_format", d.get("image_meta_format")), "image_meta_format")
    if fmt is not None:
        out["source_format"] = str(fmt)

    extra = _dict_field(d, ("extra",), "extra") or {}

    blosc2 = d.get("blosc2", d.get("_blosc2"))
    if isinstance(blosc2, Mapping):
        b = _migrate_blosc2(blosc2, unmapped)
        if b:
            out["blosc2"] = b

    known = {"source", "image", "extra", "spatial", "stats", "bbox", "is_seg", "blosc2", "_blosc2",
             "_has_array", "has_array", "_image_meta_format", "image_meta_format", "_mlarray_version"}
    for key, v in d.items():
        if key not in known and v is not None:
            unmapped[str(key)] = v

    if unmapped:
        key = UNMAPPED_KEY
        while key in extra:  # never overwrite the user's own extra data
            key = "_" + key
        extra[key] = _plain(unmapped)
    if extra or "extra" in d:
        out["extra"] = extra
    return out
