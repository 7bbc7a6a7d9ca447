"""Safe reading of files written by the published ``mlarray`` 0.0.x package.

From about 0.0.49 on, the published package stored its metadata as
``gzip.compress(pickle.dumps(meta.to_mapping()))`` in ``vlmeta["mlarray"]`` of the b2nd
file. It is read through the allow-list unpickler of :mod:`mlarray._published.safe_pickle` (plain values only,
resource limits enforced while unpickling, nothing executed) and migrated to the v1 document.

Older packages (before ~0.0.49) stored the mapping directly in vlmeta (no pickle), with a
slightly different layout (``image``, ``_blosc2``, plain ``_has_array``);
:func:`read_published_mapping` accepts such a mapping and :func:`migrate_published_mapping`
understands both layouts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Optional

from .._errors import CorruptFileError, MetadataError
from .safe_pickle import check_plain, inflate_gzip, safe_unpickle

__all__ = ["safe_unpickle", "read_published_mapping", "migrate_published_mapping"]


def read_published_mapping(raw: bytes, path: object) -> dict:
    """Decode ``vlmeta["mlarray"]`` of a published-package file into its metadata mapping.

    ``raw`` is the gzip'd pickle written by mlarray 0.0.49+. (Older versions stored the
    mapping itself in vlmeta; if such a mapping is passed it is checked and returned.)
    """
    if isinstance(raw, Mapping):
        d = dict(raw)
        check_plain(d, path)
        return d
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise CorruptFileError(path, f"legacy metadata must be gzip'd bytes, got {type(raw).__name__}")
    d = safe_unpickle(inflate_gzip(bytes(raw), path), path)
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


def _json_copy(value: Any) -> Any:
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
            out[key] = _json_copy(_list(v, f"bbox.{key}"))
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
            return _json_copy(dict(v))
    return None


def migrate_published_mapping(d: dict) -> dict:
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
        extra[key] = _json_copy(unmapped)
    if extra or "extra" in d:
        out["extra"] = extra
    return out
