"""Lazy, dask-free axis views over the file's per-level arrays.

napari slices a layer along its *data* axes, so a layer whose data axes run in a different order
than the world axes cannot be sliced correctly (napari warns about "non-orthogonal slicing").
The reader therefore hands napari an :class:`AxisView`: the file's level array with its axes
permuted to world order and, for channel files, one channel picked. Nothing is read until napari
slices the view, and then only the requested region of the underlying level.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

__all__ = ["AxisView"]


class AxisView:
    """``base`` with its axes reordered to ``order`` and the axes in ``fixed`` held at one index.

    ``order`` lists the base axes in view order (every base axis not in ``fixed`` exactly once).
    """

    def __init__(self, base, order: Sequence[int], fixed: Optional[Mapping[int, int]] = None) -> None:
        self.base = base
        self.fixed = {int(k): int(v) for k, v in (fixed or {}).items()}
        self.order = tuple(int(a) for a in order)
        nbase = len(base.shape)
        if sorted(self.order + tuple(self.fixed)) != list(range(nbase)):
            raise ValueError(f"order {self.order} and fixed axes {sorted(self.fixed)} must cover "
                             f"the {nbase} axes of the array exactly once")
        self.shape = tuple(int(base.shape[a]) for a in self.order)
        self.dtype = np.dtype(base.dtype)
        chunks = getattr(base, "chunks", None)
        self.chunks = None if chunks is None else tuple(chunks[a] for a in self.order)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def is_identity(self) -> bool:
        return not self.fixed and self.order == tuple(range(len(self.order)))

    def __len__(self) -> int:
        return self.shape[0]

    def _normalize(self, key) -> list:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = self.ndim - (len(key) - 1)
            key = key[:i] + (slice(None),) * fill + key[i + 1:]
        key = list(key) + [slice(None)] * (self.ndim - len(key))
        if len(key) != self.ndim:
            raise IndexError(f"too many indices for an array of {self.ndim} dimensions")
        out = []
        for k, n in zip(key, self.shape):
            if isinstance(k, (int, np.integer)):
                k = int(k)
                if k < 0:
                    k += n
                if not 0 <= k < n:
                    raise IndexError(f"index {k} is out of bounds for an axis of size {n}")
            elif not isinstance(k, slice):
                raise TypeError(f"AxisView supports integer and slice indices only, got {type(k).__name__}")
            out.append(k)
        return out

    def __getitem__(self, key) -> np.ndarray:
        key = self._normalize(key)
        base_key: list = [None] * len(self.base.shape)
        steps: list = [None] * len(self.base.shape)
        for a, i in self.fixed.items():
            base_key[a] = i
        for k, a in zip(key, self.order):
            if isinstance(k, slice) and k.step not in (None, 1):
                # Read the covering range with step 1 and subsample here: not every backend steps.
                start, stop, step = k.indices(self.base.shape[a])
                if step < 0:
                    raise IndexError("AxisView does not support negative slice steps")
                base_key[a] = slice(start, max(start, stop))
                steps[a] = step
            else:
                base_key[a] = k
        out = np.asarray(self.base[tuple(base_key)])
        if any(s is not None for s in steps):
            kept = [a for a in range(len(base_key)) if not isinstance(base_key[a], int)]
            out = out[tuple(slice(None, None, steps[a]) for a in kept)]
        kept = [a for a in range(len(base_key)) if not isinstance(base_key[a], int)]
        want = [a for k, a in zip(key, self.order) if not isinstance(k, int)]
        if kept != want:
            out = out.transpose([kept.index(a) for a in want])
        return out

    def __array__(self, dtype=None, copy=None):
        out = self[...]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"AxisView({self.base!r}, order={self.order}, fixed={self.fixed})"
