"""File > Save as MLArray…: the npe2 menu command (imports napari/Qt, so kept out of the hooks)."""

from pathlib import Path
from typing import Optional

import napari
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QApplication, QFileDialog

from ._writer import save_layers

__all__ = ["save_as_dialog"]


def save_as_dialog(viewer: napari.viewer.Viewer) -> Optional[list]:
    """Ask for a path and save the selected layers there (image + labels + boxes: see ``write_layers``)."""
    layers = [lay for lay in viewer.layers if lay in viewer.layers.selection]
    if not layers:
        show_info("Select the layer(s) to save as MLArray first.")
        return None
    start = next((lay.metadata.get("mlarray_path") for lay in layers if lay.metadata.get("mlarray_path")), None)
    start = start or f"{layers[0].name}.mla"
    # napari has no public handle on its main window (Window._qt_window is deprecated for plugins);
    # the active window is napari's while its File menu runs this command.
    path, _ = QFileDialog.getSaveFileName(QApplication.activeWindow(), "Save as MLArray", start, "MLArray (*.mla)")
    if not path:
        return None
    try:
        out = save_layers(layers, path)
    except Exception as exc:  # shown to the user rather than lost in a log
        show_error(f"Saving as MLArray failed: {exc}")
        return None
    show_info(f"Saved {', '.join(Path(p).name for p in out)}")
    return out
