"""Writing a region of a file-backed Blosc2 NDArray without python-blosc2's index bookkeeping.

``store[region] = block`` runs ``blosc2.indexing.mark_indexes_stale`` (python-blosc2 4.14) after
C-Blosc2 writes the slice. That bookkeeping remembers every file path it sees in a process-wide
cache that is not emptied while the file's folder exists, and it checks every entry on each later
write. Every save writes through a fresh temporary path, so each write cost grew with the number
of files the process had saved before (benchmarks/save_many.py; figures in docs/benchmarks.md): a
long-lived dask worker converting a dataset slowed down quadratically.
A file mlarray is writing carries no Blosc2 indexes, so there is nothing to mark stale. We call the
extension type's ``set_slice`` directly, which is the call ``__setitem__`` makes after its
bookkeeping, with the same bytes and the same C path. In-place writes (``mmap_mode="r+"``) take
the same route for basic keys unless the file does carry Blosc2 indexes.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from .._types import Store
from .chunks import expand_key

__all__ = ["write_region", "set_basic"]


def write_region(store: Store, region: tuple[slice, ...], block: np.ndarray) -> None:
    """``store[region] = block`` for unit-step slices and a C-contiguous ``block`` of ``store.dtype``."""
    set_slice = _extension_set_slice()
    if set_slice is None or store.ndim == 0:
        store[region] = block
        return
    start = tuple(0 if sl.start is None else sl.start for sl in region)
    stop = tuple(n if sl.stop is None else sl.stop for sl, n in zip(region, store.shape))
    set_slice(store, (start, stop), block)


def _extension_set_slice() -> Optional[Callable[..., None]]:
    import blosc2

    ext = getattr(getattr(blosc2, "blosc2_ext", None), "NDArray", None)
    return getattr(ext, "set_slice", None)


def set_basic(store: Store, key: Any, value: Any) -> bool:
    """``store[key] = value`` for basic keys (ints, unit-step slices, one Ellipsis) without the
    index bookkeeping; returns False, writing nothing, for any other key or when the file carries
    Blosc2 indexes (whose staleness that bookkeeping exists to record).

    numpy's rules hold: negative indices count from the end, an int out of range raises
    IndexError, ``value`` broadcasts to the region and is cast to the array's dtype.
    """
    region = _basic_region(key, store.shape)
    if region is None or _extension_set_slice() is None or _has_blosc2_indexes(store):
        return False
    slices, dropped = region
    shape = tuple(s.stop - s.start for s in slices)
    try:
        block = np.broadcast_to(np.asarray(value), _kept(shape, dropped))
    except ValueError:
        return False  # numpy's own rules (and error message) apply on the general path
    if 0 not in shape:
        block = np.ascontiguousarray(block.astype(store.dtype, copy=False).reshape(shape))
        write_region(store, slices, block)
    return True


def _kept(shape: tuple[int, ...], dropped: set[int]) -> tuple[int, ...]:
    return tuple(n for i, n in enumerate(shape) if i not in dropped)


def _basic_region(key: Any, shape: tuple[int, ...]) -> "tuple[tuple[slice, ...], set[int]] | None":
    """(unit-step slices covering the region, axes indexed by an int) or None if not basic."""
    full = expand_key(key, len(shape))
    if full is None:
        return None  # let numpy / Blosc2 raise their own error
    slices: list[slice] = []
    dropped: set[int] = set()
    for axis, (k, n) in enumerate(zip(full, shape)):
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step != 1:
                return None
            slices.append(slice(start, max(start, stop)))
        elif isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            i = int(k) + n if k < 0 else int(k)
            if not 0 <= i < n:
                raise IndexError(f"index {int(k)} is out of bounds for axis {axis} with size {n}")
            slices.append(slice(i, i + 1))
            dropped.add(axis)
        else:
            return None
    return tuple(slices), dropped


def _has_blosc2_indexes(store: Store) -> bool:
    try:
        return "blosc2_indexes" in store.schunk.vlmeta
    except Exception:  # unreadable metadata: take the general path, which reports it
        return True
