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
    field = widget.coord_system.native
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
    QTest.keyClick(w.coord_system.native, Qt.Key.Key_Return)
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
    qtbot.waitUntil(lambda: w.coord_system.native.hasFocus(), timeout=3000)
    assert image.metadata["mlarray"]["spatial"]["coord_system"] == "LPS"
    QTest.mouseClick(w.spacing.native, Qt.MouseButton.LeftButton)  # the user clicks the next field
    qtbot.waitUntil(lambda: image.metadata["mlarray"]["spatial"]["coord_system"] == "RAS", timeout=3000)
    assert w.error == ""
    np.testing.assert_array_equal(image.rotate, np.eye(3))
