"""Menu commands (napari.yaml): window presets (CT and percentile windows) for the selected image, measuring,
orthogonal views."""

from __future__ import annotations

from typing import Callable

import napari.viewer
from napari.layers import Image

from .._notify import relayed_warnings
from ._measure import measure as _measure
from ._ortho import toggle_orthogonal_views as _toggle_orthogonal_views
from ._windows import PERCENTILE_WINDOWS, WINDOW_PRESETS, command_name, window

__all__ = ["measure", "toggle_orthogonal_views", *[command_name(n) for n in (*WINDOW_PRESETS, *PERCENTILE_WINDOWS)]]


def _window_command(name: str) -> Callable[[napari.viewer.Viewer], None]:
    def apply(viewer: napari.viewer.Viewer) -> None:
        layer = viewer.layers.selection.active
        if not isinstance(layer, Image):
            images = [lay for lay in viewer.layers if isinstance(lay, Image) and lay.visible]
            if not images:
                raise ValueError(f"window {name!r}: open or select an image layer first")
            layer = images[-1]
        with relayed_warnings():  # a CT window on an MR says so in napari's notifications, not only the terminal
            window(layer, name)

    apply.__name__ = command_name(name)
    return apply


for _name in (*WINDOW_PRESETS, *PERCENTILE_WINDOWS):
    globals()[command_name(_name)] = _window_command(_name)


def measure(viewer: napari.viewer.Viewer) -> None:
    _measure(viewer)


def toggle_orthogonal_views(viewer: napari.viewer.Viewer) -> None:
    # napari injects the viewer by this annotation: without it the menu entry ran with no argument
    _toggle_orthogonal_views(viewer)
