"""Text <-> values for the metadata widget's fields: parsing lists/matrices, formatting cells."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable, Optional

import numpy as np

from mlarray import MetadataError

__all__ = ["color_hex", "fmt_extent", "fmt_list", "fmt_matrix", "fmt_num", "is_nan", "parse_list", "parse_matrix",
           "table_cell"]


def parse_list(text: str, field: str, *, numbers: bool = True) -> Any:
    """``"1, 2, 3"``, ``"1 2 3"`` or JSON ``[1, 2, 3]``; empty text means "not set" (None)."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise MetadataError(field, text, f"is not valid JSON ({exc.msg})", "write e.g. [1.0, 0.8, 0.8]") from None
    parts = [p for p in re.split(r"[,\s]+" if numbers else r"\s*,\s*", text) if p != ""]
    if not numbers:
        return parts
    out = []
    for p in parts:
        try:
            out.append(float(p))
        except ValueError:
            raise MetadataError(field, text, f"{p!r} is not a number", "write numbers separated by commas") from None
    return out


def parse_matrix(text: str, field: str) -> Any:
    text = text.strip()
    if not text:
        return None
    if text.startswith("["):
        return parse_list(text, field)
    return [parse_list(row, field) for row in text.split(";") if row.strip()]


def fmt_num(v: Any) -> str:
    return format(float(v), ".6g")


def fmt_list(v: Optional[Iterable[Any]]) -> str:
    return "" if v is None else ", ".join(fmt_num(x) if isinstance(x, (int, float)) else str(x) for x in v)


def fmt_matrix(m: Optional[Iterable[Iterable[Any]]]) -> str:
    return "" if m is None else "; ".join(fmt_list(r) for r in m)


def color_hex(c: Optional[Iterable[Any]]) -> str:
    if not c:
        return ""
    return "#" + "".join(f"{int(round(float(x) * 255)):02x}" for x in c)


def is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def table_cell(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    return "" if v is None or is_nan(v) else v


def fmt_extent(box: Iterable[Iterable[Any]]) -> str:
    return " × ".join(f"{fmt_num(lo)}–{fmt_num(hi)}" for lo, hi in box)

