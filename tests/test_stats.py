import json
import math
import tracemalloc

import blosc2
import numpy as np
import pytest

from mlarray._data.chunks import iter_chunk_slices, working_chunk_shape
from mlarray._errors import MetadataError, MLArrayError
from mlarray.stats import (
    DEFAULT_PERCENTILES,
    FLOAT_HISTOGRAM_BINS,
    UnsupportedDtypeError,
    compute_label_stats,
    compute_stats,
)

P = DEFAULT_PERCENTILES
ODD_CHUNKS = (5, 7, 13)  # blocks that do not divide the array, to exercise merging


def _reference(a: np.ndarray) -> dict:
    """What numpy says, ignoring NaNs, with bool as 0/1."""
    x = a.astype(np.float64)
    x = x[~np.isnan(x)]
    return {
        "min": x.min(), "max": x.max(), "mean": x.mean(), "std": x.std(),
        "median": np.median(x), "percentiles": np.percentile(x, P), "count": x.size,
    }


def _random(dtype, shape=(37, 41, 13), seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) < 0.3
    if np.dtype(dtype).kind == "f":
        return rng.normal(100, 20, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape, dtype=dtype)


# --------------------------------------------------------------------------- chunks


def test_iter_chunk_slices_tiles_exactly_once():
    shape = (5, 7, 3)
    seen = np.zeros(shape, int)
    for s in iter_chunk_slices(shape, (2, 3, 3)):
        seen[s] += 1
    assert (seen == 1).all()
    assert list(iter_chunk_slices((0, 4), (1, 1))) == []
    assert list(iter_chunk_slices((), ())) == [()]


def test_working_chunk_shape_uses_chunk_multiples_then_slabs():
    # whole chunks along trailing axes, several along axis 0, under budget
    block = working_chunk_shape((100, 64, 64), 1, chunks=(10, 32, 64), budget_bytes=30 * 64 * 64)
    assert block == (30, 64, 64)
    # no chunks: slabs along axis 0
    assert working_chunk_shape((100, 64, 64), 2, budget_bytes=5 * 64 * 64 * 2) == (5, 64, 64)
    # a chunk larger than the budget falls back to slabs
    assert working_chunk_shape((100, 64, 64), 1, chunks=(100, 64, 64), budget_bytes=64 * 64) == (1, 64, 64)
    # never empty
    assert working_chunk_shape((3, 10**6), 8, budget_bytes=1) == (1, 1)
    with pytest.raises(MetadataError):
        list(iter_chunk_slices((4,), (0,)))


# --------------------------------------------------------------------------- exact stats


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int8, np.uint16, np.bool_, np.int32, np.int64])
def test_integer_stats_match_numpy_exactly(dtype):
    a = _random(dtype)
    if a.dtype.itemsize > 2:
        a = a >> (8 * a.dtype.itemsize - 18)  # 2**18-value range -> exact path for wide dtypes too
    ref = _reference(a)
    s = compute_stats(a, chunk_shape=ODD_CHUNKS)
    assert s["exact"] is True
    assert s["min"] == ref["min"] and s["max"] == ref["max"]
    assert s["count"] == ref["count"] and s["nan_count"] == 0
    assert s["median"] == pytest.approx(ref["median"], rel=1e-12, abs=1e-12)
    assert list(s["percentiles"].values()) == pytest.approx(ref["percentiles"], rel=1e-12, abs=1e-12)
    assert s["mean"] == pytest.approx(ref["mean"], rel=1e-12)
    assert s["std"] == pytest.approx(ref["std"], rel=1e-10)


def _trimmed_reference(a: np.ndarray, low: float, high: float) -> tuple[float, float, float]:
    inside = a[(a >= low) & (a <= high)].astype(np.float64)
    return inside.mean(), np.median(inside), inside.std()


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int32])
def test_statistics_within_the_percentile_range_are_exact_for_integers(dtype):
    a = _random(dtype)
    if a.dtype.itemsize > 2:
        a = a >> (8 * a.dtype.itemsize - 18)
    s = compute_stats(a, chunk_shape=ODD_CHUNKS)
    mean, median, std = _trimmed_reference(a, s["percentiles"]["0.5"], s["percentiles"]["99.5"])
    assert s["percentile_mean"] == pytest.approx(mean, rel=1e-12)
    assert s["percentile_median"] == pytest.approx(median, rel=1e-12)
    assert s["percentile_std"] == pytest.approx(std, rel=1e-10)
    assert s["percentile_std"] < s["std"]  # the tails are gone


def test_statistics_within_the_percentile_range_of_floats_are_within_a_bin():
    a = np.random.default_rng(6).standard_t(3, (60, 50, 40)).astype(np.float32)  # heavy tails
    s = compute_stats(a, percentiles=(99.5, 0.5))  # order of the request does not matter
    bound = (float(a.max()) - float(a.min())) / FLOAT_HISTOGRAM_BINS
    mean, median, std = _trimmed_reference(a, *np.percentile(a, [0.5, 99.5]))
    assert s["exact"] is False
    assert abs(s["percentile_mean"] - mean) <= bound and abs(s["percentile_median"] - median) <= bound
    assert abs(s["percentile_std"] - std) <= bound
    assert s["percentile_std"] < s["std"]


def test_statistics_within_the_percentile_range_reach_the_file_and_published_api(tmp_path):
    import mlarray

    a = np.random.default_rng(7).integers(-1024, 3071, (20, 30, 40)).astype(np.int16)
    a[0, 0, :5] = 30000  # a few metal-like outliers the range excludes
    mlarray.MLArray(a).save(tmp_path / "ct.mla")
    st = mlarray.MLArray.open(tmp_path / "ct.mla").meta.stats
    mean, median, std = _trimmed_reference(a, st.percentile(0.5), st.percentile(99.5))
    assert (st.percentile_mean, st.percentile_median) == pytest.approx((mean, median), rel=1e-12)
    assert st.percentile_std == pytest.approx(std, rel=1e-10)
    assert st.percentile_mean < st.mean


def test_stats_on_blosc2_array_equal_numpy():
    a = _random(np.int16, (40, 30, 20), seed=3)
    b = blosc2.asarray(a, chunks=(8, 16, 20), blocks=(4, 8, 10))
    assert compute_stats(b) == compute_stats(a)


def test_output_is_plain_python_and_json_safe():
    s = compute_stats(_random(np.uint8))
    assert list(s["percentiles"]) == ["0.5", "1", "5", "25", "75", "95", "99", "99.5"]
    for key in ("min", "max"):
        assert type(s[key]) is int
    for key in ("mean", "median", "std"):
        assert type(s[key]) is float
    assert all(type(v) is float for v in s["percentiles"].values())
    json.dumps(s)
    f = compute_stats(_random(np.float32))
    assert type(f["min"]) is float
    json.dumps(f)


def test_bool_counts_as_zero_one():
    a = np.array([True, False, True, True])
    s = compute_stats(a, percentiles=(25, 50))
    assert (s["min"], s["max"], s["mean"], s["median"]) == (0, 1, 0.75, 1.0)
    assert s["percentiles"]["25"] == 0.75


# --------------------------------------------------------------------------- approximate


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_percentiles_within_one_bin_with_nans(dtype):
    a = _random(dtype, seed=1)
    rng = np.random.default_rng(2)
    a[rng.random(a.shape) < 0.05] = np.nan
    ref = _reference(a)
    s = compute_stats(a, chunk_shape=ODD_CHUNKS)
    bound = (ref["max"] - ref["min"]) / FLOAT_HISTOGRAM_BINS
    assert s["exact"] is False
    assert s["nan_count"] == int(np.isnan(a).sum()) and s["count"] == ref["count"]
    assert s["min"] == ref["min"] and s["max"] == ref["max"]
    errors = np.abs(np.array(list(s["percentiles"].values())) - ref["percentiles"])
    assert errors.max() <= bound
    assert abs(s["median"] - ref["median"]) <= bound
    assert s["mean"] == pytest.approx(ref["mean"], rel=1e-12)
    assert s["std"] == pytest.approx(ref["std"], rel=1e-9)


def test_wide_integer_range_is_approximate_within_bound():
    a = np.random.default_rng(4).integers(-(2**40), 2**40, 5000)
    s = compute_stats(a, chunk_shape=(999,))
    bound = (a.max() - a.min()) / FLOAT_HISTOGRAM_BINS
    assert s["exact"] is False
    assert np.abs(np.array(list(s["percentiles"].values())) - np.percentile(a, P)).max() <= bound
    assert s["min"] == int(a.min()) and type(s["max"]) is int


def test_skewed_floats_stay_within_bound():
    # heavy tail: most mass in very few bins, where the in-bin interpolation matters
    a = np.random.default_rng(5).lognormal(0, 3, 20000)
    s = compute_stats(a, chunk_shape=(3001,))
    bound = (a.max() - a.min()) / FLOAT_HISTOGRAM_BINS
    assert np.abs(np.array(list(s["percentiles"].values())) - np.percentile(a, P)).max() <= bound


def test_large_mean_offset_is_numerically_stable():
    # naive sum-of-squares would cancel catastrophically at this offset
    a = 1e9 + np.random.default_rng(6).random(100_000)
    s = compute_stats(a, chunk_shape=(777,))
    assert s["std"] == pytest.approx(a.std(), rel=1e-6)


# --------------------------------------------------------------------------- degenerate


@pytest.mark.parametrize("a", [np.full((3, 4), np.nan, np.float32), np.zeros((0, 5), np.int16)])
def test_all_nan_or_empty_gives_none(a):
    s = compute_stats(a)
    assert s["count"] == 0
    assert all(s[k] is None for k in ("min", "max", "mean", "median", "std"))
    assert all(v is None for v in s["percentiles"].values())
    assert s["nan_count"] == int(np.isnan(a).sum()) if a.dtype.kind == "f" else s["nan_count"] == 0


def test_constant_float_array_is_exact():
    s = compute_stats(np.full((10, 10), 2.5, np.float32))
    assert s["exact"] is True and s["median"] == 2.5 and s["std"] == 0.0


def test_infinities_rank_at_the_ends():
    a = np.array([-np.inf, 1.0, 2.0, 3.0, np.inf, np.nan])
    s = compute_stats(a, percentiles=(0, 50, 100))
    assert s["percentiles"]["0"] == -math.inf and s["percentiles"]["100"] == math.inf
    assert abs(s["percentiles"]["50"] - 2.0) <= (3.0 - 1.0) / FLOAT_HISTOGRAM_BINS
    assert (s["min"], s["max"]) == (-math.inf, math.inf)
    assert s["count"] == 5 and s["nan_count"] == 1


def test_bad_inputs_raise_mlarray_errors():
    with pytest.raises(UnsupportedDtypeError) as info:
        compute_stats(np.zeros(3, np.complex64))
    assert isinstance(info.value, MLArrayError)
    with pytest.raises(MetadataError):
        compute_stats(np.zeros(3), percentiles=(101,))
    with pytest.raises(UnsupportedDtypeError):
        compute_label_stats(np.zeros(3, np.float32))


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.uint64])
def test_label_stats_match_unique(dtype):
    a = np.random.default_rng(7).integers(0, 6, (20, 30, 7)).astype(dtype) * 3
    labels, counts = np.unique(a, return_counts=True)
    s = compute_label_stats(a, chunk_shape=ODD_CHUNKS)
    assert s == {"labels": labels.tolist(), "voxel_counts": {str(k): int(n) for k, n in zip(labels, counts)}}
    assert all(type(k) is int for k in s["labels"])
    json.dumps(s)


def test_label_stats_negative_and_bool():
    assert compute_label_stats(np.array([[-3, 7], [7, 100000]])) == {
        "labels": [-3, 7, 100000], "voxel_counts": {"-3": 1, "7": 2, "100000": 1}}
    assert compute_label_stats(np.array([True, False, False]))["voxel_counts"] == {"0": 2, "1": 1}


# --------------------------------------------------------------------------- memory


def _big_blosc2(dtype, shape=(200, 512, 512)):
    """~200 MB (float32) / ~100 MB (uint16) compressed-in-memory array filled slab by slab."""
    rng = np.random.default_rng(8)
    out = blosc2.empty(shape, dtype=dtype, chunks=(8, 256, 256), blocks=(1, 64, 256))
    for z in range(0, shape[0], 8):
        slab = rng.normal(1000, 100, (8,) + shape[1:]).astype(dtype)
        slab[0, 0, :3] = np.nan
        out[z:z + 8] = slab
    return out


def test_stats_stream_with_bounded_memory():
    big = _big_blosc2(np.float32)
    nbytes = math.prod(big.shape) * 4
    assert nbytes >= 200 * 10**6
    budget = 16 * 2**20
    tracemalloc.start()
    try:
        s = compute_stats(big, budget_bytes=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * budget < nbytes / 6
    assert s["nan_count"] == 3 * 25 and s["count"] == math.prod(big.shape) - 75
    assert s["mean"] == pytest.approx(1000, abs=0.1)


def test_channel_stats_match_numpy_per_channel_and_are_stored():
    """Each channel gets its own statistics (a 0..1 channel beside a 0..10000 one keeps its range)."""
    from mlarray import MLArray
    from mlarray.stats import compute_channel_stats

    rng = np.random.default_rng(4)
    arr = np.stack([rng.random((30, 41)), 10000 * rng.random((30, 41)), np.full((30, 41), 7.0)]).astype(np.float32)
    per = compute_channel_stats(arr, 0)
    for c, st in enumerate(per):
        assert st["min"] == pytest.approx(float(arr[c].min())) and st["max"] == pytest.approx(float(arr[c].max()))
        assert st["mean"] == pytest.approx(float(arr[c].astype(np.float64).mean()), rel=1e-9)
    # a channel axis in the middle, read through a blosc2 array
    moved = np.ascontiguousarray(np.moveaxis(arr, 0, 1))
    mid = compute_channel_stats(blosc2.asarray(moved, chunks=(10, 1, 41)), 1)
    assert [m["max"] for m in mid] == [p["max"] for p in per]

    import tempfile
    with tempfile.TemporaryDirectory() as d:
        MLArray(arr, axis_labels=["channel", "spatial_y", "spatial_x"]).save(f"{d}/c.mla")
        st = MLArray.open(f"{d}/c.mla").meta.stats
        assert len(st.channels) == 3 and st.channels[0].max < 1 < st.channels[1].max
        assert st.channel(1).percentile(99.5) == pytest.approx(per[1]["percentiles"]["99.5"])
        assert st.channel(5) is st  # no such channel: the file-wide statistics
        MLArray(arr[0]).save(f"{d}/plain.mla")  # no channel axis: no per-channel entry
        assert MLArray.open(f"{d}/plain.mla").meta.stats.channels is None
