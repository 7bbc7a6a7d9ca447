"""Each orthogonal view shows its orientation letters, made once the view has drawn its first frame
(so the user waits for the image, not for the letters' text visuals)."""

from __future__ import annotations

import numpy as np
from conftest import PLUGIN, amber

from napari_mlarray import orthogonal_views
from napari_mlarray.viewer._anatomy import shown_letters

WANTED = {"axial": {"A", "P", "R", "L"}, "coronal": {"S", "I", "R", "L"}, "sagittal": {"S", "I", "A", "P"}}


def _letters(model) -> set:
    return set(shown_letters(model).values())


def test_every_view_gets_its_letters_after_its_first_frame(make_napari_viewer, ct_files, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    ortho = orthogonal_views(viewer)
    assert all(not _letters(m) for m in ortho.views.values())  # not inside the views' first frame
    for plane, model in ortho.views.items():
        qtbot.waitUntil(lambda m=model, p=plane: _letters(m) == WANTED[p], timeout=10000)
    ortho.close()



def test_the_letters_are_drawn_at_the_edges_and_follow_a_resize(make_napari_viewer, ct_files, qtbot):
    """What the user sees: amber letters in each view's canvas at the middle of its top and left edges, still
    there (at the new middle) after the window changes size."""
    from napari_mlarray.viewer._anatomy import _CONTROLLERS

    viewer = make_napari_viewer(show=True)
    viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    ortho = orthogonal_views(viewer)
    for plane, model in ortho.views.items():
        qtbot.waitUntil(lambda m=model, p=plane: _letters(m) == WANTED[p], timeout=10000)
    window = viewer.window._qt_window
    for size in (None, (window.width() + 160, window.height() - 120)):
        if size is not None:
            window.resize(*size)
            qtbot.wait(300)
        for plane, qt in ortho._qt.items():
            shot = np.asarray(qt.screenshot(flash=False))[..., :3]
            h, w = shot.shape[:2]
            lit = amber(shot)
            rows, cols = np.nonzero(lit[: h // 6])  # the top letter
            assert rows.size > 5, plane
            assert abs(cols.mean() / w - 0.5) < 0.05, plane
            rows, cols = np.nonzero(lit[:, : w // 6])  # the left one
            assert rows.size > 5, plane
            assert abs(rows.mean() / h - 0.5) < 0.05, plane
            (drawn,) = _CONTROLLERS[ortho.views[plane]].drawn()
            x, y = drawn.shown()["middle_right"][1]
            assert x > 0.9 and abs(y - 0.5) < 0.01
    ortho.close()
