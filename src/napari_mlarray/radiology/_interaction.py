"""Radiology-viewer mouse behaviour on a napari viewer: window/level by right-drag, cursor read-out.

Right-drag changes the window of the image being looked at, as OHIF and 3D Slicer do with their
window/level tool: horizontal motion changes the width, vertical motion the level (down = higher
level, a darker image). It is on as soon as the plugin opens a file into a viewer (and in the
orthogonal views, where it sets the window of the main viewer's layer). napari's left-drag pan, wheel
zoom and every layer tool are left alone: the drag is taken only while an Image layer is the active
layer, or no layer is active; with a Labels, Shapes or Points layer active the right button stays
napari's.

The read-out shows the value under the cursor in the image's stored units (Hounsfield units for
CT) and the world position with patient letters, in napari's status bar (``viewer.status``:
``R 12.3  A 40.1  S -5.0 mm: 40.0 HU``) and the canvas's text overlay.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Iterator, Optional

import numpy as np

from mlarray._metadata.channels import value_unit as stored_value_unit
from mlarray.affines import OPPOSITE_LETTER

__all__ = ["enable_window_level", "disable_window_level", "enable_window_level_by_default", "link_window_level",
           "enable_cursor_readout", "disable_cursor_readout", "cursor_parts", "cursor_text", "text_overlay"]

_WL_PIXELS = 512.0  # a drag across this many screen pixels sweeps the layer's whole value range


def _image_under_control(viewer: Any) -> Optional[Any]:
    from napari.layers import Image, Labels

    active = viewer.layers.selection.active
    if isinstance(active, Labels):
        return None
    if isinstance(active, Image):
        return active if not active.rgb else None
    images = [lay for lay in viewer.layers if isinstance(lay, Image) and lay.visible and not lay.rgb]
    return images[-1] if images else None


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


def text_overlay(viewer: Any) -> Any:
    """The canvas text overlay: ``viewer.canvas.overlays.text`` from napari 0.9 (which deprecates
    ``viewer.text_overlay``), ``viewer.text_overlay`` before."""
    overlays: Any = getattr(getattr(viewer, "canvas", None), "overlays", None)
    if overlays is not None and "text" in overlays:
        return overlays["text"]
    return viewer.text_overlay


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


# napari world axes of an anatomical layer, per world frame the plugin opened it in: which patient
# direction each world axis points to (positive values), see ..layers._geometry.
_FRAME_AXES = {"SPL": ("S", "P", "L"), "RAS": ("R", "A", "S")}


def cursor_parts(viewer: Any, layer: Any, world: np.ndarray) -> tuple[str, str]:
    """``(value, position)`` under the cursor: ``"40.0 HU"`` and ``"R 12.3  A 40.1  S -5.0 mm"``.

    The position is empty for a layer not opened as an anatomical MLArray file, the value for a
    point outside the image.
    """
    value = _full_resolution_value(layer, world, viewer)
    shown_value = ""
    if value is not None and not (isinstance(value, float) and np.isnan(value)):
        unit = value_unit(layer)
        shown = f"{float(value):.1f}" if np.ndim(value) == 0 else str(value)
        shown_value = f"{shown}{' ' + unit if unit else ''}"
    md = layer.metadata or {}
    mapping = md.get("mlarray") or {}
    coord = (mapping.get("spatial") or {}).get("coord_system")
    frame = _FRAME_AXES.get(str(md.get("mlarray_world") or "SPL").upper())
    position = ""
    if coord and frame and len(world) >= 3:
        ras = {}
        for letter, v in zip(frame, world[-3:]):
            # signed RAS coordinates, as 3D Slicer reports them: R, A and S positive
            if letter in "RAS":
                ras[letter] = float(v)
            else:
                ras[OPPOSITE_LETTER[letter]] = -float(v)
        position = "  ".join(f"{k} {ras[k]:.1f}" for k in "RAS") + " mm"
    return shown_value, position


def cursor_text(viewer: Any, layer: Any, world: np.ndarray) -> str:
    """``value  R x  A y  S z mm`` for an anatomical MLArray layer; the value alone otherwise."""
    return "    ".join(part for part in cursor_parts(viewer, layer, world) if part)


def _full_resolution_value(layer: Any, world: np.ndarray, viewer: Any = None) -> Any:
    """The stored value of the voxel at ``world``, from the full-resolution level.

    napari's own ``get_value`` answers from the level on screen, so a zoomed-out CT would report
    an averaged value; a radiologist reading HU needs the voxel itself.
    """
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    index = np.round(np.asarray(layer.world_to_data(world), dtype=float)).astype(int)
    if viewer is not None and viewer.dims.ndisplay == 2:
        # What napari draws there: on a tilted grid the cursor's 3-D point lies off the slice napari
        # shows, and napari alone knows which slice it drew (its non-orthogonal slicing). Its value
        # is the voxel itself unless a coarser pyramid level is on screen.
        shown = layer.get_value(world, world=True)
        level = 0
        if getattr(layer, "multiscale", False) and isinstance(shown, tuple):
            level, shown = shown
        if level == 0:
            return None if shown is None else np.asarray(shown)
    shape = data.shape[: len(index)]
    if len(index) != len(shape) or not all(0 <= i < n for i, n in zip(index, shape)):
        return None
    return np.asarray(data[tuple(int(i) for i in index)])


def value_unit(layer: Any) -> str:
    """The unit of the image's values: the file's ``extra["value_unit"]``; for files converted before it was
    recorded, ``"HU"`` for a CT from DICOM; else ``""``."""
    mapping = (layer.metadata or {}).get("mlarray") or {}
    stored = stored_value_unit(mapping.get("extra"))
    if stored:
        return stored
    header = (mapping.get("source") or {}).get("dicom") if isinstance(mapping.get("source"), dict) else None
    if isinstance(header, dict):
        modality = (header.get("00080060") or {}).get("Value") or [None]
        if modality[0] == "CT":
            return "HU"
    return ""


def _readout(viewer: Any) -> Callable[..., None]:
    def update(event: Any = None) -> None:
        layer = _image_under_control(viewer)
        if layer is None:
            text_overlay(viewer).text = ""
            return
        world = np.asarray(viewer.cursor.position, dtype=float)
        text_overlay(viewer).text = cursor_text(viewer, layer, world)
    return update


def _status(viewer: Any) -> Callable[..., None]:
    """Rewrite napari's cursor status (the status bar's coordinates) with the patient position and the
    value in the image's units, right after napari sets it (napari 0.6 to 0.9 compute it in a thread
    and set ``viewer.status`` on the main thread; a status that is no cursor read-out is left alone)."""
    busy = [False]

    def update(event: Any) -> None:
        status = event.value
        if busy[0] or not isinstance(status, dict) or "coordinates" not in status:
            return
        layer = _image_under_control(viewer)
        if layer is None:
            return
        value, position = cursor_parts(viewer, layer, np.asarray(viewer.cursor.position, dtype=float))
        if not position and not value_unit(layer):
            return  # no patient frame, no unit: napari's own read-out says as much
        if status.get("layer_name") not in (None, layer.name):
            value = f"{layer.name} {value}" if value else ""  # the value is the image's, not the active layer's
        ours = ": ".join(part for part in (position, value) if part)
        if status["coordinates"] == ours:
            return
        busy[0] = True
        try:
            viewer.status = {**status, "coordinates": ours}
        finally:
            busy[0] = False

    return update


_READOUTS: dict[int, Any] = {}
_STATUS: dict[int, Any] = {}



def enable_cursor_readout(viewer: Any) -> None:
    """Show the value and patient position under the cursor in the status bar and the canvas's text overlay.

    The value is read at full resolution (also on multiscale layers), with the file's unit; an
    anatomical MLArray layer adds the position as signed ``R``, ``A``, ``S`` millimetres, as 3D Slicer
    reports it. Calling it again changes nothing; :func:`disable_cursor_readout` undoes it.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer whose cursor is followed.
    """
    enable_status_readout(viewer)
    if id(viewer) in _READOUTS:
        return
    update = _readout(viewer)
    _READOUTS[id(viewer)] = update
    viewer.cursor.events.position.connect(update)
    text_overlay(viewer).visible = True
    text_overlay(viewer).position = "bottom_left"


def enable_status_readout(viewer: Any) -> None:
    """napari's status bar gives the patient position and the value in the image's unit under the cursor
    (``R 12.3  A 40.1  S -5.0 mm: 40.0 HU``): on as soon as an MLArray image is in the viewer."""
    if id(viewer) in _STATUS:
        return
    status = _STATUS[id(viewer)] = _status(viewer)
    viewer.events.status.connect(status)  # after the status bar's own handler: ours is the last word


def disable_cursor_readout(viewer: Any) -> None:
    update = _READOUTS.pop(id(viewer), None)
    if update is not None:
        viewer.cursor.events.position.disconnect(update)
        text_overlay(viewer).text = ""
        text_overlay(viewer).visible = False
    status = _STATUS.pop(id(viewer), None)
    if status is not None:
        viewer.events.status.disconnect(status)
