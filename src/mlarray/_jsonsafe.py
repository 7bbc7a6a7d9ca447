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
_isfinite = math.isfinite


class _Bad(Exception):
    """A value that is not JSON; carries the path to it, collected while the error unwinds (so the
    common case, all values fine, builds no field names: 1 M keys used to build 1 M path strings)."""

    def __init__(self, value: Any, problem: str, remedy: str) -> None:
        super().__init__(problem)
        self.value, self.problem, self.remedy, self.path = value, problem, remedy, []


def to_json_value(value: Any, field: str, _depth: int = 0) -> Any:
    """Return ``value`` as plain JSON types (dict/list/str/int/float/bool/None).

    numpy scalars and arrays become Python numbers and lists; tuples become lists.
    NaN/infinity, non-string keys and other objects are rejected with :class:`MetadataError`.
    """
    try:
        return _convert(value, _depth)
    except _Bad as bad:
        name = field
        for step in reversed(bad.path):
            name += f"[{step}]" if isinstance(step, int) else f".{step}"
        raise MetadataError(name, bad.value, bad.problem, bad.remedy) from None


def _too_deep() -> _Bad:
    return _Bad("...", f"is nested deeper than {MAX_JSON_DEPTH} levels", "flatten the structure")


def _convert(value: Any, depth: int) -> Any:
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        return value
    if t is dict:
        return _convert_dict(value, depth)
    if t is list or t is tuple:
        return _convert_list(value, depth)
    if t is float and depth <= MAX_JSON_DEPTH and _isfinite(value):
        return value
    return _convert_other(value, depth)


def _convert_dict(value: dict, depth: int) -> dict:
    if depth > MAX_JSON_DEPTH:
        raise _too_deep()
    out = {}
    deep = depth + 1 > MAX_JSON_DEPTH
    for k, v in value.items():
        if not isinstance(k, str):
            raise _Bad(k, "has a non-string key", "JSON objects need string keys; convert keys with str()")
        tv = type(v)
        if not deep and (tv is str or tv is int or tv is bool or v is None or (tv is float and _isfinite(v))):
            out[k] = v
            continue
        try:
            out[k] = _convert(v, depth + 1)
        except _Bad as bad:
            bad.path.append(k)
            raise
    return out


def _convert_list(value, depth: int) -> list:
    if depth > MAX_JSON_DEPTH:
        raise _too_deep()
    out = []
    deep = depth + 1 > MAX_JSON_DEPTH
    for i, v in enumerate(value):
        tv = type(v)
        if not deep and (tv is str or tv is int or tv is bool or v is None or (tv is float and _isfinite(v))):
            out.append(v)
            continue
        try:
            out.append(_convert(v, depth + 1))
        except _Bad as bad:
            bad.path.append(i)
            raise
    return out


def _convert_other(value: Any, depth: int) -> Any:
    """Everything but exact str/int/bool/None/dict/list/tuple: floats, numpy values, subclasses."""
    if depth > MAX_JSON_DEPTH:
        raise _too_deep()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise _Bad(value, "is NaN or infinite, which JSON cannot hold",
                       "store None or a string such as 'nan' instead")
        return f
    if isinstance(value, np.ndarray):
        return _convert(value.tolist(), depth)
    if isinstance(value, (list, tuple)):
        return _convert_list(value, depth)
    if isinstance(value, dict):
        return _convert_dict(value, depth)
    if isinstance(value, bytes):
        raise _Bad(value, "is bytes, which JSON cannot hold", "decode it to str, or base64-encode it")
    raise _Bad(value, f"has type {type(value).__name__}, which is not JSON",
               "use dict, list, str, int, float, bool or None")
