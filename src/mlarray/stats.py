"""Streamed intensity and label statistics for arrays too large to load at once.

The array is read block by block (see :mod:`mlarray._data.chunks`); no full in-memory copy is
ever made. Mean and standard deviation are merged per block with the parallel algorithm
of Chan, Golub & LeVeque (numerically stable, float64). Percentiles come from a streamed
histogram: exact for integer data with a narrow value range, and within one histogram
bin, ``(max - min) / 2**16``, for floats and wide integer ranges (``"exact": False``).

All returned numbers are plain Python ``int``/``float`` (or ``None``), so the result
can go straight into JSON metadata.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Union

import numpy as np
from numpy.typing import DTypeLike

from ._data.chunks import DEFAULT_BUDGET_BYTES, iter_chunk_slices, working_chunk_shape
from ._errors import MetadataError, MLArrayError

__all__ = [
    "compute_stats",
    "compute_channel_stats",
    "MAX_CHANNEL_STATS",
    "compute_label_stats",
    "UnsupportedDtypeError",
    "DEFAULT_PERCENTILES",
    "EXACT_RANGE_LIMIT",
    "FLOAT_HISTOGRAM_BINS",
]

DEFAULT_PERCENTILES = (0.5, 1, 5, 25, 75, 95, 99, 99.5)
# Integer data whose observed range fits this many bins gets exact percentiles
# (a 2**20-bin int64 histogram is 8 MiB).
EXACT_RANGE_LIMIT = 2**20
FLOAT_HISTOGRAM_BINS = 2**16
# Per-channel statistics are stored for channel axes up to this length (each entry is ~0.3 kB of
# JSON; hyperspectral cubes with thousands of bands keep the file-wide statistics only).
MAX_CHANNEL_STATS = 256
# Dtypes whose whole value range fits one small histogram, so percentiles need one pass.
_SMALL_INT_KINDS = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.uint16))
# Per element of a block we hold the block, a NaN mask and NaN-free copy, and a float64
# copy plus its centred version: about 2 * itemsize + 17 bytes.
_FLOAT64_TEMPORARIES_BYTES = 17


class ArraySource(Protocol):
    """What the statistics read: a numpy array, a blosc2 NDArray, an ``MLArray``'s data, ... (an optional
    ``chunks`` attribute sizes the blocks)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def __getitem__(self, key: Any) -> Any: ...


class UnsupportedDtypeError(MLArrayError, TypeError):
    """Statistics were asked for an array whose dtype they do not cover (e.g. complex)."""

    def __init__(self, dtype: object, needed: str) -> None:
        self.dtype = dtype
        super().__init__(f"dtype {dtype}: statistics need {needed}")


# --------------------------------------------------------------------------- public API


def compute_stats(
    array: ArraySource,
    *,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    chunk_shape: Sequence[int] | None = None,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
) -> dict:
    """Intensity statistics of ``array``, streamed block by block.

    ``array`` is anything with ``.shape``, ``.dtype`` and ``__getitem__`` returning numpy
    (a numpy array, a blosc2 NDArray, ...). Returns ``min``, ``max``, ``mean``,
    ``median``, ``std`` (population, ``ddof=0``), ``percentiles`` keyed by
    ``format(p, "g")``, ``count`` (non-NaN values), ``nan_count`` and ``exact``, and
    ``percentile_mean``/``_median``/``_std``: the same statistics over the values between the
    lowest and highest requested percentile (the robust intensity figures used to z-score
    clipped CT, from the same histogram, so as exact as the percentiles).
    NaNs are skipped; with no non-NaN value every statistic is ``None``. Bool counts as
    0/1. Percentiles follow ``np.percentile(..., method="linear")``; they are exact for
    bool and 8/16-bit integers and for other integers spanning at most
    ``EXACT_RANGE_LIMIT`` values, otherwise within ``(max - min) / 2**16``.
    """
    dtype = _check_numeric_dtype(array.dtype)
    percentiles = _check_percentiles(percentiles)
    blocks = _BlockReader(array, chunk_shape, budget_bytes)
    small_int = dtype == np.bool_ or dtype in _SMALL_INT_KINDS

    moments, exact_histogram = _first_pass(blocks, dtype, small_int)
    lo, hi = moments.min, moments.max
    if moments.count == 0 or lo is None or hi is None:  # one means the others: no non-NaN value
        return _empty_stats(percentiles, moments.nan_count)
    histogram: _Histogram = exact_histogram or _second_pass_histogram(blocks, dtype, moments)

    wanted = list(percentiles) + [50.0]
    values = histogram.percentiles(wanted, moments.count)
    as_number = int if dtype.kind in "biu" else float
    trimmed = _trimmed_stats(histogram, min(values[:-1]), max(values[:-1])) if percentiles else {}
    return {
        "min": as_number(lo),
        "max": as_number(hi),
        "mean": float(moments.mean),
        "median": values[-1],
        "std": float(math.sqrt(max(moments.m2, 0.0) / moments.count)),
        "percentiles": {format(p, "g"): v for p, v in zip(percentiles, values[:-1])},
        "count": int(moments.count),
        "nan_count": int(moments.nan_count),
        "exact": histogram.exact,
        **trimmed,
    }


def compute_channel_stats(
    array: ArraySource,
    axis: int,
    *,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
) -> list[dict]:
    """:func:`compute_stats` of each index along ``axis`` (a channel axis), in index order.

    Channels of one image often have unrelated ranges (a 0..1 mask beside 0..10000 counts), so
    viewers need each channel's own percentiles for contrast. Each channel is streamed on its own;
    with the format's one-channel chunks this reads every chunk once more in total.
    """
    axis = int(axis)
    if not 0 <= axis < len(array.shape):
        raise MetadataError("axis", axis, f"must be an axis of the {len(array.shape)}-D array",
                            "pass the index of the channel axis")
    return [compute_stats(_AxisSlice(array, axis, i), percentiles=percentiles, budget_bytes=budget_bytes)
            for i in range(int(array.shape[axis]))]


class _AxisSlice:
    """``array`` at index ``index`` of ``axis``, read lazily (shape, dtype, chunks, ``[...]``)."""

    def __init__(self, array: ArraySource, axis: int, index: int) -> None:
        self.array, self.axis, self.index = array, axis, index
        self.shape = tuple(n for a, n in enumerate(array.shape) if a != axis)
        self.dtype = np.dtype(array.dtype)
        chunks = getattr(array, "chunks", None)
        self.chunks = None if chunks is None else tuple(c for a, c in enumerate(chunks) if a != axis)

    def __getitem__(self, key: Any) -> Any:
        key = tuple(key) if isinstance(key, tuple) else (key,)
        return self.array[key[: self.axis] + (self.index,) + key[self.axis:]]


def compute_label_stats(
    array: ArraySource,
    chunk_shape: Sequence[int] | None = None,
    *,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
) -> dict:
    """Labels present in a segmentation and their voxel counts, streamed block by block.

    Returns ``{"labels": [sorted ints], "voxel_counts": {"<label>": n}}``. Label arrays
    must be integer or bool; a float array is refused rather than silently truncated.
    """
    dtype = np.dtype(array.dtype)
    if dtype.kind not in "biu":
        raise UnsupportedDtypeError(dtype, "an integer or bool label array "
                                    "(cast float segmentations to an integer dtype first)")
    counts: dict[int, int] = {}
    for block in _BlockReader(array, chunk_shape, budget_bytes):
        for label, n in _block_label_counts(block):
            counts[label] = counts.get(label, 0) + n
    labels = sorted(counts)
    return {"labels": labels, "voxel_counts": {str(k): counts[k] for k in labels}}


# --------------------------------------------------------------------------- reading


class _BlockReader:
    """Re-iterable stream of numpy blocks of ``array`` (each pass re-reads the source)."""

    def __init__(self, array: ArraySource, chunk_shape: Sequence[int] | None, budget_bytes: int) -> None:
        self.array = array
        shape = tuple(array.shape)
        if chunk_shape is None:
            item_cost = 2 * np.dtype(array.dtype).itemsize + _FLOAT64_TEMPORARIES_BYTES
            chunk_shape = working_chunk_shape(shape, item_cost,
                                              getattr(array, "chunks", None), budget_bytes)
        self.shape = shape
        self.chunk_shape = tuple(chunk_shape)

    def __iter__(self) -> Iterator[np.ndarray]:
        for slices in iter_chunk_slices(self.shape, self.chunk_shape):
            block = np.asarray(self.array[slices])
            yield block.view(np.uint8) if block.dtype == np.bool_ else block


# --------------------------------------------------------------------------- moments


@dataclass
class _Moments:
    """Running count, mean, sum of squared deviations (M2), extremes and NaN count.

    ``finite_min``/``finite_max``/``n_neg_inf``/``n_pos_inf`` let the float histogram
    span only finite values while ranking infinities at the ends.
    """

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float | int | None = None
    max: float | int | None = None
    nan_count: int = 0
    finite_min: float | int | None = None
    finite_max: float | int | None = None
    n_neg_inf: int = 0
    n_pos_inf: int = 0

    def merge_block(self, values: np.ndarray) -> None:
        """Fold a 1-D block of non-NaN values in (Chan et al. pairwise update)."""
        n_b = values.size
        if n_b == 0:
            return
        x = values.astype(np.float64, copy=False)
        with np.errstate(invalid="ignore", over="ignore"):  # infinities propagate, as in numpy
            mean_b = float(x.mean())
            centred = x - mean_b
            # Not np.dot: a large dot goes to multi-threaded OpenBLAS, whose idle threads then
            # spin and took a whole core from parallel conversions (3.7 s of 6.6 s CPU per 100 files).
            m2_b = float(np.einsum("i,i->", centred, centred))
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * n_a * n_b / n
        self.count = n
        lo, hi = values.min(), values.max()
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        if values.dtype.kind == "f" and (np.isinf(lo) or np.isinf(hi)):
            lo, hi = self._count_infinities(values)
        if lo is not None:
            self.finite_min = lo if self.finite_min is None else min(self.finite_min, lo)
            self.finite_max = hi if self.finite_max is None else max(self.finite_max, hi)

    def _count_infinities(self, values: np.ndarray) -> tuple[Any, Any]:
        """Count +-inf in ``values``; return the finite extremes (None if there are none)."""
        self.n_neg_inf += int(np.count_nonzero(values == -np.inf))
        self.n_pos_inf += int(np.count_nonzero(values == np.inf))
        finite = values[np.isfinite(values)]
        return (finite.min(), finite.max()) if finite.size else (None, None)


def _first_pass(blocks: _BlockReader, dtype: np.dtype, small_int: bool
                ) -> tuple[_Moments, _IntegerHistogram | None]:
    """Moments for every dtype, plus the exact histogram when the dtype range is small."""
    moments = _Moments()
    histogram = _IntegerHistogram.for_dtype(dtype) if small_int else None
    for block in blocks:
        values = _non_nan_values(block, moments)
        moments.merge_block(values)
        if histogram is not None:
            histogram.add(values)
    return moments, histogram


def _non_nan_values(block: np.ndarray, moments: _Moments) -> np.ndarray:
    """Flatten ``block``, dropping NaNs (counted into ``moments.nan_count``)."""
    flat = block.reshape(-1)
    if flat.dtype.kind != "f":
        return flat
    is_nan = np.isnan(flat)
    n_nan = int(np.count_nonzero(is_nan))
    if n_nan == 0:
        return flat
    moments.nan_count += n_nan
    return flat[~is_nan]


def _second_pass_histogram(blocks: _BlockReader, dtype: np.dtype, moments: _Moments) -> _Histogram:
    """Exact histogram for narrow integer ranges, otherwise a fine binned one."""
    lo, hi = moments.min, moments.max
    histogram: _Histogram
    if dtype.kind in "iu" and lo is not None and hi is not None and int(hi) - int(lo) < EXACT_RANGE_LIMIT:
        histogram = _IntegerHistogram(int(lo), int(hi) - int(lo) + 1)
    else:
        histogram = _BinnedHistogram(moments, FLOAT_HISTOGRAM_BINS)
    ignore_nans = _Moments()
    for block in blocks:
        histogram.add(_non_nan_values(block, ignore_nans))
    return histogram


def _empty_stats(percentiles: Sequence[float], nan_count: int) -> dict:
    return {
        "min": None, "max": None, "mean": None, "median": None, "std": None,
        "percentiles": {format(p, "g"): None for p in percentiles},
        **({f"percentile_{k}": None for k in ("mean", "median", "std")} if percentiles else {}),
        "count": 0, "nan_count": int(nan_count), "exact": True,
    }


def _trimmed_stats(histogram: _Histogram, low: float, high: float) -> dict:
    """Mean, median and std of the histogram's values within ``[low, high]``."""
    values, counts = histogram.values_and_counts()
    keep = (values >= low) & (values <= high) & (counts > 0)
    values, counts = values[keep], counts[keep]
    n = int(counts.sum())
    if n == 0:  # every value is infinite, or the range holds no bin centre
        return {"percentile_mean": None, "percentile_median": None, "percentile_std": None}
    weights = counts.astype(np.float64)
    mean = float(np.dot(weights, values) / n)
    var = float(np.dot(weights, (values - mean) ** 2) / n)
    cumulative = np.cumsum(counts)

    def order_stat(k: int) -> float:
        return float(values[int(np.searchsorted(cumulative, k, side="right"))])

    return {"percentile_mean": mean, "percentile_median": _interpolate_ranks(order_stat, n, [50.0])[0],
            "percentile_std": math.sqrt(max(var, 0.0))}


# --------------------------------------------------------------------------- histograms


def _virtual_index(count: int, percentile: float) -> float:
    """0-based fractional rank of ``percentile`` among ``count`` sorted values (numpy 'linear')."""
    return (count - 1) * (percentile / 100.0)


def _lerp(a: float, b: float, t: float) -> float:
    """Linear interpolation written as numpy's percentile does, so results match bit for bit.

    Equal ends or ``t == 0`` return ``a`` (numpy gives NaN when ``a`` is infinite).
    """
    if a == b or t == 0:
        return a
    diff = b - a
    return b - diff * (1.0 - t) if t >= 0.5 else a + diff * t


def _interpolate_ranks(order_stat: Callable[[int], float], count: int, percentiles: Sequence[float]) -> list[float]:
    """Percentiles from a function giving the k-th smallest value (0-based)."""
    out = []
    for p in percentiles:
        h = _virtual_index(count, p)
        below = min(int(math.floor(h)), count - 1)
        above = min(below + 1, count - 1)
        out.append(float(_lerp(order_stat(below), order_stat(above), h - below)))
    return out


def _bin_estimate(cumulative: np.ndarray, counts: np.ndarray, lo: float, hi: float, k: int) -> float:
    """The k-th smallest value (0-based) of equal bins over ``[lo, hi]``, spread evenly in its bin.

    Off by less than one bin width. Halved arithmetic, so ``hi - lo`` cannot overflow for extreme
    float64 ranges.
    """
    b = int(np.searchsorted(cumulative, k, side="right"))
    before = int(cumulative[b - 1]) if b else 0
    inside = (k - before + 0.5) / int(counts[b])
    estimate = 2.0 * (lo / 2 + (b + inside) / counts.size * (hi / 2 - lo / 2))
    return min(max(estimate, lo), hi)


def percentiles_from_counts(counts: np.ndarray, lo: float, hi: float, integer: bool,
                            percentiles: Sequence[float]) -> list[float | None]:
    """numpy-``linear`` percentiles from a histogram over ``[lo, hi]``, as the per-file statistics compute them.

    ``integer``: ``counts[i]`` counts the value ``lo + i`` (exact, bit for bit with numpy);
    otherwise ``counts`` are equal bins over ``[lo, hi]`` (off by less than one bin width; the
    extremes exact). Used to merge histograms of many files (:mod:`mlarray.dataset_stats`).
    """
    counts = np.asarray(counts, dtype=np.int64)
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1]) if counts.size else 0
    if total == 0:
        return [None] * len(percentiles)

    def order_stat(k: int) -> float:
        if integer:
            return float(lo + int(np.searchsorted(cumulative, k, side="right")))
        if k in (0, total - 1):
            return float(lo) if k == 0 else float(hi)
        return _bin_estimate(cumulative, counts, float(lo), float(hi), k)

    return list(_interpolate_ranks(order_stat, total, percentiles))


class _IntegerHistogram:
    """Exact counts of every integer value in ``[offset, offset + size)``."""

    exact = True

    def __init__(self, offset: int, size: int) -> None:
        self.offset = offset
        self.counts = np.zeros(size, dtype=np.int64)

    @classmethod
    def for_dtype(cls, dtype: np.dtype) -> _IntegerHistogram:
        if dtype == np.bool_:
            return cls(0, 2)
        info = np.iinfo(dtype)
        return cls(int(info.min), int(info.max) - int(info.min) + 1)

    def add(self, values: np.ndarray) -> None:
        if values.size == 0:
            return
        # Subtract in the source dtype: the difference is small and non-negative, so it is
        # exact even for uint64/int64 values that would not survive a cast first.
        if self.offset < 0 and values.dtype.kind == "i" and values.dtype.itemsize <= 2:
            shifted = values.astype(np.intp) - self.offset
        else:
            shifted = (values - values.dtype.type(self.offset)).astype(np.intp)
        self.counts += np.bincount(shifted, minlength=self.counts.size)[: self.counts.size]

    def percentiles(self, percentiles: Sequence[float], count: int) -> list[float]:
        cumulative = np.cumsum(self.counts)

        def order_stat(k: int) -> float:
            return float(self.offset + int(np.searchsorted(cumulative, k, side="right")))

        return _interpolate_ranks(order_stat, count, percentiles)

    def values_and_counts(self) -> tuple[np.ndarray, np.ndarray]:
        return self.offset + np.arange(self.counts.size, dtype=np.float64), self.counts


class _BinnedHistogram:
    """Counts in ``bins`` equal bins over the finite range; values assumed spread evenly in a bin.

    The k-th smallest value is estimated inside the bin that holds it, so each estimate is
    off by less than one bin width, and so is a linear interpolation between two of them.
    Infinities are not binned; they rank below/above every finite value, as in a sort.
    """

    def __init__(self, moments: _Moments, bins: int) -> None:
        self.below, self.above = moments.n_neg_inf, moments.n_pos_inf
        self.finite_count = moments.count - self.below - self.above
        lo = hi = 0.0
        if moments.finite_min is not None and moments.finite_max is not None:
            lo, hi = float(moments.finite_min), float(moments.finite_max)
        self.lo, self.hi = lo, hi
        self.exact = hi == lo  # a constant array has nothing to approximate
        self.counts = np.zeros(bins, dtype=np.int64)
        span = hi - lo
        # float64 extremes can overflow hi - lo; halving both ends keeps the scale finite.
        self._halve = not math.isfinite(span)
        self._scale = bins / ((hi / 2 - lo / 2) if self._halve else span) if span else 0.0

    def add(self, values: np.ndarray) -> None:
        if self.below or self.above:
            values = values[np.isfinite(values)]
        if values.size == 0:
            return
        x = values.astype(np.float64)
        if self._halve:
            x *= 0.5
            x -= self.lo / 2
        else:
            x -= self.lo
        x *= self._scale
        index = x.astype(np.intp)
        np.clip(index, 0, self.counts.size - 1, out=index)  # hi itself lands in the last bin
        self.counts += np.bincount(index, minlength=self.counts.size)

    def percentiles(self, percentiles: Sequence[float], count: int) -> list[float]:
        cumulative = np.cumsum(self.counts)
        lo, hi = self.lo, self.hi
        last_finite = self.finite_count - 1

        def finite_order_stat(k: int) -> float:
            if k in (0, last_finite):  # the extremes are known exactly
                return lo if k == 0 else hi
            return _bin_estimate(cumulative, self.counts, lo, hi, k)

        def order_stat(k: int) -> float:
            if k < self.below:
                return -math.inf
            if k - self.below > last_finite:
                return math.inf
            return finite_order_stat(k - self.below)

        return _interpolate_ranks(order_stat, count, percentiles)

    def values_and_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Finite values as bin centres (infinities are not binned), in halved arithmetic."""
        bins = self.counts.size
        if self.hi == self.lo:
            return np.full(bins, self.lo), self.counts
        centres = 2.0 * (self.lo / 2 + (np.arange(bins) + 0.5) / bins * (self.hi / 2 - self.lo / 2))
        return centres, self.counts


_Histogram = Union[_IntegerHistogram, _BinnedHistogram]


# --------------------------------------------------------------------------- labels


def _block_label_counts(block: np.ndarray) -> Iterator[tuple[int, int]]:
    """(label, count) pairs of one block; bincount for 8/16-bit labels, unique otherwise."""
    flat = block.reshape(-1)
    if flat.size == 0:
        return
    if flat.dtype in _SMALL_INT_KINDS:
        histogram = _IntegerHistogram.for_dtype(flat.dtype)
        histogram.add(flat)
        present = np.flatnonzero(histogram.counts)
        for i in present:
            yield int(i) + histogram.offset, int(histogram.counts[i])
        return
    labels, counts = np.unique(flat, return_counts=True)
    for label, n in zip(labels.tolist(), counts.tolist()):
        yield int(label), int(n)


# --------------------------------------------------------------------------- validation


def _check_numeric_dtype(dtype: DTypeLike) -> np.dtype:
    checked = np.dtype(dtype)
    if checked.kind not in "biuf":
        raise UnsupportedDtypeError(checked, "a bool, integer or real floating-point array")
    return checked


def _check_percentiles(percentiles: Sequence[float]) -> tuple[float, ...]:
    try:
        values = tuple(float(p) for p in percentiles)
    except (TypeError, ValueError):
        raise MetadataError("percentiles", percentiles, "must be a sequence of numbers",
                            "pass e.g. (1, 50, 99)") from None
    bad = [p for p in values if not 0.0 <= p <= 100.0]
    if bad:
        raise MetadataError("percentiles", percentiles, f"values {bad} are outside [0, 100]",
                            "give percentiles between 0 and 100")
    return tuple(percentiles)
