"""Display windows stored with a file: the window its DICOM header asks for, windows from its stored percentiles.

A window is ``(center, width)`` in the image's stored units, as DICOM's WindowCenter/WindowWidth
express it; napari's contrast limits are ``center ± width / 2``. Pure mapping (no napari, no Qt):
the layer styling reads the window a file opens with here, and the radiology tools build their
presets and menus on top of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

__all__ = ["window_limits", "dicom_window", "stored_window", "percentile_window"]

_WINDOW_CENTER, _WINDOW_WIDTH = "00281050", "00281051"


def window_limits(center: float, width: float) -> tuple[float, float]:
    """Contrast limits ``(low, high)`` of a window: ``center ± width / 2`` (width at least 1)."""
    half = max(float(width), 1.0) / 2.0
    return float(center) - half, float(center) + half


def _first_number(element: Any) -> Optional[float]:
    values = element.get("Value") if hasattr(element, "get") else None
    if not values:
        return None
    try:
        return float(values[0])  # several windows: the first is the one the modality meant as default
    except (TypeError, ValueError):
        return None


def dicom_window(source: Any) -> Optional[tuple[float, float]]:
    """``(center, width)`` from a DICOM header kept in ``source`` (``source["dicom"]``, DICOM JSON), or None.

    Our DICOM converter stores rescaled values (Hounsfield units for CT), which is the scale
    DICOM defines WindowCenter/WindowWidth on, so the window applies as it is.
    """
    header = source.get("dicom") if hasattr(source, "get") else None
    if header is None or not hasattr(header, "get"):
        return None
    # Enhanced (multi-frame) objects keep it in the shared, else the first frame's, functional groups
    for item in (header, *_frame_voi_items(header)):
        center, width = _first_number(item.get(_WINDOW_CENTER)), _first_number(item.get(_WINDOW_WIDTH))
        if center is not None and width is not None and width > 0:
            return center, width
    return None


_SHARED_GROUPS, _PER_FRAME_GROUPS, _FRAME_VOI_LUT = "52009229", "52009230", "00289132"


def _items(element: Any) -> list:
    values = element.get("Value") if hasattr(element, "get") else None
    return [v for v in values or [] if hasattr(v, "get")]


def _frame_voi_items(header: Any) -> list:
    """The Frame VOI LUT items of an enhanced object: shared functional groups, then the first frame's."""
    out = []
    for groups in (_items(header.get(_SHARED_GROUPS)), _items(header.get(_PER_FRAME_GROUPS))[:1]):
        for group in groups:
            out.extend(_items(group.get(_FRAME_VOI_LUT)))
    return out


def percentile_window(mapping: Mapping, low: float, high: float) -> Optional[tuple[float, float]]:
    """``(center, width)`` between two stored percentiles (0 and 100 mean min and max), or None."""
    stats = mapping.get("stats") if isinstance(mapping, Mapping) else None
    if not isinstance(stats, Mapping):
        return None
    table = stats.get("percentiles") or {}

    def value(p: float) -> Optional[float]:
        if p <= 0:
            return stats.get("min")
        if p >= 100:
            return stats.get("max")
        return table.get(format(p, "g"))

    lo, hi = value(low), value(high)
    if lo is None or hi is None or not float(hi) > float(lo):
        return None
    return (float(lo) + float(hi)) / 2.0, float(hi) - float(lo)


def stored_window(source: Any) -> Optional[tuple[float, float]]:
    """The window a file's original header asks it to be shown with (DICOM's first WindowCenter/Width)."""
    return dicom_window(source)
