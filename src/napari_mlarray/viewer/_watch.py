"""Hooking into the viewers a file's layers land in.

Readers return layer data tuples, so there is no layer (or viewer) to hook while reading. The
reader calls :func:`watch_viewers`, which listens for layers inserted into (and removed from)
every open viewer; each inserted layer is handed to the attachers below. Everything is keyed
weakly, so closed viewers and layers drop out.
"""

from __future__ import annotations

import weakref

from ..boxes._views import attach
from ..layers._adopt import adopt_new_labels
from ..layers._style import apply_display_range
from ..radiology._interaction import enable_window_level_by_default
from ..radiology._measure import attach_measurements
from ..radiology._readout import enable_status_readout
from ._anatomy import attach_anatomy
from ._keep_fit import keep_fit
from ._labels3d import attach_labels_3d
from ._open import open_viewers
from ._plane import show_thin_plane
from ._units import adopt_units, watch_units

__all__ = ["watch_viewer", "watch_viewers"]

_WATCHED: weakref.WeakSet = weakref.WeakSet()


_SET_LABELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # viewer -> labels we set


def _default_label(label, axis: int, ndim: int) -> bool:
    return str(label) in (str(axis), str(axis - ndim))


def _ours_or_default(current: list, ours) -> bool:
    """Whether the dims labels are napari's defaults, or the ones set here (napari drops or adds
    leading axes when the number of dims changes)."""
    nd = len(current)
    if all(_default_label(lab, i, nd) for i, lab in enumerate(current)):
        return True
    if not ours:
        return False
    n = min(nd, len(ours))
    return current[nd - n:] == ours[len(ours) - n:] and all(
        _default_label(lab, i, nd) for i, lab in enumerate(current[: nd - n]))


def _follow_layer_axis_labels(viewer) -> None:
    """Show the layers' axis labels on the dims when napari does not (napari 0.6 keeps "0", "1", ...).

    The sliders then read "I→S" rather than "0", and the anatomy controller sees the world axes.
    Only napari's default labels, or labels this function set, are replaced; never a user's.
    """
    dims = viewer.dims
    nd = dims.ndim
    current = [str(v) for v in dims.axis_labels]
    if not _ours_or_default(current, _SET_LABELS.get(viewer)):
        return  # napari (>= 0.7) or the user labelled the dims
    labels = [str(i) for i in range(nd)]
    for layer in viewer.layers:
        own = [str(v) for v in (getattr(layer, "axis_labels", None) or ())]
        k = len(own)
        for j, lab in enumerate(own):  # a layer's axes are right-aligned with the viewer's
            if k <= nd and not _default_label(lab, j, k) and _default_label(labels[nd - k + j], nd - k + j, nd):
                labels[nd - k + j] = lab
    if len(set(labels)) != len(labels):
        return
    if labels != current:
        dims.axis_labels = labels
    _SET_LABELS[viewer] = labels


def _layer_added(viewer, layer) -> None:

    adopt_new_labels(viewer, layer)
    apply_display_range(layer)
    attach(layer)
    attach_measurements(viewer, layer)
    attach_labels_3d(viewer, layer)
    _follow_layer_axis_labels(viewer)
    if "mlarray_role" in (getattr(layer, "metadata", None) or {}):
        show_thin_plane(viewer)
        enable_window_level_by_default(viewer)  # right-drag window/level, as radiology viewers have it
        if hasattr(viewer.events, "status"):  # a viewer with a status bar: its read-out in patient terms
            enable_status_readout(viewer)
    attach_anatomy(viewer)


def _on_layers(ref):
    def on_change(event) -> None:
        viewer = ref()
        if viewer is None:
            return
        if event.type == "inserted":

            adopt_units(viewer)
            _layer_added(viewer, event.value)
        else:
            _follow_layer_axis_labels(viewer)

            attach_anatomy(viewer)

    return on_change


def watch_viewers() -> None:
    """Attach to every open viewer (idempotent); layers already in it are attached at once."""
    try:
        viewers = open_viewers()
    except ImportError:  # pragma: no cover - napari missing
        return
    for v in viewers:
        watch_viewer(v)


def watch_viewer(v) -> None:
    """Attach to one viewer or viewer model (idempotent): units, upright views, letters, boxes."""
    if v in _WATCHED:
        return
    _WATCHED.add(v)
    handler = _on_layers(weakref.ref(v))
    for event in (v.layers.events.inserted, v.layers.events.removed):
        event.connect(handler)

    watch_units(v)
    keep_fit(v)
    for lay in list(v.layers):
        _layer_added(v, lay)
