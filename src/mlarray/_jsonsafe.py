"""Conversion of user values to plain JSON data, with errors that name the field."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._errors import MetadataError

__all__ = ["to_json_value", "MAX_JSON_DEPTH"]

# Deeply nested JSON makes json.loads recurse; a cap keeps a hostile header from
# exhausting the stack. Real DICOM sequences nest well under 20 levels.
MAX_JSON_DEPTH = 64


def to_json_value(value: Any, field: str, _depth: int = 0) -> Any:
    """Return ``value`` as plain JSON types (dict/list/str/int/float/bool/None).

    numpy scalars and arrays become Python numbers and lists; tuples become lists.
    NaN/infinity, non-string keys and other objects are rejected with :class:`MetadataError`.
    """
    if _depth > MAX_JSON_DEPTH:
        raise MetadataError(field, "...", f"is nested deeper than {MAX_JSON_DEPTH} levels",
                            "flatten the structure")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise MetadataError(field, value, "is NaN or infinite, which JSON cannot hold",
                                "store None or a string such as 'nan' instead")
        return f
    if isinstance(value, np.ndarray):
        return to_json_value(value.tolist(), field, _depth)
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{field}[{i}]", _depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise MetadataError(f"{field}", k, "has a non-string key",
                                    "JSON objects need string keys; convert keys with str()")
            out[k] = to_json_value(v, f"{field}.{k}", _depth + 1)
        return out
    if isinstance(value, bytes):
        raise MetadataError(field, value, "is bytes, which JSON cannot hold",
                            "decode it to str, or base64-encode it")
    raise MetadataError(field, value, f"has type {type(value).__name__}, which is not JSON",
                        "use dict, list, str, int, float, bool or None")
