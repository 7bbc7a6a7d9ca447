"""A segmentation written on an image's grid overlays the image voxel for voxel in napari.

The image is nibabel's anatomical.nii converted with ``mlarray convert`` (RAS, shown in the patient
frame); the segmentation is written with the library as a user does: the image's spacing, origin and
direction, with ``coord_system=`` (the README way) or without it (files written before the keyword).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from conftest import PLUGIN

from mlarray import Meta, MLArray
from mlarray.cli import main as mlarray_cli

# file indices (anatomical.nii is 33 x 41 x 25)
VOXELS = [(0, 0, 0), (10, 20, 5), (23, 7, 20), (32, 40, 24), (16, 30, 12)]


@pytest.fixture
def anatomical(tmp_path):
    nib = pytest.importorskip("nibabel")
    src = os.path.join(os.path.dirname(nib.__file__), "tests", "data", "anatomical.nii")
    assert mlarray_cli(["convert", src, str(tmp_path / "anatomical.mla")]) == 0
    return tmp_path / "anatomical.mla"


def _segmentation(image_path, out, *, with_frame: bool):
    img = MLArray.open(image_path)
    a = np.asarray(img[...])
    seg = (a > np.percentile(a, 90)).astype(np.uint8)
    frame = {"coord_system": img.coord_system} if with_frame else {}
    MLArray(seg, spacing=img.spacing, origin=img.origin, direction=img.direction, **frame,
            meta=Meta(is_seg=True, classes={1: "bright"})).save(out)
    return seg


def _world(layer, index) -> np.ndarray:
    """World position of the file voxel ``index`` in ``layer`` (its data axes are the file's, permuted)."""
    order = layer.metadata["mlarray_axes"]
    return np.asarray(layer.data_to_world([index[a] for a in order]), dtype=float)


def _open(viewer, paths):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layers = viewer.open([str(p) for p in paths], plugin=PLUGIN, stack=False)
    by_type = {type(ly).__name__: ly for ly in layers}
    return by_type["Image"], by_type["Labels"], [str(w.message) for w in caught if "coord_system" in str(w.message)]


def _assert_overlaid(viewer, image, labels, seg) -> None:
    inside = [tuple(int(i) for i in ix) for ix in np.argwhere(seg)[:: max(1, int(seg.sum()) // 3)]]
    assert inside
    for v in VOXELS + inside:
        np.testing.assert_allclose(_world(labels, v), _world(image, v), atol=1e-6, err_msg=str(v))
        # the labels napari finds at the image voxel's world position are the segmentation's there
        at = np.round(labels.world_to_data(_world(image, v))).astype(int)
        assert np.asarray(labels.data)[tuple(at)] == seg[v]
    assert {str(a) for a in viewer.dims.axis_labels} == {"I→S", "A→P", "R→L"}
    assert list(labels.axis_labels) == list(image.axis_labels)


def test_segmentation_written_the_readme_way_overlays_its_image(make_napari_viewer, anatomical, tmp_path):
    seg = _segmentation(anatomical, tmp_path / "anatomical_seg.mla", with_frame=True)
    assert MLArray.open(tmp_path / "anatomical_seg.mla").coord_system == "RAS"
    viewer = make_napari_viewer()
    image, labels, said = _open(viewer, [anatomical, tmp_path / "anatomical_seg.mla"])
    _assert_overlaid(viewer, image, labels, seg)
    assert said == []


def test_segmentation_without_frame_is_shown_in_its_images_frame(make_napari_viewer, anatomical, tmp_path):
    """Written without ``coord_system=`` (the constructor had no such keyword): opened after the image
    whose spacing/origin/direction it has, it is shown in the image's frame, with a warning naming the fix."""
    seg = _segmentation(anatomical, tmp_path / "old_seg.mla", with_frame=False)
    assert MLArray.open(tmp_path / "old_seg.mla").coord_system in (None, "unknown")
    viewer = make_napari_viewer()
    image, labels, said = _open(viewer, [anatomical, tmp_path / "old_seg.mla"])
    _assert_overlaid(viewer, image, labels, seg)
    assert len(said) == 1 and "coord_system=img.coord_system" in said[0] and "old_seg" in said[0]
    # saved from napari, the file states the frame it was shown in, on the image's grid
    viewer.layers.selection = {labels}
    viewer.layers.save(str(tmp_path / "saved_seg.mla"), selected=True, plugin=PLUGIN)
    saved, img = MLArray.open(tmp_path / "saved_seg.mla"), MLArray.open(anatomical)
    assert saved.coord_system == "RAS"
    np.testing.assert_allclose(saved.affine, img.affine, atol=1e-9)
    np.testing.assert_array_equal(np.asarray(saved[...]), seg)


def test_segmentation_without_frame_opened_first_is_named_in_a_warning(make_napari_viewer, anatomical, tmp_path):
    """Opened before the image it cannot be moved any more: the image's reading says which file and how to fix it."""
    _segmentation(anatomical, tmp_path / "first_seg.mla", with_frame=False)
    viewer = make_napari_viewer()
    _, _, said = _open(viewer, [tmp_path / "first_seg.mla", anatomical])
    assert len(said) == 1 and "first_seg has no coord_system" in said[0] and "open it again" in said[0]


def test_other_grid_keeps_its_own_axes(make_napari_viewer, anatomical, tmp_path):
    """A file without a frame on another grid (here shifted by a voxel) is not moved into the image's frame."""
    img = MLArray.open(anatomical)
    MLArray(np.zeros(img.shape, np.uint8), spacing=img.spacing, origin=[o + 2.0 for o in img.origin],
            direction=img.direction, meta=Meta(is_seg=True)).save(tmp_path / "shifted.mla")
    viewer = make_napari_viewer()
    image, labels, said = _open(viewer, [anatomical, tmp_path / "shifted.mla"])
    assert said == []
    assert not any("→" in str(a) for a in labels.axis_labels)
