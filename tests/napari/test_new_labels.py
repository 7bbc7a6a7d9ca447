"""Issue 22 item 3: a segmentation begun with napari's "New labels layer" over an MLArray image is
saved on the image's grid and frame (a real NIfTI no one here wrote, converted with the CLI)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import PLUGIN
from save_paths import SAVE_PATHS, save_selected

from mlarray import MLArray
from mlarray.cli import main as cli
from mlarray.training import PatchSampler

nibabel = pytest.importorskip("nibabel")
ANATOMICAL = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii")


@pytest.fixture
def anat(tmp_path):
    out = tmp_path / "anat.mla"
    assert cli(["convert", ANATOMICAL, str(out)]) == 0
    return out


def _new_labels(viewer):
    """File › New Layer › Labels (the layer list's "New labels layer" button runs the same)."""
    from napari._app_model import get_app_model

    before = list(viewer.layers)
    app = get_app_model()
    command = "napari.window.file.new_layer.new_labels"
    if command in app.commands:
        app.commands.execute_command(command).result()
    else:  # older napari: only the button
        viewer.window._qt_viewer.layerButtons.newLabelsButton.click()
    (layer,) = [ly for ly in viewer.layers if ly not in before]
    return layer


@pytest.mark.parametrize("how", SAVE_PATHS)
def test_new_labels_layer_saves_on_the_image_grid(make_napari_viewer, anat, tmp_path, monkeypatch, how):
    viewer = make_napari_viewer()
    (image,) = viewer.open(str(anat), plugin=PLUGIN)
    viewer.layers.selection.active = image
    labels = _new_labels(viewer)
    assert labels.data.shape == image.data.shape  # napari's layer (world) order: 25 x 41 x 33
    labels.brush_size = 1
    labels.n_edit_dimensions = 2
    point = (10, 20, 16)  # a voxel in the layer's data coordinates
    labels.paint(point, 1)
    world = labels.data_to_world(point)
    target = tmp_path / f"anat_seg_{how}.mla"
    written = save_selected(how, viewer, [labels], target, monkeypatch)
    assert written == [str(target)]
    seg, img = MLArray.open(target), MLArray.open(anat)
    assert seg.shape == img.shape == (33, 41, 25)
    np.testing.assert_allclose(seg.meta.spatial.affine, img.meta.spatial.affine)
    assert seg.meta.spatial.coord_system == img.meta.spatial.coord_system == "RAS"
    assert seg.meta.spatial.axis_labels == img.meta.spatial.axis_labels
    assert seg.meta.spatial.axis_units == img.meta.spatial.axis_units
    assert seg.meta.is_seg
    painted = np.argwhere(np.asarray(seg[...]) == 1)
    expected = np.round(image.world_to_data(world)).astype(int)  # the image voxel under the painted one
    assert painted.tolist() == [[int(expected[a]) for a in np.argsort(image.data.order)]]
    # the image/label pair is accepted for training as it is
    sampler = PatchSampler([str(anat)], [str(target)], patch_size=(8, 8, 8), length=2, seed=0)
    assert sampler.sample(0)["label"].shape == (8, 8, 8)
    # reopened, the segmentation overlays the image
    (back,) = make_napari_viewer().open(str(target), plugin=PLUGIN)
    np.testing.assert_allclose(back.scale, image.scale)
    np.testing.assert_allclose(back.translate, image.translate)
    assert list(back.axis_labels) == list(image.axis_labels)
