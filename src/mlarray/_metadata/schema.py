"""JSON Schema of the v1 metadata document, published as ``docs/schema.json``.

The schema describes structure and types; cross-field rules (lengths against the array's
dimensions, affine consistency) are enforced by ``Meta.validate``; ``mlarray.validate`` also
reports legal but lossy geometry (a direction that is not orthonormal).
A test keeps ``docs/schema.json`` identical to :func:`json_schema`.
"""

from __future__ import annotations

__all__ = ["json_schema", "SCHEMA_ID"]

SCHEMA_ID = "https://mlarray.invalid/schema/v1.json"

_NUM = {"type": "number"}
_NUMS = {"type": "array", "items": _NUM}
_INTS = {"type": "array", "items": {"type": "integer", "minimum": 0}}
_POS_INTS = {"type": "array", "items": {"type": "integer", "minimum": 1}}
_STRS = {"type": "array", "items": {"type": "string"}}
_MATRIX = {"type": "array", "items": _NUMS}
_NULLABLE_NUM = {"type": ["number", "null"]}


def _obj(props: dict, required: tuple = (), desc: str = "") -> dict:
    out = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    if desc:
        out["description"] = desc
    return out


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) for ``Meta.to_mapping()`` documents."""
    spatial = _obj({
        "spacing": {**_NUMS, "description": "Voxel size per spatial axis (> 0), in array axis order."},
        "origin": {**_NUMS, "description": "World position of voxel index 0 per world axis."},
        "direction": {**_MATRIX, "description": (
            "Square matrix; column j = unit world vector of array axis j. Orthonormal for rigid geometry; "
            "a sheared affine keeps non-orthogonal unit columns.")},
        "affine": {**_MATRIX, "description": "(n+1)x(n+1) index-to-world matrix; equals the three above composed."},
        "shape": {**_INTS, "description": "Shape of the whole array (all axes)."},
        "axis_labels": {**_STRS, "description": "Role of each array axis: spatial_x/y/z, spatial, channel, "
                                                "temporal, components, continuous, non_spatial or any string."},
        "axis_units": {**_STRS, "description": "Unit per spatial axis (or per axis), e.g. 'mm'."},
        "coord_system": {"type": "string", "description": (
            "World convention: RAS, LPS (also written RAS+, LPS+: the same axes), unknown, other or any string.")},
    }, desc="Geometry: world = origin + direction @ (spacing * index) over the spatial axes.")
    stat_fields = {
        "min": _NULLABLE_NUM, "max": _NULLABLE_NUM, "mean": _NULLABLE_NUM, "median": _NULLABLE_NUM,
        "std": _NULLABLE_NUM,
        "percentiles": {"type": "object", "additionalProperties": _NULLABLE_NUM,
                        "description": "Percent key (e.g. '0.5', '99.5') -> value."},
        **{f"percentile_{k}": {**_NULLABLE_NUM, "description": (
            f"{k} of the values between the lowest and highest stored percentile.")}
           for k in ("mean", "median", "std")},
        "count": {"type": "integer", "minimum": 0},
        "nan_count": {"type": "integer", "minimum": 0},
        "exact": {"type": "boolean", "description": "False when percentiles come from a fine histogram."},
    }
    stats = _obj({
        **stat_fields,
        "channels": {"type": "array", "items": _obj(dict(stat_fields)),
                     "description": "The same statistics per index of the channel axis, in index order."},
    }, desc="Intensity statistics computed at write time.")
    bbox = _obj({
        "bboxes": {"type": "array", "items": {"type": "array", "items": {
            "type": "array", "items": _NUM, "minItems": 2, "maxItems": 2}},
            "description": "[N][spatial ndim][min, max] in voxel index units of the base array."},
        "labels": {"type": "array", "items": {"type": ["string", "number"]}},
        "scores": {"type": "array", "items": _NULLABLE_NUM,
                   "description": "Score per box; null for a box without one (e.g. drawn by hand)."},
    })
    classes = {"type": "array", "items": _obj({
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "color": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1},
                  "minItems": 4, "maxItems": 4},
    }, required=("id", "name")), "description": "Segmentation class table."}
    blosc2 = _obj({
        "chunk_size": _POS_INTS, "block_size": _POS_INTS, "patch_size": _POS_INTS,
        "codec": {"type": "string"}, "clevel": {"type": "integer", "minimum": 0},
        "filters": _STRS,
        "dtype": {"type": "string", "description": "NumPy dtype string of the base array, e.g. '<i2'; readers "
                                                   "check the frame header against it."},
    }, desc="Storage layout of the base array.")
    pyramid = _obj({
        "levels": {"type": "array", "items": _obj({
            "shape": _POS_INTS, "scale": _NUMS,
            "offset": {"type": "integer", "minimum": 0, "description": "Byte offset of the level's frame."},
            "nbytes": {"type": "integer", "minimum": 0, "description": "Size of the level's frame in bytes."},
            "chunk_size": _POS_INTS, "block_size": _POS_INTS},
            required=("shape", "scale", "offset", "nbytes"))},
        "method": {"enum": ["mean", "mode", "nearest", "source"]},
    }, desc="Stored resolution levels beyond the base (level 0).")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "MLArray metadata, format v1",
        "$defs": {"nonfinite": {
            "description": ("Inside source and extra: an object with this single member stands for the IEEE 754 "
                            "value NaN, +Infinity or -Infinity, which JSON cannot hold."),
            "type": "object", "properties": {"$float": {"enum": ["NaN", "Infinity", "-Infinity"]}},
            "required": ["$float"], "additionalProperties": False}},
        **_obj({
            "format_version": {"const": 1},
            "writer": {"type": "string"},
            "has_array": {"type": "boolean"},
            "spatial": spatial,
            "stats": stats,
            "bbox": bbox,
            "is_seg": {"type": ["boolean", "null"]},
            "classes": classes,
            "source": {"type": "object", "description": (
                "The original format's header as JSON; NaN/Infinity values as {\"$float\": ...} (see $defs).")},
            "source_format": {"type": "string", "description": "Identifier of the source format, e.g. nifti1."},
            "extra": {"type": "object", "description": (
                "Free-form JSON; NaN/Infinity values as {\"$float\": ...} (see $defs).")},
            "blosc2": blosc2,
            "pyramid": pyramid,
            "chunk_checksums": {"type": "boolean", "description": (
                "Written by the library: whether vlmeta 'mla.checksums' holds chunk CRC-32s; when true, a "
                "missing entry is damage (docs/spec.md section 1).")},
            "checksum": {"type": "string", "pattern": "^crc32:[0-9a-f]{8}$", "description": (
                "Written by the library as the last member: CRC-32 of the stored text before it, closed "
                "with '}' (docs/spec.md section 1).")},
        }, required=("format_version",)),
    }
