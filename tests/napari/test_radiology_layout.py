"""The orthogonal views and the "Window, level and measure" widget share the right column, in either order.

A radiologist opened Layers › Visualize › Orthogonal views, then Plugins › MLArray › Window, level and
measure: the widget took the column and squashed each view's canvas to about 15 pixels."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from conftest import PLUGIN  # noqa: E402

_VIEWS_COMMAND = "mlarray.orthogonal_views"
# napari >= 0.7 names a plugin widget's action by its command id; 0.6 by "<plugin>:<display name>"
_WIDGET_COMMANDS = ("mlarray.radiology_widget", "mlarray:Window, level and measure")


def _run(*commands: str) -> None:
    from napari._app_model import get_app_model

    registry = get_app_model().commands
    command = next(c for c in commands if c in registry)
    registry.execute_command(command).result()


def _view_canvases():
    from napari.qt import QtViewer
    from qtpy.QtWidgets import QApplication

    splitter = [w for w in QApplication.allWidgets() if w.objectName() == "mlarray_orthogonal_views" and w.isVisible()]
    assert len(splitter) == 1
    return splitter[0].findChildren(QtViewer)


@pytest.mark.parametrize("order", ["views_then_widget", "widget_then_views"])
def test_the_views_keep_their_room_when_the_widget_is_opened(make_napari_viewer, ct_files, qtbot, order):
    viewer = make_napari_viewer(show=True)  # napari's default window size
    viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    commands = [(_VIEWS_COMMAND,), _WIDGET_COMMANDS]
    for command in commands if order == "views_then_widget" else commands[::-1]:
        _run(*command)
        qtbot.wait(1500)  # the widget's column settles late (the trial user's views shrank after a second)
    canvases = _view_canvases()
    assert len(canvases) == 3
    for qt in canvases:
        native = qt.canvas.native
        assert native.height() >= 150 and native.width() >= 150, (native.width(), native.height())
        shot = np.asarray(qt.screenshot(flash=False))[..., :3]
        assert (shot.max(axis=-1) > 30).mean() > 0.05  # the image, not a black strip
    # the widget is there and usable too: its controls are shown at their full height
    from qtpy.QtWidgets import QApplication, QPushButton

    buttons = [w for w in QApplication.allWidgets() if isinstance(w, QPushButton) and w.isVisible()
               and w.text() == "Apply to selected image"]
    assert buttons and buttons[0].height() >= buttons[0].minimumSizeHint().height()
    _run(_VIEWS_COMMAND)  # off again: the views' canvases closed
