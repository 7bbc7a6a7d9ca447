"""Issue 18 item 2: sliders (time, ...) come first and the spatial axes last, for any file axis order."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PLUGIN

from mlarray import MLArray

SPATIAL = (10, 24, 20)  # i, j, k
T = 5


def _volume_series() -> np.ndarray:
    rng = np.random.default_rng(2)
    return rng.integers(0, 1000, size=(*SPATIAL, T)).astype(np.int16)  # NIfTI order: i, j, k, t


def test_4d_nifti_opens_with_time_as_the_first_slider(make_napari_viewer, tmp_path, monkeypatch):
    nib = pytest.importorskip("nibabel")
    from mlarray.convert._bridge import convert_file

    data = _volume_series()
    affine = np.diag([0.9, 0.8, 2.5, 1.0])
    affine[:3, 3] = [-40, -50, 10]
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "fmri.nii.gz")
    convert_file(str(tmp_path / "fmri.nii.gz"), str(tmp_path / "fmri.mla"))
    ml = MLArray.open(tmp_path / "fmri.mla")
    assert ml.axis_labels[-1] == "temporal"  # the file keeps NIfTI's order: time last

    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(tmp_path / "fmri.mla"), plugin=PLUGIN)
    assert viewer.dims.axis_labels[0] == "time" and viewer.dims.nsteps[0] == T
    # the default 2D view shows two spatial axes (axial: A→P rows, R→L columns), not R→L x time
    shown = [viewer.dims.axis_labels[a] for a in viewer.dims.displayed]
    assert shown == ["A→P", "R→L"]
    assert [layer.data.shape[a] for a in viewer.dims.displayed] == [SPATIAL[1], SPATIAL[0]]
    # the picture fills the canvas rather than a two-pixel strip
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
    rows = np.flatnonzero(shot.max(axis=(1, 2)) > 0)
    cols = np.flatnonzero(shot.max(axis=(0, 2)) > 0)
    assert np.ptp(rows) > 0.3 * shot.shape[0] and np.ptp(cols) > 0.3 * shot.shape[1]
    # layer axes (t, k, j, i): a time step and an axial slice read the file's voxels
    np.testing.assert_array_equal(np.asarray(layer.data[3, 4]), data[:, :, 4, 3].T)

    # saved back through napari, the file keeps its axis order and geometry
    out = tmp_path / "back.mla"
    viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    back = MLArray.open(out)
    assert back.axis_labels == ml.axis_labels
    np.testing.assert_array_equal(back.to_numpy(), ml.to_numpy())
    np.testing.assert_allclose(back.affine, ml.affine, atol=1e-9)


@pytest.mark.parametrize("labels", [
    ["temporal", "spatial_z", "spatial_y", "spatial_x"],
    ["spatial_z", "temporal", "spatial_y", "spatial_x"],
    ["spatial_z", "spatial_y", "spatial_x", "temporal"],
    ["spatial_z", "non_spatial", "spatial_y", "temporal", "spatial_x"],
])
def test_any_axis_order_puts_spatial_axes_last(make_napari_viewer, tmp_path, labels):
    shape = [3 if not lab.startswith("spatial") else n for lab, n in zip(labels, [7, 4, 9, 2, 6])]
    arr = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    MLArray(arr, spacing=[2.0, 1.0, 0.5], axis_labels=labels).save(tmp_path / "a.mla")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(tmp_path / "a.mla"), plugin=PLUGIN)
    order = list(layer.data.order)
    spatial = [a for a, lab in enumerate(labels) if lab.startswith("spatial")]
    sliders = [a for a in range(len(labels)) if a not in spatial]
    assert order[: len(sliders)] == sliders and sorted(order[len(sliders):]) == spatial
    assert all(not str(viewer.dims.axis_labels[a]).startswith("axis") and viewer.dims.axis_labels[a] != "time"
               for a in viewer.dims.displayed)
    # each layer index reads the file voxel it names
    idx = tuple(n - 1 for n in layer.data.shape)
    file_idx = [0] * len(labels)
    for k, a in enumerate(order):
        file_idx[a] = idx[k]
    assert layer.data[idx] == arr[tuple(file_idx)]
    out = tmp_path / "b.mla"
    viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    back = MLArray.open(out)
    assert back.axis_labels == labels
    np.testing.assert_array_equal(back.to_numpy(), arr)


def test_dicom_without_patient_geometry_opens_in_its_own_axes_and_saves_its_geometry(make_napari_viewer, tmp_path):
    """pydicom's NM whole-body scan (no patient position/orientation): ITK's implicit frame lists its world axes x
    first, so following them showed the body on its side. It opens upright, as stored (1024 rows down, 256
    columns across), without patient letters, and saving writes the file's own geometry back."""
    from pydicom.data import get_testdata_file

    from mlarray.cli import main

    src = tmp_path / "nm.mla"
    assert main(["convert", "-q", get_testdata_file("JPEG2000.dcm"), str(src)]) == 0
    stored = MLArray.open(src)
    assert stored.shape == (1, 1024, 256)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(src), plugin=PLUGIN)
    assert layer.data.shape == (1, 1024, 256)  # array order: rows vertical, columns horizontal
    assert not any(c in "".join(viewer.dims.axis_labels) for c in "→")  # no patient letters
    out = tmp_path / "saved.mla"
    viewer.layers.save(str(out), plugin=PLUGIN)
    back = MLArray.open(out)
    np.testing.assert_allclose(back.affine, stored.affine, atol=1e-9)
    np.testing.assert_array_equal(back[...], stored[...])
