"""Issue 22 item 2: the widget's "coord system" field, typed as a user types it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PLUGIN
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from mlarray import MLArray


@pytest.fixture
def widget_on_ct(make_napari_viewer, ct_files):
    viewer = make_napari_viewer(show=True)
    layers = viewer.open(str(ct_files["ct"]), plugin=PLUGIN)
    image = next(ly for ly in layers if ly.metadata["mlarray_role"] == "image")
    viewer.layers.selection.active = image
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "MLArray metadata")
    return viewer, widget, image, ct_files


def _type(widget, text: str, enter: bool = True) -> None:
    field = widget.spatial.coord_system.native
    field.setFocus()
    field.selectAll()
    QTest.keyClicks(field, text)  # one keystroke at a time, as typed
    if enter:
        QTest.keyClick(field, Qt.Key.Key_Return)


def _layout(layer):
    data = layer.data[0] if layer.multiscale else layer.data
    return list(data.order), np.round(layer.scale, 9).tolist(), np.round(layer.translate, 9).tolist()


@pytest.mark.parametrize("partial", ["R", "RA", "LP", "RRS"])
def test_partial_codes_are_refused_with_a_message(widget_on_ct, partial):
    viewer, w, image, _ = widget_on_ct
    before = _layout(image), np.array(image.rotate)
    _type(w, partial, enter=False)
    assert w.error == ""  # nothing applied while typing
    assert image.metadata["mlarray"]["spatial"]["coord_system"] == "LPS"
    QTest.keyClick(w.spatial.coord_system.native, Qt.Key.Key_Return)
    assert "spatial.coord_system" in w.error and "RAS or LPS" in w.error
    assert image.metadata["mlarray"]["spatial"]["coord_system"] == "LPS"
    assert (_layout(image), image.rotate.tolist()) == (before[0], before[1].tolist())
    assert not w.save()  # the refused text is not silently dropped
    viewer.screenshot(flash=False)  # the viewer still draws


@pytest.mark.parametrize("code", ["SPL", "unknown", "XYZ", "RAS"])
def test_complete_codes_apply_as_reopening_the_file_would(widget_on_ct, make_napari_viewer, code):
    viewer, w, image, files = widget_on_ct
    _type(w, code)  # typing "RAS" over "LPS" passes through "R" and "RA"
    assert w.error == "", w.error
    assert image.metadata["mlarray"]["spatial"]["coord_system"] == code
    np.testing.assert_array_equal(image.rotate, np.eye(3))  # axis-aligned still: no scrambled rotation
    viewer.screenshot(flash=False)
    boxes = next(ly for ly in viewer.layers if ly.metadata.get("mlarray_role") == "boxes")
    assert w.save(), w.error
    assert MLArray.open(files["ct"]).meta.spatial.coord_system == code
    fresh = make_napari_viewer().open(str(files["ct"]), plugin=PLUGIN)
    by_role = {ly.metadata["mlarray_role"]: ly for ly in fresh}
    assert _layout(image) == _layout(by_role["image"])
    assert list(image.axis_labels) == list(by_role["image"].axis_labels)
    np.testing.assert_allclose(boxes.scale, by_role["boxes"].scale)
    np.testing.assert_allclose(np.asarray(boxes.data), np.asarray(by_role["boxes"].data))


def test_a_code_applies_when_the_field_loses_focus(widget_on_ct, qtbot):
    viewer, w, image, _ = widget_on_ct
    w.native.window().activateWindow()
    _type(w, "RAS", enter=False)
    qtbot.waitUntil(lambda: w.spatial.coord_system.native.hasFocus(), timeout=3000)
    assert image.metadata["mlarray"]["spatial"]["coord_system"] == "LPS"
    QTest.mouseClick(w.spatial.spacing.native, Qt.MouseButton.LeftButton)  # the user clicks the next field
    qtbot.waitUntil(lambda: image.metadata["mlarray"]["spatial"]["coord_system"] == "RAS", timeout=3000)
    assert w.error == ""
    np.testing.assert_array_equal(image.rotate, np.eye(3))


@pytest.mark.parametrize("kind", ["image", "labels"])
def test_a_code_on_a_layer_made_in_napari(make_napari_viewer, tmp_path, kind):
    """A layer with no file behind it: the code re-orders a view of its own array, never a rotation."""
    viewer = make_napari_viewer(show=True)
    arr = np.arange(5 * 6 * 7).reshape(5, 6, 7).astype(np.uint8 if kind == "labels" else np.float32)
    layer = getattr(viewer, f"add_{kind}")(arr, scale=[2.0, 1.0, 1.0])
    viewer.layers.selection.active = layer
    _dock, w = viewer.window.add_plugin_dock_widget(PLUGIN, "MLArray metadata")
    _type(w, "LPS")
    assert w.error == "", w.error
    np.testing.assert_array_equal(layer.rotate, np.eye(3))
    viewer.screenshot(flash=False)
    voxel = (1, 2, 3)  # in the array's own order
    world = layer.data_to_world(tuple(voxel[a] for a in layer.data.order))
    if kind == "labels":
        layer.data[tuple(voxel[a] for a in layer.data.order)] = 200  # painting still lands in the array
        assert arr[voxel] == 200
    viewer.layers.selection = {layer}
    viewer.layers.save(str(tmp_path / "x.mla"), selected=True, plugin=PLUGIN)
    back = MLArray.open(tmp_path / "x.mla")
    assert back.meta.spatial.coord_system == "LPS"
    np.testing.assert_array_equal(back.to_numpy(), arr)
    (again,) = make_napari_viewer().open(str(tmp_path / "x.mla"), plugin=PLUGIN)
    np.testing.assert_allclose(again.data_to_world(tuple(voxel[a] for a in again.data.order)), world)
