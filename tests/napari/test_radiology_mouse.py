"""Right-drag window/level as the user meets it: on as soon as a file is open, in the main canvas and in every
orthogonal view, with napari's pan, painting and shape drawing left alone — through real mouse events."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from conftest import PLUGIN, camera  # noqa: E402
from qtpy.QtCore import Qt  # noqa: E402
from test_radiology import _canvas_widget, _drag  # noqa: E402
from test_radiology_layout import _run  # noqa: E402

RIGHT, LEFT = Qt.MouseButton.RightButton, Qt.MouseButton.LeftButton


def _open_ct(viewer, files):
    layers = viewer.open(str(files["ct"]), plugin=PLUGIN)
    image = [lay for lay in layers if lay.__class__.__name__ == "Image"][0]
    viewer.layers.selection.active = image  # the user clicks the CT in the layer list
    return image


def _middle(widget, dx=0.0, dy=0.0):
    return (widget.width() / 2 + dx, widget.height() / 2 + dy)


def test_right_drag_windows_the_image_as_soon_as_the_file_is_open(make_napari_viewer, ct_files, qtbot):
    viewer = make_napari_viewer(show=True)
    image = _open_ct(viewer, ct_files)
    qtbot.wait(400)
    canvas = _canvas_widget(viewer)
    cam = camera(viewer)
    zoom = cam.zoom
    lo, hi = image.contrast_limits
    _drag(canvas, _middle(canvas), _middle(canvas, 80, 0), RIGHT)  # no widget opened, nothing enabled
    nlo, nhi = image.contrast_limits
    assert nhi - nlo > hi - lo  # wider window
    assert cam.zoom == zoom  # and not napari's right-drag zoom
    shot = np.asarray(viewer.screenshot(canvas_only=True))[..., :3]
    assert shot.max() > 30  # the image is still drawn

    # left drag: napari's pan, the window untouched
    window, center = tuple(image.contrast_limits), tuple(cam.center)
    _drag(canvas, _middle(canvas), _middle(canvas, 60, 40), LEFT)
    assert tuple(cam.center) != center and tuple(image.contrast_limits) == window


def test_layer_tools_keep_their_buttons(make_napari_viewer, ct_files, qtbot):
    viewer = make_napari_viewer(show=True)
    image = _open_ct(viewer, ct_files)
    qtbot.wait(400)
    canvas = _canvas_widget(viewer)
    window = tuple(image.contrast_limits)

    shapes = viewer.add_shapes(ndim=3)  # drawing a rectangle with the left button
    shapes.mode = "add_rectangle"
    _drag(canvas, _middle(canvas, -60, -40), _middle(canvas, 40, 30), LEFT)
    assert len(shapes.data) == 1
    _drag(canvas, _middle(canvas), _middle(canvas, 80, 0), RIGHT)  # right-drag on a non-image layer: napari's
    assert tuple(image.contrast_limits) == window

    shape = image.data[0].shape if image.multiscale else image.data.shape
    labels = viewer.add_labels(np.zeros(shape, np.uint8), scale=image.scale, translate=image.translate,
                               rotate=image.rotate, affine=image.affine)
    labels.mode = "paint"
    labels.brush_size = 5
    _drag(canvas, _middle(canvas, -20, 0), _middle(canvas, 20, 0), LEFT)
    assert np.count_nonzero(labels.data) > 0  # painted
    _drag(canvas, _middle(canvas), _middle(canvas, 80, 0), RIGHT)
    assert tuple(image.contrast_limits) == window

    points = viewer.add_points(ndim=3)  # a non-image layer in napari's pan/zoom mode: its right-drag zooms
    points.mode = "pan_zoom"
    zoom = camera(viewer).zoom
    _drag(canvas, _middle(canvas), _middle(canvas, 0, 80), RIGHT)
    assert tuple(image.contrast_limits) == window and camera(viewer).zoom != zoom


def test_right_drag_in_every_view_windows_the_shared_image(make_napari_viewer, ct_files, qtbot):
    viewer = make_napari_viewer(show=True)
    image = _open_ct(viewer, ct_files)
    viewer.open(str(ct_files["seg"]), plugin=PLUGIN)
    viewer.layers.selection.active = image
    _run("mlarray.orthogonal_views")  # Layers › Visualize › Orthogonal views
    from napari_mlarray.radiology._ortho import orthogonal_views

    ortho = orthogonal_views(viewer)
    qtbot.wait(500)
    for plane in ("axial", "coronal", "sagittal"):
        qt = ortho._qt[plane]
        canvas = qt.canvas.native
        zoom = camera(ortho.views[plane]).zoom
        before = np.asarray(qt.screenshot(flash=False))[..., :3].astype(float)
        lo, hi = image.contrast_limits
        _drag(canvas, _middle(canvas), _middle(canvas, 60, 0), RIGHT)
        nlo, nhi = image.contrast_limits
        assert nhi - nlo > hi - lo, plane  # the main viewer's layer took the new window
        for other, model in ortho.views.items():  # and every view shows it
            copy = [lay for lay in model.layers if lay.name == image.name][0]
            assert tuple(copy.contrast_limits) == pytest.approx((nlo, nhi)), (plane, other)
        assert camera(ortho.views[plane]).zoom == zoom, plane  # the view did not zoom
        qtbot.wait(50)
        after = np.asarray(qt.screenshot(flash=False))[..., :3].astype(float)
        assert np.abs(after - before).mean() > 1, plane  # the user sees the new window

    # the widget's checkbox turns it off, in the views too
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Window, level and measure")
    widget.mouse.native.click()  # the user unticks "Right-drag: window/level"
    assert not widget.mouse.value
    window = tuple(image.contrast_limits)
    canvas = ortho._qt["axial"].canvas.native
    _drag(canvas, _middle(canvas), _middle(canvas, 60, 0), RIGHT)
    _drag(_canvas_widget(viewer), _middle(_canvas_widget(viewer)), _middle(_canvas_widget(viewer), 60, 0), RIGHT)
    assert tuple(image.contrast_limits) == window
    viewer.open(str(ct_files["ct"]), plugin=PLUGIN)  # a file opened later does not turn it back on
    viewer.layers.selection.active = image
    _drag(canvas, _middle(canvas), _middle(canvas, 60, 0), RIGHT)
    assert tuple(image.contrast_limits) == window
    widget.mouse.native.click()
    _drag(canvas, _middle(canvas), _middle(canvas, 60, 0), RIGHT)
    assert tuple(image.contrast_limits) != window
    ortho.close()


def _wheel(widget, pos, notches):
    from qtpy.QtCore import QPoint, QPointF
    from qtpy.QtGui import QWheelEvent
    from qtpy.QtWidgets import QApplication

    p = QPointF(*pos)
    event = QWheelEvent(p, widget.mapToGlobal(p), QPoint(0, 0), QPoint(0, 120 * notches), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    QApplication.processEvents()


def test_a_click_on_the_main_canvas_moves_the_views_and_its_crosshair(make_napari_viewer, ct_files, qtbot):
    """The main canvas is linked like the views: a click there moves the views to the clicked point, and it
    shows the crosshair where the views cross; its wheel stays napari's zoom."""
    from test_radiology import _click, _crosshair_pixels

    from napari_mlarray.radiology._ortho import MAIN, orthogonal_views

    viewer = make_napari_viewer(show=True)
    _open_ct(viewer, ct_files)
    viewer.open(str(ct_files["seg"]), plugin=PLUGIN)
    _run("mlarray.orthogonal_views")  # Layers › Visualize › Orthogonal views
    ortho = orthogonal_views(viewer)
    qtbot.wait(500)
    canvas = _canvas_widget(viewer)
    green, _ = _crosshair_pixels(viewer.screenshot(canvas_only=True))
    assert green.sum() > 50  # the crosshair is on the main canvas from the start

    at = (canvas.width() * 0.4, canvas.height() * 0.62)
    before = ortho.point
    _click(canvas, at)
    qtbot.wait(100)
    assert ortho.point != before
    shown = list(viewer.dims.displayed)
    for axis in shown:  # the views' point is the clicked one, within half a voxel
        step = float(viewer.dims.range[axis][2])
        assert ortho.point[axis] == pytest.approx(viewer.cursor.position[axis], abs=step / 2 + 1e-6), axis
    for plane, model in ortho.views.items():  # each view took the clicked point's slice
        normal = [a for a in range(3) if a not in model.dims.displayed][0]
        if normal in shown:
            step = float(model.dims.range[normal][2])
            assert abs(model.dims.point[normal] - viewer.cursor.position[normal]) <= step / 2 + 1e-6, plane

    # what the user sees: the main canvas's crosshair crosses under the mouse
    shot = np.asarray(viewer.screenshot(canvas_only=True))
    sy, sx = shot.shape[0] / canvas.height(), shot.shape[1] / canvas.width()
    green, (row, col) = _crosshair_pixels(shot)
    zoom = camera(viewer).zoom
    half = [zoom * float(viewer.dims.range[a][2]) / 2 for a in shown]
    assert abs(row - at[1] * sy) <= 2 + half[0] * sy and abs(col - at[0] * sx) <= 2 + half[1] * sx, (row, col, at)
    assert ortho.crosshair_lines(MAIN) is not None

    # the main canvas's wheel is napari's zoom, not a slice step
    zoom, point = camera(viewer).zoom, tuple(viewer.dims.point)
    _wheel(canvas, at, 2)
    assert camera(viewer).zoom != zoom and tuple(viewer.dims.point) == point

    ortho.crosshair = False
    qtbot.wait(50)
    assert _crosshair_pixels(viewer.screenshot(canvas_only=True))[0].sum() == 0
    ortho.close()
    assert _crosshair_pixels(viewer.screenshot(canvas_only=True))[0].sum() == 0
