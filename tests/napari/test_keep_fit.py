"""A docked widget does not crop the image a user has not touched (a trial user's first sight of
``mlarray demo``: the phantom cut off left and right once the metadata widget was docked).

Pixels of the canvas as the user sees it: the phantom's body is surrounded by air (black in the window
the file opens with), so a fitted view has black at the canvas's left and right edges through the
middle row, and a cropped one has the body's grey there.
"""

from __future__ import annotations

import numpy as np
from conftest import PLUGIN, camera


def _edges_are_air(viewer) -> bool:
    shot = np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3].astype(int)
    h, w = shot.shape[:2]
    band = shot[h // 2 - 3: h // 2 + 3]
    body = band[:, w // 2 - 20: w // 2 + 20].mean()
    left, right = band[:, : max(w // 100, 2)].mean(), band[:, -max(w // 100, 2):].mean()
    assert body > 40, "the phantom is not drawn in the middle of the canvas"
    return left < body / 4 and right < body / 4


def test_docking_a_widget_refits_an_untouched_view_and_keeps_a_users_zoom(make_napari_viewer, ct_files, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(900, 700)
    viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    qtbot.wait(400)
    assert _edges_are_air(viewer)
    viewer.window.add_plugin_dock_widget(PLUGIN, "MLArray metadata")
    qtbot.wait(600)
    assert _edges_are_air(viewer)  # fitted to the narrower canvas
    # a user's zoom is the user's: docking another widget leaves it
    camera(viewer).zoom = camera(viewer).zoom * 1.7
    zoomed = camera(viewer).zoom
    viewer.window.add_plugin_dock_widget(PLUGIN, "Window, level and measure")
    qtbot.wait(600)
    assert camera(viewer).zoom == zoomed
