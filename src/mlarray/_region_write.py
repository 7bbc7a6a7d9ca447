"""Writing a region of a file-backed Blosc2 NDArray without python-blosc2's index bookkeeping.

``store[region] = block`` runs ``blosc2.indexing.mark_indexes_stale`` (python-blosc2 4.14) before
and after C-Blosc2 writes the slice. That bookkeeping remembers every file path it sees in a
process-wide cache that is not emptied while the file's folder exists, and it checks every entry on
each later write. Every save writes through a fresh temporary path, so a process that had saved n
files paid about 11 µs x n on its next write: 34 ms for a small file after 3,000 saves, where the
first took 2 ms. A long-lived dask worker converting a dataset slowed down quadratically.
A file mlarray is writing carries no Blosc2 indexes, so there is nothing to mark stale. We call the
extension type's ``set_slice`` directly, which is the call ``__setitem__`` makes after its
bookkeeping, with the same bytes and the same C path.
"""

from __future__ import annotations

import numpy as np

__all__ = ["write_region"]


def write_region(store, region: tuple[slice, ...], block: np.ndarray) -> None:
    """``store[region] = block`` for unit-step slices and a C-contiguous ``block`` of ``store.dtype``."""
    set_slice = _extension_set_slice()
    if set_slice is None or store.ndim == 0:
        store[region] = block
        return
    start = tuple(0 if sl.start is None else sl.start for sl in region)
    stop = tuple(n if sl.stop is None else sl.stop for sl, n in zip(region, store.shape))
    set_slice(store, (start, stop), block)


def _extension_set_slice():
    import blosc2

    ext = getattr(getattr(blosc2, "blosc2_ext", None), "NDArray", None)
    return getattr(ext, "set_slice", None)
