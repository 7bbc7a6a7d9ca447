"""The plugin's menu commands run as napari runs them (app-model, the viewer injected by annotation).

A trial user's Layers › Visualize › Orthogonal views raised "missing 1 required positional argument:
'viewer'": the command's parameter had no napari type for napari to inject the viewer by."""

from __future__ import annotations

from conftest import PLUGIN


def _run(command: str) -> None:
    from napari._app_model import get_app_model

    get_app_model().commands.execute_command(command).result()


def _views_shown(viewer) -> bool:
    from qtpy.QtWidgets import QApplication

    # napari 0.6 has no public mapping of docked widgets: the views' splitter by its Qt object name
    return any(w.objectName() == "mlarray_orthogonal_views" and w.isVisible() for w in QApplication.allWidgets())


def test_the_orthogonal_views_menu_entry_turns_the_views_on_and_off(make_napari_viewer, ct_files, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    _run("mlarray.orthogonal_views")
    qtbot.waitUntil(lambda: _views_shown(viewer), timeout=5000)
    _run("mlarray.orthogonal_views")
    qtbot.waitUntil(lambda: not _views_shown(viewer), timeout=5000)


def test_the_measure_and_window_menu_entries_run(make_napari_viewer, ct_files):
    viewer = make_napari_viewer()
    (image, *_) = viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    viewer.layers.selection.active = image
    _run("mlarray.window_bone")
    assert tuple(image.contrast_limits) == (-500.0, 1300.0)
    _run("mlarray.measure")
    assert any(type(ly).__name__ == "Shapes" and ly.name.startswith("measure") for ly in viewer.layers)
