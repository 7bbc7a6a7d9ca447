"""The viewer half of ``mlarray demo``: open the sample files with the metadata widget docked."""

from __future__ import annotations

import sys

import napari

__all__ = ["show_demo"]

PLUGIN_NAME = "mlarray"


def show_demo(image: str, labels: str) -> int:
    viewer = napari.Viewer(title="MLArray demo")
    viewer.open([image, labels], plugin=PLUGIN_NAME, stack=False)
    try:
        viewer.window.add_plugin_dock_widget(PLUGIN_NAME, "MLArray metadata")
    except Exception as exc:  # the viewer is still useful without the widget
        print(f"mlarray demo: could not dock the metadata widget ({exc})", file=sys.stderr)
    napari.run()
    return 0
