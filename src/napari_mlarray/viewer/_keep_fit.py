"""A fitted view stays fitted when its canvas changes size.

napari fits the first layers to the canvas and then leaves the camera alone, so a dock widget added
after opening (the metadata widget of ``mlarray demo``, the radiology widget, any plugin's) narrows
the canvas and crops the image a user has not touched yet. As 3D Slicer does, a view whose camera is
still where napari's last fit put it is fitted again when the canvas changes size; once the user
zooms, pans or rotates, the camera differs from that fit and is left alone.

Public napari only: the viewer's ``reset_view`` event (emitted by every fit, with the camera it set)
and the canvas model's ``size`` event (napari >= 0.7; napari 0.6 has no canvas model, and keeps its
own behaviour).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

__all__ = ["keep_fit"]

_FITS: "weakref.WeakKeyDictionary[Any, tuple]" = weakref.WeakKeyDictionary()  # viewer -> camera of its last fit


def _camera(viewer: Any) -> Any:
    return viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera  # napari 0.9 moved it


def _state(viewer: Any) -> tuple:
    cam = _camera(viewer)
    return tuple(float(v) for v in cam.center), float(cam.zoom), tuple(float(v) for v in cam.angles)


def _same(a: tuple, b: tuple) -> bool:
    return (len(a[0]) == len(b[0]) and bool(np.allclose(a[0], b[0], rtol=1e-6, atol=1e-6))
            and abs(a[1] - b[1]) <= 1e-6 * max(abs(b[1]), 1e-12) and bool(np.allclose(a[2], b[2], atol=1e-6)))


def keep_fit(viewer: Any) -> None:
    """Fit ``viewer`` again whenever its canvas changes size while its camera is still at napari's last fit."""
    canvas = getattr(viewer, "canvas", None)
    size_event = getattr(getattr(canvas, "events", None), "size", None)
    if size_event is None or not hasattr(viewer.events, "reset_view"):
        return
    ref = weakref.ref(viewer)

    def fitted(event: Any = None) -> None:
        v = ref()
        if v is not None:
            _FITS[v] = _state(v)

    def resized(event: Any = None) -> None:
        v = ref()
        if v is None or v not in _FITS or not len(v.layers):
            return
        if _same(_state(v), _FITS[v]):  # untouched since the fit: fit the new canvas size
            v.reset_view()  # the angles too are the fit's (unchanged), so nothing the user set is lost

    viewer.events.reset_view.connect(fitted)
    size_event.connect(resized)
