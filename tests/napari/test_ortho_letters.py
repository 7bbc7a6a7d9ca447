"""Each orthogonal view shows its orientation letters, made once the view has drawn its first frame
(so the user waits for the image, not for the letters' text visuals)."""

from __future__ import annotations

from conftest import PLUGIN

from napari_mlarray import orthogonal_views
from napari_mlarray.viewer._anatomy import _KEY, _overlays

WANTED = {"axial": {"A", "P", "R", "L"}, "coronal": {"S", "I", "R", "L"}, "sagittal": {"S", "I", "A", "P"}}


def _letters(model) -> set:
    overlays = _overlays(model)
    return {ov.text for key, ov in overlays.items() if str(key).startswith(_KEY) and ov.visible}


def test_every_view_gets_its_letters_after_its_first_frame(make_napari_viewer, ct_files, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    ortho = orthogonal_views(viewer)
    assert all(not _letters(m) for m in ortho.views.values())  # not inside the views' first frame
    for plane, model in ortho.views.items():
        qtbot.waitUntil(lambda m=model, p=plane: _letters(m) == WANTED[p], timeout=10000)
    ortho.close()
