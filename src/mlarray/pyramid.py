"""Multi-resolution pyramids, built level by level without loading any level whole.

Each level halves every spatial axis still larger than ``min_size``; channel, time and
other non-spatial axes are never touched. Level ``k`` is computed from level ``k - 1``,
one block at a time: blocks are tiles of the *output* level, and the matching input
region is exactly twice as large along halved axes, so no 2x2(x2) cell ever straddles
two blocks and the result is identical to downsampling the whole level at once.

Images are reduced with an area average (``"mean"``), segmentations with the most
frequent label (``"mode"``, ties go to the smallest label) so that no label is invented.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import product
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from ._data.chunks import DEFAULT_BUDGET_BYTES, iter_chunk_slices, working_chunk_shape
from ._errors import MetadataError

__all__ = ["plan_levels", "level_shape", "downsample_block", "build_pyramid", "METHODS"]

METHODS = ("mean", "mode", "nearest")


# --------------------------------------------------------------------------- planning


def plan_levels(
    shape: Sequence[int],
    spatial_axes: Sequence[int],
    *,
    min_size: int = 256,
    max_levels: int | None = None,
) -> list[tuple[int, ...]]:
    """Cumulative downsampling factors per array axis for each level beyond the base.

    Every level halves the spatial axes whose current size exceeds ``min_size`` (so an
    anisotropic 512x512x40 volume is only halved in-plane). Planning stops when all
    spatial axes are ``<= min_size`` or after ``max_levels`` levels. Non-spatial axes
    keep factor 1. The shape of a level is ``ceil(shape / factor)``, see :func:`level_shape`.
    """
    shape = tuple(int(n) for n in shape)
    axes = _normalise_spatial_axes(spatial_axes, len(shape))
    if min_size < 1:
        raise MetadataError("min_size", min_size, "must be at least 1",
                            "the default 256 suits 2-D viewers")
    if max_levels is not None and max_levels < 0:
        raise MetadataError("max_levels", max_levels, "must be >= 0 or None")
    factors = [1] * len(shape)
    levels: list[tuple[int, ...]] = []
    while max_levels is None or len(levels) < max_levels:
        current = level_shape(shape, factors)
        halved = [a for a in axes if current[a] > min_size]
        if not halved:
            break
        for a in halved:
            factors[a] *= 2
        levels.append(tuple(factors))
    return levels


def level_shape(shape: Sequence[int], factors: Sequence[int]) -> tuple[int, ...]:
    """``ceil(shape / factors)``: the last, partial cell along an axis still gives a voxel."""
    return tuple(-(-int(n) // int(f)) for n, f in zip(shape, factors))


# --------------------------------------------------------------------------- one block


def downsample_block(block: np.ndarray, factors: Sequence[int], method: str) -> np.ndarray:
    """Reduce each ``factors``-sized cell of ``block`` to one value; output shape ``ceil(shape/factors)``.

    ``"mean"``: area average (box filter, which is what anti-aliasing by an integer
    factor amounts to); cells cut off by the block's end average only the voxels they
    have. Integer and bool results are rounded half-to-even back to the input dtype.
    ``"mode"``: the most frequent value of each cell, for label maps; ties go to the
    smallest label; only values present in the cell can come out.
    ``"nearest"``: the first voxel of each cell.
    """
    block = np.asarray(block)
    factors = _check_factors(factors, block.ndim)
    if method == "mean":
        return _mean_downsample(block, factors)
    if method == "mode":
        return _mode_downsample(block, factors)
    if method == "nearest":
        return np.ascontiguousarray(block[tuple(slice(None, None, f) for f in factors)])
    raise MetadataError("method", method, f"must be one of {METHODS}",
                        "use 'mean' for images and 'mode' for segmentations")


def _mean_downsample(block: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Sum cells axis by axis with ``np.add.reduceat`` (ragged last cells included), then divide."""
    total = block
    cell_sizes = np.ones((1,) * block.ndim)
    for axis, f in enumerate(factors):
        n = block.shape[axis]
        if f == 1 or n == 0:
            continue
        starts = np.arange(0, n, f)
        # Sum in float64: exact for integer cells of realistic size, no overflow.
        total = np.add.reduceat(total, starts, axis=axis, dtype=np.float64)
        sizes = np.diff(np.append(starts, n)).astype(np.float64)
        cell_sizes = cell_sizes * sizes.reshape([-1 if a == axis else 1 for a in range(block.ndim)])
    if total is block:  # every factor was 1
        return block.copy()
    mean = total / cell_sizes
    if block.dtype.kind in "biu":
        return np.rint(mean, out=mean).astype(block.dtype)
    return mean.astype(block.dtype, copy=False)


def _mode_downsample(block: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Most frequent value per cell, by comparing the prod(factors) candidates of each cell.

    Candidate ``i`` is the voxel at offset ``i`` inside every cell (a strided view). Its
    count is how many candidates equal it; the winner has the highest count, then the
    smallest value. Offsets beyond a ragged edge are masked out by giving them count -1;
    offset 0 always exists, so every cell has a valid winner.
    """
    out_shape = level_shape(block.shape, factors)
    padded = _pad_to_multiple(block, factors)
    offsets = list(product(*(range(f) for f in factors)))
    candidates = [padded[tuple(slice(o, None, f) for o, f in zip(off, factors))] for off in offsets]
    valid = [_offset_validity(block.shape, factors, off) for off in offsets]

    best_value = candidates[0].copy()
    best_count = np.full(out_shape, -1, dtype=np.int32)
    count = np.empty(out_shape, dtype=np.int32)
    for value, ok in zip(candidates, valid):
        count.fill(0)
        for other, other_ok in zip(candidates, valid):
            count += (other == value) & other_ok
        if ok is not True:
            count[~np.broadcast_to(ok, out_shape)] = -1
        better = (count > best_count) | ((count == best_count) & (value < best_value))
        np.copyto(best_value, value, where=better)
        np.copyto(best_count, count, where=better)
    return best_value


def _pad_to_multiple(block: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Zero-pad trailing ragged cells so every cell is full; padding is masked out later."""
    pad = [(0, -n % f) for n, f in zip(block.shape, factors)]
    if not any(after for _, after in pad):
        return block
    return np.pad(block, pad)


def _offset_validity(shape: tuple[int, ...], factors: tuple[int, ...], offset: tuple[int, ...]) -> np.ndarray | bool:
    """Broadcastable mask: which cells really contain the voxel at ``offset`` (True if all)."""
    mask: np.ndarray | None = None
    for axis, (n, f, o) in enumerate(zip(shape, factors, offset)):
        cells = -(-n // f)
        inside = np.arange(cells) * f + o < n
        if inside.all():
            continue
        axis_mask = inside.reshape([-1 if a == axis else 1 for a in range(len(shape))])
        mask = axis_mask if mask is None else (mask & axis_mask)
    return True if mask is None else mask


# --------------------------------------------------------------------------- whole pyramid


class PyramidSource(Protocol):
    """What a pyramid is read from: the base array, and each built level in turn (NumPy, blosc2, zarr, ...)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def __getitem__(self, key: tuple[slice, ...], /) -> ArrayLike: ...


class PyramidLevel(PyramidSource, Protocol):
    """A level ``make_level`` returns: written tile by tile, then read back to build the next level."""

    def __setitem__(self, key: tuple[slice, ...], value: np.ndarray, /) -> None: ...


def build_pyramid(
    source: PyramidSource,
    spatial_axes: Sequence[int],
    *,
    is_seg: bool,
    make_level: Callable[[int, tuple[int, ...], np.dtype], PyramidLevel],
    min_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
    chunk_shape: Sequence[int] | None = None,
    max_levels: int | None = None,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
) -> list[dict]:
    """Write downsampled levels 1..K of ``source`` into arrays made by ``make_level``.

    ``make_level(k, shape, dtype)`` must return a writable array (``out[slices] = block``),
    e.g. a new blosc2 NDArray; it is called once per level, in order, and level ``k`` is
    then read back to build level ``k + 1``. Segmentations (``is_seg``) use ``"mode"``,
    images ``"mean"``. Work proceeds in tiles of each output level: by default whole
    multiples of its ``.chunks`` (so writes never re-compress a chunk), sized so that the
    input region plus temporaries stay within ``budget_bytes``; ``chunk_shape`` instead
    fixes the region read from the previous level, rounded down to even extents along
    halved axes. ``progress(done, total)`` receives output *bytes* written so far and the
    total over all levels, starting at ``(0, total)`` and ending at ``(total, total)``.

    Returns one dict per built level (the base, level 0, is not listed):
    ``{"level": k, "shape": [...], "scale": [...], "method": "mean" | "mode"}`` where
    ``scale`` is the per-array-axis downsampling factor relative to the base.
    """
    shape = tuple(int(n) for n in source.shape)
    dtype = np.dtype(source.dtype)
    method = "mode" if is_seg else "mean"
    plan = plan_levels(shape, spatial_axes, min_size=min_size, max_levels=max_levels)
    shapes = [level_shape(shape, f) for f in plan]
    total = sum(math.prod(s) for s in shapes) * dtype.itemsize
    done = 0
    _report(progress, done, total)

    levels = []
    previous: PyramidSource = source
    previous_factors: tuple[int, ...] = (1,) * len(shape)
    for k, (factors, out_shape) in enumerate(zip(plan, shapes), start=1):
        step = tuple(c // p for c, p in zip(factors, previous_factors))
        out = make_level(k, out_shape, dtype)
        tile = _output_tile_shape(out, out_shape, step, dtype, method, chunk_shape, budget_bytes)
        for out_slices in iter_chunk_slices(out_shape, tile):
            in_slices = _input_region(out_slices, step, previous.shape)
            out[out_slices] = downsample_block(np.asarray(previous[in_slices]), step, method)
            done += math.prod(s.stop - s.start for s in out_slices) * dtype.itemsize
            _report(progress, done, total)
        levels.append({"level": k, "shape": list(out_shape),
                       "scale": [float(f) for f in factors], "method": method})
        previous, previous_factors = out, factors
    return levels


def _output_tile_shape(out: PyramidLevel, out_shape: tuple[int, ...], step: tuple[int, ...], dtype: np.dtype,
                       method: str, chunk_shape: Sequence[int] | None, budget_bytes: int) -> tuple[int, ...]:
    """Tile of the output level whose input region (``step`` times larger) fits the budget."""
    if chunk_shape is not None:
        _check_factors(chunk_shape, len(out_shape), field="chunk_shape")
        # Even read extents along halved axes keep every cell inside one read.
        return tuple(max(1, int(c) // s) for c, s in zip(chunk_shape, step))
    cell = math.prod(step)
    # Bytes per *input* voxel while a tile is processed: the voxel itself plus, for
    # "mean", the float64 copy np.add.reduceat makes and its partial sums (measured
    # <= 16 B), and for "mode", a padded copy, masks and counters (measured <= ~10 B).
    per_input_voxel = dtype.itemsize + (16 if method == "mean" else dtype.itemsize + 8)
    return working_chunk_shape(out_shape, per_input_voxel * cell,
                               getattr(out, "chunks", None), budget_bytes)


def _input_region(out_slices: tuple[slice, ...], step: tuple[int, ...], in_shape: Sequence[int]) -> tuple[slice, ...]:
    """The previous-level region that ``out_slices`` is computed from (clipped at the end)."""
    return tuple(slice(s.start * f, min(s.stop * f, int(n)))
                 for s, f, n in zip(out_slices, step, in_shape))


def _report(progress: Callable[[int, int], None] | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


# --------------------------------------------------------------------------- validation


def _normalise_spatial_axes(spatial_axes: Sequence[int], ndim: int) -> tuple[int, ...]:
    try:
        axes = tuple(int(a) for a in spatial_axes)
    except (TypeError, ValueError):
        raise MetadataError("spatial_axes", spatial_axes, "must be a sequence of axis indices") from None
    if any(not -ndim <= a < ndim for a in axes):
        raise MetadataError("spatial_axes", spatial_axes, f"has an axis outside a {ndim}-d array",
                            f"use indices in [-{ndim}, {ndim})")
    axes = tuple(a % ndim for a in axes)
    if len(set(axes)) != len(axes):
        raise MetadataError("spatial_axes", spatial_axes, "lists an axis twice")
    return axes


def _check_factors(factors: Sequence[int], ndim: int, field: str = "factors") -> tuple[int, ...]:
    factors = tuple(int(f) for f in factors)
    if len(factors) != ndim or any(f < 1 for f in factors):
        raise MetadataError(field, factors, f"must be {ndim} positive integers, one per array axis")
    return factors
