"""Painting segmentations read from .mla files, and saving the edits (real viewer, through npe2)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CLASSES, PLUGIN

from mlarray import Meta, MLArray
from napari_mlarray.layers import _to_layers as _layers_in

WIDE = (12, 300, 280)  # wider than 256 in-plane: the file stores a pyramid


@pytest.fixture
def wide_seg(tmp_path):
    lab = np.zeros(WIDE, np.uint8)
    lab[3:9, 100:200, 80:180] = 1
    seg = MLArray(lab, spacing=[3.0, 0.7, 0.8], origin=[10.0, -20.0, 5.0], direction=[[0, 0, 1], [0, 1, 0], [1, 0, 0]],
                  meta=Meta(is_seg=True, classes=CLASSES))
    seg.meta.spatial.coord_system = "LPS"
    seg.save(tmp_path / "seg.mla")
    assert len(MLArray.open(tmp_path / "seg.mla").levels) > 1
    return tmp_path / "seg.mla", lab


def _world_to_data(layer, world):
    return np.round(layer.world_to_data(world)).astype(int)


def test_seg_with_pyramid_opens_paintable(make_napari_viewer, wide_seg):
    path, lab = wide_seg
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    assert layer._type_string == "labels"
    assert not layer.multiscale and layer.editable
    # Reading stays lazy: nothing is held in memory until the first edit.
    assert not layer.data.in_memory

    inside = np.array(layer.data.shape) // 2
    before = int(layer.data[tuple(inside)])
    layer.paint(tuple(inside), 3, refresh=True)
    assert int(layer.data[tuple(inside)]) == 3
    assert layer.data.in_memory
    # The file is never written by painting.
    assert np.array_equal(MLArray.open(path)[...], lab)
    assert before in (0, 1)


def test_painted_labels_save_and_reopen_in_place(make_napari_viewer, wide_seg, tmp_path):
    path, lab = wide_seg
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    voxel = (5, 150, 120)  # array (file) index of a liver voxel
    world = layer.data_to_world(_data_index_of(layer, voxel))
    target = _world_to_data(layer, world)
    assert int(layer.data[tuple(target)]) == 1
    layer.paint(tuple(target), 2, refresh=True)

    out = tmp_path / "edited.mla"
    viewer.layers.selection = {layer}
    viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    edited = MLArray.open(out)
    assert edited.meta.is_seg
    # The edit lands on the same array voxel and nowhere else; the geometry is unchanged.
    want = lab.copy()
    brush = edited[...] != lab
    assert brush[voxel] and int(edited[voxel]) == 2
    assert np.array_equal(edited[...][brush], np.full(int(brush.sum()), 2, np.uint8))
    want[brush] = 2
    assert np.array_equal(edited[...], want)
    np.testing.assert_allclose(edited.affine, MLArray.open(path).affine, atol=1e-9)
    # Reopened, the painted voxel is at the same world position.
    (again,) = viewer.open(str(out), plugin=PLUGIN)
    assert int(again.data[tuple(_world_to_data(again, world))]) == 2


def test_large_seg_keeps_pyramid_read_only(make_napari_viewer, wide_seg, monkeypatch):
    path, _ = wide_seg
    monkeypatch.setattr(_layers_in, "PAINTABLE_LABELS_MAX_BYTES", 1000)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    assert layer.multiscale and not layer.editable
    assert len(layer.data) == len(MLArray.open(path).levels)


def _data_index_of(layer, voxel):
    """Layer data index showing array voxel ``voxel`` (the view permutes the file's axes)."""
    order = layer.metadata["mlarray_axes"]
    return [voxel[a] for a in order]
