"""Files the published package writes with a general affine open in napari, say what was simplified,
and save back what they stored (issue 13: a non-orthonormal direction or a sheared affine is kept)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import PLUGIN

from mlarray import MLArray

UPSTREAM = Path(__file__).resolve().parents[1] / "data" / "upstream"


def _open(viewer, path):
    with pytest.warns(UserWarning) as record:
        layers = viewer.open(str(path), plugin=PLUGIN)
    return layers, " ".join(str(w.message) for w in record)


def test_singular_direction_opens_axis_aligned_and_saves_what_it_stored(make_napari_viewer, tmp_path):
    # The published package's own example direction, [[1,2,3],[4,5,6],[7,8,9]], is singular:
    # napari could not invert it and failed on the first redraw.
    src = tmp_path / "singular.mla"
    shutil.copy(UPSTREAM / "nonorthonormal_direction.mla", src)
    viewer = make_napari_viewer()
    (layer,), said = _open(viewer, src)
    assert "singular" in said and "axis-aligned" in said
    shot = viewer.screenshot(canvas_only=True)
    assert shot.std() > 0  # the image is drawn, not an empty canvas
    stored = MLArray.open(src)
    out = tmp_path / "saved.mla"
    viewer.layers.save(str(out), selected=False, plugin=PLUGIN)
    back = MLArray.open(out)
    np.testing.assert_array_equal(back.to_numpy(), stored.to_numpy())
    np.testing.assert_allclose(back.affine, stored.affine, atol=1e-12)


def test_sheared_affine_is_shown_exactly_and_named_as_such(make_napari_viewer, tmp_path):
    src = tmp_path / "sheared.mla"
    shutil.copy(UPSTREAM / "sheared_affine.mla", src)
    viewer = make_napari_viewer()
    (layer,), said = _open(viewer, src)
    assert "not perpendicular" in said and "sheared" in said
    stored = MLArray.open(src)
    # Every voxel lands where the stored affine puts it: napari's data->world map equals the file's
    # affine up to the reader's documented world frame (RAS file -> (S, P, L) in LPS millimetres).
    to_spl = np.array([[0, 0, 1, 0], [0, -1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1]], float)
    expected = to_spl @ np.asarray(stored.affine)
    for idx in [(0, 0, 0), (3, 4, 5), (1, 2, 3)]:
        data_index = [idx[a] for a in layer.metadata["mlarray_axes"]]
        world = layer.data_to_world(data_index)
        np.testing.assert_allclose(world, (expected @ [*idx, 1.0])[:3], atol=1e-9)
    out = tmp_path / "saved.mla"
    viewer.layers.save(str(out), selected=False, plugin=PLUGIN)
    np.testing.assert_allclose(MLArray.open(out).affine, stored.affine, atol=1e-9)
