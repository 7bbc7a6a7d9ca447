"""Radiology-viewer mouse behaviour on a napari viewer: window/level by right-drag.

Right-drag changes the window of the image being looked at, as OHIF and 3D Slicer do with their
window/level tool: horizontal motion changes the width, vertical motion the level (down = higher
level, a darker image). It is on as soon as the plugin opens a file into a viewer (and in the
orthogonal views, where it sets the window of the main viewer's layer). napari's left-drag pan, wheel
zoom and every layer tool are left alone: the drag is taken only while an Image layer is the active
layer, or no layer is active; with a Labels, Shapes or Points layer active the right button stays
napari's.

The cursor read-out (value and position under the cursor) is :mod:`._readout`.
"""

from __future__ import annotations

import weakref
from typing import Any, Iterator, Optional

import numpy as np

__all__ = ["enable_window_level", "disable_window_level", "enable_window_level_by_default", "link_window_level"]

_WL_PIXELS = 512.0  # a drag across this many screen pixels sweeps the layer's whole value range


# viewers whose user turned right-drag window/level off (the widget's checkbox, disable_window_level): a file
# opened later does not turn it back on
_WL_OFF: "weakref.WeakSet[Any]" = weakref.WeakSet()
# a canvas's viewer -> the viewer whose layers it windows (an orthogonal view -> the main viewer)
_WL_SOURCE: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _window_level_target(viewer: Any) -> Optional[Any]:
    """The image a right-drag windows: the active image layer, or the topmost visible one when no layer is
    active; none while another kind of layer is active (its tools keep their right button)."""
    from napari.layers import Image

    active = viewer.layers.selection.active
    if active is not None:
        return active if isinstance(active, Image) and not active.rgb else None
    images = [lay for lay in viewer.layers if isinstance(lay, Image) and lay.visible and not lay.rgb]
    return images[-1] if images else None


def _window_level_drag(viewer: Any, event: Any) -> Iterator[None]:
    if event.button != 2 or event.type != "mouse_press":
        return
    source = _WL_SOURCE.get(viewer, viewer)
    if source in _WL_OFF:
        return
    layer = _window_level_target(source)
    if layer is None:
        return
    event.handled = True  # the camera's right-drag zoom must not run as well
    # napari before 0.9 lets the camera see the drag even when a callback handled it: switch the
    # camera's mouse handling off for the length of the drag (public Camera.mouse_zoom/mouse_pan;
    # napari keeps the canvas interactive while either is on), then restore both
    camera = _camera(viewer)
    zoom_on, pan_on = camera.mouse_zoom, camera.mouse_pan
    camera.mouse_zoom = camera.mouse_pan = False
    lo, hi = layer.contrast_limits
    center, width = (lo + hi) / 2.0, hi - lo
    rlo, rhi = layer.contrast_limits_range
    per_pixel = max(rhi - rlo, 1.0) / _WL_PIXELS
    start = np.asarray(event.pos, dtype=float)
    yield
    while event.type == "mouse_move":
        event.handled = True
        dx, dy = np.asarray(event.pos, dtype=float) - start
        new_width = max(width + dx * per_pixel, 1.0)
        new_center = center + dy * per_pixel
        low, high = new_center - new_width / 2.0, new_center + new_width / 2.0
        if low < rlo or high > rhi:
            layer.contrast_limits_range = (min(low, rlo), max(high, rhi))
            rlo, rhi = layer.contrast_limits_range
        layer.contrast_limits = (low, high)
        yield
    camera.mouse_zoom, camera.mouse_pan = zoom_on, pan_on


def _camera(viewer: Any) -> Any:
    scene = getattr(viewer, "scene", None)  # napari >= 0.9: viewer.scene.camera; viewer.camera before
    return scene.camera if scene is not None else viewer.camera


def enable_window_level(viewer: Any) -> None:
    """Right-drag on the canvas sets the window of the image under control (width: horizontal, level: vertical).

    The image under control is the active image layer, or the topmost visible one when no layer is active
    (with another kind of layer active, the right button is napari's). The plugin turns it on for the viewers
    it opens files into; calling it again changes nothing; :func:`disable_window_level` undoes it.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer whose canvas takes the right-drag (napari's right-drag zoom gives way to it).
    """
    _WL_OFF.discard(viewer)
    if _window_level_drag not in viewer.mouse_drag_callbacks:
        viewer.mouse_drag_callbacks.append(_window_level_drag)


def enable_window_level_by_default(viewer: Any) -> None:
    """Right-drag window/level on ``viewer``'s canvas unless its user turned it off (:func:`disable_window_level`):
    the plugin calls it when it opens a file into a viewer."""
    if viewer not in _WL_OFF and _window_level_drag not in viewer.mouse_drag_callbacks:
        viewer.mouse_drag_callbacks.append(_window_level_drag)


def link_window_level(view: Any, viewer: Any) -> None:
    """Right-drag on ``view``'s canvas (a viewer model showing ``viewer``'s layers, e.g. an orthogonal view)
    windows ``viewer``'s image, and follows ``viewer``'s on/off switch."""
    _WL_SOURCE[view] = viewer
    if _window_level_drag not in view.mouse_drag_callbacks:
        view.mouse_drag_callbacks.append(_window_level_drag)


def disable_window_level(viewer: Any) -> None:
    """Give the right button back to napari on ``viewer``'s canvas (and on the views linked to it), also for files
    opened later; :func:`enable_window_level` turns it on again."""
    _WL_OFF.add(viewer)
    if _window_level_drag in viewer.mouse_drag_callbacks:
        viewer.mouse_drag_callbacks.remove(_window_level_drag)
