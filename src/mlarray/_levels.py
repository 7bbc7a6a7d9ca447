"""Lazy per-level arrays: what viewers (napari) and patch samplers slice.

Level 0 is the base array (memory-mapped from the file); higher levels are NDArray cframes
stored in the file's vlmeta, decoded on first access only.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

__all__ = ["LevelArray"]


class LevelArray:
    """A read-only, lazily loaded array: ``shape``, ``dtype``, ``ndim``, ``__getitem__`` -> numpy."""

    def __init__(self, shape: Sequence[int], dtype, scale: Sequence[float], loader: Callable[[], object],
                 level: int = 0, chunks: Optional[Sequence[int]] = None) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.scale = tuple(float(s) for s in scale)
        self.level = level
        self.chunks = None if chunks is None else tuple(chunks)
        self._loader = loader
        self._array = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def _get(self):
        if self._array is None:
            self._array = self._loader()
            if self.chunks is None and hasattr(self._array, "chunks"):
                self.chunks = tuple(self._array.chunks)
        return self._array

    def __getitem__(self, key) -> np.ndarray:
        out = self._get()[key]
        return np.asarray(out)

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self._get()[...])
        return out if dtype is None else out.astype(dtype, copy=False)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"LevelArray(level={self.level}, shape={self.shape}, dtype={self.dtype}, scale={self.scale})"
