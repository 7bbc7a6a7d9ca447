"""The orientation letters of one canvas: one vispy ``Text`` (four strings) over one ``Markers`` (four boxes).

napari's ``TextOverlay`` would give each letter its own text and box visual: eight visuals per canvas,
drawn on every frame, which made the letters the largest part of a frame's cost in the four-up layout
(four canvases redrawn per axial scroll step). Two visuals per canvas draw the same letters.

The visuals are children of the canvas's vispy ``ViewBox``, not of its scene, so their coordinates
are the canvas's logical pixels (origin top left) and the camera does not move them; they are
placed at the middle of each edge and follow the canvas's size.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

__all__ = ["EDGES", "EdgeLetters"]

EDGES = ("top_center", "bottom_center", "middle_left", "middle_right")
LETTER_COLOR = (1.0, 0.82, 0.35, 1.0)
_BOX_COLOR = (0.0, 0.0, 0.0, 0.75)  # the canvas's black, a little see-through, as napari's overlay boxes
_FONT_PT = 14  # as napari's text overlays are sized: points at napari's 96 dpi reference
_BOX_PX = 24
_INSET_PX = 6  # between the canvas edge and a box
_ORDER = 1_000_010  # above the layers and the crosshair (1_000_000)


class EdgeLetters:
    """Letters at the middle of a canvas's four edges (``EDGES``), each on a small dark box."""

    def __init__(self, qt_viewer: Any) -> None:
        from vispy.scene.visuals import Markers, Text

        self._view = qt_viewer.canvas.view
        self._letters: dict[str, str] = {}
        self._boxes = Markers(parent=self._view)
        self._boxes.order = _ORDER
        self._boxes.set_gl_state("translucent", depth_test=False)
        self._text = Text(text=[" "] * len(EDGES), pos=np.zeros((len(EDGES), 2)), color=LETTER_COLOR,
                          anchor_x="center", anchor_y="center", parent=self._view)
        self._text.order = _ORDER + 1
        self._text.set_gl_state("translucent", depth_test=False)
        dpi = self._text.transforms.dpi or 96
        self._text.font_size = _FONT_PT * 96 / dpi
        self._view.events.resize.connect(self._place)
        self.show(None)

    def show(self, letters: Optional[Mapping[str, str]]) -> None:
        """Show ``{edge: letter}`` (every edge of ``EDGES``), or hide the letters (None)."""
        if not letters:
            self._letters = {}
            self._text.visible = self._boxes.visible = False
            return
        wanted = {e: str(letters[e]) for e in EDGES}
        if wanted != self._letters:
            self._letters = wanted
            self._text.text = [wanted[e] for e in EDGES]
        self._place()
        self._text.visible = self._boxes.visible = True

    def shown(self) -> dict[str, tuple[str, tuple[float, float]]]:
        """``{edge: (letter, (x, y))}`` as drawn now, ``x``, ``y`` as fractions of the canvas's width and height
        (from its top left); empty when hidden."""
        if not self._text.visible:
            return {}
        w, h = (max(float(v), 1.0) for v in self._view.size)
        pos = np.asarray(self._text.pos)[:, :2]
        return {e: (self._letters[e], (float(x) / w, float(y) / h)) for e, (x, y) in zip(EDGES, pos)}

    def _place(self, event: Any = None) -> None:
        if not self._letters:
            return
        w, h = (float(v) for v in self._view.size)
        c = _INSET_PX + _BOX_PX / 2
        pos = np.array([[w / 2, c], [w / 2, h - c], [c, h / 2], [w - c, h / 2]], np.float32)
        self._text.pos = pos
        self._boxes.set_data(pos, symbol="square", size=_BOX_PX, face_color=_BOX_COLOR, edge_width=0)

    def close(self) -> None:
        self._view.events.resize.disconnect(self._place)
        self._text.parent = self._boxes.parent = None
