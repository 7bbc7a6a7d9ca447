"""A TorchIO reader for ``.mla``: ``tio.ScalarImage(path, reader=mlarray.torchio.reader)``."""

from __future__ import annotations

import os
from typing import Union

import numpy as np

from .._array import MLArray
from .._errors import InputError
from ._geometry import channel_first, index_axes, native_byte_order, pad_affine, ras_affine

__all__ = ["reader"]


def reader(path: Union[str, os.PathLike]) -> tuple[np.ndarray, np.ndarray]:
    """Read an ``.mla`` file as TorchIO expects: a ``(C, W, H, D)`` array and a 4x4 RAS affine.

    Spatial axes come in ITK's index order, as TorchIO reads the file they were converted from: the
    file's order, reversed for a file from DICOM (TorchIO's (C, col, row, slice)) or read through
    SimpleITK (:mod:`mlarray._voxel_order`); TorchIO reorients with ``tio.ToCanonical`` when asked.
    Non-spatial axes are merged into the channel axis; 2D files get a trailing axis of size 1, as
    TorchIO gives 2D images. The stored dtype is kept (TorchIO widens unsigned 16/32-bit itself), in
    native byte order (torch refuses big-endian arrays such as nibabel's ``anatomical.nii`` converted).
    """

    path = os.fspath(path)
    img = MLArray.open(path, mmap_mode="r")
    if not img.meta.has_array:
        raise InputError(f"{path}: metadata-only .mla file; TorchIO needs an image array")
    spatial = index_axes(img)
    if not 2 <= len(spatial) <= 3:
        raise InputError(f"{path}: TorchIO images have 2 or 3 spatial axes, this file has {len(spatial)} "
                         f"(axis_labels {img.axis_labels}); label the extra axes as 'channel' or 'temporal'")
    data = native_byte_order(channel_first(img.to_numpy(), spatial))
    affine, _ = ras_affine(img, index_order=True)
    if len(spatial) == 2:
        data = data[..., np.newaxis]
        affine = pad_affine(affine, 3)
    return data, affine
