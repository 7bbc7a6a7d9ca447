"""``MLArrayReader``: a MONAI ``ImageReader`` for ``.mla`` files.

The array and metadata follow MONAI's readers on the file the ``.mla`` came from: spatial axes in
ITK's index order, as ``NibabelReader`` gives a NIfTI and ``ITKReader``/``PydicomReader`` a DICOM
(the file's order, reversed for a file from DICOM or read through SimpleITK; see
:mod:`mlarray._voxel_order`), non-spatial axes (channels, time, components) merged into one axis placed
last, as a 4-D NIfTI stores them, with ``original_channel_dim = -1`` (NaN without such axes), so
pipelines with and without ``EnsureChannelFirst`` behave as with NIfTI; ``pixdim`` and
``original_pixdim`` hold the NIfTI-style ``[qfac, spacing..., 1...]``. The affine is the file's
geometry re-expressed in RAS (see :mod:`mlarray._frameworks._geometry`). Arrays come in native
byte order.

Importing :mod:`mlarray.monai` also registers the reader in MONAI's ``SUPPORTED_READERS`` (the
place MONAI documents for user readers), so ``LoadImage()`` without ``reader=`` picks it for
``.mla`` files.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

import numpy as np
from monai.data.image_reader import ImageReader
from monai.utils import MetaKeys, SpaceKeys, ensure_tuple
from numpy.typing import DTypeLike

from .._array import MLArray
from .._errors import InputError
from .._types import PathLike
from ._geometry import array_shape, channel_last, index_axes, native_byte_order, ras_affine

__all__ = ["MLArrayReader", "mla_meta", "register"]


class MLArrayReader(ImageReader):
    """Read ``.mla`` files for ``LoadImage`` / ``LoadImaged``.

    Args:
        affine_lps_to_ras: as in MONAI's ``ITKReader``: files stored in LPS are given in RAS (the
            default, what MONAI's transforms expect); ``False`` keeps their LPS affine and sets
            ``space`` to LPS. Other anatomical codes are always converted to RAS.
        dtype: cast the array (default: keep the stored dtype; ``LoadImage`` casts to its own
            ``dtype`` afterwards anyway).

    Several files given together (``LoadImage(...)([t1, t2])``) are stacked as channels, as MONAI's
    readers do; they must share spatial shape and affine.
    """

    def __init__(self, affine_lps_to_ras: bool = True, dtype: Optional[DTypeLike] = None, **kwargs: Any) -> None:
        super().__init__()
        self.affine_lps_to_ras = bool(affine_lps_to_ras)
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.kwargs = kwargs  # MLArray.open arguments (e.g. verify=False)

    def verify_suffix(self, filename: Union[Sequence[PathLike], PathLike]) -> bool:
        names = ensure_tuple(filename)
        return bool(names) and all(str(os.fspath(f)).lower().endswith(".mla") for f in names)

    def read(self, data: Union[Sequence[PathLike], PathLike], **kwargs: Any) -> Union[MLArray, list[MLArray]]:
        """Open the file(s) memory-mapped; no voxels are read until :meth:`get_data`."""

        opts = {**self.kwargs, **kwargs}
        opened = [MLArray.open(os.fspath(f), mmap_mode="r", **opts) for f in ensure_tuple(data)]
        return opened if len(opened) > 1 else opened[0]

    def get_data(self, img: Union[MLArray, Sequence[MLArray]]) -> tuple[np.ndarray, dict]:
        arrays, metas = [], []
        # not ensure_tuple: an MLArray is itself iterable (over its first axis)
        for image in ([img] if isinstance(img, MLArray) else list(img)):
            if not image.meta.has_array:
                raise InputError(f"{image.filepath}: metadata-only .mla file; MONAI needs an image array")
            spatial = index_axes(image)
            data = native_byte_order(channel_last(image.to_numpy(), spatial))
            if self.dtype is not None:
                data = data.astype(self.dtype, copy=False)
            arrays.append(data)
            metas.append(mla_meta(image, keep_lps=not self.affine_lps_to_ras, has_channel=data.ndim > len(spatial)))
        return _stack(arrays, metas)


def mla_meta(image: MLArray, *, keep_lps: bool = False, has_channel: bool = False) -> dict[str, Any]:
    """MONAI metadata of an open ``.mla`` file, channel axis (if any) last, as ``NibabelReader`` gives."""
    spatial = index_axes(image)
    shape = array_shape(image, image.filepath)
    affine, space = ras_affine(image, keep_lps=keep_lps, index_order=True)
    sp = image.meta.spatial
    stored = list(sp.spacing) if sp.spacing is not None else [1.0] * len(spatial)
    # one spacing per spatial axis, in the order of the returned axes
    spacing = np.asarray([stored[j] for j in _positions(spatial)] if len(stored) == len(spatial) else stored,
                         dtype=np.float64)
    pixdim = _pixdim(affine, spacing, len(spatial))
    return {
        MetaKeys.AFFINE: affine,
        MetaKeys.ORIGINAL_AFFINE: affine.copy(),
        MetaKeys.SPATIAL_SHAPE: np.asarray([shape[a] for a in spatial]),
        MetaKeys.SPACE: SpaceKeys.LPS if space == "LPS" else SpaceKeys.RAS,
        MetaKeys.ORIGINAL_CHANNEL_DIM: -1 if has_channel else float("nan"),
        MetaKeys.PIXDIM: pixdim,
        MetaKeys.ORIGINAL_PIXDIM: pixdim.copy(),
        "spacing": spacing,
        "coord_system": str(sp.coord_system) if sp.coord_system is not None else "unknown",
        "is_seg": bool(image.meta.is_seg),
    }


def _positions(spatial: list[int]) -> list[int]:
    """Where each of ``spatial`` (in the order returned) stands among the spatial axes in array order."""
    in_array_order = sorted(spatial)
    return [in_array_order.index(a) for a in spatial]


def _pixdim(affine: np.ndarray, spacing: np.ndarray, n_spatial: int) -> np.ndarray:
    """NIfTI's ``pixdim``: ``qfac`` (the handedness of the RAS grid, -1 for a flip) then the voxel
    sizes of the spatial axes (more entries when ``spacing`` covers non-spatial axes), padded with 1."""
    out = np.ones(8, dtype=np.float32)
    lin = affine[:n_spatial, :n_spatial]
    out[0] = -1.0 if n_spatial == 3 and np.linalg.det(lin) < 0 else 1.0
    values = np.abs(spacing)[:7]
    out[1:1 + len(values)] = values
    return out


def register() -> None:
    """Let ``LoadImage()`` without ``reader=`` choose :class:`MLArrayReader` for ``.mla`` (idempotent).

    MONAI tries its default readers from the last registered to the first, asking each whether it
    takes the file's suffix; without this, an ``.mla`` file falls through to the DICOM reader.
    """
    from monai.transforms.io.array import SUPPORTED_READERS

    SUPPORTED_READERS.setdefault("mlarrayreader", MLArrayReader)


def _stack(arrays: list, metas: list) -> tuple[np.ndarray, dict]:
    meta = metas[0]
    if len(arrays) == 1:
        return arrays[0], meta
    for other in metas[1:]:
        if not np.array_equal(other[MetaKeys.SPATIAL_SHAPE], meta[MetaKeys.SPATIAL_SHAPE]):
            raise InputError(f"files stacked as channels need one spatial shape, got "
                             f"{meta[MetaKeys.SPATIAL_SHAPE].tolist()} and {other[MetaKeys.SPATIAL_SHAPE].tolist()}")
        if not np.allclose(other[MetaKeys.AFFINE], meta[MetaKeys.AFFINE], atol=1e-5):
            raise InputError("files stacked as channels need one affine; resample them onto one grid first")
    n = len(meta[MetaKeys.SPATIAL_SHAPE])
    meta = dict(meta)
    if all(a.ndim == n for a in arrays):  # as MONAI stacks channel-less NIfTIs: a new first axis
        meta[MetaKeys.ORIGINAL_CHANNEL_DIM] = 0
        return np.stack(arrays, axis=0), meta
    # files with channels: concatenated along the last axis, where each file keeps its channels
    meta[MetaKeys.ORIGINAL_CHANNEL_DIM] = -1
    return np.concatenate([a if a.ndim > n else a[..., np.newaxis] for a in arrays], axis=-1), meta

