"""Conversion of user values to plain JSON data, with errors that name the field."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any, Union

import numpy as np

from .._errors import MetadataError, MetadataTypeError

__all__ = ["to_json_value", "encode_nonfinite", "decode_nonfinite", "NONFINITE_KEY", "MAX_JSON_DEPTH"]

# Deeply nested JSON makes json.loads recurse; a cap keeps a hostile header from
# exhausting the stack. Real DICOM sequences nest well under 20 levels.
MAX_JSON_DEPTH = 64
_isfinite = math.isfinite


class _Bad(Exception):
    """A value that is not JSON; carries the path to it, collected while the error unwinds (so the
    common case, all values fine, builds no field names: 1 M keys used to build 1 M path strings)."""

    def __init__(self, value: Any, problem: str, remedy: str, error: type = MetadataError) -> None:
        super().__init__(problem)
        self.value, self.problem, self.remedy, self.error = value, problem, remedy, error
        self.path: list[Union[str, int]] = []  # keys and list indices, innermost first


# JSON has no NaN or infinities, but headers hold them (nibabel reports an unset NIfTI scl_slope as
# NaN). Inside the free-form `source` and `extra`, such a number is stored as the one-member object
# {"$float": "NaN" | "Infinity" | "-Infinity"}: valid JSON that any language can decode.
NONFINITE_KEY = "$float"
_NONFINITE_NAMES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _nonfinite_name(f: float) -> str:
    return "NaN" if math.isnan(f) else ("Infinity" if f > 0 else "-Infinity")


def encode_nonfinite(value: Any, field: str) -> Any:
    """Replace NaN/±Inf floats by their tagged objects (input: plain JSON types from :func:`to_json_value`).

    A user dict that itself has the tagged form (``{"$float": "NaN"}``) would read back as a number,
    so it is refused; other values under the key are plain data.
    Strings, ints, bools, None and finite floats are returned without a call each (documents of
    millions of values: see docs/reliability.md section 7)."""
    t = type(value)
    if t is float:
        return value if _isfinite(value) else {NONFINITE_KEY: _nonfinite_name(value)}
    if t is list:
        return [v if type(v) in _LEAVES else encode_nonfinite(v, field) for v in value]
    if t is dict:
        if len(value) == 1 and _is_tag(value.get(NONFINITE_KEY)):  # would read back as a number
            raise MetadataError(field, value, f"has the form {{{NONFINITE_KEY!r}: ...}} that the file format reserves "
                                "for NaN and infinities", f"rename the key {NONFINITE_KEY!r}")
        return {k: v if type(v) in _LEAVES else encode_nonfinite(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, float):  # float subclasses
        return encode_nonfinite(float(value), field)
    return value


def decode_nonfinite(value: Any) -> Any:
    """Inverse of :func:`encode_nonfinite` on parsed JSON (tagged objects become float NaN/±Inf)."""
    t = type(value)
    if t is dict:
        if len(value) == 1:
            tag = value.get(NONFINITE_KEY)
            if _is_tag(tag):
                return _NONFINITE_NAMES[tag]
        return {k: v if type(v) in _LEAVES_PARSED else decode_nonfinite(v) for k, v in value.items()}
    if t is list:
        return [v if type(v) in _LEAVES_PARSED else decode_nonfinite(v) for v in value]
    return value


def _is_tag(tag: object) -> bool:
    return type(tag) is str and tag in _NONFINITE_NAMES


# Values that never need a call: finite-or-not floats are leaves only after parsing (JSON text has no NaN).
_LEAVES = frozenset({str, int, bool, type(None)})
_LEAVES_PARSED = frozenset({str, int, bool, float, type(None)})


def to_json_value(value: Any, field: str, _depth: int = 0, *, allow_nonfinite: bool = False) -> Any:
    """Return ``value`` as plain JSON types (dict/list/str/int/float/bool/None).

    numpy scalars and arrays become Python numbers and lists; tuples become lists.
    Non-string keys and other objects are rejected with :class:`MetadataError`, and so are
    NaN/infinity unless ``allow_nonfinite`` (``source``/``extra``: see :func:`encode_nonfinite`).
    """
    try:
        return _convert(value, _depth, allow_nonfinite)
    except _Bad as bad:
        name = field
        for step in reversed(bad.path):
            name += f"[{step}]" if isinstance(step, int) else f".{step}"
        raise bad.error(name, bad.value, bad.problem, bad.remedy) from None


def _too_deep() -> _Bad:
    return _Bad("...", f"is nested deeper than {MAX_JSON_DEPTH} levels", "flatten the structure")


def _is_plain(v: Any, nonfinite: bool) -> bool:
    """A value that is already JSON as it is (the common case, checked without a call per value)."""
    tv = type(v)
    return tv is str or tv is int or tv is bool or v is None or (tv is float and (nonfinite or _isfinite(v)))


def _convert(value: Any, depth: int, nonfinite: bool) -> Any:
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        return value
    if t is dict:
        return _convert_dict(value, depth, nonfinite)
    if t is list or t is tuple:
        return _convert_list(value, depth, nonfinite)
    if t is float and depth <= MAX_JSON_DEPTH and (nonfinite or _isfinite(value)):
        return value
    return _convert_other(value, depth, nonfinite)


def _convert_dict(value: dict, depth: int, nonfinite: bool) -> dict:
    if depth > MAX_JSON_DEPTH:
        raise _too_deep()
    out = {}
    deep = depth + 1 > MAX_JSON_DEPTH
    for k, v in value.items():
        if not isinstance(k, str):
            raise _Bad(k, "has a non-string key", "JSON objects need string keys; convert keys with str()")
        if not deep and _is_plain(v, nonfinite):
            out[k] = v
            continue
        try:
            out[k] = _convert(v, depth + 1, nonfinite)
        except _Bad as bad:
            bad.path.append(k)
            raise
    return out


def _convert_list(value: Any, depth: int, nonfinite: bool) -> list:
    if depth > MAX_JSON_DEPTH:
        raise _too_deep()
    out = []
    deep = depth + 1 > MAX_JSON_DEPTH
    for i, v in enumerate(value):
        if not deep and _is_plain(v, nonfinite):
            out.append(v)
            continue
        try:
            out.append(_convert(v, depth + 1, nonfinite))
        except _Bad as bad:
            bad.path.append(i)
            raise
    return out


def _convert_other(value: Any, depth: int, nonfinite: bool) -> Any:
    """Everything but exact str/int/bool/None/dict/list/tuple: floats, numpy values, subclasses."""
    if depth > MAX_JSON_DEPTH:
        raise _too_deep()
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
        if not math.isfinite(f) and not nonfinite:
            raise _Bad(value, "is NaN or infinite, which JSON cannot hold",
                       "store None or a string such as 'nan' instead")
        return f
    if isinstance(value, np.ndarray):
        return _convert(value.tolist(), depth, nonfinite)
    if isinstance(value, (list, tuple)):
        return _convert_list(value, depth, nonfinite)
    if isinstance(value, dict):
        return _convert_dict(value, depth, nonfinite)
    if isinstance(value, bytes):
        raise _Bad(value, "is bytes, which JSON cannot hold", "decode it to str, or base64-encode it",
                   MetadataTypeError)
    raise _Bad(value, f"has type {type(value).__name__}, which is not JSON",
               "use dict, list, str, int, float, bool or None", MetadataTypeError)
