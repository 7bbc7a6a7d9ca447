"""Conversion of user values to plain JSON data, with errors that name the field."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

import numpy as np

from ._errors import MetadataError, MetadataTypeError

__all__ = ["to_json_value", "encode_nonfinite", "decode_nonfinite", "NONFINITE_KEY", "MAX_JSON_DEPTH"]

# Deeply nested JSON makes json.loads recurse; a cap keeps a hostile header from
# exhausting the stack. Real DICOM sequences nest well under 20 levels.
MAX_JSON_DEPTH = 64

# JSON has no NaN or infinities, but headers hold them (nibabel reports an unset NIfTI scl_slope as
# NaN). Inside the free-form `source` and `extra`, such a number is stored as the one-member object
# {"$float": "NaN" | "Infinity" | "-Infinity"}: valid JSON that any language can decode.
NONFINITE_KEY = "$float"
_NONFINITE_NAMES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _nonfinite_name(f: float) -> str:
    return "NaN" if math.isnan(f) else ("Infinity" if f > 0 else "-Infinity")


def encode_nonfinite(value: Any, field: str) -> Any:
    """Replace NaN/±Inf floats by their tagged objects (input: plain JSON types from :func:`to_json_value`).

    A user dict that itself has the tagged form would read back as a number, so it is refused."""
    if isinstance(value, float) and not math.isfinite(value):
        return {NONFINITE_KEY: _nonfinite_name(value)}
    if isinstance(value, list):
        return [encode_nonfinite(v, field) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and NONFINITE_KEY in value:
            raise MetadataError(field, value, f"has the form {{{NONFINITE_KEY!r}: ...}} that the file format reserves "
                                "for NaN and infinities", f"rename the key {NONFINITE_KEY!r}")
        return {k: encode_nonfinite(v, f"{field}.{k}") for k, v in value.items()}
    return value


def decode_nonfinite(value: Any) -> Any:
    """Inverse of :func:`encode_nonfinite` on parsed JSON (tagged objects become float NaN/±Inf)."""
    if isinstance(value, dict):
        if len(value) == 1 and value.get(NONFINITE_KEY) in _NONFINITE_NAMES:
            return _NONFINITE_NAMES[value[NONFINITE_KEY]]
        return {k: decode_nonfinite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_nonfinite(v) for v in value]
    return value


def to_json_value(value: Any, field: str, _depth: int = 0, *, allow_nonfinite: bool = False) -> Any:
    """Return ``value`` as plain JSON types (dict/list/str/int/float/bool/None).

    numpy scalars and arrays become Python numbers and lists; tuples become lists.
    Non-string keys and other objects are rejected with :class:`MetadataError`, and so are
    NaN/infinity unless ``allow_nonfinite`` (``source``/``extra``: see :func:`encode_nonfinite`).
    """
    if _depth > MAX_JSON_DEPTH:
        raise MetadataError(field, "...", f"is nested deeper than {MAX_JSON_DEPTH} levels",
                            "flatten the structure")
    if isinstance(value, Enum):  # str enums such as AxisLabel.channel: store their value
        value = value.value
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f) and not allow_nonfinite:
            raise MetadataError(field, value, "is NaN or infinite, which JSON cannot hold",
                                "store None or a string such as 'nan' instead")
        return f
    if isinstance(value, np.ndarray):
        return to_json_value(value.tolist(), field, _depth, allow_nonfinite=allow_nonfinite)
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{field}[{i}]", _depth + 1, allow_nonfinite=allow_nonfinite)
                for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise MetadataError(f"{field}", k, "has a non-string key",
                                    "JSON objects need string keys; convert keys with str()")
            out[k] = to_json_value(v, f"{field}.{k}", _depth + 1, allow_nonfinite=allow_nonfinite)
        return out
    if isinstance(value, bytes):
        raise MetadataTypeError(field, value, "is bytes, which JSON cannot hold",
                                "decode it to str, or base64-encode it")
    raise MetadataTypeError(field, value, f"has type {type(value).__name__}, which is not JSON",
                        "use dict, list, str, int, float, bool or None")
