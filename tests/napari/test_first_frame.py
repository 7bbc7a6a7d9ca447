"""The first frame a user sees: open a file in a fresh viewer, wait, look at the canvas.

Nothing here moves a slider or sets a dims point before looking: a file must be drawn as it opens
(issue: files opened to a black canvas until a slider moved, because napari had sliced the layers
with other units than they ended up with). Real files written by other tools are converted with
the ``mlarray convert`` command, as a user would, then opened with ``viewer.open``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import PLUGIN, phantom

from mlarray import Meta, MLArray
from mlarray.cli import main as mlarray_cli
from napari_mlarray.viewer._anatomy import FIRST_MARKERS_DELAY_MS

# A drawn image covers a good part of the canvas after napari fits the view to it; a black canvas has
# only the orientation letters (well under 1 % of its pixels).
MIN_DRAWN_FRACTION = 0.05


def _nibabel_data(name: str) -> str:
    nib = pytest.importorskip("nibabel")
    return os.path.join(os.path.dirname(nib.__file__), "tests", "data", name)


def _pydicom_data(name: str) -> str:
    pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    return get_testdata_file(name)


def _convert(src: str, dst: Path) -> Path:
    assert mlarray_cli(["convert", str(src), str(dst)]) == 0
    return dst


def _blob_stack(nz=12, ny=64, nx=80) -> np.ndarray:
    """Two fluorescence-like channels (ZCYX, uint16): a bright ellipsoid and its mirror image."""
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    blob = np.exp(-(((y - ny / 2) / 12.0) ** 2 + ((x - nx / 2 + 10) / 15.0) ** 2 + ((z - nz / 2) / 4.0) ** 2))
    blob = (blob * 3000 + 100).astype(np.uint16)
    return np.stack([blob, blob[:, ::-1] // 2 + 50], axis=1)


# ----------------------------------------------------------------------------- the files, each kind

def _anatomical(d: Path) -> list:
    return [_convert(_nibabel_data("anatomical.nii"), d / "anatomical.mla")]


def _example4d(d: Path) -> list:  # fMRI: a time series of oblique volumes
    return [_convert(_nibabel_data("example4d.nii.gz"), d / "example4d.mla")]


def _ct_small(d: Path) -> list:  # one axial slice
    return [_convert(_pydicom_data("CT_small.dcm"), d / "CT_small.mla")]


def _mr_small(d: Path) -> list:
    return [_convert(_pydicom_data("MR_small.dcm"), d / "MR_small.mla")]


def _ct_series(d: Path) -> list:  # pydicom's 5-slice CT series (a DICOM folder)
    folder = Path(_pydicom_data("CT_small.dcm")).parent / "dicomdirtests" / "98892001" / "CT5N"
    return [_convert(str(folder), d / "ct5.mla")]


def _demo_phantom(d: Path) -> list:  # `mlarray demo`: image with boxes, and its segmentation
    assert mlarray_cli(["demo", "--dir", str(d), "--no-viewer", "--size", "64"]) == 0
    from mlarray.demo import SAMPLE_NAMES

    return [d / SAMPLE_NAMES["image"], d / SAMPLE_NAMES["labels"]]


def _ome_zstack(d: Path) -> list:  # microscopy: 2-channel z-stack in µm, OME-TIFF written by tifffile
    tifffile = pytest.importorskip("tifffile")
    src = d / "zstack.ome.tif"
    tifffile.imwrite(src, _blob_stack(), ome=True, photometric="minisblack",
                     metadata={"axes": "ZCYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 1.5,
                               "PhysicalSizeXUnit": "µm", "PhysicalSizeYUnit": "µm", "PhysicalSizeZUnit": "µm"})
    return [_convert(str(src), d / "zstack.mla")]


def _imagej_timelapse(d: Path) -> list:  # microscopy: an ImageJ TZCYX hyperstack (time series), µm
    tifffile = pytest.importorskip("tifffile")
    src = d / "timelapse.tif"
    stack = _blob_stack()
    tifffile.imwrite(src, np.stack([stack, stack // 2, stack // 3]), imagej=True, resolution=(5.0, 5.0),
                     metadata={"axes": "TZCYX", "spacing": 1.5, "unit": "um", "finterval": 30})
    return [_convert(str(src), d / "timelapse.mla")]


def _identity(d: Path) -> list:  # written with the library, identity direction
    ct = phantom((24, 96, 80))[0]
    img = MLArray(ct, spacing=[2.5, 0.8, 0.9], origin=[-40.0, -35.0, 120.0])
    img.meta.spatial.coord_system = "LPS"
    img.save(d / "identity.mla")
    return [d / "identity.mla"]


FILES = {
    "nibabel-anatomical": _anatomical,
    "nibabel-example4d-timeseries": _example4d,
    "pydicom-CT_small-one-slice": _ct_small,
    "pydicom-MR_small-one-slice": _mr_small,
    "pydicom-CT5N-series": _ct_series,
    "mlarray-demo-phantom": _demo_phantom,
    "tifffile-ome-zstack-2-channels": _ome_zstack,
    "tifffile-imagej-timelapse-2-channels": _imagej_timelapse,
    "identity-direction": _identity,
}
ONE_SLICE = {"pydicom-CT_small-one-slice", "pydicom-MR_small-one-slice"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Each kind converted once for the module (the conversions are what a user runs first)."""
    made: dict = {}

    def get(kind: str) -> list:
        if kind not in made:
            made[kind] = [str(p) for p in FILES[kind](tmp_path_factory.mktemp(kind))]
        return made[kind]

    return get


# ----------------------------------------------------------------------------- looking at the frame

def _settle(qtbot) -> None:
    """Let Qt draw, including the orientation letters (they appear shortly after the view)."""
    qtbot.wait(FIRST_MARKERS_DELAY_MS + 200)


def _shot(viewer) -> np.ndarray:
    return np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3].astype(int)


def _drawn_fraction(shot: np.ndarray) -> float:
    """Fraction of the canvas not left black (napari's canvas background)."""
    return float((shot.max(axis=-1) > 10).mean())


def _assert_layers_sliced_in_range(viewer, layers) -> None:
    """Each image/labels layer shows a slice inside its data, with a thumbnail that is not black."""
    for layer in layers:
        kind = type(layer).__name__.lower()
        if kind not in ("image", "labels"):
            continue
        data = layer.data[0] if layer.multiscale else layer.data
        # The data index napari slices at (not public; the bug put it at 4008 for 33 slices). Only the
        # sliced (not displayed) axes have one.
        point = np.asarray(layer._data_slice.point, dtype=float)
        for axis, value in enumerate(point):
            if not np.isnan(value):
                assert -0.5 <= value <= data.shape[axis] - 0.5, (layer.name, axis, value, data.shape)
        # ... and it is where the dims point is
        expected = np.asarray(layer.world_to_data(viewer.dims.point), dtype=float)
        sliced = [a for a, v in enumerate(point) if not np.isnan(v)]
        if not _oblique(layer):  # napari slices an oblique layer along its own axes
            np.testing.assert_allclose(point[sliced], expected[sliced], atol=0.51, err_msg=layer.name)
        thumb = np.asarray(layer.thumbnail)[..., :3]
        assert thumb.max() > 0, f"{layer.name}: black thumbnail"


def _oblique(layer) -> bool:
    r = np.asarray(layer.rotate, dtype=float)
    return not np.allclose(r, np.eye(r.shape[0]), atol=1e-6)


def _assert_first_frame(viewer, layers, qtbot, kind: str) -> None:
    _settle(qtbot)
    first = _shot(viewer)
    assert _drawn_fraction(first) > MIN_DRAWN_FRACTION, f"{kind}: the canvas is black"
    _assert_layers_sliced_in_range(viewer, layers)
    sliders = [a for a in viewer.dims.not_displayed if viewer.dims.nsteps[a] > 1]
    if kind in ONE_SLICE:
        assert sliders == [], "a single slice has nothing to slide through"
        return
    assert sliders, kind
    # What a user got by moving a slider away and back (the only way out of the black canvas) is
    # what the first frame must already show.
    axis = sliders[-1]
    step = viewer.dims.current_step[axis]
    other = step - 1 if step > 0 else step + 1
    viewer.dims.set_current_step(axis, other)
    _settle(qtbot)
    viewer.dims.set_current_step(axis, step)
    _settle(qtbot)
    again = _shot(viewer)
    assert first.shape == again.shape
    assert np.abs(first - again).mean() < 1.0, f"{kind}: the first frame differs from the same slice redrawn"


@pytest.mark.parametrize("kind", list(FILES))
def test_file_is_drawn_as_it_opens(make_napari_viewer, qtbot, files, kind):
    paths = files(kind)
    viewer = make_napari_viewer(show=True)
    layers = viewer.open(paths if len(paths) > 1 else paths[0], plugin=PLUGIN, stack=False)
    assert layers
    _assert_first_frame(viewer, layers, qtbot, kind)


@pytest.mark.parametrize("kind", ["nibabel-anatomical", "tifffile-ome-zstack-2-channels"])
def test_file_opened_from_the_running_event_loop_is_drawn(make_napari_viewer, qtbot, files, kind):
    """As drag and drop does: the file is opened by an event handled inside Qt's event loop."""
    from qtpy.QtCore import QTimer

    (path,) = files(kind)
    viewer = make_napari_viewer(show=True)
    _settle(qtbot)  # the empty viewer is up and its loop idle
    opened: list = []
    QTimer.singleShot(0, lambda: opened.extend(viewer.open(path, plugin=PLUGIN)))
    qtbot.waitUntil(lambda: bool(opened), timeout=20000)
    _assert_first_frame(viewer, opened, qtbot, kind)


def test_sagittal_single_slice_opens_in_its_own_plane(make_napari_viewer, qtbot, tmp_path):
    """A single sagittal DICOM slice is shown as a sagittal image, not a one-pixel strip of an axial view."""
    pydicom = pytest.importorskip("pydicom")
    ds = pydicom.dcmread(_pydicom_data("MR_small.dcm"))
    # rows run anterior -> posterior, columns superior -> inferior: a sagittal slice
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.save_as(tmp_path / "sagittal.dcm")
    path = _convert(str(tmp_path / "sagittal.dcm"), tmp_path / "sagittal.mla")
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    _settle(qtbot)
    shown = {str(viewer.dims.axis_labels[a]) for a in viewer.dims.displayed}
    assert shown == {"I→S", "A→P"}
    assert all(viewer.dims.nsteps[a] <= 1 for a in viewer.dims.not_displayed)  # no slider
    shot = _shot(viewer)
    assert _drawn_fraction(shot) > 0.3  # a 64 x 64 image fitted to the canvas, not a strip
    rows, cols = np.nonzero(shot.max(axis=-1) > 10)
    assert np.ptp(cols) > 0.3 * shot.shape[1] and np.ptp(rows) > 0.5 * shot.shape[0]
    _assert_layers_sliced_in_range(viewer, [layer])


# ----------------------------------------------------------------------------- units beside other layers

def _inconsistent_units(records) -> list:
    return [str(r.message) for r in records if "nconsistent units" in str(r.message)]


def _notifications_since(start) -> list:
    from napari.utils.notifications import notification_manager

    return [n.message for n in notification_manager.records[start:] if "nconsistent units" in n.message]


@pytest.mark.parametrize("kind", ["nibabel-anatomical", "tifffile-ome-zstack-2-channels"])
def test_layers_added_beside_mlarray_layers_keep_units_consistent(make_napari_viewer, qtbot, files, kind):
    """napari's "New labels/points/shapes layer" buttons, ``add_points`` and a labels layer in the file's
    units (micrometres for the microscopy stack) beside the file's layers: no "Inconsistent units across
    layers" warning, the file's layers keep their units and stay drawn."""
    from napari.utils.notifications import notification_manager

    (path,) = files(kind)
    viewer = make_napari_viewer(show=True)
    buttons = viewer.window._qt_viewer.layerButtons  # the buttons under napari's layer list
    start = len(notification_manager.records)
    with warnings.catch_warnings(record=True) as caught, notification_manager:
        warnings.simplefilter("always")
        ours = viewer.open(path, plugin=PLUGIN)
        units = {ly.name: [str(u) for u in ly.units] for ly in ours}
        file_units = tuple(ours[0].units[-3:])
        _settle(qtbot)
        n = len(viewer.layers)
        viewer.layers.selection = {ours[0]}
        buttons.newLabelsButton.click()  # labels on the selected image's grid
        _settle(qtbot)
        viewer.layers.selection.clear()
        buttons.newPointsButton.click()  # nothing selected: napari gives no scale and no units
        buttons.newShapesButton.click()
        _settle(qtbot)
        points = viewer.add_points(np.asarray(ours[0].data_to_world([0] * ours[0].ndim))[None], name="added points")
        _settle(qtbot)
        viewer.add_labels(np.zeros((4, 16, 16), np.uint8), scale=(1.5, 0.2, 0.2), units=file_units,
                          name="user labels")
        _settle(qtbot)
        viewer.screenshot(canvas_only=True, flash=False)  # napari checks units when it draws
    assert len(viewer.layers) == n + 5
    assert _inconsistent_units(caught) == [] and _notifications_since(start) == []
    assert {ly.name: [str(u) for u in ly.units] for ly in ours} == units
    if hasattr(viewer.layers.extent, "units"):  # napari >= 0.7: the viewer has world units
        assert viewer.layers.extent.units is not None
        assert str(points.units[-1]) == units[ours[0].name][-1]  # the points are in the file's units
    # the file's layers are still drawn at the slice the dims show
    _assert_layers_sliced_in_range(viewer, ours)
    assert _drawn_fraction(_shot(viewer)) > MIN_DRAWN_FRACTION


def test_file_opened_beside_a_layer_without_units_draws_both(make_napari_viewer, qtbot, files):
    """A NIfTI already shown with its nibabel affine (no units: napari's pixel), then the converted file:
    no units warning, and both layers are drawn at the slice the dims show."""
    nib = pytest.importorskip("nibabel")
    from napari.utils.notifications import notification_manager

    from napari_mlarray import set_world_frame

    (path,) = files("nibabel-anatomical")
    nii = nib.load(_nibabel_data("anatomical.nii"))
    previous = set_world_frame("RAS")  # the frame in which the two overlay voxel for voxel
    try:
        viewer = make_napari_viewer(show=True)
        start = len(notification_manager.records)
        with warnings.catch_warnings(record=True) as caught, notification_manager:
            warnings.simplefilter("always")
            theirs = viewer.add_image(np.asarray(nii.dataobj), affine=nii.affine, name="nibabel")
            _settle(qtbot)
            ours = viewer.open(path, plugin=PLUGIN)
            _settle(qtbot)
            shot = _shot(viewer)
        assert _inconsistent_units(caught) == [] and _notifications_since(start) == []
        assert [str(u) for u in ours[0].units] == ["millimeter"] * 3
        assert _drawn_fraction(shot) > MIN_DRAWN_FRACTION
        _assert_layers_sliced_in_range(viewer, [*ours, theirs])  # each at the voxel under the dims point
    finally:
        set_world_frame(previous)


# ----------------------------------------------------------------------------- a multichannel image and its labels

def _nuclei(nz=12, ny=64, nx=80) -> np.ndarray:
    """Labels of the two blobs of :func:`_blob_stack` (1: the left one, 2: its mirror image)."""
    stack = _blob_stack(nz, ny, nx)
    lab = (stack[:, 0] > 1200).astype(np.uint8)
    lab[stack[:, 1] > 600] = 2
    return lab


def _omezarr_with_labels(d: Path) -> list:
    """An OME-Zarr written by ome-zarr-py (CZYX in micrometres, labels named by axis only, no units, as
    ``write_labels(axes=["z", "y", "x"])`` writes them), converted: the image and its labels file."""
    zarr = pytest.importorskip("zarr")
    writer = pytest.importorskip("ome_zarr.writer")
    src = d / "cells.ome.zarr"
    group = zarr.open_group(str(src), mode="w")
    size = {"z": 1.5, "y": 0.2, "x": 0.2}
    writer.write_multiscale([np.moveaxis(_blob_stack(), 1, 0)], group, axes="czyx", scale={"c": 1.0, **size},
                            axes_units={a: "micrometer" for a in "zyx"})
    writer.write_multiscale_labels([_nuclei()], group, "nuclei", axes="zyx", scale=size)
    image = _convert(str(src), d / "cells.mla")
    return [image, d / "cells_label-nuclei.mla"]


def _ometiff_with_labels(d: Path) -> list:
    """The OME-TIFF z-stack converted, and a segmentation written with the library on its grid (as the
    README writes one: the image's spacing/origin/direction, no units)."""
    (image,) = _ome_zstack(d)
    img = MLArray.open(image)
    seg = MLArray(_nuclei(), spacing=img.spacing, origin=img.origin, direction=img.direction,
                  meta=Meta(is_seg=True))
    seg.save(d / "zstack_seg.mla")
    return [image, d / "zstack_seg.mla"]


IMAGE_AND_LABELS = {"ome-zarr-2-channels-and-labels": _omezarr_with_labels,
                    "ome-tiff-2-channels-and-labels": _ometiff_with_labels}


@pytest.mark.parametrize("labels_first", [False, True], ids=["image-first", "labels-first"])
@pytest.mark.parametrize("kind", list(IMAGE_AND_LABELS))
def test_labels_opened_with_a_multichannel_image_are_drawn(make_napari_viewer, qtbot, tmp_path, kind, labels_first):
    """The labels file has no units, the image micrometres: the labels take the image's units beside it and
    must be drawn on the first frame (issue: their slice stayed empty until a slider moved)."""
    paths = [str(p) for p in IMAGE_AND_LABELS[kind](tmp_path)]
    viewer = make_napari_viewer(show=True)
    layers = viewer.open(paths[::-1] if labels_first else paths, plugin=PLUGIN, stack=False)
    (labels,) = [ly for ly in layers if type(ly).__name__ == "Labels"]
    assert len(layers) == 3
    _settle(qtbot)
    with_labels = _shot(viewer)
    step = viewer.dims.current_step[viewer.dims.not_displayed[0]]
    expected = np.count_nonzero(np.asarray(labels.data[step]))
    assert expected > 100  # the middle slice cuts through both nuclei
    labels.visible = False
    _settle(qtbot)
    without = _shot(viewer)
    labels.visible = True
    coloured = float((np.abs(with_labels - without).max(axis=-1) > 20).mean())
    assert coloured > 0.02, f"{kind}: the labels are not drawn on the first frame"
    _assert_first_frame(viewer, layers, qtbot, kind)
