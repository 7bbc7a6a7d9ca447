"""Planes of a file's level read through the slab cache (napari_mlarray.layers._slabs): the same pixels as a
direct read, each chunk-thick slab decoded once while a viewer scrolls through it, memory bounded, nothing
stale after an edit."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from mlarray import MLArray
from napari_mlarray.layers import _slabs
from napari_mlarray.layers._views import AxisView, EditableAxisView

SHAPE = (70, 90, 110)  # not multiples of any chunk: the last slab of each axis is partial


class Counting:
    """A file's level that counts the reads reaching it (what Blosc2 decodes)."""

    def __init__(self, level) -> None:
        self.level = level
        self.shape, self.dtype = level.shape, level.dtype
        self.reads: list = []

    def chunk_shape(self):
        return self.level.chunk_shape()

    def __getitem__(self, key):
        self.reads.append(key)
        return self.level[key]


@pytest.fixture
def volume(tmp_path):
    rng = np.random.default_rng(3)
    arr = rng.integers(-1000, 2000, SHAPE, dtype=np.int16)
    MLArray(arr, spacing=[2.0, 0.8, 0.8]).save(tmp_path / "v.mla")
    return arr, MLArray.open(tmp_path / "v.mla")


def test_planes_equal_direct_reads_along_every_axis_and_order(volume):
    arr, ml = volume
    level = ml.levels[0]
    for order in [(0, 1, 2), (2, 0, 1), (1, 2, 0)]:
        view = AxisView(level, order)
        want = arr.transpose(order)
        for axis in range(3):
            for k in (0, 1, want.shape[axis] // 2, want.shape[axis] - 1):
                key = [slice(None)] * 3
                key[axis] = k  # an integer, as a script indexes
                np.testing.assert_array_equal(view[tuple(key)], want[tuple(key)])
                key[axis] = slice(k, k + 1)  # one wide, as napari reads a plane; lazy until asarray
                np.testing.assert_array_equal(np.asarray(view[tuple(key)]), want[tuple(key)])
        # a window napari cuts when zoomed in, and a plane of it
        sub = view[5:40, 10:60, 3:50]
        np.testing.assert_array_equal(sub[7], want[5:40, 10:60, 3:50][7])
        np.testing.assert_array_equal(sub[:, :, 11], want[5:40, 10:60, 3:50][:, :, 11])


def test_a_channel_view_reads_its_channel(tmp_path):
    arr = np.arange(2 * 40 * 50 * 60, dtype=np.float32).reshape(2, 40, 50, 60)
    MLArray(arr, axis_labels=["channel", "spatial_z", "spatial_y", "spatial_x"]).save(tmp_path / "c.mla")
    level = MLArray.open(tmp_path / "c.mla").levels[0]
    for c in (0, 1):
        view = AxisView(level, (1, 2, 3), fixed={0: c})
        for k in (0, 17, 39):
            np.testing.assert_array_equal(view[k], arr[c, k])
            np.testing.assert_array_equal(view[:, k], arr[c, :, k])


def test_scrolling_decodes_each_slab_once_and_results_are_the_callers(volume):
    arr, ml = volume
    level = Counting(ml.levels[0])
    chunks = level.chunk_shape()
    view = AxisView(level, (0, 1, 2))
    for axis in range(3):
        level.reads.clear()
        for k in range(SHAPE[axis]):
            key = [slice(None)] * 3
            key[axis] = slice(k, k + 1)
            plane = np.asarray(view[tuple(key)])
            np.testing.assert_array_equal(plane, arr[tuple(key)])
            np.asarray(view[tuple(key)])  # napari reads it again (the thumbnail)
        slabs = -(-SHAPE[axis] // chunks[axis])
        assert chunks[axis] > 1 and len(level.reads) == slabs, (axis, chunks, len(level.reads))
    # a plane handed out is the caller's: changing it changes no later read
    first = view[3]
    first[...] = 0
    np.testing.assert_array_equal(view[3], arr[3])


def test_memory_is_bounded_and_a_closed_level_lets_its_slabs_go(tmp_path, monkeypatch):
    budget = 6 << 20
    monkeypatch.setattr(_slabs, "BUDGET_BYTES", budget)
    arr = np.ones((64, 256, 256), np.int16)  # a 128 KiB plane: slabs of several hundred KiB
    MLArray(arr).save(tmp_path / "big.mla")
    level = MLArray.open(tmp_path / "big.mla").levels[0]
    before = _slabs.held_bytes()
    view = AxisView(level, (0, 1, 2))
    for axis in range(3):
        for k in range(0, 64, 4):
            key = [slice(None)] * 3
            key[axis] = k
            view[tuple(key)]
            assert _slabs.held_bytes() <= budget
    assert _slabs.held_bytes() > 0
    del view, level
    gc.collect()
    assert _slabs.held_bytes() <= before


def test_painted_labels_are_read_back_not_the_file(volume):
    arr, ml = volume
    labels = EditableAxisView(ml.levels[0], (0, 1, 2))
    np.asarray(labels[10])  # cached from the file
    labels[10, 5, 5] = 1234  # napari's brush: the level is now in memory
    assert labels[10][5, 5] == 1234
    assert np.asarray(labels[10:11])[0, 5, 5] == 1234
    np.testing.assert_array_equal(AxisView(ml.levels[0], (0, 1, 2))[10], arr[10])  # the file is unchanged
