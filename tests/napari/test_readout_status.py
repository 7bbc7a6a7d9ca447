"""The status bar's read-out after a real mouse move on the canvas, as a radiologist reads it (issue 26).

A trial user saw patient letters for a file without patient geometry, ``R -0.0``, and napari's raw
``[-58.000, 0.000, 17.943]: 0; name: background`` with a segmentation selected. Each test moves the
mouse over napari's canvas, lets napari compute its cursor status, and reads the status bar's label.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from conftest import PLUGIN  # noqa: E402

from mlarray import MLArray  # noqa: E402
from mlarray.cli import main as mlarray_cli  # noqa: E402


def _canvas_widget(viewer):
    qt_viewer = viewer.window._qt_viewer
    return qt_viewer.canvas.native if hasattr(qt_viewer, "canvas") else qt_viewer._canvas_overlay


def _hover(viewer, fx: float, fy: float) -> str:
    """Move the mouse to ``(fx, fy)`` of the canvas (fractions of its size); the status bar's read-out."""
    from qtpy.QtCore import QEvent, QPointF, Qt
    from qtpy.QtGui import QEnterEvent, QMouseEvent
    from qtpy.QtWidgets import QApplication, QLabel

    widget = _canvas_widget(viewer)
    p = QPointF(widget.width() * fx, widget.height() * fy)
    QApplication.sendEvent(widget, QEnterEvent(p, p, widget.mapToGlobal(p)))
    QApplication.sendEvent(widget, QMouseEvent(QEvent.Type.MouseMove, p, widget.mapToGlobal(p), Qt.MouseButton.NoButton,
                                               Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
    QApplication.processEvents()
    # napari's own status computation for the cursor (a thread in the app, which napari's test fixture
    # switches off), then the plugin's rewrite of it
    viewer.update_status_from_cursor()
    status = viewer.status
    assert isinstance(status, dict), status
    bar = viewer.window._qt_window.statusBar()  # QMainWindow.statusBar(): the bar the user reads
    assert status["coordinates"] in [lab.text() for lab in bar.findChildren(QLabel)]
    return status["coordinates"]


def _voxel(path, layer, world) -> float:
    index = tuple(int(i) for i in np.round(np.asarray(layer.world_to_data(world), dtype=float)))
    return float(np.asarray(MLArray.open(path)[index]))


def test_a_file_without_patient_geometry_reads_on_its_own_axes(make_napari_viewer, tmp_path, qtbot):
    """pydicom's emri_small.dcm has no patient position or orientation: no R/A/S, its axes as napari names them."""
    from pydicom.data import get_testdata_file

    out = tmp_path / "emri.mla"
    assert mlarray_cli(["convert", get_testdata_file("emri_small.dcm"), str(out)]) == 0
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(out), plugin=PLUGIN)
    qtbot.wait(200)
    shown = _hover(viewer, 0.45, 0.55)
    world = np.asarray(viewer.cursor.position, dtype=float)
    names = [str(v) for v in viewer.dims.axis_labels]
    assert names == ["axis 0", "axis 1", "axis 2"]  # what the sliders say: no patient letters anywhere
    position = "  ".join(f"{n} {round(w, 1) + 0.0:.1f}" for n, w in zip(names, world))
    assert shown == f"{position}: {_voxel(out, layer, world):.1f}"


def test_a_file_in_micrometres_without_patient_frame_gives_its_unit(make_napari_viewer, tmp_path, qtbot):
    """A microscopy stack: its axes and its unit, with as many decimals as its 0.05 µm pixels need."""
    path = tmp_path / "cells.mla"
    data = np.arange(4 * 40 * 50, dtype=np.uint16).reshape(4, 40, 50)
    ml = MLArray(data, spacing=[0.5, 0.05, 0.05])
    ml.meta.spatial.axis_units = ["um", "um", "um"]
    ml.save(path)
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    qtbot.wait(200)
    shown = _hover(viewer, 0.4, 0.6)
    world = np.asarray(viewer.cursor.position, dtype=float)
    names = [str(v) for v in viewer.dims.axis_labels]
    unit = f"{layer.units[-1]:~}"
    position = "  ".join(f"{n} {round(w, 2) + 0.0:.2f}" for n, w in zip(names, world))
    assert shown == f"{position} {unit}: {_voxel(path, layer, world):.1f}"
    assert not any(f"{c} " in shown.split(":")[0] for c in "RAS")


def _ras_file(tmp_path):
    """A RAS CT-like volume whose world origin is its middle voxel."""
    path = tmp_path / "ras.mla"
    data = (np.arange(21 * 21 * 21) % 97).astype(np.int16).reshape(21, 21, 21)
    ml = MLArray(data, spacing=[1.0, 1.0, 1.0], origin=[-10.0, -10.0, -10.0])
    ml.meta.spatial.coord_system = "RAS"
    ml.save(path)
    return path


def test_a_coordinate_next_to_zero_reads_0_0_not_minus_0_0(make_napari_viewer, tmp_path, qtbot):
    path = _ras_file(tmp_path)
    viewer = make_napari_viewer(show=True)
    viewer.open(str(path), plugin=PLUGIN)
    qtbot.wait(200)
    widget = _canvas_widget(viewer)
    # zoomed in around the world origin, neighbouring screen pixels are hundredths of a millimetre apart:
    # some of them fall just left of 0 on a displayed axis
    camera = viewer.camera
    camera.center = (0.0, 0.0, 0.0)
    camera.zoom = 100.0 * max(widget.width(), widget.height()) / 800
    seen, near_zero = [], 0
    for dx in range(-3, 4):
        for dy in range(-3, 4):
            shown = _hover(viewer, 0.5 + dx / widget.width(), 0.5 + dy / widget.height())
            world = np.asarray(viewer.cursor.position, dtype=float)
            near_zero += int(any(-0.05 < w < 0 for w in world[list(viewer.dims.displayed)]))
            seen.append(shown)
    assert near_zero, "no mouse position landed just left of 0: the test did not test anything"
    assert not any("-0.0 " in s or s.endswith("-0.0") or "-0.0:" in s for s in seen), seen
    assert any(" 0.0" in s for s in seen)


def test_with_the_segmentation_selected_the_read_out_gives_hu_and_the_label(make_napari_viewer, tmp_path, qtbot):
    """`mlarray demo`'s phantom and its segmentation: painting with the labels layer selected still reads HU."""
    from napari.layers import Image, Labels, Shapes

    from napari_mlarray import measure

    assert mlarray_cli(["demo", "--dir", str(tmp_path), "--no-viewer", "--size", "64"]) == 0
    files = sorted(tmp_path.glob("*.mla"))
    viewer = make_napari_viewer(show=True)
    viewer.open([str(f) for f in files], plugin=PLUGIN)
    qtbot.wait(200)
    image = next(ly for ly in viewer.layers if isinstance(ly, Image))
    labels = next(ly for ly in viewer.layers if isinstance(ly, Labels))
    path = next(f for f in files if MLArray.open(f).meta.spatial.coord_system and "seg" not in f.name)

    viewer.layers.selection.active = image
    with_image = _hover(viewer, 0.5, 0.5)
    viewer.layers.selection.active = labels
    with_labels = _hover(viewer, 0.5, 0.5)
    world = np.asarray(viewer.cursor.position, dtype=float)
    hu = _voxel(path, image, world)
    label = int(np.asarray(labels.get_value(world, world=True)))
    position = with_image.split(": ")[0]
    assert position.startswith("R ") and position.endswith(" mm")
    assert with_labels.startswith(f"{position}: {image.name} {hu:.1f} HU; {labels.name} {label}"), with_labels
    names = labels.features.set_index("index")["name"] if "index" in labels.features else None
    if names is not None and label in names.index:
        assert with_labels.endswith(f"name: {names[label]}"), with_labels
    assert "[" not in with_labels  # napari's raw world coordinates are gone

    # the canvas's read-out (the widget's, or enable_cursor_readout) gives the label too, on its own line
    from napari_mlarray import enable_cursor_readout
    from napari_mlarray.radiology._readout import text_overlay

    enable_cursor_readout(viewer)
    _hover(viewer, 0.4, 0.4)
    _hover(viewer, 0.5, 0.5)  # the read-out follows the cursor's moves
    lines = text_overlay(viewer).text.splitlines()
    assert lines[0] == f"{hu:.1f} HU" and lines[1].startswith(f"{labels.name} {label}"), lines
    if names is not None and label in names.index:
        assert lines[1].endswith(f"name: {names[label]}"), lines

    # the plugin's Shapes layers (the demo's boxes, a measurement layer) selected: the image's HU as well
    measure(viewer)
    shapes_layers = [ly for ly in viewer.layers if isinstance(ly, Shapes)]
    assert len(shapes_layers) >= 2
    for shapes in shapes_layers:
        viewer.layers.selection.active = shapes
        assert _hover(viewer, 0.5, 0.5).startswith(f"{position}: {image.name} {hu:.1f} HU")


@pytest.mark.parametrize("units", ["GY", "RELATIVE"])
def test_an_rt_dose_reads_in_the_unit_of_its_file(make_napari_viewer, tmp_path, qtbot, units):
    """pydicom's rtdose.dcm (DoseUnits RELATIVE: no unit) and the same dose in GY, which converts with
    value_unit "Gy": the read-out names the file's unit, not only HU, and none when it has none."""
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("rtdose.dcm"))
    ds.DoseUnits = units
    ds.save_as(tmp_path / "dose.dcm")
    out = tmp_path / "dose.mla"
    assert mlarray_cli(["convert", str(tmp_path / "dose.dcm"), str(out)]) == 0
    viewer = make_napari_viewer(show=True)
    (layer, *_) = viewer.open(str(out), plugin=PLUGIN)
    qtbot.wait(200)
    shown = _hover(viewer, 0.5, 0.5)
    world = np.asarray(viewer.cursor.position, dtype=float)
    voxel = _voxel(out, layer, world)
    assert 0.5 < voxel < 2  # a dose of about 1 (pixels times DoseGridScaling 1e-6)
    # four significant digits: 0.978 and 1.026 must not both read "1.0"
    value = f"{voxel:.{3 - int(np.floor(np.log10(abs(voxel))))}f}"
    assert shown.endswith(f": {value} Gy" if units == "GY" else f": {value}"), shown
