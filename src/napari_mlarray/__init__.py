"""napari plugin for MLArray (``.mla``) files: reader, writers, "Save as MLArray…" and a metadata widget.

Subpackages, by concern:

* :mod:`.hooks` — what napari calls through the manifest (``napari.yaml``): the reader, the
  writers, File › IO Utilities › *Save as MLArray…* and the sample data;
* :mod:`.layers` — an ``.mla`` file <-> napari layer data (world convention, lazy axis views,
  colours); no Qt;
* :mod:`.boxes` — ``bbox`` boxes <-> Shapes layers, and redrawing them for 2D/3D views;
* :mod:`.viewer` — behaviour attached to live viewers: upright anatomical views and markers,
  consistent units, a 3D level for large paintable segmentations;
* :mod:`.widget` — the "MLArray metadata" dock widget;
* :mod:`.radiology` — window presets and mouse window/level, a cursor read-out with patient
  letters, measurements in millimetres, and their dock widget.

World frame: anatomical files open in napari world axes (S, P, L) by default (radiological 2D
views); ``set_world_frame("RAS")`` (or ``MLARRAY_NAPARI_WORLD=RAS``) opens them in nibabel's
(R, A, S) RAS+ frame so they overlay NIfTIs added with their affine and other readers' layers.
2D views of anatomical axes are kept upright with A/P, R/L, S/I markers on the canvas edges
(``set_upright_views(False)`` leaves them to napari).

``attach_box_views(layer)`` makes a boxes layer built by a script (``Shapes(*read_mla(p)[-1][:2])``)
switch between 2D rectangles and 3D wireframes; layers opened in a viewer switch already.
Names are imported on first use, so importing the package (npe2 does, for every hook) stays cheap.
"""

from __future__ import annotations

import importlib

__all__ = ["napari_get_reader", "read_mla", "write_image", "write_labels", "write_shapes", "write_layers",
           "save_layers", "attach_box_views", "set_world_frame", "world_frame", "set_upright_views",
           "WINDOW_PRESETS", "window", "measure", "enable_window_level", "enable_cursor_readout",
           "orthogonal_views"]

_WHERE = {
    "napari_get_reader": ("hooks._reader", "napari_get_reader"),
    "read_mla": ("hooks._reader", "read_mla"),
    "write_image": ("hooks._writer", "write_image"),
    "write_labels": ("hooks._writer", "write_labels"),
    "write_shapes": ("hooks._writer", "write_shapes"),
    "write_layers": ("hooks._writer", "write_layers"),
    "save_layers": ("hooks._writer", "save_layers"),
    "attach_box_views": ("boxes._views", "attach"),
    "set_world_frame": ("layers._geometry", "set_world_frame"),
    "world_frame": ("layers._geometry", "world_frame"),
    "set_upright_views": ("viewer._anatomy", "set_upright_views"),
    "WINDOW_PRESETS": ("radiology._windows", "WINDOW_PRESETS"),
    "window": ("radiology._windows", "window"),
    "measure": ("radiology._measure", "measure"),
    "enable_window_level": ("radiology._interaction", "enable_window_level"),
    "enable_cursor_readout": ("radiology._readout", "enable_cursor_readout"),
    "orthogonal_views": ("radiology._ortho", "orthogonal_views"),
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _WHERE[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
