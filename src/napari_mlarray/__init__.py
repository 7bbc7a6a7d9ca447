"""napari plugin for MLArray (``.mla``) files: reader, writers, "Save as MLArray…" and a metadata widget.

Subpackages, by concern:

* :mod:`.hooks` — what napari calls through the manifest (``napari.yaml``): the reader, the
  writers, File › IO Utilities › *Save as MLArray…* and the sample data;
* :mod:`.layers` — an ``.mla`` file <-> napari layer data (world convention, lazy axis views,
  colours); no Qt;
* :mod:`.boxes` — ``bbox`` boxes <-> Shapes layers, and redrawing them for 2D/3D views;
* :mod:`.widget` — the "MLArray metadata" dock widget.

``attach_box_views(layer)`` makes a boxes layer built by a script (``Shapes(*read_mla(p)[-1][:2])``)
switch between 2D rectangles and 3D wireframes; layers opened in a viewer switch already.
Names are imported on first use, so importing the package (npe2 does, for every hook) stays cheap.
"""

from __future__ import annotations

import importlib

__all__ = ["napari_get_reader", "read_mla", "write_image", "write_labels", "write_shapes", "write_layers",
           "save_layers", "attach_box_views"]

_WHERE = {
    "napari_get_reader": ("hooks._reader", "napari_get_reader"),
    "read_mla": ("hooks._reader", "read_mla"),
    "write_image": ("hooks._writer", "write_image"),
    "write_labels": ("hooks._writer", "write_labels"),
    "write_shapes": ("hooks._writer", "write_shapes"),
    "write_layers": ("hooks._writer", "write_layers"),
    "save_layers": ("hooks._writer", "save_layers"),
    "attach_box_views": ("boxes._views", "attach"),
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
