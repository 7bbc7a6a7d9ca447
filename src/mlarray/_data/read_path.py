"""The read path of a memory-mapped ``.mla`` array for basic keys (ints and unit-step slices).

``NDArray.__getitem__`` (python-blosc2 4.14) does a lot of Python work before C-Blosc2 decodes
anything: SWMR shape refresh, LazyExpr/str/bool/fancy-key dispatch, ``ndindex`` key processing,
numpy shape arithmetic. For a training loader that opens a file, reads one small patch and closes
it, that work is as large as the decode itself (docs/benchmarks.md, open → first-chunk profile).
For the keys loaders use, all of that reduces to one start/stop pair,
so this module parses the key once and calls the extension type's ``get_slice_numpy`` - the call
``__getitem__`` ends in, with the same C path (``b2nd_get_slice_cbuffer``) and the same bytes. The
same parsed region gives the chunk verifier the chunks the read touches (``chunk_ids``).

Anything else (fancy or stepped keys, empty selections, ``None`` axes) returns None from
:func:`plan` and takes ``NDArray.__getitem__`` with numpy's rules and errors.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, NamedTuple, Optional, Sequence, Union

import numpy as np

from .._types import Store
from .chunks import expand_key

__all__ = ["Region", "plan", "read", "chunk_ids"]


class Region(NamedTuple):
    start: tuple
    stop: tuple
    shape: tuple  # the shape of the result (axes indexed by an int dropped)


def plan(key: Any, shape: Sequence[int]) -> Optional[Region]:
    """The region a basic, non-empty key selects, or None for every other key."""
    keys: tuple = key if isinstance(key, tuple) else (key,)
    if any(k is None for k in keys):
        return None  # new axes: the general path
    if any(k is Ellipsis for k in keys):
        expanded = expand_key(keys, len(shape))
        if expanded is None:
            return None
        keys = expanded
    ndim = len(shape)
    if not ndim or len(keys) > ndim:
        return None
    start: list[int] = []
    stop: list[int] = []
    out: list[int] = []
    for axis, n in enumerate(shape):
        k = keys[axis] if axis < len(keys) else _ALL
        if k.__class__ is slice:
            try:
                a, b, step = k.indices(n)
            except TypeError:
                return None
            if step != 1 or b <= a:
                return None
            start.append(a)
            stop.append(b)
            out.append(b - a)
        elif isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            i = int(k)
            i += n if i < 0 else 0
            if not 0 <= i < n:
                return None  # IndexError with numpy's message on the general path
            start.append(i)
            stop.append(i + 1)
        else:
            return None
    return Region(tuple(start), tuple(stop), tuple(out))


_ALL = slice(None)


def _extension_get_slice() -> Optional[Callable[..., None]]:
    import blosc2

    ext = getattr(getattr(blosc2, "blosc2_ext", None), "NDArray", None)
    return getattr(ext, "get_slice_numpy", None)


_GET_SLICE: Union[None, Literal[False], Callable[..., None]] = None  # False: this blosc2 has no such method


def _ext_class() -> type:
    import blosc2

    return blosc2.blosc2_ext.NDArray


def read(store: Store, region: Region) -> np.ndarray:
    """``store[key]`` for the key ``region`` was planned from (a new C-contiguous array)."""
    global _GET_SLICE
    if _GET_SLICE is None:
        _GET_SLICE = _extension_get_slice() or False
    full = tuple(b - a for a, b in zip(region.start, region.stop))
    out = np.empty(full, dtype=store.dtype)
    if _GET_SLICE and isinstance(store, _ext_class()):
        _GET_SLICE(store, out, (region.start, region.stop))
    else:  # a remote store (mlarray._remote), or a python-blosc2 without the extension method: __getitem__
        out[...] = store[tuple(slice(a, b) for a, b in zip(region.start, region.stop))]
    return out if full == region.shape else out.reshape(region.shape)


def chunk_ids(region: Region, chunks: Sequence[int], grid: Sequence[int]) -> list[int]:
    """Flat (C-order) indices of the chunks ``region`` touches."""
    flat = [0]
    for a, b, c, g in zip(region.start, region.stop, chunks, grid):
        lo, hi = a // c, (b - 1) // c
        if lo == hi:
            flat = [f * g + lo for f in flat]
        else:
            flat = [f * g + j for f in flat for j in range(lo, hi + 1)]
    return flat
