"""How MLArray layers look: colours for classes, boxes and channels, and image contrast limits."""

from __future__ import annotations

from typing import Optional

import numpy as np

from mlarray.meta import Meta

from ..radiology._windows import stored_window, window_limits

__all__ = ["CHANNEL_COLORMAPS", "box_colors", "contrast_limits", "labels_colormap"]

# Colours for boxes whose label is not in the class table, and for channels.
_PALETTE = [(0.0, 1.0, 0.0, 1.0), (1.0, 0.0, 1.0, 1.0), (0.0, 1.0, 1.0, 1.0), (1.0, 1.0, 0.0, 1.0),
            (1.0, 0.5, 0.0, 1.0), (0.5, 0.5, 1.0, 1.0), (1.0, 0.3, 0.3, 1.0), (0.6, 1.0, 0.6, 1.0)]
CHANNEL_COLORMAPS = ["magenta", "green", "cyan", "yellow", "red", "blue", "gray"]


def contrast_limits(meta: Meta, dtype, channel: Optional[int] = None) -> tuple[float, float]:
    """The window the original header asks for (DICOM WindowCenter/Width), else the 0.5/99.5
    percentiles of the stored statistics (of ``channel`` when stored per channel)."""
    stored = stored_window(meta.source) if channel is None else None
    if stored is not None:
        return window_limits(*stored)
    st = meta.stats if channel is None else meta.stats.channel(channel)
    lo, hi = st.percentile(0.5), st.percentile(99.5)
    if lo is None or hi is None or not hi > lo:
        lo, hi = st.min, st.max
    if lo is None or hi is None:
        dt = np.dtype(dtype)
        if dt.kind in "iu":
            info = np.iinfo(dt)
            lo, hi = info.min, info.max
        elif dt.kind == "b":
            lo, hi = 0, 1
        else:
            lo, hi = 0.0, 1.0
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def labels_colormap(classes):
    from napari.utils.colormaps import DirectLabelColormap

    colors: dict = {None: np.array([0.6, 0.6, 0.6, 1.0]), 0: np.zeros(4)}
    for i, c in enumerate(classes):
        col = c.get("color") or _PALETTE[i % len(_PALETTE)]
        colors[int(c["id"])] = np.asarray(col, dtype=float)
    return DirectLabelColormap(color_dict=colors)


def box_colors(labels: list, classes) -> list:
    by_id = {c["id"]: c.get("color") for c in classes or []}
    by_name = {c["name"]: c.get("color") for c in classes or []}
    fallback: dict = {}
    out = []
    for lab in labels:
        col = None
        if isinstance(lab, str):
            col = by_name.get(lab)
        elif isinstance(lab, (int, float)) and float(lab).is_integer():
            col = by_id.get(int(lab))
        if col is None:
            key = repr(lab)
            if key not in fallback:
                fallback[key] = _PALETTE[len(fallback) % len(_PALETTE)]
            col = fallback[key]
        out.append(list(col))
    return out


