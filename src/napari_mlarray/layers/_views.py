"""Lazy, dask-free axis views over the file's per-level arrays.

napari slices a layer along its *data* axes, so a layer whose data axes run in a different order
than the world axes cannot be sliced correctly (napari warns about "non-orthogonal slicing").
The reader therefore hands napari an :class:`AxisView`: the file's level array with its axes
permuted to world order and, for channel files, one channel picked. Nothing is read until napari
slices the view, and then only the requested region of the underlying level.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from napari_mlarray.layers import _slabs

__all__ = ["AxisView", "EditableAxisView"]

_Key = list[Union[int, slice]]  # one integer or step slice per view axis


class AxisView:
    """``base`` with its axes reordered to ``order`` and the axes in ``fixed`` held at one index.

    ``order`` lists the base axes in view order (every base axis not in ``fixed`` exactly once).
    """

    def __init__(self, base: Any, order: Sequence[int], fixed: Optional[Mapping[int, int]] = None,
                 window: Optional[Sequence[tuple[int, int]]] = None) -> None:
        self.base = base
        self.fixed = {int(k): int(v) for k, v in (fixed or {}).items()}
        self.order = tuple(int(a) for a in order)
        nbase = len(base.shape)
        if sorted(self.order + tuple(self.fixed)) != list(range(nbase)):
            raise ValueError(f"order {self.order} and fixed axes {sorted(self.fixed)} must cover "
                             f"the {nbase} axes of the array exactly once")
        # window: the (start, stop) range of the base seen along each view axis
        self.window = (tuple((0, int(base.shape[a])) for a in self.order) if window is None
                       else tuple((int(a), int(b)) for a, b in window))
        self.shape = tuple(b - a for a, b in self.window)
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
    def is_full(self) -> bool:
        """True when the view covers the whole base array (apart from fixed axes)."""
        return all(w == (0, int(self.base.shape[a])) for w, a in zip(self.window, self.order))

    @property
    def is_identity(self) -> bool:
        return not self.fixed and self.is_full and self.order == tuple(range(len(self.order)))

    def __len__(self) -> int:
        return self.shape[0]

    def _normalize(self, key: Any) -> _Key:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = self.ndim - (len(key) - 1)
            key = key[:i] + (slice(None),) * fill + key[i + 1:]
        key = list(key) + [slice(None)] * (self.ndim - len(key))
        if len(key) != self.ndim:
            raise IndexError(f"too many indices for an array of {self.ndim} dimensions")
        out: _Key = []
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

    def __getitem__(self, key: Any) -> Union[AxisView, np.ndarray]:
        """numpy for keys with an integer; a lazy sub-view for step-1 slices on every axis.

        napari's multiscale slicing first cuts the displayed region with ``slice(None)`` on the
        other axes and picks the plane afterwards (fine for dask, a full read for an eager
        array), so all-slice keys must stay lazy; ``np.asarray`` materialises them.
        """
        key = self._normalize(key)
        if all(isinstance(k, slice) and k.step in (None, 1) for k in key):
            win = []
            for k, (a, b) in zip(key, self.window):
                start, stop, _ = k.indices(b - a)
                win.append((a + start, a + max(start, stop)))
            return AxisView(self.base, self.order, self.fixed, win)
        return self._read(key)

    def _read(self, key: _Key) -> np.ndarray:
        # shift the view-relative key into base coordinates
        shifted: _Key = []
        for k, (a, b) in zip(key, self.window):
            if isinstance(k, int):
                shifted.append(a + k)
            else:
                start, stop, step = k.indices(b - a)
                shifted.append(slice(a + start, a + max(start, stop) if step > 0 else a + stop, step))
        key = shifted
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
        out = _slabs.read(self.base, tuple(base_key))
        if any(s is not None for s in steps):
            kept = [a for a in range(len(base_key)) if not isinstance(base_key[a], int)]
            out = out[tuple(slice(None, None, steps[a]) for a in kept)]
        kept = [a for a in range(len(base_key)) if not isinstance(base_key[a], int)]
        want = [a for k, a in zip(key, self.order) if not isinstance(k, int)]
        if kept != want:
            out = out.transpose([kept.index(a) for a in want])
        return out

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        out = self._read(self._normalize(Ellipsis))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"AxisView({self.base!r}, order={self.order}, fixed={self.fixed}, shape={self.shape})"


class EditableAxisView(AxisView):
    """An :class:`AxisView` that napari's Labels tools can paint into.

    Reads stay lazy until the first edit (or a fancy-indexed read, which napari's brush makes
    before writing); then the whole base array is read into memory once and every later read and
    write goes to that copy. The file is never written: saving the layer writes the edited copy,
    because the writer takes the view's ``base``. Copies share nothing with the view they came from.
    """

    @property
    def in_memory(self) -> bool:
        return isinstance(self.base, np.ndarray)

    def _materialize(self) -> np.ndarray:
        if not self.in_memory:
            full = tuple(slice(None) for _ in self.base.shape)
            data = np.asarray(self.base[full])  # one read of the whole level; edits go here from now on
            self.base = data if data.flags.writeable else data.copy()
        kept = sorted(self.order)
        b = self.base[tuple(self.fixed.get(a, slice(None)) for a in range(self.base.ndim))]
        b = b.transpose([kept.index(a) for a in self.order])
        return b[tuple(slice(a, z) for a, z in self.window)]

    levels: Sequence[Any] = ()  # the file's pyramid levels (base first), when the reader knows them

    def __getitem__(self, key: Any) -> Union[AxisView, np.ndarray]:
        if self.in_memory or _is_fancy(key):
            return self._materialize()[key]
        out = super().__getitem__(key)
        if isinstance(out, AxisView):
            out = EditableAxisView(out.base, out.order, out.fixed, out.window)
        return out

    def __setitem__(self, key: Any, value: Any) -> None:
        self._materialize()[key] = value

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        if not self.in_memory:
            return super().__array__(dtype, copy)
        out = self._materialize()
        return out if dtype is None else out.astype(dtype, copy=False)


def _is_fancy(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, (np.ndarray, list)) for k in keys)
