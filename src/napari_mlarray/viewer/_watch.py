"""Hooking into the viewers a file's layers land in.

Readers return layer data tuples, so there is no layer (or viewer) to hook while reading. The
reader calls :func:`watch_viewers`, which listens for layers inserted into (and removed from)
every open viewer; each inserted layer is handed to the attachers below. Everything is keyed
weakly, so closed viewers and layers drop out.
"""

from __future__ import annotations

import weakref

__all__ = ["watch_viewers"]

_WATCHED: weakref.WeakSet = weakref.WeakSet()


def _open_viewers() -> list:
    import napari

    viewers = list(getattr(napari.Viewer, "_instances", ()))  # every open viewer (not public)
    try:
        cur = napari.current_viewer()
    except Exception:  # pragma: no cover - no Qt
        cur = None
    if cur is not None and cur not in viewers:
        viewers.append(cur)
    return viewers


def _layer_added(viewer, layer) -> None:
    from ..boxes._views import attach
    from ._anatomy import attach_anatomy
    from ._labels3d import attach_labels_3d

    attach(layer)
    attach_labels_3d(viewer, layer)
    attach_anatomy(viewer)


def _on_layers(ref):
    def on_change(event) -> None:
        viewer = ref()
        if viewer is None:
            return
        from ._units import before_insert, reconcile_units

        if event.type == "inserting":
            before_insert(viewer)
            return
        reconcile_units(viewer)
        if event.type == "inserted":
            _layer_added(viewer, event.value)

    return on_change


def watch_viewers() -> None:
    """Attach to every open viewer (idempotent); layers already in it are attached at once."""
    try:
        viewers = _open_viewers()
    except ImportError:  # pragma: no cover - napari missing
        return
    for v in viewers:
        if v in _WATCHED:
            continue
        _WATCHED.add(v)
        handler = _on_layers(weakref.ref(v))
        for event in (v.layers.events.inserting, v.layers.events.inserted, v.layers.events.removed):
            event.connect(handler)
        from ._units import reconcile_units

        reconcile_units(v)
        for lay in list(v.layers):
            _layer_added(v, lay)
