"""Display windows as radiologists use them: CT presets, windows stored in DICOM headers, percentile windows.

A window is ``(center, width)`` in the image's stored units, as DICOM's WindowCenter/WindowWidth
and every radiology viewer express it; napari's contrast limits are ``center ± width / 2``.
No Qt here: the functions take and return plain values or napari layer models.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

from ..layers._windows import dicom_window, percentile_window, stored_window, window_limits
from ._readout import value_unit

__all__ = ["WINDOW_PRESETS", "PERCENTILE_WINDOWS", "CUSTOM_WINDOW", "WindowUnitWarning", "window", "window_limits",
           "window_name", "dicom_window", "stored_window", "percentile_window", "command_name"]

# CT windows in Hounsfield units, (center, width). Values from Radiopaedia's "Windowing (CT)" article
# (typical values, which it notes vary by institution); where it gives a range the middle is used.
# The stroke window is the narrow one of Radiopaedia's stroke-window case (L 32, W 8), which raises
# the visibility of early grey/white loss over the brain window.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (32.0, 8.0),
    "temporal bone": (600.0, 2800.0),
    "head and neck soft tissue": (40.0, 375.0),
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "soft tissue": (50.0, 400.0),
    "abdomen": (50.0, 400.0),
    "liver": (30.0, 150.0),
    "spine soft tissue": (50.0, 250.0),
    "bone": (400.0, 1800.0),
}

# For data without fixed units (MR, microscopy): windows from the file's stored percentiles.
PERCENTILE_WINDOWS: dict[str, tuple[float, float]] = {
    "percentiles 0.5-99.5": (0.5, 99.5),
    "percentiles 1-99": (1.0, 99.0),
    "percentiles 5-95": (5.0, 95.0),
    "full range": (0.0, 100.0),
}

CUSTOM_WINDOW = "custom"  # the name of a window that is none of the named ones


class WindowUnitWarning(UserWarning):
    """A CT window (in Hounsfield units) was applied to an image whose values are not Hounsfield units."""


def command_name(name: str) -> str:
    """The menu command's (and its Python function's) name for the window ``name``: ``"percentiles 0.5-99.5"``
    -> ``"window_percentiles_0_5_99_5"``."""
    return "window_" + "".join(c if c.isalnum() else "_" for c in name)


def _is_hounsfield(unit: str) -> bool:
    return unit.strip().casefold() in ("hu", "hounsfield unit", "hounsfield units")


def _warn_unless_hounsfield(layer: Any, name: str) -> None:
    """Say so when the CT window ``name`` is applied to values that are not HU: the window is applied (the
    user asked for it), but a brain window on an MR's 127-2145 is an all-white image without a word."""
    unit = value_unit(layer)
    if _is_hounsfield(unit):
        return
    values = f"values in {unit}" if unit else "values with no unit"
    percentiles = ", ".join(repr(p) for p in PERCENTILE_WINDOWS)
    warnings.warn(f"{layer.name}: window {name!r} is a CT window in Hounsfield units (HU), but this image holds "
                  f"{values}, not HU; a window from its own values suits it better: the percentile windows "
                  f"({percentiles}; Layers > Visualize > Percentile window)", WindowUnitWarning, stacklevel=3)


def window(layer: Any, name: str) -> tuple[float, float]:
    """Apply the window ``name`` to an image layer and return the contrast limits set.

    The slider's range grows to hold the window, so a bone window is reachable on any CT.

    Parameters
    ----------
    layer : napari.layers.Image
        The image layer; percentile and stored windows read the MLArray metadata it was opened with
        (``layer.metadata["mlarray"]``).
    name : str
        Case-insensitive: a key of :data:`WINDOW_PRESETS` (CT windows in Hounsfield units, e.g. ``"lung"``), of
        :data:`PERCENTILE_WINDOWS` (from the file's stored percentiles, e.g. ``"percentiles 1-99"``),
        or ``"stored"`` for the first WindowCenter/WindowWidth of the file's DICOM header.

    Returns
    -------
    tuple of float
        The contrast limits ``(low, high)`` now set on ``layer``: ``center ± width / 2``.

    Raises
    ------
    ValueError
        ``name`` is unknown, or the layer lacks the statistics or DICOM header the window needs.

    Warns
    -----
    WindowUnitWarning
        A CT preset applied to an image whose values are not Hounsfield units (its ``value_unit`` is
        another unit or none): the window is applied all the same.
    """
    mapping = (getattr(layer, "metadata", None) or {}).get("mlarray") or {}
    # "Bone" and "bone" are the same window to a radiologist typing it
    known_names = [*WINDOW_PRESETS, *PERCENTILE_WINDOWS, "stored"]
    name = next((k for k in known_names if k.casefold() == str(name).strip().casefold()), name)
    if name in WINDOW_PRESETS:
        center, width = WINDOW_PRESETS[name]
        _warn_unless_hounsfield(layer, name)
    elif name in PERCENTILE_WINDOWS:
        found = percentile_window(mapping, *PERCENTILE_WINDOWS[name])
        if found is None:
            raise ValueError(f"window {name!r}: layer {layer.name!r} has no stored statistics for it; "
                             f"use a CT preset ({', '.join(WINDOW_PRESETS)}) or set contrast_limits")
        center, width = found
    elif name == "stored":
        found = stored_window(mapping.get("source") or {})
        if found is None:
            raise ValueError(f"window 'stored': layer {layer.name!r} holds no WindowCenter/WindowWidth")
        center, width = found
    else:
        known = ", ".join(known_names)
        raise ValueError(f"unknown window {name!r}; known: {known}")
    low, high = window_limits(center, width)
    rlo, rhi = layer.contrast_limits_range
    if low < rlo or high > rhi:
        layer.contrast_limits_range = (min(low, rlo), max(high, rhi))
    layer.contrast_limits = (low, high)
    return low, high


def window_name(layer: Any) -> str:
    """The name of the window ``layer`` shows: a CT preset, a percentile window, ``"stored"``, or
    :data:`CUSTOM_WINDOW` when its contrast limits are none of them (as :func:`window` sets them)."""
    low, high = (float(v) for v in layer.contrast_limits)
    mapping = (getattr(layer, "metadata", None) or {}).get("mlarray") or {}
    candidates: list[tuple[str, Optional[tuple[float, float]]]] = [
        *((name, cw) for name, cw in WINDOW_PRESETS.items()),
        ("stored", stored_window(mapping.get("source") or {})),
        *((name, percentile_window(mapping, *pw)) for name, pw in PERCENTILE_WINDOWS.items()),
    ]
    tolerance = 1e-6 * max(abs(high - low), 1.0)
    for name, cw in candidates:
        if cw is None:
            continue
        lo, hi = window_limits(*cw)
        if abs(lo - low) <= tolerance and abs(hi - high) <= tolerance:
            return name
    return CUSTOM_WINDOW
