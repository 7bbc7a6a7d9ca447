"""Microscopy metadata -> the record fields tools read, shared by the TIFF, OME-Zarr and bioio converters.

The fields themselves are declared once, in :mod:`mlarray._metadata.channels` (which napari and
``validate`` read too); this module translates each source format's spelling into them.

Whichever reader a file goes through (tifffile, ome-zarr, a bioio plugin), the same data must come
out with the same fields, because the napari layers and the writers read only these:

- ``extra["channel_names"]``: one name per entry of the channel axis;
- ``extra["channel_colors"]``: one ``"#rrggbb"`` per channel;
- ``extra["channel_windows"]``: one ``[start, end]`` display window per channel;
- ``extra["time_interval"]``: seconds between time points;
- ``axis_units``: one unit per spatial axis, or one per axis when a non-spatial axis has a unit
  (time in ``"s"`` once the interval is known), ``""`` for an axis without one; None when no axis has one.

Each source format only translates its own spelling (OME-XML ``Channel/@Name``, ``omero``
``label``, ImageJ ``finterval``) and hands the values to :func:`channel_fields`,
:func:`time_fields` and :func:`axis_units`, which check them and build the fields.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any, Sequence

from ..._errors import MetadataError
from ..._metadata.channels import (
    CHANNEL_COLORS,
    CHANNEL_NAMES,
    CHANNEL_VISIBLE,
    CHANNEL_WINDOWS,
    TIME_INTERVAL,
    hex_color,
)

__all__ = ["CHANNEL_NAMES", "CHANNEL_COLORS", "CHANNEL_WINDOWS", "TIME_INTERVAL", "channel_fields",
           "time_fields", "axis_units", "hex_color", "ome_color_to_hex", "hex_to_ome_color", "seconds",
           "ome_pixels"]

TIME_UNIT = "s"

_TO_SECONDS = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "millisecond": 1e-3,
               "µs": 1e-6, "us": 1e-6, "microsecond": 1e-6, "ns": 1e-9, "nanosecond": 1e-9,
               "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0}


def seconds(value: Any, unit: Any = "s") -> float | None:
    """``value`` in ``unit`` as seconds (None when either is unusable or the interval is not positive)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    factor = _TO_SECONDS.get(str(unit or "s").strip().lower().replace("\u03bc", "µ"))
    if factor is None or not math.isfinite(v) or v <= 0:
        return None
    return v * factor


def ome_color_to_hex(value: Any) -> str | None:
    """OME-XML ``Color`` (a signed 32-bit RGBA integer) as ``"#rrggbb"``."""
    try:
        rgba = int(value) & 0xFFFFFFFF
    except (TypeError, ValueError):
        return None
    return f"#{rgba >> 8:06x}"


def hex_to_ome_color(value: Any) -> int | None:
    """``"#rrggbb"`` as OME-XML ``Color`` (opaque, signed 32-bit as the schema wants)."""
    h = hex_color(value)
    if h is None:
        return None
    rgba = (int(h[1:], 16) << 8) | 0xFF
    return rgba - (1 << 32) if rgba >= 1 << 31 else rgba


def channel_fields(n: int, names: Sequence | None = None, colors: Sequence | None = None,
                   windows: Sequence | None = None, visible: Sequence | None = None) -> dict:
    """The channel entries of ``extra`` for a channel axis of ``n``; each list is kept only if it is whole."""
    out: dict = {}
    if names is not None and len(names) == n and all(isinstance(x, str) and x for x in names):
        out[CHANNEL_NAMES] = [str(x) for x in names]
    if colors is not None and len(colors) == n:
        hexes = [hex_color(c) for c in colors]
        if all(hexes):
            out[CHANNEL_COLORS] = hexes
    if windows is not None and len(windows) == n:
        try:
            pairs = [[float(w[0]), float(w[1])] for w in windows]
        except (TypeError, ValueError, IndexError):
            pairs = []
        if pairs and all(math.isfinite(v) for w in pairs for v in w) and all(lo <= hi for lo, hi in pairs):
            out[CHANNEL_WINDOWS] = pairs
    # Kept only when some channel is hidden: absent means all shown, and most files show every channel.
    if visible is not None and len(visible) == n and all(isinstance(v, bool) for v in visible) and not all(visible):
        out[CHANNEL_VISIBLE] = list(visible)
    return out


def time_fields(interval_s: float | None) -> dict:
    """``{"time_interval": seconds}`` for a usable interval, else nothing."""
    if interval_s is None or not math.isfinite(interval_s) or interval_s <= 0:
        return {}
    return {TIME_INTERVAL: float(interval_s)}


def axis_units(labels: Sequence[str], units: Sequence[str | None]) -> list[str] | None:
    """``axis_units`` from one unit (or None) per axis, in the one layout every converter uses.

    One entry per spatial axis, unless a non-spatial axis has a unit: then one per axis.
    """
    if len(units) != len(labels):
        raise MetadataError("axis_units", list(units), f"{len(units)} units for {len(labels)} axes",
                            "give one unit (or None) per axis")
    named = [u or "" for u in units]
    if not any(named):
        return None
    spatial = [i for i, lab in enumerate(labels) if str(lab).startswith("spatial")]
    if any(named[i] for i in range(len(labels)) if i not in spatial):
        return named
    return [named[i] for i in spatial]


def ome_pixels(xml: str) -> dict:
    """What the first OME ``Image/Pixels`` says about geometry, time and channels.

    Returns ``{"sizes": {axis: size}, "units": {axis: unit}, "time_interval": s | None,
    "channel_names": [...], "channel_colors": [...]}``; the channel lists hold None where a
    ``Channel`` has no such attribute.
    """
    out: dict = {"sizes": {}, "units": {}, "time_interval": None, "channel_names": [], "channel_colors": []}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return out
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return out
    for ax in "XYZ":
        v = pixels.get(f"PhysicalSize{ax}")
        if v is None:
            continue
        try:
            size = float(v)
        except ValueError:
            continue
        if math.isfinite(size) and size > 0:
            out["sizes"][ax] = size
            out["units"][ax] = pixels.get(f"PhysicalSize{ax}Unit", "µm")  # the OME schema's default
    out["time_interval"] = seconds(pixels.get("TimeIncrement"), pixels.get("TimeIncrementUnit", "s"))
    for ch in pixels:
        if ch.tag.rsplit("}", 1)[-1] != "Channel":
            continue
        out["channel_names"].append(ch.get("Name") or None)
        color = ch.get("Color")
        out["channel_colors"].append(ome_color_to_hex(color) if color is not None else None)
    return out
