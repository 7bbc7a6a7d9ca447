"""The crosshair of one orthogonal view: two lines drawn by vispy straight into that view's canvas.

A napari layer would be the obvious place for the lines, but napari re-validates the dims and
re-slices its view on every change of a layer's data, the Shapes visual adds GL programs per
canvas, and a layer is something the user can select, save and delete. The lines are a view
decoration instead: one vispy ``Line`` visual (two segments) in the scene of the view's
``QtViewer`` canvas, above every layer, moved by setting its vertices.

napari's 2D scene coordinates are the world coordinates of the two displayed axes in reverse order
(vispy's x is the last displayed axis); the camera does the rest (zoom, pan, the upright
orientation of anatomical views), so the lines need no knowledge of any of it.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["CROSSHAIR_COLOR", "Crosshair"]

CROSSHAIR_COLOR = "#39d353"
# above napari's layer visuals (their order is the layer's index) and below its canvas overlays
_ORDER = 1_000_000


class Crosshair:
    """Two lines through a point of one view's plane, spanning an extent, on that view's canvas."""

    def __init__(self, qt_viewer: Any) -> None:
        from vispy.scene.visuals import Line

        self._view = qt_viewer.canvas.view  # the vispy ViewBox the layers are drawn in
        self._line = Line(pos=np.zeros((4, 2), np.float32), color=CROSSHAIR_COLOR, width=1.5,
                          connect="segments", method="gl", antialias=False)
        self._line.order = _ORDER
        self._line.set_gl_state("translucent", depth_test=False)
        self._line.visible = False
        self._line.parent = self._view.scene
        self._pos: Optional[np.ndarray] = None

    @property
    def visible(self) -> bool:
        return bool(self._line.visible)

    @visible.setter
    def visible(self, on: bool) -> None:
        if bool(self._line.visible) != bool(on):
            self._line.visible = bool(on)

    def segments(self) -> Optional[np.ndarray]:
        """The two lines' ends in world coordinates of the displayed axes, ``[(line, end, axis)]``."""
        if self._pos is None:
            return None
        return self._pos[:, ::-1].reshape(2, 2, 2).copy()

    def move(self, point: Sequence[float], low: Sequence[float], high: Sequence[float]) -> None:
        """Cross at ``point`` (world, displayed axes in display order); each line spans ``low``..``high``."""
        (r, c), (r0, c0), (r1, c1) = (tuple(float(v) for v in x) for x in (point, low, high))
        # vispy (x, y) = (column axis, row axis): a horizontal line along the columns, a vertical one along the rows
        pos = np.array([[c0, r], [c1, r], [c, r0], [c, r1]], dtype=np.float32)
        if self._pos is not None and np.array_equal(pos, self._pos):
            return
        self._pos = pos
        self._line.set_data(pos=pos)

    def close(self) -> None:
        self._line.parent = None
