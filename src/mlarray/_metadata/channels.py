"""Display fields kept in ``Meta.extra`` (per channel, or the image's window and value unit), and the time interval.

Converters fill them from the source's own spelling (OME-Zarr ``omero``, OME-XML, ImageJ, bioio);
napari shows them and saves what the user set; ``mlarray validate`` checks them:

- ``extra["channel_names"]``: one name per entry of the ``channel`` axis;
- ``extra["channel_colors"]``: one ``"#rrggbb"`` per channel;
- ``extra["channel_windows"]``: one display window ``[start, end]`` per channel;
- ``extra["channel_visible"]``: one bool per channel (OME-Zarr ``omero`` ``active``); absent means all shown;
- ``extra["display_window"]``: the display window ``[start, end]`` of an image without a channel axis (what the
  napari plugin saves from the layer's contrast limits, so a file reopens as it was left);
- ``extra["time_interval"]``: seconds between time points (the ``temporal`` axis' step);
- ``extra["value_unit"]``: the unit of the stored values, e.g. ``"HU"`` for a CT (the DICOM converter sets it
  from the header; viewers show values and measurements with it).

Each list describes the whole channel axis or nothing: a list whose length differs from the axis
cannot say which channel an entry belongs to.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

__all__ = ["CHANNEL_COLORS", "CHANNEL_LISTS", "CHANNEL_NAMES", "CHANNEL_VISIBLE", "CHANNEL_WINDOWS",
           "TIME_INTERVAL", "VALUE_UNIT", "WINDOW", "channel_axis_length", "channel_list", "channel_list_problems",
           "display_window", "hex_color", "time_interval", "value_unit"]

CHANNEL_NAMES = "channel_names"
CHANNEL_COLORS = "channel_colors"
CHANNEL_WINDOWS = "channel_windows"
CHANNEL_VISIBLE = "channel_visible"
CHANNEL_LISTS = (CHANNEL_NAMES, CHANNEL_COLORS, CHANNEL_WINDOWS, CHANNEL_VISIBLE)
TIME_INTERVAL = "time_interval"
WINDOW = "display_window"
VALUE_UNIT = "value_unit"

_EXPECTED = {CHANNEL_NAMES: "a non-empty name", CHANNEL_COLORS: 'a colour "#rrggbb"',
             CHANNEL_WINDOWS: "a window [start, end] with start < end", CHANNEL_VISIBLE: "true or false"}


def hex_color(value: Any) -> Optional[str]:
    """``"#rrggbb"`` (lower case) from ``"rrggbb"``/``"#RRGGBB"``; None for anything else."""
    if isinstance(value, str):
        v = value.strip().lstrip("#")
        if len(v) == 6:
            try:
                int(v, 16)
            except ValueError:
                return None
            return "#" + v.lower()
    return None


def _entry(key: str, value: Any) -> Any:
    """The checked entry of list ``key``, or None when it is not one."""
    if key == CHANNEL_NAMES:
        return value if isinstance(value, str) and value else None
    if key == CHANNEL_COLORS:
        return hex_color(value)
    if key == CHANNEL_WINDOWS:
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError):
            return None
        return [lo, hi] if math.isfinite(lo) and math.isfinite(hi) and lo < hi else None
    if key == CHANNEL_VISIBLE:
        return value if isinstance(value, bool) else None
    raise KeyError(key)


def channel_list(extra: Any, key: str, n: Optional[int]) -> Optional[list]:
    """The list stored under ``key`` when it has ``n`` well-formed entries, else None."""
    values = extra.get(key) if isinstance(extra, dict) else None
    if n is None or not isinstance(values, list) or len(values) != n:
        return None
    out = [_entry(key, v) for v in values]
    return None if any(v is None for v in out) else out


def channel_axis_length(axis_labels: Optional[Sequence], shape: Optional[Sequence[int]]) -> Optional[int]:
    """Length of the ``channel`` axis (None when the array has none)."""
    if not axis_labels or shape is None or len(axis_labels) != len(shape):
        return None
    labels = [getattr(v, "value", v) for v in axis_labels]
    return int(shape[labels.index("channel")]) if "channel" in labels else None


def channel_list_problems(extra: Any, n: Optional[int]) -> list[tuple[str, str, str]]:
    """``(field, message, fix)`` for each channel list that does not describe a channel axis of ``n``."""
    out: list[tuple[str, str, str]] = []
    if not isinstance(extra, dict):
        return out
    for key in CHANNEL_LISTS:
        if key not in extra:
            continue
        values, field = extra[key], f"extra.{key}"
        if not isinstance(values, list):
            out.append((field, f"is {type(values).__name__}, not a list", "store one entry per channel in a list"))
        elif n is None:
            out.append((field, f"has {len(values)} entries but the array has no channel axis",
                        "remove it, or label the channel axis 'channel'"))
        elif len(values) != n:
            out.append((field, f"has {len(values)} entries for a channel axis of {n}",
                        f"give exactly {n} entries, one per channel, or remove it"))
        else:
            bad = [i for i, v in enumerate(values) if _entry(key, v) is None]
            if bad:
                out.append((f"{field}[{bad[0]}]", f"{values[bad[0]]!r} is not {_EXPECTED[key]}",
                            f"write {_EXPECTED[key]} for every channel"))
    if WINDOW in extra and display_window(extra) is None:
        out.append((f"extra.{WINDOW}", f"{extra[WINDOW]!r} is not {_EXPECTED[CHANNEL_WINDOWS]}",
                    "write the display window as [start, end], or remove it"))
    return out


def value_unit(extra: Any) -> str:
    """The unit of the stored values (``""`` when not recorded)."""
    value = extra.get(VALUE_UNIT) if isinstance(extra, dict) else None
    return value.strip() if isinstance(value, str) else ""


def display_window(extra: Any) -> Optional[list]:
    """The image's stored display window ``[start, end]`` (None when absent or not one)."""
    value = extra.get(WINDOW) if isinstance(extra, dict) else None
    return None if value is None else _entry(CHANNEL_WINDOWS, value)


def time_interval(extra: Any) -> Optional[float]:
    """The stored time interval in seconds (None when absent or not a positive number)."""
    value: Any = extra.get(TIME_INTERVAL) if isinstance(extra, dict) else None
    if isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None
