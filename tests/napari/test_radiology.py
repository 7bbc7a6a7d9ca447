"""Reading a CT as radiologists do: window presets, the window stored in a DICOM header, mouse
window/level, the cursor read-out and measurements in millimetres — through a real viewer."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("napari")

from conftest import PLUGIN, camera, layer_index  # noqa: E402

from mlarray import Meta, MLArray  # noqa: E402
from mlarray.cli import main as mlarray_cli  # noqa: E402

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402


def _image(viewer, path):
    layers = viewer.open(str(path), plugin=PLUGIN)
    return [lay for lay in layers if lay.__class__.__name__ == "Image"][0]


@pytest.fixture
def ct_small_mla(tmp_path):
    """pydicom's CT_small.dcm (Hounsfield units after rescale) converted with the CLI."""
    out = tmp_path / "ct_small.mla"
    assert mlarray_cli(["convert", get_testdata_file("CT_small.dcm"), str(out)]) == 0
    return out


def test_presets_are_the_reference_ct_windows():
    from napari_mlarray import WINDOW_PRESETS

    for name in ("brain", "subdural", "stroke", "lung", "mediastinum", "soft tissue", "abdomen", "liver", "bone"):
        assert name in WINDOW_PRESETS
    assert WINDOW_PRESETS["brain"] == (40.0, 80.0)
    assert WINDOW_PRESETS["lung"] == (-600.0, 1500.0)
    assert WINDOW_PRESETS["bone"] == (400.0, 1800.0)


def test_bone_window_on_a_real_ct_reaches_beyond_the_percentile_slider(make_napari_viewer, ct_small_mla):
    from napari_mlarray import window

    viewer = make_napari_viewer()
    layer = _image(viewer, ct_small_mla)
    assert window(layer, "bone") == (-500.0, 1300.0)
    assert tuple(layer.contrast_limits) == (-500.0, 1300.0)
    lo, hi = layer.contrast_limits_range
    assert lo <= -500.0 and hi >= 1300.0
    window(layer, "lung")
    assert tuple(layer.contrast_limits) == (-1350.0, 150.0)
    # MR and other unit-less data: windows from the stored percentiles of the file itself
    stats = MLArray.open(ct_small_mla).meta.stats
    window(layer, "percentiles 1-99")
    assert tuple(layer.contrast_limits) == pytest.approx((stats.percentile(1), stats.percentile(99)))
    with pytest.raises(ValueError, match="unknown window"):
        window(layer, "brian")
    assert window(layer, "Bone") == window(layer, " BONE ") == (-500.0, 1300.0)  # typed as radiologists say it


def _dicom_with_window(tmp_path, centers, widths):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.WindowCenter = centers
    ds.WindowWidth = widths
    path = tmp_path / "windowed.dcm"
    ds.save_as(path)
    out = tmp_path / "windowed.mla"
    assert mlarray_cli(["convert", str(path), str(out)]) == 0
    return out


def test_a_dicom_window_in_the_header_is_the_window_the_file_opens_with(make_napari_viewer, tmp_path):
    # several windows: the first is the default, in Hounsfield units (after RescaleIntercept -1024)
    path = _dicom_with_window(tmp_path, [40, -600], [400, 1500])
    viewer = make_napari_viewer()
    layer = _image(viewer, path)
    assert tuple(layer.contrast_limits) == (-160.0, 240.0)
    from napari_mlarray import window

    window(layer, "brain")
    assert window(layer, "stored") == (-160.0, 240.0)


def test_an_enhanced_ct_opens_with_its_frame_voi_window(make_napari_viewer, tmp_path):
    """pydicom-data's enhanced CT keeps its window in the shared functional groups (Frame VOI LUT)."""
    src = get_testdata_file("eCT_Supplemental.dcm")
    if src is None:
        pytest.skip("pydicom-data is not installed")
    ds = pydicom.dcmread(src, stop_before_pixels=True)
    voi = ds.SharedFunctionalGroupsSequence[0].FrameVOILUTSequence[0]
    center, width = float(voi.WindowCenter), float(voi.WindowWidth)
    out = tmp_path / "ect.mla"
    assert mlarray_cli(["convert", src, str(out)]) == 0
    viewer = make_napari_viewer()
    layer = _image(viewer, out)
    assert tuple(layer.contrast_limits) == (center - width / 2, center + width / 2)


def test_a_file_without_a_stored_window_keeps_percentile_limits(make_napari_viewer, ct_small_mla):
    viewer = make_napari_viewer()
    layer = _image(viewer, ct_small_mla)
    stats = MLArray.open(ct_small_mla).meta.stats
    assert tuple(layer.contrast_limits) == pytest.approx((stats.percentile(0.5), stats.percentile(99.5)))


def _oblique_ct(tmp_path):
    """A CT-like volume on an anisotropic, rotated (30 degrees about S) LPS grid."""
    rng = np.random.default_rng(3)
    ct = rng.integers(-100, 200, size=(6, 40, 50)).astype(np.int16)
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    # array axes (z, y, x): z along S, y and x rotated in the axial plane
    direction = [[0.0, -s, c], [0.0, c, s], [1.0, 0.0, 0.0]]
    img = MLArray(ct, spacing=[3.0, 0.7, 0.9], origin=[10.0, -20.0, 5.0], direction=direction,
                  meta=Meta(source={"Modality": "CT"}))
    img.meta.spatial.coord_system = "LPS"
    img.save(tmp_path / "oblique.mla")
    return tmp_path / "oblique.mla", ct


def _world_mm(path, index):
    affine = np.asarray(MLArray.open(path).affine, dtype=float)
    return affine[:3, :3] @ np.asarray(index, dtype=float) + affine[:3, 3]


def test_measure_lengths_areas_and_statistics_in_mm(make_napari_viewer, tmp_path):
    from napari_mlarray import measure

    path, ct = _oblique_ct(tmp_path)
    viewer = make_napari_viewer()
    image = _image(viewer, path)
    layer = measure(viewer, image)
    a, b = (3, 5, 7), (3, 30, 41)  # two voxels of slice 3, file (array) order
    line = np.array([layer_index(image, a), layer_index(image, b)], dtype=float)
    layer.add_lines(line)
    expected = float(np.linalg.norm(_world_mm(path, b) - _world_mm(path, a)))
    assert layer.features["length_mm"].iloc[0] == pytest.approx(expected, rel=1e-6)
    assert f"{expected:.1f} mm" == layer.features["label"].iloc[0]

    # rectangle with corners at voxels y 10..20, x 12..30 of slice 3: area from the edge lengths in mm,
    # statistics over the voxels whose centres it covers
    corners = [(3, 10, 12), (3, 10, 30), (3, 20, 30), (3, 20, 12)]
    layer.add_rectangles(np.array([layer_index(image, p) for p in corners], dtype=float))
    row = layer.features.iloc[1]
    assert row["area_mm2"] == pytest.approx((30 - 12) * 0.9 * (20 - 10) * 0.7, rel=1e-6)
    region = ct[3, 10:21, 12:31].astype(float)
    assert row["mean"] == pytest.approx(region.mean())
    assert row["std"] == pytest.approx(region.std())
    assert (row["min"], row["max"]) == (region.min(), region.max())

    # moving the rectangle (an edit through the layer's data) updates its figures
    moved = [np.asarray(d).copy() for d in layer.data]
    shift = np.asarray(layer_index(image, (0, 0, 10)), dtype=float)
    moved[1] = moved[1] + shift
    layer.data = moved
    layer.shape_type = ["line", "rectangle"]
    region = ct[3, 10:21, 22:41].astype(float)
    assert layer.features.iloc[1]["mean"] == pytest.approx(region.mean())


def test_measure_ellipse_statistics_follow_the_ellipse(make_napari_viewer, tmp_path):
    from napari_mlarray import measure

    path, ct = _oblique_ct(tmp_path)
    viewer = make_napari_viewer()
    image = _image(viewer, path)
    layer = measure(viewer, image)
    corners = [(2, 8, 10), (2, 8, 40), (2, 30, 40), (2, 30, 10)]  # bounding box of the ellipse
    layer.add_ellipses(np.array([layer_index(image, p) for p in corners], dtype=float))
    yy, xx = np.mgrid[0:40, 0:50]
    inside = ((yy - 19) / 11.0) ** 2 + ((xx - 25) / 15.0) ** 2 <= 1.0
    row = layer.features.iloc[0]
    assert row["mean"] == pytest.approx(ct[2][inside].astype(float).mean())
    assert row["area_mm2"] == pytest.approx(math.pi * 11 * 0.7 * 15 * 0.9, rel=1e-6)


def test_cursor_readout_gives_hounsfield_units_and_patient_position(make_napari_viewer, ct_small_mla):
    from napari_mlarray import enable_cursor_readout

    viewer = make_napari_viewer()
    layer = _image(viewer, ct_small_mla)
    enable_cursor_readout(viewer)
    index = (0, 40, 70)
    data_pt = np.asarray(layer_index(layer, index), dtype=float)
    world = np.asarray(layer.data_to_world(data_pt), dtype=float)
    viewer.cursor.position = tuple(world)
    value = float(np.asarray(MLArray.open(ct_small_mla)[index]))
    x, y, z = _world_mm(ct_small_mla, index)  # LPS
    text = viewer.text_overlay.text  # one item a line: short lines keep clear of the edge letters
    shown = [line for line in text.splitlines() if line.strip()]
    assert shown == [f"{value:.1f} HU", f"R {-x + 0.0:.1f}", f"A {-y + 0.0:.1f}", f"S {z + 0.0:.1f} mm"]


def _drag(canvas_widget, start, end, button):
    from qtpy.QtCore import QEvent, QPointF, Qt
    from qtpy.QtGui import QMouseEvent
    from qtpy.QtWidgets import QApplication

    def send(kind, pos, buttons):
        p = QPointF(*pos)
        ev = QMouseEvent(kind, p, canvas_widget.mapToGlobal(p), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(canvas_widget, ev)

    send(QEvent.Type.MouseButtonPress, start, button)
    for t in np.linspace(0, 1, 6)[1:]:
        pos = (start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))
        send(QEvent.Type.MouseMove, pos, button)
        QApplication.processEvents()  # as between a user's real moves: napari draws, vispy moves on
    send(QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)


def _canvas_widget(viewer):
    qt_viewer = viewer.window._qt_viewer
    return qt_viewer.canvas.native if hasattr(qt_viewer, "canvas") else qt_viewer._canvas_overlay


def test_right_drag_sets_window_and_level_without_moving_the_camera(make_napari_viewer, ct_small_mla, qtbot):
    from qtpy.QtCore import Qt

    from napari_mlarray import enable_window_level
    from napari_mlarray.radiology._interaction import _WL_PIXELS

    viewer = make_napari_viewer(show=True)
    layer = _image(viewer, ct_small_mla)
    enable_window_level(viewer)
    qtbot.wait(400)  # the view settles (fitted, upright) before the camera is read
    cam = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    zoom, center = cam.zoom, tuple(cam.center)
    lo, hi = layer.contrast_limits
    rlo, rhi = layer.contrast_limits_range
    per_pixel = (rhi - rlo) / _WL_PIXELS
    _drag(_canvas_widget(viewer), (200.0, 200.0), (260.0, 230.0), Qt.MouseButton.RightButton)
    nlo, nhi = layer.contrast_limits
    assert (nhi - nlo) == pytest.approx((hi - lo) + 60 * per_pixel, rel=1e-3)  # wider: moved right
    assert (nhi + nlo) / 2 == pytest.approx((hi + lo) / 2 + 30 * per_pixel, rel=1e-3)  # higher level: moved down
    assert cam.zoom == zoom and tuple(cam.center) == center
    assert cam.mouse_zoom and cam.mouse_pan  # napari's own zoom and pan are back after the drag

    # a Labels layer in paint mode keeps its right button: no window change
    shape = layer.data[0].shape if layer.multiscale else layer.data.shape
    labels = viewer.add_labels(np.zeros(shape, np.uint8), scale=layer.scale, translate=layer.translate,
                               rotate=layer.rotate, affine=layer.affine)
    labels.mode = "paint"
    before = tuple(layer.contrast_limits)
    _drag(_canvas_widget(viewer), (200.0, 200.0), (300.0, 300.0), Qt.MouseButton.RightButton)
    assert tuple(layer.contrast_limits) == before


def test_the_dock_widget_applies_a_preset_to_the_selected_layer(make_napari_viewer, ct_small_mla):
    viewer = make_napari_viewer()
    layer = _image(viewer, ct_small_mla)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Window, level and measure")
    viewer.layers.selection.active = layer
    widget.preset.value = "mediastinum"
    widget.apply.clicked.emit()
    assert tuple(layer.contrast_limits) == (-125.0, 225.0)
    widget.measure.clicked.emit()
    assert viewer.layers[-1].metadata.get("mlarray_role") == "measurements"


# ----------------------------------------------------------------------------- orthogonal views


def _views(viewer, files):
    from napari_mlarray import orthogonal_views

    viewer.open(str(files["ct"]), plugin=PLUGIN)
    viewer.open(str(files["seg"]), plugin=PLUGIN)
    return orthogonal_views(viewer, enabled=True)


def test_orthogonal_views_share_the_data_and_show_three_planes(make_napari_viewer, ct_files, qtbot):
    viewer = make_napari_viewer(show=True)
    ortho = _views(viewer, ct_files)
    assert set(ortho.views) == {"axial", "coronal", "sagittal"}
    main_layers = [lay for lay in viewer.layers]
    for plane, model in ortho.views.items():
        copies = list(model.layers)  # the views' layers are the main viewer's, nothing else (no crosshair layer)
        assert [c.name for c in copies] == [m.name for m in main_layers]
        for copy, main in zip(copies, main_layers):
            if main.__class__.__name__ in ("Image", "Labels"):
                assert copy.data is main.data  # the same array objects, no second copy
    # world axes (S, P, L): each plane leaves out its normal axis
    shown = {p: set(m.dims.displayed) for p, m in ortho.views.items()}
    assert shown == {"axial": {1, 2}, "coronal": {0, 2}, "sagittal": {0, 1}}
    qtbot.wait(300)
    for plane, qt in ortho._qt.items():  # every canvas draws its plane
        shot = qt.screenshot(flash=False)
        assert np.asarray(shot)[..., :3].std() > 5, plane
    ortho.close()


def test_orthogonal_views_link_slices_both_ways_and_follow_properties(make_napari_viewer, ct_files, qtbot):
    viewer = make_napari_viewer(show=True)
    ortho = _views(viewer, ct_files)
    ct = viewer.layers[0]
    # main viewer -> views
    step = abs(float(ct.scale[0]))
    point = list(viewer.dims.point)
    point[0] += 2 * step
    viewer.dims.point = tuple(point)
    # the axial view shows that slice (a view's point sits on its nearest slice); the coronal and sagittal
    # views' horizontal crosshair line moves there (world (S, P, L); each view's lines: [line, end, axis])
    assert abs(ortho.views["axial"].dims.point[0] - viewer.dims.point[0]) <= step / 2 + 1e-6
    for plane in ("coronal", "sagittal"):
        horizontal = ortho.crosshair_lines(plane)[0]
        assert np.allclose(horizontal[:, 0], viewer.dims.point[0], atol=1e-4), plane
    # a view's slider -> main viewer and the other views' crosshairs
    sag = ortho.views["sagittal"]
    sag.dims.set_current_step(2, sag.dims.current_step[2] + 7)
    assert ortho.point[2] == pytest.approx(sag.dims.point[2])
    for plane in ("axial", "coronal"):  # L is each one's horizontal axis: the vertical line is at the new L
        vertical = ortho.crosshair_lines(plane)[1]
        assert np.allclose(vertical[:, 1], sag.dims.point[2], atol=1e-4), plane
    # a click in the coronal view moves the others to the clicked position
    ortho._jump("coronal", (viewer.dims.point[0] - 10.0, viewer.dims.point[1], viewer.dims.point[2] + 3.0))
    assert abs(ortho.views["axial"].dims.point[0] - viewer.dims.point[0]) <= step / 2 + 1e-6  # its nearest slice
    assert abs(ortho.views["sagittal"].dims.point[2] - ortho.point[2]) <= abs(float(ct.scale[2])) / 2 + 1e-6
    # properties follow in every direction
    ct.contrast_limits = (-200.0, 300.0)
    ax_ct = ortho.views["axial"].layers[ct.name]
    assert tuple(ax_ct.contrast_limits) == (-200.0, 300.0)
    ortho.views["coronal"].layers[ct.name].visible = False
    assert ct.visible is False and ax_ct.visible is False
    ortho.crosshair = False
    assert all(ortho.crosshair_lines(p) is None for p in ortho.views)
    ortho.close()


def test_paint_in_a_view_is_saved_by_the_main_save(make_napari_viewer, ct_files, tmp_path):
    viewer = make_napari_viewer(show=True)
    ortho = _views(viewer, ct_files)
    seg = viewer.layers["ct_seg"]
    sag_seg = ortho.views["sagittal"].layers["ct_seg"]
    idx = layer_index(seg, (3, 10, 10))
    sag_seg.data[tuple(idx)] = 3  # a stroke in the sagittal view writes the shared array
    sag_seg.events.paint(value=[])
    out = tmp_path / "painted_seg.mla"
    viewer.layers.selection = {seg}
    viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    assert int(np.asarray(MLArray.open(out)[3, 10, 10])) == 3
    ortho.close()


def test_turning_the_views_off_leaves_one_working_canvas(make_napari_viewer, ct_files, qtbot):
    from napari_mlarray import orthogonal_views

    viewer = make_napari_viewer(show=True)
    ortho = _views(viewer, ct_files)
    n_point_hooks = len(viewer.dims.events.point.callbacks)
    assert orthogonal_views(viewer, enabled=False) is None
    assert len(viewer.dims.events.point.callbacks) == n_point_hooks - 1
    assert not ortho._hooks
    point = list(viewer.dims.point)
    point[0] += 2.5
    viewer.dims.point = tuple(point)  # no hook left to reach the closed views
    qtbot.wait(100)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert np.asarray(shot)[..., :3].std() > 5
    again = orthogonal_views(viewer, enabled=True)
    assert again is not ortho and len(again.views["axial"].layers) >= 2
    orthogonal_views(viewer, enabled=False)


def test_scrolling_a_view_re_reads_only_the_slices_that_changed(make_napari_viewer, ct_files, qtbot):
    """A step in the coronal view re-slices the coronal view alone (the others only move their crosshair); a step
    in the axial view also re-slices the main canvas, which shows the axial plane."""
    viewer = make_napari_viewer(show=True)
    ortho = _views(viewer, ct_files)
    qtbot.wait(200)  # the views are fitted and their layers shown
    ct = viewer.layers["ct"]
    layers = {"main": ct, **{p: m.layers["ct"] for p, m in ortho.views.items()}}
    sliced = {name: 0 for name in layers}

    def counter(name):
        def count(event=None):
            sliced[name] += 1
        return count

    for name, layer in layers.items():
        layer.events.set_data.connect(counter(name))  # napari emits it for each new slice of a layer
    before = ortho.crosshair_lines("axial").copy()
    slider = ortho.sliders["coronal"]
    slider.setValue(slider.value() + 3)
    assert sliced == {"main": 0, "axial": 0, "coronal": 1, "sagittal": 0}
    assert not np.allclose(ortho.crosshair_lines("axial"), before)  # the axial view's crosshair moved
    slider = ortho.sliders["axial"]
    slider.setValue(slider.value() + 2)
    assert sliced == {"main": 1, "axial": 1, "coronal": 1, "sagittal": 0}
    ortho.close()


def test_views_step_as_the_main_viewer_and_show_layers_added_later(make_napari_viewer, ct_files):
    from napari_mlarray import measure

    viewer = make_napari_viewer(show=True)
    ortho = _views(viewer, ct_files)
    for model in ortho.views.values():  # one slice per step, as in the main viewer (not 1 mm)
        assert tuple(model.dims.range) == tuple(viewer.dims.range)
    axial = ortho.views["axial"]
    before = viewer.dims.current_step[0]
    axial.dims.set_current_step(0, axial.dims.current_step[0] + 1)
    assert viewer.dims.current_step[0] == before + 1
    # a measurement layer made while the views are shown: its shapes and labels reach every view
    m = measure(viewer, viewer.layers["ct"])
    ct = viewer.layers["ct"]
    m.add_lines(np.array([layer_index(ct, (3, 5, 5)), layer_index(ct, (3, 30, 40))], dtype=float))
    for model in ortho.views.values():
        copy = model.layers["measurements"]
        assert len(copy.data) == 1 and np.allclose(copy.data[0], m.data[0])
        assert copy.features["label"].iloc[0] == m.features["label"].iloc[0]
    ortho.close()


def test_cursor_readout_reads_the_voxel_on_screen_of_a_tilted_grid_without_deprecations(make_napari_viewer,
                                                                                     tmp_path):
    import warnings

    from napari_mlarray import enable_cursor_readout
    from napari_mlarray.radiology._readout import text_overlay

    rng = np.random.default_rng(5)
    vol = rng.integers(0, 1000, size=(12, 40, 40)).astype(np.int16)
    c, s = math.cos(math.radians(20)), math.sin(math.radians(20))
    # slices tilted 20 degrees about L (gantry-tilt-like): an axial world plane cuts several slices
    img = MLArray(vol, spacing=[3.0, 1.0, 1.0], origin=[0.0, 0.0, 0.0],
                  direction=[[0.0, 0.0, 1.0], [s, c, 0.0], [c, -s, 0.0]], meta=Meta(source={"Modality": "CT"}))
    img.meta.spatial.coord_system = "LPS"
    img.save(tmp_path / "tilted.mla")
    viewer = make_napari_viewer()
    layer = _image(viewer, tmp_path / "tilted.mla")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        enable_cursor_readout(viewer)
        for index in ((6, 10, 10), (6, 30, 25)):
            world = np.asarray(layer.data_to_world(np.asarray(layer_index(layer, index), dtype=float)))
            viewer.cursor.position = tuple(world)
            shown = layer.get_value(world, world=True)  # what napari draws at that screen point
            text = text_overlay(viewer).text
            assert text.split()[0] == f"{float(shown):.1f}", (index, text, shown)


@pytest.mark.parametrize("widget", [False, True], ids=["as_it_opens", "readout_on"])
def test_status_bar_shows_hounsfield_units_and_patient_position_after_a_mouse_move(make_napari_viewer,
                                                                                   ct_small_mla, qtbot, widget):
    """As the file opens (a trial user's demo read '0, 49' without the widget) and with the read-out on."""
    from qtpy.QtCore import QEvent, QPointF, Qt
    from qtpy.QtGui import QEnterEvent, QMouseEvent
    from qtpy.QtWidgets import QApplication, QLabel

    from napari_mlarray import enable_cursor_readout

    viewer = make_napari_viewer(show=True)
    _image(viewer, ct_small_mla)  # the boxes-less CT: its image is the active layer
    if widget:
        enable_cursor_readout(viewer)
    qtbot.wait(300)
    widget = _canvas_widget(viewer)
    inside = QPointF(widget.width() * 0.45, widget.height() * 0.4)
    QApplication.sendEvent(widget, QEnterEvent(inside, inside, widget.mapToGlobal(inside)))  # the pointer comes in
    QApplication.processEvents()
    assert viewer.mouse_over_canvas
    for pos in ((widget.width() * 0.45, widget.height() * 0.4), (widget.width() * 0.5, widget.height() * 0.55)):
        p = QPointF(*pos)
        QApplication.sendEvent(widget, QMouseEvent(QEvent.Type.MouseMove, p, widget.mapToGlobal(p),
                                                   Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                                   Qt.KeyboardModifier.NoModifier))
        QApplication.processEvents()
    world = np.asarray(viewer.cursor.position, dtype=float)  # napari world (S, P, L) under the mouse
    ml = MLArray.open(ct_small_mla)
    lps = np.array([world[2], world[1], world[0]])  # the file's LPS frame
    affine = np.asarray(ml.affine, dtype=float)
    index = np.round(np.linalg.solve(affine[:3, :3], lps - affine[:3, 3])).astype(int)
    value = float(np.asarray(ml[tuple(index)]))
    expected = f"R {-world[2]:.1f}  A {-world[1]:.1f}  S {world[0]:.1f} mm: {value:.1f} HU"

    # napari's own status computation for the cursor (a thread in the app, which napari's test
    # fixture switches off), then the plugin's rewrite of it
    viewer.update_status_from_cursor()
    status = viewer.status
    assert isinstance(status, dict) and status["coordinates"] == expected, (status, expected)
    bar = viewer.window._qt_window.statusBar()  # QMainWindow.statusBar(): the bar the user reads
    assert expected in [lab.text() for lab in bar.findChildren(QLabel)]


def _crosshair_pixels(shot):
    """The crosshair's green in a screenshot, and where its lines run: (row of the horizontal line, column of
    the vertical one)."""
    from napari_mlarray.radiology._crosshair import CROSSHAIR_COLOR

    rgb = np.asarray(shot)[..., :3].astype(int)
    want = np.array([int(CROSSHAIR_COLOR[i:i + 2], 16) for i in (1, 3, 5)])
    green = np.abs(rgb - want).max(axis=-1) <= 40
    return green, (int(np.argmax(green.sum(axis=1))), int(np.argmax(green.sum(axis=0))))


def _click(widget, pos):
    from qtpy.QtCore import QEvent, QPointF, Qt
    from qtpy.QtGui import QMouseEvent
    from qtpy.QtWidgets import QApplication

    p = QPointF(*pos)
    for kind, buttons in ((QEvent.Type.MouseButtonPress, Qt.MouseButton.LeftButton),
                          (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton)):
        QApplication.sendEvent(widget, QMouseEvent(kind, p, widget.mapToGlobal(p), Qt.MouseButton.LeftButton,
                                                   buttons, Qt.KeyboardModifier.NoModifier))
        QApplication.processEvents()


@pytest.mark.parametrize("kind", ["ct", "oblique"])
def test_a_click_in_a_view_puts_the_crosshair_under_the_mouse(make_napari_viewer, ct_files, tmp_path, qtbot, kind):
    """What the user sees: after a click in a view, its two lines cross under the mouse (upright, flipped and
    anisotropic views; an oblique grid too), and the other views took the clicked slice."""
    from napari_mlarray import orthogonal_views

    viewer = make_napari_viewer(show=True)
    if kind == "ct":
        ortho = _views(viewer, ct_files)
    else:
        viewer.open(str(_oblique_ct(tmp_path)[0]), plugin=PLUGIN)
        ortho = orthogonal_views(viewer)
    qtbot.wait(300)
    for plane, (fx, fy) in (("coronal", (0.4, 0.6)), ("axial", (0.6, 0.35)), ("sagittal", (0.45, 0.45))):
        qt = ortho._qt[plane]
        widget = qt.canvas.native
        at = (widget.width() * fx, widget.height() * fy)
        _click(widget, at)
        qtbot.wait(50)
        shot = np.asarray(qt.screenshot(flash=False))
        sy, sx = shot.shape[0] / widget.height(), shot.shape[1] / widget.width()
        green, (row, col) = _crosshair_pixels(shot)
        assert green.sum() > 50, plane
        # the lines are at the clicked point's slices: within half a slice (on screen) of the mouse
        zoom = camera(ortho.views[plane]).zoom
        half = [zoom * float(ortho.views[plane].dims.range[a][2]) / 2 for a in ortho.views[plane].dims.displayed]
        assert abs(row - at[1] * sy) <= 2 + half[0] * sy and abs(col - at[0] * sx) <= 2 + half[1] * sx, (
            plane, (row, col), at, half)
        for other, model in ortho.views.items():  # the clicked point's slice in every view
            # and both of its lines drawn (a trial user's views lost a line after a click in another view)
            green, (row, col) = _crosshair_pixels(ortho._qt[other].screenshot(flash=False))
            assert green[row].sum() > green.shape[1] / 4 and green[:, col].sum() > green.shape[0] / 4, (plane, other)
            normal = [a for a in range(3) if a not in model.dims.displayed][0]
            step = float(model.dims.range[normal][2])
            assert abs(model.dims.point[normal] - ortho.point[normal]) <= step / 2 + 1e-6, (plane, other)
        for axis in viewer.dims.not_displayed:  # and the main canvas its slice through it
            assert viewer.dims.point[axis] == pytest.approx(ortho.point[axis]), plane
    ortho.crosshair = False
    qtbot.wait(50)
    assert _crosshair_pixels(ortho._qt["axial"].screenshot(flash=False))[0].sum() == 0
    ortho.close()


def test_the_crosshair_is_drawn_in_the_plane_of_a_4d_ct(make_napari_viewer, tmp_path, qtbot):
    """A 4-D CT (20 time points 500 s apart, 40 mm across): each view's lines cross at the point in its own
    40 mm plane, and stay there when the time slider moves."""
    from napari_mlarray import orthogonal_views

    vol = np.random.default_rng(1).integers(0, 100, size=(20, 10, 40, 40)).astype(np.int16)
    meta = Meta(extra={"time_interval": 500.0}, source={"Modality": "CT"})
    img = MLArray(vol, spacing=[2.0, 1.0, 1.0], axis_labels=["temporal", "spatial_z", "spatial_y", "spatial_x"],
                  meta=meta)
    img.meta.spatial.coord_system = "LPS"
    img.save(tmp_path / "perfusion.mla")
    viewer = make_napari_viewer(show=True)
    viewer.open(str(tmp_path / "perfusion.mla"), plugin=PLUGIN)
    ortho = orthogonal_views(viewer)
    viewer.dims.set_current_step(0, 5)
    qtbot.wait(200)
    for plane, model in ortho.views.items():
        shown = list(model.dims.displayed)
        assert 0 not in shown  # time is never a view's axis
        lines = ortho.crosshair_lines(plane)
        point = np.asarray(ortho.point, dtype=float)[shown]
        assert np.allclose(lines[0][:, 0], point[0]) and np.allclose(lines[1][:, 1], point[1]), plane
        extent = np.asarray(model.layers.extent.world, dtype=float)[:, shown]
        assert np.ptp(lines[0][:, 1]) <= 50 and np.ptp(lines[1][:, 0]) <= 50  # across the 40 mm plane
        assert _crosshair_pixels(ortho._qt[plane].screenshot(flash=False))[0].sum() > 20, plane
        assert np.all(lines >= extent[0] - 1e-3) and np.all(lines <= extent[1] + 1e-3), plane
    ortho.close()


def test_the_dock_widget_shows_the_window_of_the_selected_image(make_napari_viewer, tmp_path):
    from napari_mlarray import window

    path = _dicom_with_window(tmp_path, [40], [400])  # opens in its stored window
    viewer = make_napari_viewer()
    layer = _image(viewer, path)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Window, level and measure")
    viewer.layers.selection.active = layer
    assert widget.preset.value == "stored"  # centre 40 / width 400 HU: the header's window, no preset's
    window(layer, "lung")
    assert widget.preset.value == "lung"
    layer.contrast_limits = (-37.0, 91.0)  # a right-drag or the slider: no named window
    assert widget.preset.value == "custom"
    window(layer, "stored")
    assert widget.preset.value == "stored"
    other = viewer.add_image(np.zeros((4, 4), np.float32), contrast_limits=(-1350.0, 150.0))
    viewer.layers.selection.active = other
    assert widget.preset.value == "lung"  # the newly selected layer's window


_OBLIQUE_SESSION = """
import sys
from qtpy.QtWidgets import QApplication
import napari
from napari_mlarray import orthogonal_views

viewer = napari.Viewer(show=True)
viewer.open(sys.argv[1], plugin="mlarray")
ortho = orthogonal_views(viewer)
app = QApplication.instance()
for k in range(6):  # the main slider, each view's own slider, the wheel's path
    viewer.dims.set_current_step(0, viewer.dims.current_step[0] + 1)
    for slider in ortho.sliders.values():
        slider.setValue(slider.value() + 1)
    app.processEvents()
ortho.close()
viewer.close()
"""


def test_an_oblique_file_in_the_views_warns_once_on_the_terminal(tmp_path):
    """What a user running a script sees on the terminal: the plugin's oblique warning once (not also
    napari's copy of it), and not napari's non-orthogonal slicing warning on every slice."""
    import os
    import subprocess
    import sys

    path, _ = _oblique_ct(tmp_path)
    script = tmp_path / "session.py"
    script.write_text(_OBLIQUE_SESSION)
    run = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONWARNINGS": "default"})
    assert run.returncode == 0, run.stderr[-3000:]
    terminal = run.stdout + run.stderr
    assert terminal.count("the image axes are oblique to the world axes") == 1, terminal[-3000:]
    # napari's per-slice copy of the same news: silenced once the plugin has said it (..layers._geometry)
    assert "Non-orthogonal slicing is being requested" not in terminal, terminal[-3000:]


def test_the_views_leave_the_main_canvas_its_share_of_a_default_window(make_napari_viewer, ct_files, qtbot):
    viewer = make_napari_viewer(show=True)  # napari's default window size
    ortho = _views(viewer, ct_files)
    qtbot.wait(300)
    main = _canvas_widget(viewer)
    views = [qt.canvas.native for qt in ortho._qt.values()]
    assert min(v.width() for v in views) >= 200  # each view readable
    assert main.width() >= 1.2 * max(v.width() for v in views)  # and the main canvas the larger part
    assert main.height() >= 2 * max(v.height() for v in views) * 0.9
    ortho.close()


def test_measurement_statistics_on_a_ct_are_labelled_in_hounsfield_units(make_napari_viewer, ct_small_mla):
    """A radiologist reads '… mean 40.2 ± 3.1 HU' on CT (pydicom's CT_small); data without units keeps bare numbers."""
    from napari_mlarray import measure

    viewer = make_napari_viewer()
    image = _image(viewer, ct_small_mla)
    layer = measure(viewer, image)
    corners = [(0, 10, 12), (0, 10, 30), (0, 20, 30), (0, 20, 12)]
    layer.add_rectangles(np.array([layer_index(image, p) for p in corners], dtype=float))
    label = layer.features["label"].iloc[0]
    assert label.endswith(" HU") and " mean " in label


def test_turning_the_views_on_fits_every_canvas_to_its_final_size(make_napari_viewer, ct_files, qtbot):
    """The user re-trial: the docked views and the narrowed main canvas kept a zoom fitted to sizes from before
    Qt laid the window out, cropping the anatomy. Once the layout settles, each is fitted: fitting again changes
    nothing."""
    viewer = make_napari_viewer(show=True)
    ortho = _views(viewer, ct_files)
    qtbot.wait(300)
    models = [viewer, *ortho.views.values()]
    zooms = [m.camera.zoom for m in models]
    for m in models:
        m.reset_view()
    assert [m.camera.zoom for m in models] == pytest.approx(zooms, rel=1e-3)
    ortho.close()
