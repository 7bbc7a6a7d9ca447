import math
import tracemalloc

import blosc2
import numpy as np
import pytest

from mlarray._errors import MetadataError
from mlarray.pyramid import build_pyramid, downsample_block, level_shape, plan_levels


def _naive(block, factors, method):
    """Per-cell reference: loop over output voxels and reduce each (possibly partial) cell."""
    out_shape = level_shape(block.shape, factors)
    out = np.empty(out_shape, block.dtype)
    for idx in np.ndindex(*out_shape):
        cell = block[tuple(slice(i * f, (i + 1) * f) for i, f in zip(idx, factors))].ravel()
        if method == "mean":
            value = cell.astype(np.float64).mean()
            out[idx] = np.rint(value) if block.dtype.kind in "biu" else value
        elif method == "mode":
            values, counts = np.unique(cell, return_counts=True)
            out[idx] = values[counts == counts.max()].min()
        else:
            out[idx] = cell[0]
    return out


def _in_memory_levels():
    levels = {}

    def make_level(k, shape, dtype):
        levels[k] = np.full(shape, 99, dtype)  # sentinel: any unwritten voxel shows up
        return levels[k]

    return levels, make_level


# --------------------------------------------------------------------------- plan


def test_plan_halves_until_min_size():
    # level shapes: (500, 300), (250, 150): all <= 256 -> stop
    assert plan_levels((1000, 600), (0, 1), min_size=256) == [(2, 2), (4, 4)]
    assert level_shape((1000, 600), (4, 4)) == (250, 150)
    # anisotropic: only axes still above min_size are halved: (500, 150), (250, 150)
    assert plan_levels((1000, 300), (0, 1), min_size=256) == [(2, 2), (4, 2)]
    assert level_shape((1001, 7), (4, 2)) == (251, 4)
    assert plan_levels((200, 200), (0, 1), min_size=256) == []


def test_plan_keeps_non_spatial_axes_and_respects_max_levels():
    plan = plan_levels((3, 1000, 600, 50), (1, 2, 3), min_size=64)
    assert all(f[0] == 1 for f in plan) and all(f[3] == 1 for f in plan)
    last = level_shape((3, 1000, 600, 50), plan[-1])
    assert max(last[1:]) <= 64 and level_shape((3, 1000, 600, 50), plan[-2])[1] > 64
    assert len(plan_levels((4096, 4096), (0, 1), min_size=1, max_levels=2)) == 2
    assert plan_levels((9, 9), (-1,), min_size=2) == [(1, 2), (1, 4), (1, 8)]


def test_plan_rejects_bad_axes():
    with pytest.raises(MetadataError):
        plan_levels((10, 10), (0, 2))
    with pytest.raises(MetadataError):
        plan_levels((10, 10), (0, -2))


# --------------------------------------------------------------------------- blocks


def test_mean_equals_reshape_mean_on_even_shape():
    a = np.random.default_rng(0).random((6, 8, 10)).astype(np.float32)
    expected = a.reshape(3, 2, 4, 2, 5, 2).mean(axis=(1, 3, 5))
    got = downsample_block(a, (2, 2, 2), "mean")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("method", ["mean", "mode", "nearest"])
@pytest.mark.parametrize("factors", [(2, 2, 2), (2, 1, 2), (4, 2, 3)])
def test_ragged_shapes_match_naive_reference(method, factors):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 5, (5, 7, 9)).astype(np.int16) if method == "mode" else rng.random((5, 7, 9))
    got = downsample_block(a, factors, method)
    assert got.shape == level_shape(a.shape, factors)
    np.testing.assert_allclose(got, _naive(a, factors, method))


def test_integer_mean_is_rounded_to_input_dtype():
    a = np.array([[1, 2, 250], [2, 2, 255]], dtype=np.uint8)
    got = downsample_block(a, (2, 2), "mean")
    assert got.dtype == np.uint8
    # (1+2+2+2)/4 = 1.75 -> 2; (250+255)/2 = 252.5 -> 252 (half to even)
    assert got.tolist() == [[2, 252]]
    b = np.random.default_rng(2).integers(-1000, 1000, (7, 5)).astype(np.int32)
    np.testing.assert_array_equal(downsample_block(b, (2, 2), "mean"), _naive(b, (2, 2), "mean"))


def test_mode_majority_and_smallest_label_on_ties():
    cell_majority = np.array([[[3, 3], [3, 7]], [[7, 0], [3, 3]]])   # 3 x5, 7 x2, 0 x1
    cell_tie = np.array([[[5, 5], [5, 5]], [[2, 2], [2, 2]]])        # 5 x4, 2 x4 -> 2
    a = np.concatenate([cell_majority, cell_tie], axis=2)
    assert downsample_block(a, (2, 2, 2), "mode").tolist() == [[[3, 2]]]


def test_mode_only_returns_labels_from_input():
    rng = np.random.default_rng(3)
    labels = np.array([0, 4, 17, 255], dtype=np.uint8)
    a = labels[rng.integers(0, 4, (9, 11, 13))]
    got = downsample_block(a, (2, 2, 2), "mode")
    assert set(np.unique(got)) <= set(labels)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, _naive(a, (2, 2, 2), "mode"))


def test_nearest_takes_first_voxel_of_each_cell():
    a = np.arange(5 * 7).reshape(5, 7)
    np.testing.assert_array_equal(downsample_block(a, (2, 3), "nearest"), a[::2, ::3])


def test_unknown_method_and_bad_factors_raise():
    with pytest.raises(MetadataError):
        downsample_block(np.zeros((4, 4)), (2, 2), "linear")
    with pytest.raises(MetadataError):
        downsample_block(np.zeros((4, 4)), (2,), "mean")


# --------------------------------------------------------------------------- build


def _reference_pyramid(a, spatial_axes, method, min_size):
    """Whole-array, level-by-level reference built with the naive reducer."""
    out, previous, prev_f = [], a, (1,) * a.ndim
    for factors in plan_levels(a.shape, spatial_axes, min_size=min_size):
        step = tuple(f // p for f, p in zip(factors, prev_f))
        previous, prev_f = _naive(previous, step, method), factors
        out.append(previous)
    return out


@pytest.mark.parametrize("is_seg", [False, True])
@pytest.mark.parametrize("chunk_shape", [None, (3, 5, 4), (2, 2, 2)])
def test_streamed_pyramid_equals_whole_array_reference(is_seg, chunk_shape):
    rng = np.random.default_rng(4)
    a = rng.integers(0, 4 if is_seg else 200, (13, 19, 22)).astype(np.uint8)
    levels, make_level = _in_memory_levels()
    info = build_pyramid(a, (0, 1, 2), is_seg=is_seg, make_level=make_level, min_size=3,
                         chunk_shape=chunk_shape, budget_bytes=2000)
    method = "mode" if is_seg else "mean"
    reference = _reference_pyramid(a, (0, 1, 2), method, min_size=3)
    assert [d["level"] for d in info] == list(range(1, len(reference) + 1))
    for d, ref in zip(info, reference):
        np.testing.assert_array_equal(levels[d["level"]], ref)
        assert d["shape"] == list(ref.shape) and d["method"] == method
    assert info[0]["scale"] == [2.0, 2.0, 2.0] and all(type(s) is float for s in info[0]["scale"])


@pytest.mark.parametrize("layout", ["channel_first", "channel_last", "time_first"])
def test_non_spatial_axes_untouched(layout):
    rng = np.random.default_rng(5)
    if layout == "channel_first":
        a, spatial, other = rng.random((3, 20, 18)), (1, 2), 0
    elif layout == "channel_last":
        a, spatial, other = rng.random((20, 18, 3)), (0, 1), 2
    else:
        a, spatial, other = rng.random((4, 10, 12, 14)), (1, 2, 3), 0
    levels, make_level = _in_memory_levels()
    info = build_pyramid(a, spatial, is_seg=False, make_level=make_level, min_size=5, budget_bytes=4096)
    assert info
    for d in info:
        assert d["shape"][other] == a.shape[other] and d["scale"][other] == 1.0
        level = levels[d["level"]]
        for c in range(a.shape[other]):
            # every channel/time point is downsampled on its own
            single = np.take(a, [c], axis=other)
            expected = _reference_pyramid(single, spatial, "mean", 5)[d["level"] - 1]
            np.testing.assert_allclose(np.take(level, [c], axis=other), expected)


def test_progress_reaches_total():
    calls = []
    levels, make_level = _in_memory_levels()
    a = np.zeros((40, 40), np.float32)
    build_pyramid(a, (0, 1), is_seg=False, make_level=make_level, min_size=5,
                  progress=lambda done, total: calls.append((done, total)), budget_bytes=1024)
    total = calls[0][1]
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert total == sum(math.prod(levels[k].shape) * 4 for k in levels)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) > len(levels) + 1


def test_pyramid_below_min_size_builds_nothing():
    called = []
    info = build_pyramid(np.zeros((10, 10)), (0, 1), is_seg=False,
                         make_level=lambda *args: called.append(args), min_size=16)
    assert info == [] and called == []


def test_blosc2_pyramid_with_bounded_memory():
    shape = (200, 512, 1024)  # uint16: 200 MiB
    rng = np.random.default_rng(6)
    src = blosc2.empty(shape, dtype=np.uint16, chunks=(8, 256, 256), blocks=(1, 64, 256))
    for z in range(0, shape[0], 8):
        src[z:z + 8] = rng.integers(0, 4096, (8,) + shape[1:], dtype=np.uint16)
    nbytes = math.prod(shape) * 2

    made = {}

    def make_level(k, level_shape_, dtype):
        chunks = tuple(min(c, n) for c, n in zip((4, 128, 128), level_shape_))
        made[k] = blosc2.empty(level_shape_, dtype=dtype, chunks=chunks)
        return made[k]

    budget = 16 * 2**20
    tracemalloc.start()
    try:
        info = build_pyramid(src, (0, 1, 2), is_seg=False, make_level=make_level,
                             min_size=128, budget_bytes=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert nbytes >= 200 * 2**20
    assert peak < 2 * budget < nbytes / 6
    # axis 0 stops at 100 <= 128 while the in-plane axes keep halving
    assert [d["shape"] for d in info] == [[100, 256, 512], [100, 128, 256], [100, 128, 128]]
    # spot-check a corner against numpy on the same region
    corner = src[0:8, 0:8, 0:8].astype(np.float64)
    expected = np.rint(corner.reshape(4, 2, 4, 2, 4, 2).mean(axis=(1, 3, 5)))
    np.testing.assert_array_equal(made[1][0:4, 0:4, 0:4], expected)
