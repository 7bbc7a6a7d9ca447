"""Planes read through a small cache of decoded, chunk-aligned slabs of a file's level.

Why: a viewer scrolling through a volume reads one plane per step, and Blosc2 decodes every chunk
the plane crosses to return it; the next plane lies in the same chunks (a chunk of a CT level is
32-64 planes thick), so each step decoded them again. napari also reads every plane twice: the
slice it draws and, for a multiscale layer, the same plane of the coarsest level for the layer's
thumbnail (the same read when the view shows that level, as the orthogonal views do). Reading the
chunk-aligned slab once costs about 1.25x one plane at a view's level (measured on the 1024³
benchmark CT: 4.8 vs 3.9 ms for a coronal plane) and serves the next 32-64 planes from memory.

Bounded: a slab is cached only up to ``SLAB_BYTES`` (a larger one would cost more to decode than
the plane saves, and memory), all slabs together up to ``BUDGET_BYTES``, least recently used first
out; a level's slabs go when the level is closed. Only reads of an open file's level go through
here: a layer whose data are in memory (painted labels) is read directly.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import OrderedDict
from typing import Any, Optional

import numpy as np

__all__ = ["BUDGET_BYTES", "SLAB_BYTES", "read"]

SLAB_BYTES = 16 << 20
BUDGET_BYTES = 48 << 20
MIN_PLANE_BYTES = 4096  # smaller reads (the status bar's voxel under the cursor) are cheap as they are

_lock = threading.Lock()  # napari's async slicing reads from a worker thread
_slabs: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
_tokens: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()
_count = itertools.count()
_held = 0


def read(base: Any, key: tuple) -> np.ndarray:
    """``np.asarray(base[key])`` for a key of integers and step-1 slices, from a cached slab when one holds it."""
    plan = _plan(base, key)
    if plan is None:
        return np.asarray(base[key])
    key, token, axis, start, slab_key = plan
    name = (token, _hashable(slab_key))  # the slab's region of that level
    with _lock:
        slab = _slabs.get(name)
        if slab is not None:
            _slabs.move_to_end(name)
    if slab is None:
        slab = np.asarray(base[slab_key])
        _keep(name, slab)
    k = key[axis]
    index = k - start if isinstance(k, int) else slice(k.start - start, k.start - start + 1)  # napari: i:i+1
    cut = tuple(index if a == _axis_in(slab_key, axis) else slice(None) for a in range(slab.ndim))
    # a copy: the caller may keep or change it, and the slab stays as read
    return np.array(slab[cut])


def _plan(base: Any, key: tuple) -> Optional[tuple]:
    """(bounded key, token, axis, slab start, slab key) for a plane read worth a slab, else None."""
    if isinstance(base, np.ndarray) or not all(
            isinstance(k, int) or (isinstance(k, slice) and k.step in (None, 1)) for k in key):
        return None
    chunks = _chunks(base)
    if chunks is None or len(chunks) != len(key):
        return None
    key = tuple(_bounds(k, n) for k, n in zip(key, base.shape))
    # the plane's normal: an integer, or the one-wide slice napari reads a plane with
    flat = [a for a, k in enumerate(key) if isinstance(k, int) or k.stop - k.start == 1]
    if not flat:
        return None
    axis = max(flat, key=lambda a: chunks[a])  # the flat axis whose chunks hold the most planes
    if chunks[axis] <= 1:
        return None
    plane = np.dtype(base.dtype).itemsize
    for a, k in enumerate(key):
        if isinstance(k, slice) and a != axis:
            plane *= max(k.stop - k.start, 0)
    at = key[axis] if isinstance(key[axis], int) else key[axis].start
    start = at // chunks[axis] * chunks[axis]
    stop = min(start + chunks[axis], base.shape[axis])
    if plane < MIN_PLANE_BYTES or plane * (stop - start) > SLAB_BYTES:
        return None
    try:
        token = _token(base)
    except TypeError:  # not weak-referenceable: no cache (nothing could tell when to drop it)
        return None
    slab_key = tuple(slice(start, stop) if a == axis else k for a, k in enumerate(key))
    return key, token, axis, start, slab_key


def _bounds(k: Any, n: int) -> Any:
    if isinstance(k, int):
        return k
    lo, hi, _ = k.indices(n)
    return slice(lo, max(lo, hi))


def _chunks(base: Any) -> Optional[tuple]:
    shape = getattr(base, "chunk_shape", None)
    chunks = shape() if callable(shape) else getattr(base, "chunks", None)
    return None if chunks is None else tuple(int(c) for c in chunks)


def _token(base: Any) -> int:
    with _lock:
        token = _tokens.get(base)
        if token is None:
            token = _tokens[base] = next(_count)
            weakref.finalize(base, _drop, token)
    return token


def _keep(name: tuple, slab: np.ndarray) -> None:
    global _held
    if slab.nbytes > BUDGET_BYTES:
        return
    with _lock:
        if name in _slabs:
            return
        _slabs[name] = slab
        _held += slab.nbytes
        while _held > BUDGET_BYTES:
            _, old = _slabs.popitem(last=False)
            _held -= old.nbytes


def _drop(token: int) -> None:
    global _held
    with _lock:
        for name in [n for n in _slabs if n[0] == token]:
            _held -= _slabs.pop(name).nbytes


def _axis_in(key: tuple, axis: int) -> int:
    """The position of base axis ``axis`` in the array ``base[key]`` (integers drop their axes)."""
    return sum(1 for k in key[:axis] if not isinstance(k, int))


def _hashable(key: tuple) -> tuple:
    return tuple((k.start, k.stop) if isinstance(k, slice) else k for k in key)


def held_bytes() -> int:
    """Bytes of slabs held now (for tests and benchmarks)."""
    with _lock:
        return _held
