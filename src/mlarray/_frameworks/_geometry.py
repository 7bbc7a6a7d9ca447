"""Geometry and channel layout shared by the MONAI, TorchIO and nnU-Net bridges.

An ``.mla`` file places its spatial axes with ``world = origin + direction @ (spacing * index)``,
world axes named by ``spatial.coord_system`` ("LPS" from DICOM/ITK, "RAS" from NIfTI; a trailing
"+" as in "LPS+" means the same). MONAI, TorchIO and nibabel work in RAS, so every anatomical code
(any order and sign of R/L, A/P, S/I) is re-expressed in RAS here.

Files whose ``coord_system`` is missing, ``"unknown"``, ``"other"`` or not an anatomical code keep
their affine unchanged and are treated as RAS, exactly as mlarray's own NIfTI writer does; a
warning says so once per process when such a file places itself in the world (an origin other than
zero or a rotated direction), because the frameworks' orientation transforms then trust an unknown
convention.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .._errors import InputError, NoArrayError
from .._voxel_order import reversed_index_order
from ..affines import convert_coord_system

if TYPE_CHECKING:
    from .._array import MLArray

__all__ = ["anatomical_code", "ras_affine", "channel_first", "channel_last", "spatial_layout", "index_axes",
           "pad_affine", "native_byte_order", "array_shape"]

# letter -> (RAS world axis, sign toward R/A/S)
_LETTERS = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}


def anatomical_code(coord_system: object) -> Optional[str]:
    """``"LPS"`` for ``"LPS"``, ``"lps"`` or ``"LPS+"``; None when the string names no anatomical system."""
    if not isinstance(coord_system, str):
        return None
    code = coord_system.strip().upper().rstrip("+")
    if len(code) != 3 or any(c not in _LETTERS for c in code):
        return None
    if sorted(_LETTERS[c][0] for c in code) != [0, 1, 2]:
        return None  # e.g. "RLS": two letters on one axis
    return code


def ras_affine(img: MLArray, *, keep_lps: bool = False, index_order: bool = False) -> tuple[np.ndarray, str]:
    """The ``(n+1, n+1)`` index-to-world affine of ``img``'s spatial axes in RAS, and its space name.

    ``keep_lps=True`` leaves files stored in LPS in LPS (MONAI's ``affine_lps_to_ras=False``).
    ``index_order=True`` gives the columns in the order of :func:`index_axes` (array order otherwise).
    Worlds with fewer than three axes (2D files) flip each named axis toward R/A/S in place; they
    cannot be permuted into axes they do not have.
    """
    affine = np.asarray(img.affine, dtype=np.float64)
    if index_order and _reversed(img):
        affine = affine[:, list(range(affine.shape[1] - 1))[::-1] + [affine.shape[1] - 1]]
    n = affine.shape[0] - 1
    cs = img.meta.spatial.coord_system
    code = anatomical_code(cs)
    if code is None or n > 3:
        _warn_if_placed(img, cs)
        return affine.copy(), "RAS"
    if keep_lps and code == "LPS":
        return affine.copy(), "LPS"
    if n == 3:
        return convert_coord_system(affine, code, "RAS"), "RAS"
    flip = np.eye(n + 1)
    for i, c in enumerate(code[:n]):
        flip[i, i] = _LETTERS[c][1]
    return flip @ affine, "RAS"


def _warn_if_placed(img: MLArray, cs: object) -> None:
    sp = img.meta.spatial
    at_zero = sp.origin is None or not np.any(sp.origin)
    unrotated = sp.direction is None or np.allclose(sp.direction, np.eye(len(sp.direction)))
    if at_zero and unrotated:
        return  # a bare voxel grid (the library's default origin and direction): nothing to misplace
    warnings.warn(
        f"spatial.coord_system is {cs!r}, not an anatomical code such as 'RAS' or 'LPS': the stored affine "
        "is used unchanged, as if it were RAS. Set spatial.coord_system (e.g. mlarray's metadata editor or "
        "MLArray.open(path, mmap_mode='r+').meta.spatial.coord_system = 'LPS') so that orientation "
        "transforms know the world convention.", UserWarning, stacklevel=3)


def array_shape(img: MLArray, path: object) -> tuple[int, ...]:
    """The shape of ``img``'s array; :class:`NoArrayError` naming ``path`` for a metadata-only file."""
    shape = img.shape
    if shape is None:
        raise NoArrayError(f"{path}: metadata-only file (meta.has_array is false), there are no voxels to read; "
                           "pass files that hold an array")
    return shape


def spatial_layout(img: MLArray) -> tuple[list[int], list[int]]:
    """(spatial axes, other axes) of ``img`` in array order."""
    spatial = list(img.spatial_axes)
    return spatial, [i for i in range(img.ndim or 0) if i not in spatial]


def index_axes(img: MLArray) -> list[int]:
    """``img``'s spatial axes in ITK's index order, the order TorchIO and MONAI give an image read by their own
    readers: array order, reversed for a file converted from DICOM or read through SimpleITK (DICOM's (slice,
    row, col) becomes (col, row, slice); see :mod:`mlarray._voxel_order`)."""
    spatial, _ = spatial_layout(img)
    return spatial[::-1] if _reversed(img) else spatial


def _reversed(img: MLArray) -> bool:
    return reversed_index_order(img.meta.source_format, img.meta.source)


def channel_first(array: np.ndarray, spatial_axes: Sequence[int], *, add_channel: bool = True) -> np.ndarray:
    """Move the non-spatial axes to the front and merge them into one channel axis.

    Spatial axes follow in the order ``spatial_axes`` lists them. Without non-spatial axes a channel
    axis of size 1 is added (``add_channel=False`` returns the spatial axes alone instead).
    """
    other = [i for i in range(array.ndim) if i not in spatial_axes]
    moved = _transposed(array, other + list(spatial_axes))
    if not other:
        return moved[np.newaxis] if add_channel else moved
    return moved.reshape((-1,) + tuple(moved.shape[len(other):]))


def channel_last(array: np.ndarray, spatial_axes: Sequence[int]) -> np.ndarray:
    """Spatial axes in the order ``spatial_axes`` lists them, then the non-spatial axes merged into one
    channel axis (as a 4-D NIfTI stores its 4th axis); without non-spatial axes, the spatial axes alone."""
    other = [i for i in range(array.ndim) if i not in spatial_axes]
    moved = _transposed(array, list(spatial_axes) + other)
    if not other:
        return moved
    return moved.reshape(tuple(moved.shape[:array.ndim - len(other)]) + (-1,))


def _transposed(array: np.ndarray, order: list[int]) -> np.ndarray:
    return array if order == list(range(array.ndim)) else np.transpose(array, order)


def native_byte_order(array: np.ndarray) -> np.ndarray:
    """``array`` in the machine's byte order (a copy only when it is not already).

    Files keep the byte order they were written in (nibabel's big-endian NIfTI stays ``>i2`` in the
    ``.mla``), but torch refuses non-native arrays and the frameworks compute on native ones.
    """
    if array.dtype.byteorder in ("=", "|") or array.dtype.isnative:
        return array
    return array.astype(array.dtype.newbyteorder("="))


def pad_affine(affine: np.ndarray, ndim: int = 3) -> np.ndarray:
    """Embed an ``(n+1, n+1)`` affine (n < ndim) into ``(ndim+1, ndim+1)``: unit steps on the added axes."""
    a = np.asarray(affine, dtype=np.float64)
    n = a.shape[0] - 1
    if n == ndim:
        return a.copy()
    if n > ndim:
        raise InputError(f"a {n}-D world cannot be written as a {ndim}-D affine")
    out = np.eye(ndim + 1)
    out[:n, :n] = a[:n, :n]
    out[:n, ndim] = a[:n, n]
    return out
