"""Tiling helpers for streaming over arrays that must never be loaded whole.

Both :mod:`mlarray.stats` and :mod:`mlarray.pyramid` walk an array block by block. The
blocks come from :func:`working_chunk_shape`, which keeps one block under a byte budget
and, when the source is a blosc2 NDArray, aligns blocks with its storage chunks so that
every compressed chunk is decompressed once rather than once per overlapping block.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

from .._errors import MetadataError

__all__ = ["iter_chunk_slices", "working_chunk_shape", "expand_key", "DEFAULT_BUDGET_BYTES"]

DEFAULT_BUDGET_BYTES = 64 * 2**20


def iter_chunk_slices(shape: Sequence[int], chunk_shape: Sequence[int]) -> Iterator[tuple[slice, ...]]:
    """Yield tuples of slices that tile an array of ``shape`` in C order.

    Edge blocks are clipped to the array. An array with a zero-length axis yields nothing;
    a 0-d array yields one empty tuple (``a[()]`` selects its only element).
    """
    shape = tuple(int(n) for n in shape)
    chunk_shape = _check_chunk_shape(shape, chunk_shape)
    starts = [range(0, n, c) for n, c in zip(shape, chunk_shape)]
    for corner in itertools.product(*starts):
        yield tuple(slice(s, min(s + c, n)) for s, c, n in zip(corner, chunk_shape, shape))


def working_chunk_shape(
    shape: Sequence[int],
    itemsize: int,
    chunks: Sequence[int] | None = None,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
) -> tuple[int, ...]:
    """Return a block shape for streaming over ``shape`` with blocks of at most ``budget_bytes``.

    ``itemsize`` is the cost in bytes of one element (callers inflate it to cover
    temporaries, e.g. a float64 working copy). With storage ``chunks`` (blosc2
    ``NDArray.chunks``) the block is a whole multiple of them, grown from the last axis
    to the first: trailing axes are covered completely before a leading axis takes
    several chunks, so the block is a slab of whole chunks along the leading axes and
    contiguous in C order. Without ``chunks``, or when a single chunk already exceeds the
    budget, the same growth starts from single elements, which gives slabs along axis 0
    (or thinner slices if one axis-0 slice is over budget). Always at least one element.
    """
    shape = tuple(int(n) for n in shape)
    if itemsize <= 0:
        raise MetadataError("itemsize", itemsize, "must be a positive number of bytes")
    if budget_bytes <= 0:
        raise MetadataError("budget_bytes", budget_bytes, "must be positive",
                            "pass a memory budget in bytes, e.g. 64 * 2**20")
    unit = _chunk_unit(shape, chunks)
    if math.prod(unit) * itemsize > budget_bytes:
        unit = (1,) * len(shape)
    return _grow_from_last_axis(shape, unit, budget_bytes // itemsize)


def _chunk_unit(shape: tuple[int, ...], chunks: Sequence[int] | None) -> tuple[int, ...]:
    """Storage chunks clipped to the array, or single elements when there are none."""
    if chunks is None:
        return (1,) * len(shape)
    chunks = tuple(int(c) for c in chunks)
    # Blosc2 gives zero-length axes a chunk of 0; only axes that hold data need positive chunks.
    if len(chunks) != len(shape) or any(c < 1 for c, n in zip(chunks, shape) if n > 0):
        raise MetadataError("chunks", chunks, f"must be {len(shape)} positive integers",
                            "pass the source's blosc2 .chunks or None")
    return tuple(max(1, min(c, n)) for c, n in zip(chunks, shape))


def _grow_from_last_axis(shape: tuple[int, ...], unit: tuple[int, ...], max_items: int) -> tuple[int, ...]:
    """Multiply ``unit`` axis by axis, last axis first, while the block fits ``max_items``."""
    block = list(unit)
    for axis in reversed(range(len(shape))):
        others = math.prod(block) // block[axis]
        n_units = math.ceil(shape[axis] / unit[axis]) if shape[axis] else 1
        fitting = max(1, max_items // max(1, others * unit[axis]))
        block[axis] = max(1, min(shape[axis], unit[axis] * min(n_units, fitting)))
        if fitting < n_units:
            break  # this axis is only partly covered; leading axes must stay one unit thick
    return tuple(block)


def _check_chunk_shape(shape: tuple[int, ...], chunk_shape: Sequence[int]) -> tuple[int, ...]:
    chunk_shape = tuple(int(c) for c in chunk_shape)
    if len(chunk_shape) != len(shape) or any(c < 1 for c in chunk_shape):
        raise MetadataError("chunk_shape", chunk_shape,
                            f"must be {len(shape)} positive integers, one per array axis",
                            "use working_chunk_shape() to derive one")
    return chunk_shape


def expand_key(key: Any, ndim: int) -> "tuple | None":
    """An indexing key as a tuple of exactly ``ndim`` entries: its one Ellipsis expanded and
    missing trailing axes filled with ``slice(None)``. None when it names more axes than ``ndim``
    or holds several Ellipses (numpy then raises its own error on the general path)."""
    key = key if isinstance(key, tuple) else (key,)
    at = [i for i, k in enumerate(key) if k is Ellipsis]
    if len(at) > 1:
        return None
    if at:
        key = key[:at[0]] + (slice(None),) * (ndim - len(key) + 1) + key[at[0] + 1:]
    if len(key) > ndim:
        return None
    return key + (slice(None),) * (ndim - len(key))
