"""Synthetic images for benchmarks, tests, napari sample data and demos.

The CT phantom is built to compress like a real abdominal CT rather than to look
anatomically exact: air outside the body is exactly -1000 HU (a constant run, as
in scanner data after the field-of-view mask), tissue carries seeded gaussian noise
(σ = 15 HU, so the low bits are incompressible as in real scans), and organs have
the usual Hounsfield values. Everything is defined analytically in normalised
coordinates, so any shape works and any z-slab can be generated on its own: a
1024³ volume is streamed slab by slab with :func:`ct_phantom_slab` and the result
is bit-identical to one :func:`ct_phantom` call.

Axis convention: axis 0 runs from the pelvis (0) to the thorax (end), axis 1 is
anterior (low index) to posterior, axis 2 is left to right in the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from ._errors import MetadataError

__all__ = [
    "ct_phantom",
    "ct_phantom_slab",
    "ct_phantom_labels",
    "ct_phantom_labels_slab",
    "phantom_boxes",
    "slide_phantom_tile",
    "PHANTOM_CLASSES",
    "NOISE_SIGMA_HU",
    "SLIDE_SHAPE",
]

NOISE_SIGMA_HU = 15.0
SLIDE_SHAPE = (40000, 40000)

PHANTOM_CLASSES = [
    {"id": 1, "name": "liver", "color": [0.80, 0.35, 0.25, 1.0]},
    {"id": 2, "name": "kidney", "color": [0.95, 0.80, 0.20, 1.0]},
    {"id": 3, "name": "bone", "color": [0.95, 0.95, 0.90, 1.0]},
    {"id": 4, "name": "lung", "color": [0.35, 0.60, 0.95, 1.0]},
]

# Region codes. Every voxel gets exactly one; HU, label and component (for the
# bounding boxes) are lookups on the code, so image, labels and boxes can never
# disagree with each other.
(AIR, FAT, SOFT, LIVER, KIDNEY_L, KIDNEY_R, LUNG_L, LUNG_R, DISC,
 SPINE_IN, SPINE_CORTEX, FEMUR_L_IN, FEMUR_L_CORTEX, FEMUR_R_IN, FEMUR_R_CORTEX) = range(15)

_HU = np.array([-1000, -100, 40, 60, 150, 150, -850, -850, 90,
                700, 1200, 700, 1200, 700, 1200], dtype=np.float32)
_LABEL = np.array([0, 0, 0, 1, 2, 2, 4, 4, 0, 3, 3, 3, 3, 3, 3], dtype=np.uint8)
# Connected organ components (index into _COMPONENT_NAMES + 1; 0 = none).
_COMPONENT = np.array([0, 0, 0, 1, 2, 3, 4, 5, 0, 6, 6, 7, 7, 8, 8], dtype=np.uint8)
_COMPONENT_CLASS = ["liver", "kidney", "kidney", "lung", "lung", "bone", "bone", "bone"]

# Voxels per slab when a whole volume is generated: bounds the float32 temporaries
# to a few tens of MiB whatever the volume size.
_SLAB_VOXELS = 8 * 2**20

_HU_RANGE = (-1000, 1200)


# ----------------------------------------------------------------------------- CT phantom


def ct_phantom(shape: Sequence[int] = (128, 256, 256), seed: int = 0, dtype: DTypeLike = np.int16) -> np.ndarray:
    """CT-like volume in Hounsfield units (see module docstring for the anatomy)."""
    shape = _check_shape(shape)
    out = np.empty(shape, dtype=_check_dtype(dtype))
    for z0, z1 in _slabs(shape):
        out[z0:z1] = ct_phantom_slab(shape, z0, z1, seed=seed, dtype=dtype)
    return out


def ct_phantom_slab(shape: Sequence[int], z0: int, z1: int, seed: int = 0, dtype: DTypeLike = np.int16) -> np.ndarray:
    """Slices ``z0:z1`` (axis 0) of ``ct_phantom(shape, seed, dtype)``, computed on their own."""
    shape = _check_shape(shape)
    dtype = _check_dtype(dtype)
    z0, z1 = _check_slab(shape, z0, z1)
    codes = _region_codes(shape, z0, z1)
    hu = _HU[codes]
    hu += NOISE_SIGMA_HU * _noise(shape, z0, z1, seed)
    # Air stays exactly -1000: constant runs are what makes real CT compress well.
    hu[codes == AIR] = _HU[AIR]
    np.clip(hu, -1024, 3071, out=hu)
    if np.issubdtype(dtype, np.integer):
        np.rint(hu, out=hu)
    return hu.astype(dtype, copy=False)


def ct_phantom_labels(shape: Sequence[int] = (128, 256, 256)) -> np.ndarray:
    """uint8 segmentation aligned with :func:`ct_phantom` (ids as in :data:`PHANTOM_CLASSES`)."""
    shape = _check_shape(shape)
    out = np.empty(shape, dtype=np.uint8)
    for z0, z1 in _slabs(shape):
        out[z0:z1] = ct_phantom_labels_slab(shape, z0, z1)
    return out


def ct_phantom_labels_slab(shape: Sequence[int], z0: int, z1: int) -> np.ndarray:
    """Slices ``z0:z1`` of :func:`ct_phantom_labels`."""
    shape = _check_shape(shape)
    z0, z1 = _check_slab(shape, z0, z1)
    return _LABEL[_region_codes(shape, z0, z1)]


def phantom_boxes(shape: Sequence[int] = (128, 256, 256)) -> tuple[list[list[list[int]]], list[str], list[float]]:
    """Bounding boxes of every labelled organ component of the phantom.

    Returns ``(boxes, labels, scores)``: ``boxes[i][axis] = [min, max]`` inclusive voxel
    indices, ``labels[i]`` the class name, ``scores[i] = 1.0``. Components absent at
    this shape (too small to hit a voxel) are left out. Streams slab by slab.
    """
    shape = _check_shape(shape)
    n = len(_COMPONENT_CLASS)
    lo = np.full((n, 3), np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full((n, 3), -1, dtype=np.int64)
    for z0, z1 in _slabs(shape):
        comp = _COMPONENT[_region_codes(shape, z0, z1)]
        for c in range(n):
            _update_box(comp == c + 1, z0, lo[c], hi[c])
    boxes, labels = [], []
    for c in range(n):
        if hi[c, 0] >= 0:
            boxes.append([[int(lo[c, a]), int(hi[c, a])] for a in range(3)])
            labels.append(_COMPONENT_CLASS[c])
    return boxes, labels, [1.0] * len(boxes)


def _update_box(mask: np.ndarray, z0: int, lo: np.ndarray, hi: np.ndarray) -> None:
    """Grow the running box (lo, hi) to cover ``mask`` (a slab starting at ``z0``)."""
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(mask.any(axis=other))
        if idx.size:
            off = z0 if axis == 0 else 0
            lo[axis] = min(lo[axis], idx[0] + off)
            hi[axis] = max(hi[axis], idx[-1] + off)


def _check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    try:
        shape = tuple(int(n) for n in shape)
    except TypeError:
        raise MetadataError("shape", shape, "must be a sequence of 3 integers", "pass e.g. (128, 256, 256)") from None
    if len(shape) != 3 or any(n < 1 for n in shape):
        raise MetadataError("shape", shape, "must be 3 positive integers", "pass e.g. (128, 256, 256)")
    return shape


def _check_dtype(dtype: DTypeLike) -> np.dtype:
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if info.min > _HU_RANGE[0] or info.max < _HU_RANGE[1]:
            raise MetadataError("dtype", str(dtype), f"cannot hold Hounsfield units {_HU_RANGE}",
                                "use int16, int32 or a float dtype")
    elif not np.issubdtype(dtype, np.floating):
        raise MetadataError("dtype", str(dtype), "must be a signed integer or float dtype", "use int16")
    return dtype


def _check_slab(shape: tuple[int, int, int], z0: int, z1: int) -> tuple[int, int]:
    z0, z1 = int(z0), int(z1)
    if not 0 <= z0 < z1 <= shape[0]:
        raise MetadataError("z0:z1", (z0, z1), f"must satisfy 0 <= z0 < z1 <= {shape[0]}",
                            "pass a non-empty slab inside axis 0")
    return z0, z1


def _slabs(shape: tuple[int, ...]) -> list[tuple[int, int]]:
    """Axis-0 ranges of about ``_SLAB_VOXELS`` voxels each."""
    depth = max(1, _SLAB_VOXELS // max(1, shape[1] * shape[2]))
    return [(z, min(z + depth, shape[0])) for z in range(0, shape[0], depth)]


def _noise(shape: tuple[int, int, int], z0: int, z1: int, seed: int) -> np.ndarray:
    """Standard normal noise, one generator per slice so any slab reproduces the full volume."""
    out = np.empty((z1 - z0, shape[1], shape[2]), dtype=np.float32)
    for z in range(z0, z1):
        np.random.default_rng((int(seed), z)).standard_normal(out=out[z - z0], dtype=np.float32)
    return out


def _coords(shape: tuple[int, int, int], z0: int, z1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised voxel-centre coordinates: z in [0, 1], y and x in [-1, 1]."""
    z = ((np.arange(z0, z1, dtype=np.float32) + 0.5) / shape[0])
    y = (np.arange(shape[1], dtype=np.float32) + 0.5) / shape[1] * 2 - 1
    x = (np.arange(shape[2], dtype=np.float32) + 0.5) / shape[2] * 2 - 1
    return z, y, x


def _region_codes(shape: tuple[int, int, int], z0: int, z1: int) -> np.ndarray:
    """uint8 region code of every voxel of the slab; painted in priority order."""
    z, y, x = _coords(shape, z0, z1)
    codes = _body(z, y, x)
    _organ(codes, z, y, x, (0.50, -0.05, -0.35), (0.15, 0.32, 0.36), LIVER, over=(SOFT,))
    for code, side in ((KIDNEY_L, -1), (KIDNEY_R, 1)):
        _organ(codes, z, y, x, (0.30, 0.22, 0.36 * side), (0.09, 0.13, 0.10), code, over=(SOFT,))
    for code, side in ((LUNG_L, -1), (LUNG_R, 1)):
        _organ(codes, z, y, x, (0.86, -0.02, 0.38 * side), (0.26, 0.36, 0.27), code, over=(SOFT, LIVER))
    _spine(codes, z, y, x)
    for inner, cortex, side in ((FEMUR_L_IN, FEMUR_L_CORTEX, -1), (FEMUR_R_IN, FEMUR_R_CORTEX, 1)):
        _bone_column(codes, z, y, x, (0.05, 0.45 * side), (0.10, 0.10), (0.0, 0.16), inner, cortex)
    return codes


def _body(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Elliptical body section (soft tissue with a fat rim) whose size varies smoothly along z."""
    ax = 0.82 + 0.08 * np.sin(np.pi * z * 1.3 + 0.4)
    ay = 0.55 + 0.06 * np.cos(np.pi * z)
    r = ((x * x)[None, None, :] / (ax * ax)[:, None, None]
         + ((y - 0.05) ** 2)[None, :, None] / (ay * ay)[:, None, None])
    codes = np.zeros(r.shape, dtype=np.uint8)
    codes[r <= 1.0] = FAT
    codes[r <= 0.88 ** 2] = SOFT  # 12 % rim of subcutaneous fat
    return codes


def _index_range(coord: np.ndarray, lo: float, hi: float) -> slice:
    """Index slice of the sorted ``coord`` values inside [lo, hi] (may be empty)."""
    return slice(int(np.searchsorted(coord, lo, "left")), int(np.searchsorted(coord, hi, "right")))


def _organ(codes: np.ndarray, z: np.ndarray, y: np.ndarray, x: np.ndarray, center: tuple[float, float, float],
           semi: tuple[float, float, float], code: int, over: tuple[int, ...]) -> None:
    """Paint an ellipsoid, evaluated only inside its bounding box, over the listed codes."""
    sl = tuple(_index_range(c, m - s, m + s) for c, m, s in zip((z, y, x), center, semi))
    sub = codes[sl]
    if sub.size == 0:
        return
    r = (((z[sl[0]] - center[0]) / semi[0]) ** 2)[:, None, None] \
        + (((y[sl[1]] - center[1]) / semi[1]) ** 2)[None, :, None] \
        + (((x[sl[2]] - center[2]) / semi[2]) ** 2)[None, None, :]
    sub[(r <= 1.0) & np.isin(sub, over)] = code


def _bone_column(codes: np.ndarray, z: np.ndarray, y: np.ndarray, x: np.ndarray, center_yx: tuple[float, float],
                 semi_yx: tuple[float, float], z_range: tuple[float, float], inner: int, cortex: int) -> None:
    """Elliptic bone cylinder along z (within ``z_range``): cancellous core, cortical shell."""
    sl = (_index_range(z, *z_range),
          _index_range(y, center_yx[0] - semi_yx[0], center_yx[0] + semi_yx[0]),
          _index_range(x, center_yx[1] - semi_yx[1], center_yx[1] + semi_yx[1]))
    sub = codes[sl]
    if sub.size == 0:
        return
    r = ((((y[sl[1]] - center_yx[0]) / semi_yx[0]) ** 2)[:, None]
         + (((x[sl[2]] - center_yx[1]) / semi_yx[1]) ** 2)[None, :])
    inside = sub != AIR
    sub[(r <= 1.0) & inside] = cortex
    sub[(r <= 0.72 ** 2) & inside] = inner


def _spine(codes: np.ndarray, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> None:
    """Vertebral column: bone cylinder interrupted by intervertebral discs along z."""
    _bone_column(codes, z, y, x, (0.36, 0.0), (0.09, 0.10), (0.0, 1.0), SPINE_IN, SPINE_CORTEX)
    disc_z = ((z * 14.0) % 1.0) < 0.22  # ~14 vertebrae, discs ~1/5 of their height
    sub = codes[disc_z]
    sub[(sub == SPINE_IN) | (sub == SPINE_CORTEX)] = DISC
    codes[disc_z] = sub


# ----------------------------------------------------------------------------- slide phantom


def slide_phantom_tile(y0: int, y1: int, x0: int, x1: int, seed: int = 0,
                       slide_shape: Sequence[int] = SLIDE_SHAPE) -> np.ndarray:
    """uint8 grayscale histology-like tile ``[y0:y1, x0:x1]`` of a ``slide_shape`` slide.

    White glass (~240) around a few large tissue sections: stroma (~200) with a
    coarse texture and dark nuclei (~90). Pixels depend only on their global
    position and ``seed`` (hashing, no global state), so tiles can be generated in
    any order and tile edges match.
    """
    h, w = int(slide_shape[0]), int(slide_shape[1])
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise MetadataError("tile", (y0, y1, x0, x1), f"must lie inside the slide {h}x{w} and be non-empty",
                            "pass 0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width")
    yy = np.arange(y0, y1, dtype=np.int64)[:, None]
    xx = np.arange(x0, x1, dtype=np.int64)[None, :]
    tissue = _tissue_field(yy, xx, h, w, seed) > 0.5
    value = 240.0 + 1.5 * _hash_normalish(yy, xx, seed, 1)
    stroma = 200.0 + 18.0 * _value_noise(yy, xx, 24, seed, 2) + 6.0 * _hash_normalish(yy, xx, seed, 3)
    stroma = np.where(_nuclei(yy, xx, seed), 90.0 + 8.0 * _hash_normalish(yy, xx, seed, 4), stroma)
    value = np.where(tissue, stroma, value)
    return np.clip(np.rint(value), 0, 255).astype(np.uint8)


def _tissue_field(yy: np.ndarray, xx: np.ndarray, h: int, w: int, seed: int) -> np.ndarray:
    """Sum of a few seeded gaussian blobs with wavy edges; > 0.5 means tissue."""
    rng = np.random.default_rng((int(seed), 7))
    fy = yy.astype(np.float32) / h
    fx = xx.astype(np.float32) / w
    field = np.zeros(np.broadcast_shapes(yy.shape, xx.shape), dtype=np.float32)
    for cy, cx, sy, sx in rng.uniform((0.2, 0.2, 0.08, 0.08), (0.8, 0.8, 0.2, 0.2), size=(5, 4)):
        field += np.exp(-(((fy - cy) / sy) ** 2 + ((fx - cx) / sx) ** 2)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    field += 0.15 * (np.sin(fy * 37 + phase[0]) * np.cos(fx * 29 + phase[1])).astype(np.float32)
    return field


def _hash(a: np.ndarray, b: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """Stateless 32-bit integer hash of (a, b, seed, salt), vectorised."""
    a = a.astype(np.uint32)
    b = b.astype(np.uint32)
    s = np.uint32((int(seed) * 0x27D4EB2F + int(salt) * 0x165667B1) & 0xFFFFFFFF)
    h = (a * np.uint32(0x9E3779B1)) ^ (b * np.uint32(0x85EBCA77)) ^ s
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x7FEB352D)
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x846CA68B)
    h ^= h >> np.uint32(16)
    return h


def _hash_unit(a: np.ndarray, b: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """Uniform float32 in [0, 1) from the hash."""
    return (_hash(a, b, seed, salt) >> np.uint32(8)).astype(np.float32) / np.float32(2**24)


def _hash_normalish(a: np.ndarray, b: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """Zero-mean, unit-variance-ish noise (sum of two uniforms, cheap and bounded)."""
    return (_hash_unit(a, b, seed, salt) + _hash_unit(a, b, seed, salt + 100) - 1.0) * np.float32(2.45)


def _value_noise(yy: np.ndarray, xx: np.ndarray, cell: int, seed: int, salt: int) -> np.ndarray:
    """Bilinear interpolation of hashed lattice values in [-1, 1]: smooth texture."""
    gy, gx = yy // cell, xx // cell
    ty = ((yy % cell) / cell).astype(np.float32)
    tx = ((xx % cell) / cell).astype(np.float32)
    v00 = _hash_unit(gy, gx, seed, salt)
    v01 = _hash_unit(gy, gx + 1, seed, salt)
    v10 = _hash_unit(gy + 1, gx, seed, salt)
    v11 = _hash_unit(gy + 1, gx + 1, seed, salt)
    top = v00 + (v01 - v00) * tx
    bottom = v10 + (v11 - v10) * tx
    return (top + (bottom - top) * ty) * 2 - 1


def _nuclei(yy: np.ndarray, xx: np.ndarray, seed: int, cell: int = 20) -> np.ndarray:
    """At most one round nucleus per ``cell``-pixel cell, kept inside its cell so no neighbour lookups."""
    gy, gx = yy // cell, xx // cell
    present = _hash_unit(gy, gx, seed, 11) < 0.55
    radius = 3.0 + 3.0 * _hash_unit(gy, gx, seed, 12)
    cy = gy * cell + 6 + (cell - 12) * _hash_unit(gy, gx, seed, 13)
    cx = gx * cell + 6 + (cell - 12) * _hash_unit(gy, gx, seed, 14)
    return present & ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2)
