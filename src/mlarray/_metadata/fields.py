"""Field checks shared by the metadata namespaces: each error names the field, the value and the remedy."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any, Iterable, Mapping, Optional

import numpy as np

from .._errors import MetadataError

__all__ = ["float_list", "int_list", "str_list", "optional_number", "require_mapping", "reject_unknown",
           "check_classes", "label_str"]


def label_str(v: Any) -> str:
    return v.value if isinstance(v, Enum) else v



def float_list(value: Any, field: str, length: Optional[int], *, positive: bool = False) -> list[float]:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):  # Overflow: an integer beyond any float
        raise MetadataError(field, value, "must be a list of numbers", "pass e.g. [1.0, 1.0, 2.5]") from None
    if arr.ndim != 1:
        raise MetadataError(field, value, "must be a flat list of numbers", "pass one number per spatial axis")
    if length is not None and arr.shape[0] != length:
        raise MetadataError(field, value, f"must have {length} values (one per spatial axis), got {arr.shape[0]}",
                            "give one value per spatial axis, or set axis_labels to mark non-spatial axes")
    if not np.all(np.isfinite(arr)):
        raise MetadataError(field, value, "contains NaN or infinity", "use finite numbers")
    if positive and np.any(arr <= 0):
        raise MetadataError(field, value, "must be positive", "voxel sizes are > 0; encode flips in `direction`")
    return [float(v) for v in arr]


def int_list(value: Any, field: str, length: Optional[int] = None, *, minimum: int = 0) -> list[int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = [int(value)]
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise MetadataError(field, value, "must be a list of integers", "pass e.g. [128, 128, 128]")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                v = int(v)
            else:
                raise MetadataError(field, value, "must contain integers only", "round the values")
        if int(v) < minimum:
            raise MetadataError(field, value, f"values must be >= {minimum}", "use sizes of at least 1")
        out.append(int(v))
    if length is not None and len(out) != length:
        raise MetadataError(field, value, f"must have {length} values, got {len(out)}", "give one value per axis")
    return out


def str_list(value: Any, field: str, length: Optional[int]) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise MetadataError(field, value, "must be a list of strings", "pass e.g. ['mm', 'mm', 'mm']")
    out = [label_str(v) for v in value]
    if not all(isinstance(v, str) for v in out):
        raise MetadataError(field, value, "must contain strings only", "convert entries with str()")
    if length is not None and len(out) != length:
        raise MetadataError(field, value, f"must have {length} entries, got {len(out)}", "give one entry per axis")
    return out


def optional_number(value: Any, field: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise MetadataError(field, value, "must be a number or None", "pass a float")
    try:
        f = float(value)
    except OverflowError:  # an integer beyond any float
        raise MetadataError(field, value, "is beyond the range of a float", "store a finite number") from None
    if not math.isfinite(f):
        raise MetadataError(field, value, "is NaN or infinite", "store None when the value is undefined")
    return f



def check_color(color: object, field: str) -> list[float]:
    if isinstance(color, str):
        s = color.lstrip("#")
        if len(s) not in (6, 8) or any(c not in "0123456789abcdefABCDEF" for c in s):
            raise MetadataError(field, color, "is not a colour", "use '#rrggbb', '#rrggbbaa' or [r, g, b(, a)] in 0..1")
        vals = [int(s[i:i + 2], 16) / 255 for i in range(0, len(s), 2)]
    else:
        vals = float_list(color, field, None)
        if len(vals) not in (3, 4):
            raise MetadataError(field, color, "must have 3 or 4 components", "use [r, g, b] or [r, g, b, a]")
        if any(v > 1 for v in vals):
            if all(float(v).is_integer() and 0 <= v <= 255 for v in vals):
                vals = [v / 255 for v in vals]
            else:
                raise MetadataError(field, color, "components must be within 0..1 (or integers 0..255)",
                                    "scale the colour")
        if any(v < 0 for v in vals):
            raise MetadataError(field, color, "components must not be negative", "use values within 0..1")
    if len(vals) == 3:
        vals.append(1.0)
    return [round(float(v), 6) for v in vals]


def check_classes(classes: object) -> Optional[list[dict]]:
    """Normalise a class table to ``[{"id": int, "name": str, "color": [r,g,b,a]}]`` sorted by id.

    Accepts that list form or a mapping ``{id: name}`` / ``{id: {"name":..., "color":...}}``.
    """
    if classes is None:
        return None
    items: list[dict[Any, Any]] = []
    if isinstance(classes, Mapping):
        for k, v in classes.items():
            given = dict(v) if isinstance(v, Mapping) else {"name": v}
            given["id"] = k
            items.append(given)
    elif isinstance(classes, (list, tuple)):
        items = [dict(require_mapping(c, f"classes[{i}]")) for i, c in enumerate(classes)]
    else:
        raise MetadataError("classes", classes, "must be a list of {id, name, color} or a mapping id -> name",
                            "pass e.g. {1: 'liver', 2: 'tumour'}")
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for i, c in enumerate(items):
        reject_unknown(c, f"classes[{i}]", {"id", "name", "color"})
        raw_id: Any = c.get("id")  # user data: checked here
        try:
            cid = int(raw_id)
        except (TypeError, ValueError):
            raise MetadataError(f"classes[{i}].id", c.get("id"), "must be an integer label value",
                                "use the voxel value of the class") from None
        if cid in seen:
            raise MetadataError(f"classes[{i}].id", cid, "appears twice", "give each label value one entry")
        seen.add(cid)
        name = c.get("name")
        if not isinstance(name, str):
            raise MetadataError(f"classes[{i}].name", name, "must be a string", "name the class, e.g. 'liver'")
        entry: dict[str, Any] = {"id": cid, "name": name}
        if c.get("color") is not None:
            entry["color"] = check_color(c["color"], f"classes[{i}].color")
        out.append(entry)
    return sorted(out, key=lambda e: e["id"])


def require_mapping(d: object, field: str) -> Mapping:
    if d is None:
        return {}
    if not isinstance(d, Mapping):
        raise MetadataError(field, d, "must be a JSON object (dict)", "see docs/spec.md for the layout")
    return d


def reject_unknown(d: Mapping, field: str, allowed: Iterable[str]) -> None:
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise MetadataError(f"{field}.{unknown[0]}", d[unknown[0]], "is not a field of the schema",
                            f"allowed: {', '.join(sorted(allowed))}; put custom data in `extra`")
