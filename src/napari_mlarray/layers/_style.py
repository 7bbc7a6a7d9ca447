"""How MLArray layers look: colours for classes, boxes and channels, and image contrast limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from numpy.typing import DTypeLike

from mlarray._metadata.channels import (
    CHANNEL_COLORS,
    CHANNEL_VISIBLE,
    CHANNEL_WINDOWS,
    channel_list,
    display_window,
    hex_color,
)
from mlarray.meta import Meta

from ._windows import stored_window, window_limits

if TYPE_CHECKING:  # pragma: no cover
    from napari.layers import Layer

__all__ = ["CHANNEL_COLORMAPS", "OPENED_WINDOW_KEY", "RANGE_KEY", "apply_display_range", "box_colors", "colormap_hex",
           "contrast_limits", "image_display", "labels_colormap"]

# Colours for boxes whose label is not in the class table, and for channels.
_PALETTE = [(0.0, 1.0, 0.0, 1.0), (1.0, 0.0, 1.0, 1.0), (0.0, 1.0, 1.0, 1.0), (1.0, 1.0, 0.0, 1.0),
            (1.0, 0.5, 0.0, 1.0), (0.5, 0.5, 1.0, 1.0), (1.0, 0.3, 0.3, 1.0), (0.6, 1.0, 0.6, 1.0)]
CHANNEL_COLORMAPS = ["magenta", "green", "cyan", "yellow", "red", "blue", "gray"]
# napari's colormaps that run from black to one colour, by that colour
_NAMED_COLORMAPS = {"#ff00ff": "magenta", "#00ff00": "green", "#00ffff": "cyan", "#ffff00": "yellow",
                    "#ff0000": "red", "#0000ff": "blue", "#ffffff": "gray"}
# Layer metadata: the data range the contrast slider must reach. A reader's layer tuple cannot set
# napari's contrast_limits_range (it follows the initial limits), so it is set once the layer is in a
# viewer (:func:`apply_display_range`).
RANGE_KEY = "mlarray_range"
# Layer metadata: the contrast limits the layer opened with. A save stores the layer's window in the
# file (``extra["display_window"]``) only when the user changed it, so an untouched file saves as it was.
OPENED_WINDOW_KEY = "mlarray_opened_window"


def _data_range(meta: Meta, dtype: DTypeLike, channel: Optional[int]) -> Optional[tuple[float, float]]:
    st = meta.stats if channel is None else meta.stats.channel(channel)
    if st.min is not None and st.max is not None:
        return float(st.min), float(st.max)
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return float(info.min), float(info.max)
    return None


def _channel_colormap(color: str) -> Any:
    """A napari colormap from black to ``color`` ("#rrggbb"): napari's own when it has one."""
    if color in _NAMED_COLORMAPS:
        return _NAMED_COLORMAPS[color]
    from napari.utils.colormaps import Colormap

    rgb = [int(color[i:i + 2], 16) / 255.0 for i in (1, 3, 5)]
    return Colormap([[0.0, 0.0, 0.0, 1.0], [*rgb, 1.0]], name=color)


def colormap_hex(colormap: Any) -> Optional[str]:
    """The colour a layer's colormap runs to, as "#rrggbb" (a name, a Colormap, or its dumped dict)."""
    if isinstance(colormap, dict) and "colors" in colormap:
        colors = colormap["colors"]
    else:
        try:
            from napari.utils.colormaps import ensure_colormap

            colors = ensure_colormap(colormap).colors
        except (KeyError, ValueError, TypeError):
            return None
    last = np.asarray(colors, dtype=float)[-1][:3]
    return hex_color("".join(f"{int(round(float(np.clip(v, 0, 1)) * 255)):02x}" for v in last))


def image_display(meta: Meta, dtype: DTypeLike, channel: Optional[int] = None, n_channels: Optional[int] = None
                  ) -> tuple[dict, Optional[list]]:
    """``(layer kwargs, data range)`` for an image layer (channel ``channel`` of ``n_channels``).

    Stored channel colours, windows and visibility (``extra``; see :mod:`mlarray._metadata.channels`)
    win; without them a channel gets a colour of :data:`CHANNEL_COLORMAPS` and the 0.5/99.5
    percentile window. The range spans the data and the window, so a bone window is reachable.
    """
    kw: dict = {"contrast_limits": contrast_limits(meta, dtype, channel), "colormap": "gray"}
    if channel is not None:
        colors = channel_list(meta.extra, CHANNEL_COLORS, n_channels)
        windows = channel_list(meta.extra, CHANNEL_WINDOWS, n_channels)
        visible = channel_list(meta.extra, CHANNEL_VISIBLE, n_channels)
        kw["colormap"] = (_channel_colormap(colors[channel]) if colors
                          else CHANNEL_COLORMAPS[channel % len(CHANNEL_COLORMAPS)])
        if windows:
            kw["contrast_limits"] = tuple(windows[channel])
        if visible:
            kw["visible"] = visible[channel]
        kw["blending"] = "additive"
    rng = _data_range(meta, dtype, channel)
    lo, hi = kw["contrast_limits"]
    return kw, None if rng is None else [min(rng[0], lo), max(rng[1], hi)]


def apply_display_range(layer: Layer) -> None:
    """Let the contrast slider of a layer just inserted reach its data range (see :data:`RANGE_KEY`)."""
    md = layer.metadata if isinstance(layer.metadata, dict) else {}
    rng = md.get(RANGE_KEY)
    if rng is None or not hasattr(layer, "contrast_limits_range") or getattr(layer, "rgb", False):
        return
    lo, hi = layer.contrast_limits
    layer.contrast_limits_range = [min(float(rng[0]), lo), max(float(rng[1]), hi)]


def contrast_limits(meta: Meta, dtype: DTypeLike, channel: Optional[int] = None) -> tuple[float, float]:
    """The window the image was saved in (``extra["display_window"]``), else the one the original header asks for
    (DICOM WindowCenter/Width), else the 0.5/99.5 percentiles of the stored statistics (of ``channel`` when
    stored per channel)."""
    saved = display_window(meta.extra) if channel is None else None
    if saved is not None:
        return float(saved[0]), float(saved[1])
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


def labels_colormap(classes: Sequence[Mapping[str, Any]]) -> Any:
    """napari's colormap for a Labels layer: each class its stored colour, else one of the palette."""
    from napari.utils.colormaps import DirectLabelColormap

    colors: dict = {None: np.array([0.6, 0.6, 0.6, 1.0]), 0: np.zeros(4)}
    for i, c in enumerate(classes):
        col = c.get("color") or _PALETTE[i % len(_PALETTE)]
        colors[int(c["id"])] = np.asarray(col, dtype=float)
    return DirectLabelColormap(color_dict=colors)


def box_colors(labels: list, classes: Optional[Sequence[Mapping[str, Any]]]) -> list:
    """An RGBA colour per box label: its class's colour (by name or id), else one palette colour per label."""
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


