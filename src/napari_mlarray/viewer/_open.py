"""napari's viewers as the plugin reaches them: the ones open in this session (napari is imported only when a
caller already has it), the viewer behind napari's proxy, and a viewer's own QtViewer."""

from __future__ import annotations

import sys

__all__ = ["open_viewers", "unwrapped", "qt_viewer_of"]


def open_viewers() -> list:
    """Every open viewer, the current one included; none while napari is not imported (a script)."""
    if "napari" not in sys.modules:
        return []
    import napari

    viewers = list(getattr(napari.Viewer, "_instances", ()))  # every open viewer (not public)
    try:
        cur = napari.current_viewer()
    except Exception:  # pragma: no cover - no Qt
        cur = None
    if cur is not None and cur not in viewers:
        viewers.append(cur)
    return viewers


def unwrapped(viewer):
    """The viewer itself: napari hands plugin widgets and menu commands a ``PublicOnlyProxy`` of it, which wraps
    every layer and array read through it (they lose their identity) and warns on napari's private attributes."""
    return getattr(viewer, "__wrapped__", viewer)


def qt_viewer_of(viewer):
    """The ``QtViewer`` drawing a napari ``Viewer``'s canvas, or None (a ``ViewerModel`` without a window).
    napari has no public getter; ``Window._qt_viewer`` has held it from napari 0.4 to 0.9."""
    return getattr(getattr(unwrapped(viewer), "window", None), "_qt_viewer", None)
