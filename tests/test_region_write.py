"""Saving writes regions through the extension's set_slice; the stored array must read back exactly."""

from __future__ import annotations

import numpy as np
import pytest

from mlarray import MLArray
from mlarray._data.region_write import write_region


@pytest.mark.parametrize("shape, chunks, blocks, dtype", [
    ((48, 96, 96), (32, 64, 64), (16, 8, 64), np.int16),     # edge chunks on every axis
    ((7, 5), (4, 4), (2, 2), np.float32),
    ((10,), (3,), (2,), np.uint8),
    ((3, 9, 6, 2), (2, 4, 4, 2), (1, 2, 4, 2), np.int32),     # 4D, a non-spatial last axis
    ((5, 6), (5, 6), (5, 6), np.bool_),
    ((4, 4), (8, 8), (4, 4), np.float64),                     # one chunk larger than the array
])
def test_chunk_aligned_regions_read_back_exactly(tmp_path, shape, chunks, blocks, dtype):
    import blosc2

    rng = np.random.default_rng(0)
    data = (rng.random(shape) * 200 - 50).astype(dtype)
    store = blosc2.empty(shape, dtype=dtype, chunks=chunks, blocks=blocks, urlpath=str(tmp_path / "a.b2nd"),
                         mode="w", cparams=blosc2.CParams(codec=blosc2.Codec.LZ4HC, clevel=6))
    # tile with slabs of two chunks along axis 0, as the writer does
    step = 2 * chunks[0]
    for start in range(0, shape[0], step):
        region = (slice(start, min(start + step, shape[0])),) + tuple(slice(0, n) for n in shape[1:])
        write_region(store, region, np.ascontiguousarray(data[region]))
    del store
    back = blosc2.open(str(tmp_path / "a.b2nd"))
    np.testing.assert_array_equal(back[...], data)


def test_unaligned_regions_are_written_too(tmp_path):
    import blosc2

    store = blosc2.zeros((8, 8), dtype=np.int16, chunks=(4, 4), blocks=(2, 2), urlpath=str(tmp_path / "b.b2nd"),
                         mode="w")
    region = (slice(1, 6), slice(2, 8))
    write_region(store, region, np.full((5, 6), 7, np.int16))
    expected = np.zeros((8, 8), np.int16)
    expected[1:6, 2:8] = 7
    np.testing.assert_array_equal(store[...], expected)


def test_saves_do_not_grow_blosc2s_index_cache(tmp_path):
    # python-blosc2 4.14 remembers every file path written through NDArray.__setitem__ and checks
    # them all on each later write (see _region_write.py): saves must not add to that list.
    import blosc2.indexing

    before = len(blosc2.indexing._PERSISTENT_INDEXES)
    a = np.arange(16 * 32 * 32, dtype=np.int16).reshape(16, 32, 32)
    for i in range(5):
        MLArray(a, spacing=[1, 1, 1]).save(tmp_path / f"f{i}.mla")
    assert len(blosc2.indexing._PERSISTENT_INDEXES) == before
    np.testing.assert_array_equal(MLArray.open(tmp_path / "f4.mla")[...], a)


# ----------------------------------------------------------------------------- in-place writes (r+)

@pytest.fixture
def rplus(tmp_path):
    a = np.arange(6 * 7 * 5, dtype=np.int16).reshape(6, 7, 5)
    MLArray(a, spacing=[1, 1, 1]).save(tmp_path / "e.mla")
    return tmp_path / "e.mla", a.copy()


@pytest.mark.parametrize("key, value", [
    ((slice(1, 4), slice(None), slice(2, 5)), 7),                       # scalar broadcast
    ((2,), np.full((7, 5), -3)),                                          # int drops an axis
    ((-1, slice(None, None), -2), np.arange(7)),                          # negative ints
    ((Ellipsis, 0), np.arange(42).reshape(6, 7)),                         # Ellipsis
    ((slice(1, 3), Ellipsis), 2.9),                                       # float cast to int16
    ((slice(0, 6, 2),), 5),                                               # step 2: general path
    ((slice(3, 3),), 1),                                                  # empty region
    ((0, slice(0, 1)), np.ones((1, 1, 5))),                               # leading 1s: general path
])
def test_in_place_writes_follow_numpy(rplus, key, value):
    path, expected = rplus
    img = MLArray.open(path, mmap_mode="r+")
    img[key] = value
    img.close()
    expected[key] = value
    np.testing.assert_array_equal(MLArray.open(path)[...], expected)


def test_in_place_write_out_of_range_raises_index_error(rplus):
    path, _ = rplus
    img = MLArray.open(path, mmap_mode="r+")
    with pytest.raises(IndexError, match="out of bounds for axis 1"):
        img[0, 9] = 1
    img.close()


def test_in_place_writes_do_not_grow_blosc2s_index_cache(rplus):
    import blosc2.indexing

    path, _ = rplus
    before = len(blosc2.indexing._PERSISTENT_INDEXES)
    img = MLArray.open(path, mmap_mode="r+")
    img[0:2, 0:3, 0:4] = 1
    img.close()
    assert len(blosc2.indexing._PERSISTENT_INDEXES) == before
