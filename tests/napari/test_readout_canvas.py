"""The canvas read-out stays clear of the orientation letters (issue 26): a trial user's one-line
``42.0 HU    R -39.9  A 202.2  [P] -159.0 mm`` ran through the bottom letter of the main canvas once the
orthogonal views and the radiology widget were docked beside it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from conftest import PLUGIN, amber  # noqa: E402

from mlarray import MLArray  # noqa: E402
from napari_mlarray import orthogonal_views  # noqa: E402
from napari_mlarray.radiology._readout import text_overlay  # noqa: E402
from napari_mlarray.viewer._anatomy import shown_letters  # noqa: E402

_HALF_BOX = 12  # the letters' 24 px dark boxes (viewer/_letters.py), around each letter's middle


def _far_from_the_origin(tmp_path):
    """A RAS volume far from the world origin, so every coordinate reads with three digits and a sign."""
    path = tmp_path / "far.mla"
    data = (np.arange(30 * 60 * 60) % 251).astype(np.int16).reshape(30, 60, 60)
    ml = MLArray(data, spacing=[2.0, 1.0, 1.0], origin=[-199.0, -259.0, -199.0])
    ml.meta.spatial.coord_system = "RAS"
    ml.save(path)
    return path



def _letter_boxes(shot):
    """The letters' boxes as ``(row0, row1, col0, col1)``, found from their amber glyphs, per canvas edge."""
    h, w = shot.shape[:2]
    lit = amber(shot)
    regions = {"top": (slice(0, h // 6), slice(w // 3, 2 * w // 3)),
               "bottom": (slice(h - h // 6, h), slice(w // 3, 2 * w // 3)),
               "left": (slice(h // 3, 2 * h // 3), slice(0, w // 6)),
               "right": (slice(h // 3, 2 * h // 3), slice(w - w // 6, w))}
    boxes = {}
    for edge, (rs, cs) in regions.items():
        rows, cols = np.nonzero(lit[rs, cs])
        assert rows.size > 5, f"no {edge} letter on the canvas"
        r, c = rows.mean() + rs.start, cols.mean() + cs.start
        boxes[edge] = (r - _HALF_BOX, r + _HALF_BOX, c - _HALF_BOX, c + _HALF_BOX)
    return boxes


@pytest.mark.parametrize("width", [1280, 1000], ids=["default_window", "narrow_window"])
def test_the_read_out_never_covers_a_letter_of_the_narrow_main_canvas(make_napari_viewer, tmp_path, qtbot, width):
    from qtpy.QtCore import QEvent, QPointF, Qt
    from qtpy.QtGui import QEnterEvent, QMouseEvent
    from qtpy.QtWidgets import QApplication

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(width, 900)
    viewer.open(str(_far_from_the_origin(tmp_path)), plugin=PLUGIN)
    viewer.window.add_plugin_dock_widget(PLUGIN, "Window, level and measure")  # its read-out is on
    ortho = orthogonal_views(viewer)
    qtbot.waitUntil(lambda: set(shown_letters(viewer).values()) == {"A", "P", "R", "L"}, timeout=10000)
    qtbot.wait(300)
    widget = viewer.window._qt_viewer.canvas.native
    assert widget.width() < 600  # the views and the widget take most of the window: a narrow canvas
    p = QPointF(widget.width() * 0.3, widget.height() * 0.7)  # the cursor over the image, far from (0, 0, 0)
    QApplication.sendEvent(widget, QEnterEvent(p, p, widget.mapToGlobal(p)))
    QApplication.sendEvent(widget, QMouseEvent(QEvent.Type.MouseMove, p, widget.mapToGlobal(p), Qt.MouseButton.NoButton,
                                               Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
    QApplication.processEvents()
    text = text_overlay(viewer).text
    assert "R -" in text and "mm" in text, text  # the long read-out of the trial
    qtbot.wait(200)

    with_text = np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3]
    text_overlay(viewer).visible = False
    qtbot.wait(200)
    without = np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3]
    text_overlay(viewer).visible = True
    drawn = np.abs(with_text.astype(int) - without.astype(int)).max(axis=-1) > 40  # the read-out's pixels
    rows, cols = np.nonzero(drawn)
    assert rows.size > 50, "the read-out is not on the canvas"
    for edge, (r0, r1, c0, c1) in _letter_boxes(without).items():
        inside = (rows >= r0) & (rows <= r1) & (cols >= c0) & (cols <= c1)
        assert not inside.any(), (edge, with_text.shape, (rows.min(), rows.max(), cols.min(), cols.max()))
    ortho.close()
