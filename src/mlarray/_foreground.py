"""Where the foreground of a label file lies: the locations :class:`~mlarray.training.PatchSampler` centres
foreground patches on, from the segmentation itself, its stored boxes (``meta.bbox``) or a coarse pyramid level.

Each function takes a path and returns plain arrays; :mod:`mlarray.training` exports them.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Optional, Sequence

import numpy as np

from ._array import MLArray
from ._data.chunks import iter_chunk_slices, working_chunk_shape
from ._errors import SamplingTypeError
from ._frameworks._geometry import array_shape
from ._types import PathLike

__all__ = ["find_foreground", "foreground_from_bbox", "foreground_from_level"]


def find_foreground(path: PathLike, *, classes: Optional[Sequence[int]] = None, max_per_class: int = 2000,
                    seed: int = 0, budget_bytes: int = 4 * 2**20) -> dict[int, np.ndarray]:
    """Foreground voxel locations of a segmentation file, per class, from one streamed scan.

    Reads the label array once, block by block (blocks are whole storage chunks, so every
    compressed chunk is decompressed once; labels compress very well, so this is cheap), and keeps
    a uniform random subset of at most ``max_per_class`` locations per class (priority sampling:
    every class present gets at least one location, however small). Non-spatial axes are reduced
    with ``max``. Returns ``{class_id: int32 array (k, spatial_ndim)}`` in base-array index units;
    class 0 (background) is never listed; ``classes`` restricts the search.
    """

    img = MLArray.open(path, mmap_mode="r")
    shape = array_shape(img, path)
    if np.dtype(img.dtype).kind not in "biu":
        raise SamplingTypeError(f"{path}: foreground search needs an integer or bool label array, got {img.dtype}; "
                                "pass the segmentation as `labels=` or use foreground='bbox' or None")
    axes = img.spatial_axes
    other = tuple(i for i in range(len(shape)) if i not in axes)
    wanted = None if classes is None else {int(c) for c in classes}
    rng = np.random.default_rng([int(seed), _stable_hash(os.path.abspath(os.fspath(path)))])
    kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # class -> (coords, priority keys)
    work = working_chunk_shape(shape, 4 * np.dtype(img.dtype).itemsize + 8, img.chunks, budget_bytes)
    for sl in iter_chunk_slices(shape, work):
        block = np.asarray(img[sl])
        if other:
            block = block.max(axis=other)
        if not block.any():
            continue
        offset = np.array([sl[a].start for a in axes], dtype=np.int64)
        present = np.unique(block)
        for c in present.tolist():
            c = int(c)
            if c == 0 or (wanted is not None and c not in wanted):
                continue
            coords = np.argwhere(block == c).astype(np.int64) + offset
            keys = rng.random(len(coords))
            if c in kept:
                coords = np.concatenate([kept[c][0], coords])
                keys = np.concatenate([kept[c][1], keys])
            if len(coords) > max_per_class:
                top = np.argpartition(keys, max_per_class - 1)[:max_per_class]
                coords, keys = coords[top], keys[top]
            kept[c] = (coords, keys)
    return {c: kept[c][0].astype(np.int32) for c in sorted(kept)}


def foreground_from_bbox(path: PathLike) -> dict[Any, np.ndarray]:
    """The boxes of ``meta.bbox`` grouped by label: ``{label: float array (n, spatial_ndim, 2)}``.

    Boxes without labels are grouped under ``1``.
    """

    meta = MLArray.open(path, mmap_mode="r").meta
    boxes = meta.bbox.bboxes or []
    labels = meta.bbox.labels or [1] * len(boxes)
    out: dict[Any, list[Any]] = {}
    for box, lab in zip(boxes, labels):
        out.setdefault(lab, []).append(box)
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def foreground_from_level(path: PathLike, *, level: int = -1, max_per_class: int = 2000,
                          seed: int = 0) -> dict[int, np.ndarray]:
    """Approximate foreground locations from a stored pyramid level (default: the coarsest).

    Decodes only that small level (mode-downsampled labels), and maps each foreground voxel to the
    centre of the base-array region it summarises. Much cheaper than :func:`find_foreground` for
    large volumes, but structures smaller than the level's voxel can be missed and a centre may
    fall just outside a thin structure. Files without a pyramid use the base array (exact).
    """

    img = MLArray.open(path, mmap_mode="r")
    shape = array_shape(img, path)
    levels = img.levels
    lv = levels[level]
    if lv.level == 0:
        return find_foreground(path, max_per_class=max_per_class, seed=seed)
    arr = np.asarray(lv[...])
    axes = img.spatial_axes
    other = tuple(i for i in range(len(shape)) if i not in axes)
    if other:
        arr = arr.max(axis=other)
    scale = np.array([lv.scale[a] for a in axes])
    limit = np.array([shape[a] - 1 for a in axes])
    rng = np.random.default_rng([int(seed), _stable_hash(os.path.abspath(os.fspath(path)))])
    out: dict[int, np.ndarray] = {}
    for c in np.unique(arr).tolist():
        if c == 0:
            continue
        coords = np.argwhere(arr == c)
        if len(coords) > max_per_class:
            coords = coords[rng.choice(len(coords), max_per_class, replace=False)]
        base = np.minimum(np.floor((coords + 0.5) * scale), limit)
        out[int(c)] = base.astype(np.int32)
    return out


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
