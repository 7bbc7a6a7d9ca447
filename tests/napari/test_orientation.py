"""Issue 18 items 5 and 6: upright anatomical reformats with orientation markers, and the RAS world frame."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PLUGIN

from mlarray import MLArray

SHAPE = (20, 40, 36)  # file axes run toward S, P, L (LPS, direction below)


@pytest.fixture
def landmark_ct(tmp_path):
    """A CT whose superior, anterior and patient-right ends carry bright landmarks of distinct values."""
    arr = np.zeros(SHAPE, np.int16)
    arr[-4:, 15:25, 15:21] = 1000  # superior slab (high S index)
    arr[5:15, :5, 15:21] = 2000  # anterior (low P index)
    arr[5:15, 15:25, :5] = 3000  # patient's right (low L index)
    ml = MLArray(arr, spacing=[2.0, 1.0, 1.0], origin=[-18.0, -20.0, -30.0],
                 direction=[[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    ml.meta.spatial.coord_system = "LPS"
    ml.save(tmp_path / "ct.mla")
    return tmp_path / "ct.mla"


def _markers(viewer) -> dict:
    """Visible orientation letters by canvas edge (``middle_left`` etc.), checked against their positions.

    The markers are first drawn a moment after the view is set up (not to delay the first frame).
    """
    import time

    from qtpy.QtWidgets import QApplication

    from napari_mlarray.viewer._anatomy import _CONTROLLERS

    ctl = _CONTROLLERS.get(viewer)
    end = time.monotonic() + 5
    while ctl is not None and ctl._scheduled and time.monotonic() < end:  # the deferred first markers
        QApplication.processEvents()
        time.sleep(0.01)
    out: dict = {}
    for drawn in ([] if ctl is None else ctl.drawn()):  # each canvas showing the viewer: the same letters
        shown = drawn.shown()
        for edge, (letter, (x, y)) in shown.items():
            inside = 0.0 < x < 1.0 and 0.0 < y < 1.0
            middle = {"top_center": abs(x - 0.5) < 0.01 and y < 0.2,
                      "bottom_center": abs(x - 0.5) < 0.01 and y > 0.8,
                      "middle_left": x < 0.2 and abs(y - 0.5) < 0.01,
                      "middle_right": x > 0.8 and abs(y - 0.5) < 0.01}[edge]
            assert inside and middle, (edge, x, y)
        letters = {edge: letter for edge, (letter, _) in shown.items()}
        assert not out or letters == out
        out = letters
    return out


def _where(shot) -> tuple[float, float]:
    """Mean (row, col), as fractions of the canvas, of the mid-grey pixels (the landmark shown)."""
    r, g, b = (shot[..., i].astype(int) for i in range(3))
    mask = (abs(r - 128) < 30) & (abs(g - 128) < 30) & (abs(b - 128) < 30)
    rows, cols = np.nonzero(mask)
    assert rows.size > 20, "the landmark is not on screen"
    return rows.mean() / shot.shape[0], cols.mean() / shot.shape[1]


def _shot(viewer, layer, value):
    """The canvas with ``value`` mid-grey: background black, the other (larger) landmarks white."""
    layer.contrast_limits = (value - 1, value + 1)
    viewer.reset_view()
    return viewer.screenshot(canvas_only=True, flash=False)


@pytest.mark.parametrize("steps", [("roll",), ("roll", "roll"), ("transpose",), ("roll", "roll", "transpose")],
                         ids=["sagittal", "coronal", "transposed-axial", "transposed-coronal"])
def test_reformats_are_upright_with_markers(make_napari_viewer, landmark_ct, steps):
    viewer = make_napari_viewer(show=True)
    (img,) = viewer.open(str(landmark_ct), plugin=PLUGIN)
    img.interpolation2d = "nearest"
    img.colormap = "gray"
    assert _markers(viewer) == {"top_center": "A", "bottom_center": "P", "middle_left": "R", "middle_right": "L"}
    for s in steps:
        getattr(viewer.dims, s)()  # napari's roll / transpose buttons
    shown = [viewer.dims.axis_labels[a] for a in viewer.dims.displayed]
    plane = {frozenset(shown)}
    mid = {a: float(img.data_to_world([n // 2 for n in SHAPE])[a]) for a in range(3)}
    for a in viewer.dims.not_displayed:
        viewer.dims.set_point(a, mid[a])
    marks = _markers(viewer)
    if plane == {frozenset({"I→S", "A→P"})}:  # sagittal: superior up, anterior on the left
        assert shown == ["I→S", "A→P"]
        assert marks == {"top_center": "S", "bottom_center": "I", "middle_left": "A", "middle_right": "P"}
        viewer.dims.set_point(2, float(img.data_to_world([0, 0, 17])[2]))
        r, _ = _where(_shot(viewer, img, 1000))
        assert r < 0.35  # the superior slab is at the top of the screen
        _, c = _where(_shot(viewer, img, 2000))
        assert c < 0.35  # anterior on the left
    elif plane == {frozenset({"I→S", "R→L"})}:  # coronal: superior up, patient's right on the left
        assert shown == ["I→S", "R→L"]
        assert marks == {"top_center": "S", "bottom_center": "I", "middle_left": "R", "middle_right": "L"}
        viewer.dims.set_point(1, float(img.data_to_world([0, 20, 0])[1]))
        r, _ = _where(_shot(viewer, img, 1000))
        assert r < 0.35
        _, c = _where(_shot(viewer, img, 3000))
        assert c < 0.35
    else:  # axial (napari's transpose is undone: an axial view keeps anterior up, right on the left)
        assert shown == ["A→P", "R→L"]
        assert marks == {"top_center": "A", "bottom_center": "P", "middle_left": "R", "middle_right": "L"}
        viewer.dims.set_point(0, float(img.data_to_world([10, 0, 0])[0]))
        r, _ = _where(_shot(viewer, img, 2000))
        assert r < 0.35
        _, c = _where(_shot(viewer, img, 3000))
        assert c < 0.35


def test_markers_hidden_in_3d_and_for_non_anatomical_views(make_napari_viewer, landmark_ct, tmp_path):
    viewer = make_napari_viewer()
    viewer.open(str(landmark_ct), plugin=PLUGIN)
    viewer.dims.ndisplay = 3
    assert _markers(viewer) == {}
    viewer.dims.ndisplay = 2
    assert _markers(viewer)["top_center"] == "A"
    viewer.layers.clear()
    MLArray(np.zeros((5, 6, 7), np.uint8)).save(tmp_path / "plain.mla")  # no coordinate system
    viewer.open(str(tmp_path / "plain.mla"), plugin=PLUGIN)
    assert _markers(viewer) == {}


def test_upright_views_can_be_turned_off(make_napari_viewer, landmark_ct):
    from napari_mlarray import set_upright_views

    viewer = make_napari_viewer()
    viewer.open(str(landmark_ct), plugin=PLUGIN)
    previous = set_upright_views(False)
    try:
        viewer.dims.transpose()
        assert tuple(viewer.dims.order) == (0, 2, 1) and _markers(viewer) == {}
    finally:
        set_upright_views(previous)


# ----------------------------------------------------------------------------- item 6: world frame

@pytest.fixture
def nifti_pair(tmp_path):
    """A NIfTI (oblique-free, flipped axes) and the .mla converted from it."""
    nib = pytest.importorskip("nibabel")
    from mlarray.convert._bridge import convert_file

    rng = np.random.default_rng(11)
    data = rng.integers(0, 1000, (16, 20, 12)).astype(np.int16)
    affine = np.array([[-0.9, 0, 0, 40.0], [0, 0, 1.1, -30.0], [0, -2.0, 0, 25.0], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    nib.save(img, tmp_path / "t1.nii.gz")
    convert_file(str(tmp_path / "t1.nii.gz"), str(tmp_path / "t1.mla"))
    return tmp_path / "t1.nii.gz", tmp_path / "t1.mla", data, affine


def _inconsistent_units_toasts(start):
    from napari.utils.notifications import notification_manager

    return [n.message for n in notification_manager.records[start:] if "nconsistent units" in n.message]


def test_ras_world_overlays_a_nifti_added_with_its_nibabel_affine(make_napari_viewer, nifti_pair):
    import nibabel as nib
    from napari.utils.notifications import notification_manager

    from napari_mlarray import set_world_frame, world_frame

    nii_path, mla_path, data, affine = nifti_pair
    previous = set_world_frame("RAS")
    try:
        viewer = make_napari_viewer(show=True)
        start = len(notification_manager.records)
        with notification_manager:
            (ours,) = viewer.open(str(mla_path), plugin=PLUGIN)
            nii = nib.load(nii_path)
            theirs = viewer.add_image(np.asarray(nii.dataobj), affine=nii.affine, name="nibabel")
            viewer.screenshot(canvas_only=True, flash=False)  # napari checks units on draw
        assert world_frame() == "RAS" and ours.metadata["mlarray_world"] == "RAS"
        assert tuple(viewer.dims.axis_labels[-3:]) == ("L→R", "P→A", "I→S")
        order = ours.data.order
        for ijk in [(0, 0, 0), (3, 7, 11), (15, 19, 0)]:
            mine = ours.data_to_world([ijk[a] for a in order])
            np.testing.assert_allclose(mine, theirs.data_to_world(ijk), atol=1e-6)
            np.testing.assert_allclose(mine, (affine @ np.r_[ijk, 1])[:3], atol=1e-6)
        assert _inconsistent_units_toasts(start) == []
        # saving a layer read in the RAS frame keeps the file's geometry
        viewer.layers.selection = {ours}
        out = mla_path.with_name("back.mla")
        viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
        np.testing.assert_allclose(MLArray.open(out).affine, MLArray.open(mla_path).affine, atol=1e-9)
    finally:
        set_world_frame(previous)
    # layers read in one frame save correctly after the frame changed
    (again,) = make_napari_viewer().open(str(out), plugin=PLUGIN)
    assert again.metadata["mlarray_world"] == "SPL"


def test_default_frame_mixes_with_unitless_layers_without_toasts(make_napari_viewer, nifti_pair):
    import nibabel as nib
    from napari.utils.notifications import notification_manager

    nii_path, mla_path, _data, _affine = nifti_pair
    viewer = make_napari_viewer(show=True)
    start = len(notification_manager.records)
    with notification_manager:
        (ours,) = viewer.open(str(mla_path), plugin=PLUGIN)
        assert [str(u) for u in ours.units] == ["millimeter"] * 3  # the file's units
        nii = nib.load(nii_path)
        other = viewer.add_image(np.asarray(nii.dataobj), affine=nii.affine, name="nibabel")
        viewer.screenshot(canvas_only=True, flash=False)
        assert _inconsistent_units_toasts(start) == []
        viewer.layers.remove(other)
        viewer.screenshot(canvas_only=True, flash=False)
    assert [str(u) for u in ours.units] == ["millimeter"] * 3  # back once the unitless layer is gone
    assert _inconsistent_units_toasts(start) == []
