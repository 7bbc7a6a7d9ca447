"""Issue 18 item 10: a paintable segmentation shows a pyramid level in 3D instead of uploading full resolution."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CLASSES, PLUGIN

from mlarray import Meta, MLArray

WIDE = (12, 300, 280)  # wider than 256 in-plane: the file stores a pyramid, yet small enough to paint


@pytest.fixture
def wide_seg(tmp_path):
    lab = np.zeros(WIDE, np.uint8)
    lab[3:9, 100:200, 80:180] = 1
    seg = MLArray(lab, spacing=[3.0, 0.7, 0.8], origin=[10.0, -20.0, 5.0],
                  direction=[[0, 0, 1], [0, 1, 0], [1, 0, 0]], meta=Meta(is_seg=True, classes=CLASSES))
    seg.meta.spatial.coord_system = "LPS"
    seg.save(tmp_path / "seg.mla")
    return tmp_path / "seg.mla", lab


def _reads(monkeypatch):
    """Which pyramid levels are read, and how many voxels from each."""
    from mlarray._data.levels import LevelArray

    seen: dict = {}
    real = LevelArray.__getitem__

    def spy(self, key):
        out = real(self, key)
        seen[self.level] = seen.get(self.level, 0) + int(np.asarray(out).size)
        return out

    monkeypatch.setattr(LevelArray, "__getitem__", spy)
    return seen


def test_3d_shows_the_coarsest_level_and_2d_paints_full_resolution(make_napari_viewer, wide_seg, tmp_path,
                                                                      monkeypatch):
    path, lab = wide_seg
    levels = MLArray.open(path).levels
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    assert layer.editable and not layer.multiscale
    world_corner = layer.data_to_world([0, 0, 0])
    f = np.array([levels[-1].scale[a] for a in layer.data.order])
    first_block_centre = layer.data_to_world((f - 1) / 2)  # coarse voxel 0 averages this block
    seen = _reads(monkeypatch)

    viewer.dims.ndisplay = 3
    viewer.screenshot(canvas_only=True, flash=False)
    assert seen.get(0, 0) == 0  # the full-resolution level is never read for the 3D view
    assert seen.get(len(levels) - 1, 0) > 0
    assert tuple(layer.data.shape) == tuple(levels[-1].shape[a] for a in layer.data.order)
    assert not layer.editable  # painting would land in the shown level
    # coarse voxel 0 sits on the centre of the block of full-resolution voxels it stands for
    np.testing.assert_allclose(layer.data_to_world([0, 0, 0]), first_block_centre, atol=1e-9)

    # saving in 3D writes the full-resolution data with its own geometry
    viewer.layers.selection = {layer}
    viewer.layers.save(str(tmp_path / "in3d.mla"), selected=True, plugin=PLUGIN)
    saved = MLArray.open(tmp_path / "in3d.mla")
    np.testing.assert_array_equal(saved.to_numpy(), lab)
    np.testing.assert_allclose(saved.affine, MLArray.open(path).affine, atol=1e-9)

    viewer.dims.ndisplay = 2
    assert layer.editable and not layer.multiscale and layer.data.shape == tuple(
        WIDE[a] for a in layer.data.order)
    np.testing.assert_allclose(layer.data_to_world([0, 0, 0]), world_corner)
    # paint in 2D; the 3D view then shows the edit without reading the file again
    order = layer.metadata["mlarray_axes"]
    voxel = (6, 150, 120)
    idx = tuple(voxel[a] for a in order)
    layer.paint(idx, 2, refresh=True)
    assert layer.data.in_memory
    seen.clear()
    viewer.dims.ndisplay = 3
    viewer.screenshot(canvas_only=True, flash=False)
    assert seen == {}
    assert int(np.asarray(layer.data).max()) == 2  # the strided painted array (the brush spans voxels)
    viewer.dims.ndisplay = 2
    assert int(layer.data[idx]) == 2
