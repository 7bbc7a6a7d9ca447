"""The "Window, level and measure" dock widget: presets for the selected image, measuring, mouse tools."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import CheckBox, ComboBox, Container, Label, PushButton

from ._interaction import disable_window_level, enable_window_level
from ._measure import measure
from ._readout import disable_cursor_readout, enable_cursor_readout
from ._windows import CUSTOM_WINDOW, PERCENTILE_WINDOWS, WINDOW_PRESETS, window, window_name

__all__ = ["RadiologyWidget"]


class RadiologyWidget(Container):
    """Window presets applied to the selected image layer, a measurement layer, mouse window/level."""

    def __init__(self, napari_viewer: Any) -> None:
        self._viewer = napari_viewer
        self.preset = ComboBox(label="window",
                               choices=[*WINDOW_PRESETS, *PERCENTILE_WINDOWS, "stored", CUSTOM_WINDOW])
        self.apply = PushButton(text="Apply to selected image")
        self.measure = PushButton(text="New measurement layer")
        self.mouse = CheckBox(text="Right-drag: window/level", value=True)
        self.readout = CheckBox(text="Cursor value and position", value=True)
        self.message = Label(value="")
        super().__init__(widgets=[self.preset, self.apply, self.measure, self.mouse, self.readout, self.message])
        # no taller than its controls: docked in the column of the orthogonal views, it would otherwise take
        # the height of the views' canvases
        from qtpy.QtWidgets import QSizePolicy

        self.native.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.apply.changed.connect(self._apply)
        self.measure.changed.connect(self._measure)
        self.mouse.changed.connect(self._mouse)
        self.readout.changed.connect(self._readout)
        self._mouse(True)
        self._readout(True)
        # the combo shows the window of the selected image (a preset's name, else "custom")
        self._window_layer: Any = None
        napari_viewer.layers.selection.events.active.connect(self._follow_selection)
        self._follow_selection()

    def _follow_selection(self, *_: Any) -> None:
        from napari.layers import Image

        layer = self._viewer.layers.selection.active
        layer = layer if isinstance(layer, Image) and not layer.rgb else None
        if self._window_layer is not None:
            self._window_layer.events.contrast_limits.disconnect(self._show_window)
        self._window_layer = layer
        if layer is not None:
            layer.events.contrast_limits.connect(self._show_window)
            self._show_window()

    def _show_window(self, *_: Any) -> None:
        if self._window_layer is not None:
            self.preset.value = window_name(self._window_layer)

    def _apply(self, *_: Any) -> None:
        from napari.layers import Image

        layer = self._viewer.layers.selection.active
        if not isinstance(layer, Image):
            self.message.value = "select an image layer first"
            return
        if self.preset.value == CUSTOM_WINDOW:
            self.message.value = "custom: set the window with a right-drag or the contrast slider"
            return
        try:
            low, high = window(layer, self.preset.value)
        except ValueError as exc:
            self.message.value = str(exc)
            return
        self.message.value = f"{layer.name}: {low:g} … {high:g}"

    def _measure(self, *_: Any) -> None:
        try:
            measure(self._viewer)
        except ValueError as exc:
            self.message.value = str(exc)

    def _mouse(self, on: bool) -> None:
        (enable_window_level if on else disable_window_level)(self._viewer)

    def _readout(self, on: bool) -> None:
        (enable_cursor_readout if on else disable_cursor_readout)(self._viewer)
