"""The cursor read-out: the value under the cursor in the image's unit and where the cursor is.

It rewrites napari's status bar (``viewer.status``: ``R 12.3  A 40.1  S -5.0 mm: 40.0 HU``) and, with the
radiology widget's read-out on, writes the canvas's text overlay.

* **Position.** For a layer opened in a patient frame: signed ``R``, ``A``, ``S`` millimetres, as 3D Slicer
  reports them. A file without one (``coord_system`` unknown, a microscopy image) has no patient letters
  anywhere else either (its axes read "axis 0", ...): its world position on the viewer's axes, with
  their names and the layer's units, as napari's sliders name them.
* **Value.** Read from the image the user is looking at, at full resolution, with the file's
  ``value_unit`` (HU, Gy, ...). With a Labels layer selected (a radiologist painting a segmentation)
  the image's value comes first and napari's own label read-out (value and class name) follows.
* **Canvas text.** One line per item, in the bottom-left corner: short lines stay clear of the
  orientation letters drawn at the middle of each edge (:mod:`..viewer._letters`) on narrow canvases
  (the main canvas beside the orthogonal views and a docked widget), where one long line ran into the
  bottom letter.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np

from mlarray._metadata.channels import value_unit as stored_value_unit
from mlarray.affines import OPPOSITE_LETTER, anatomical_letters

__all__ = ["enable_cursor_readout", "disable_cursor_readout", "enable_status_readout", "cursor_parts",
           "cursor_text", "text_overlay", "value_unit"]

# napari world axes of an anatomical layer, per world frame the plugin opened it in: which patient
# direction each world axis points to (positive values), see ..layers._geometry.
_FRAME_AXES = {"SPL": ("S", "P", "L"), "RAS": ("R", "A", "S")}


def _number(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals, never ``-0.0`` (a coordinate a hair left of 0 is at 0)."""
    return f"{round(float(value), digits) + 0.0:.{digits}f}"


def _value_number(value: float) -> str:
    """A voxel value as a reader needs it: whole values and values of 100 or more with one decimal (HU,
    MR intensities), smaller fractional ones with four significant digits (a dose of 0.978 Gy read as 1.0
    could not be told from 1.026)."""
    if not np.isfinite(value) or value == round(value) or abs(value) >= 100:
        return _number(value, 1)
    return _number(value, max(1, 3 - int(np.floor(np.log10(abs(value))))))


def text_overlay(viewer: Any) -> Any:
    """The canvas text overlay: ``viewer.canvas.overlays.text`` from napari 0.9 (which deprecates
    ``viewer.text_overlay``), ``viewer.text_overlay`` before."""
    overlays: Any = getattr(getattr(viewer, "canvas", None), "overlays", None)
    if overlays is not None and "text" in overlays:
        return overlays["text"]
    return viewer.text_overlay


def _image_under_cursor(viewer: Any) -> Optional[Any]:
    """The image whose value the read-out gives: the selected image, else the topmost visible one (also
    while a Labels, Shapes or Points layer is selected: the image is what the user reads through it)."""
    from napari.layers import Image

    active = viewer.layers.selection.active
    if isinstance(active, Image) and not active.rgb:
        return active
    images = [lay for lay in viewer.layers if isinstance(lay, Image) and lay.visible and not lay.rgb]
    return images[-1] if images else None


def value_unit(layer: Any) -> str:
    """The unit of the image's values: the file's ``extra["value_unit"]`` (``"HU"``, ``"Gy"``, ...); for files
    converted before it was recorded, ``"HU"`` for a CT from DICOM; else ``""``."""
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


def _patient_position(layer: Any, world: np.ndarray) -> Optional[list[tuple[str, str]]]:
    """``[("R", "12.3"), ("A", ...), ("S", ...)]`` for a layer opened in a patient frame, else None."""
    md = layer.metadata or {}
    coord = ((md.get("mlarray") or {}).get("spatial") or {}).get("coord_system")
    frame = _FRAME_AXES.get(str(md.get("mlarray_world") or "SPL").upper())
    if anatomical_letters(coord) is None or frame is None or len(world) < 3:
        return None
    ras = {}
    for letter, v in zip(frame, world[-3:]):
        # signed RAS coordinates, as 3D Slicer reports them: R, A and S positive
        ras[letter if letter in "RAS" else OPPOSITE_LETTER[letter]] = float(v) if letter in "RAS" else -float(v)
    return [(k, _number(ras[k], 1)) for k in "RAS"]


def _unit_name(unit: Any) -> str:
    text = str(unit)
    if text in ("", "pixel", "None"):
        return ""  # napari's default for a layer that declares none: no unit to name
    try:
        return f"{unit:~}"  # pint's short form: "mm", "µm"
    except (TypeError, ValueError):
        return text


def _axes_position(viewer: Any, layer: Any, world: np.ndarray) -> list[tuple[str, str]]:
    """The world position on the layer's axes: ``[("axis 0", "-31.5 mm"), ...]`` (names as the sliders
    show them; the unit after each number, or after the last when all axes share it)."""
    n = min(int(layer.ndim), len(world))
    labels = [str(v) for v in viewer.dims.axis_labels][-n:]
    units = [_unit_name(u) for u in (getattr(layer, "units", None) or ())][-n:] or [""] * n
    scale = np.abs(np.asarray(layer.scale, dtype=float)[-n:])
    scale = scale[scale > 0]
    # as many decimals as tell neighbouring voxels apart (napari's rule), at least one
    digits = max(1, math.ceil(-math.log10(float(scale.min())))) if scale.size else 1
    values = [_number(v, digits) for v in world[-n:]]
    if len(set(units)) == 1:
        shown = list(zip(labels, values))
        if units[0]:
            shown[-1] = (shown[-1][0], f"{shown[-1][1]} {units[0]}")
        return shown
    return [(lab, f"{v} {u}".rstrip()) for lab, v, u in zip(labels, values, units)]


def _position(viewer: Any, layer: Any, world: np.ndarray) -> list[tuple[str, str]]:
    patient = _patient_position(layer, world)
    if patient is not None:
        patient[-1] = (patient[-1][0], patient[-1][1] + " mm")
        return patient
    return _axes_position(viewer, layer, world)


def _value(viewer: Any, layer: Any, world: np.ndarray) -> str:
    value = _full_resolution_value(layer, world, viewer)
    if value is None or (np.ndim(value) == 0 and np.isnan(float(value))):
        return ""
    unit = value_unit(layer)
    shown = _value_number(float(value)) if np.ndim(value) == 0 else str(value)
    return f"{shown}{' ' + unit if unit else ''}"


def cursor_parts(viewer: Any, layer: Any, world: np.ndarray) -> tuple[str, str]:
    """``(value, position)`` under the cursor: ``"40.0 HU"`` and ``"R 12.3  A 40.1  S -5.0 mm"`` (a file in
    a patient frame) or ``"axis 0 3.0  axis 1 12.5  axis 2 7.0 mm"`` (one without). The value is empty
    for a point outside the image."""
    position = "  ".join(f"{name} {v}" for name, v in _position(viewer, layer, world))
    return _value(viewer, layer, world), position


def cursor_text(viewer: Any, layer: Any, world: np.ndarray) -> str:
    """The canvas's read-out: the value, then one line per axis (see the module docstring)."""
    lines = [_value(viewer, layer, world), _labels_line(viewer, layer, world),
             *(f"{name} {v}" for name, v in _position(viewer, layer, world))]
    # the last line is a space: it lifts the text above the bottom letter's box (a canvas of any width)
    return "\n".join([*(line for line in lines if line), " "])


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


def _napari_value_text(coordinates: str) -> str:
    """What napari's own status gives after the position (``"[1.0, 2.0]: 3; name: liver"`` -> ``"3; name:
    liver"``): a Labels layer's value and class, in napari's words."""
    _, sep, tail = coordinates.partition("]: ")
    return tail if sep else ""


def _labels_part(viewer: Any, image: Any, status: dict) -> str:
    from napari.layers import Labels

    active = viewer.layers.selection.active
    if not isinstance(active, Labels) or active is image or status.get("layer_name") not in (None, active.name):
        return ""
    tail = _napari_value_text(str(status.get("coordinates", "")))
    return f"{active.name} {tail}" if tail else ""


def _labels_line(viewer: Any, image: Any, world: np.ndarray) -> str:
    """With a Labels layer active (a radiologist painting), its value and class under the cursor, in napari's
    words (``"ct_seg 1; name: liver"``); else empty."""
    from napari.layers import Labels

    active = viewer.layers.selection.active
    if not isinstance(active, Labels) or active is image:
        return ""
    status = active.get_status(world, world=True, dims_displayed=list(viewer.dims.displayed))
    tail = _napari_value_text(str(status.get("coordinates", ""))) if isinstance(status, dict) else ""
    return f"{active.name} {tail}" if tail else ""


def _readout(viewer: Any) -> Callable[..., None]:
    def update(event: Any = None) -> None:
        layer = _image_under_cursor(viewer)
        if layer is None:
            text_overlay(viewer).text = ""
            return
        world = np.asarray(viewer.cursor.position, dtype=float)
        text_overlay(viewer).text = cursor_text(viewer, layer, world)
    return update


def _status(viewer: Any) -> Callable[..., None]:
    """Rewrite napari's cursor status (the status bar's coordinates) with the position and the value in the
    image's units, right after napari sets it (napari 0.6 to 0.9 compute it in a thread and set
    ``viewer.status`` on the main thread; a status that is no cursor read-out is left alone)."""
    busy = [False]
    written: list = [None]

    def update(event: Any) -> None:
        status = event.value
        if busy[0] or not isinstance(status, dict) or "coordinates" not in status:
            return
        if status["coordinates"] == written[0]:
            return  # our own read-out, emitted again (napari re-sends the status it holds)
        layer = _image_under_cursor(viewer)
        if layer is None:
            return
        value, position = cursor_parts(viewer, layer, np.asarray(viewer.cursor.position, dtype=float))
        labels = _labels_part(viewer, layer, status)
        if status.get("layer_name") not in (None, layer.name):
            value = f"{layer.name} {value}" if value else ""  # the value is the image's, not the active layer's
        value = "; ".join(part for part in (value, labels) if part)
        ours = ": ".join(part for part in (position, value) if part)
        if status["coordinates"] == ours:
            return
        busy[0] = True
        written[0] = ours
        try:
            viewer.status = {**status, "coordinates": ours}
        finally:
            busy[0] = False

    return update


_READOUTS: dict[int, Any] = {}
_STATUS: dict[int, Any] = {}


def enable_cursor_readout(viewer: Any) -> None:
    """Show the value and position under the cursor in the status bar and the canvas's text overlay.

    The value is read at full resolution (also on multiscale layers), with the file's unit; a layer in
    a patient frame gives the position as signed ``R``, ``A``, ``S`` millimetres, as 3D Slicer reports
    it, other layers on their own axes. Calling it again changes nothing; :func:`disable_cursor_readout`
    undoes it.

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
    overlay = text_overlay(viewer)
    overlay.visible = True
    overlay.position = "bottom_left"  # short lines in a corner: clear of the edge letters (module docstring)


def enable_status_readout(viewer: Any) -> None:
    """napari's status bar gives the position and the value in the image's unit under the cursor
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

