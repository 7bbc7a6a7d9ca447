"""``MLArrayReader``: a MONAI ``ImageReader`` for ``.mla`` files.

The array keeps the file's axis order (as MONAI's ``NibabelReader`` keeps NIfTI's); non-spatial
axes (channels, time, components) are moved to the front and merged into one channel axis, and
``original_channel_dim`` says so, so ``EnsureChannelFirst`` gives ``(C, *spatial)``. The affine is
the file's geometry re-expressed in RAS (see :mod:`mlarray._frameworks._geometry`).
"""

from __future__ import annotations

import os
from typing import Any, Sequence, Union

import numpy as np
from monai.data.image_reader import ImageReader
from monai.utils import MetaKeys, SpaceKeys, ensure_tuple

from ._geometry import channel_first, ras_affine, spatial_layout

__all__ = ["MLArrayReader", "mla_meta"]

_PathLike = Union[str, os.PathLike]


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

    def __init__(self, affine_lps_to_ras: bool = True, dtype=None, **kwargs) -> None:
        super().__init__()
        self.affine_lps_to_ras = bool(affine_lps_to_ras)
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.kwargs = kwargs  # MLArray.open arguments (e.g. verify=False)

    def verify_suffix(self, filename: Union[Sequence[_PathLike], _PathLike]) -> bool:
        names = ensure_tuple(filename)
        return bool(names) and all(str(os.fspath(f)).lower().endswith(".mla") for f in names)

    def read(self, data: Union[Sequence[_PathLike], _PathLike], **kwargs):
        """Open the file(s) memory-mapped; no voxels are read until :meth:`get_data`."""
        from mlarray import MLArray

        opts = {**self.kwargs, **kwargs}
        opened = [MLArray.open(os.fspath(f), mmap_mode="r", **opts) for f in ensure_tuple(data)]
        return opened if len(opened) > 1 else opened[0]

    def get_data(self, img) -> tuple[np.ndarray, dict]:
        arrays, metas = [], []
        # not ensure_tuple: an MLArray is itself iterable (over its first axis)
        for image in (img if isinstance(img, (list, tuple)) else [img]):
            if not image.meta.has_array:
                raise ValueError(f"{image.filepath}: metadata-only .mla file; MONAI needs an image array")
            spatial, _ = spatial_layout(image)
            data = channel_first(image.to_numpy(), spatial, add_channel=False)
            if self.dtype is not None:
                data = data.astype(self.dtype, copy=False)
            arrays.append(data)
            metas.append(mla_meta(image, keep_lps=not self.affine_lps_to_ras, has_channel=data.ndim > len(spatial)))
        return _stack(arrays, metas)


def mla_meta(image, *, keep_lps: bool = False, has_channel: bool = False) -> dict[str, Any]:
    """MONAI metadata of an open ``.mla`` file, channel axis (if any) first."""
    spatial, _ = spatial_layout(image)
    affine, space = ras_affine(image, keep_lps=keep_lps)
    sp = image.meta.spatial
    return {
        MetaKeys.AFFINE: affine,
        MetaKeys.ORIGINAL_AFFINE: affine.copy(),
        MetaKeys.SPATIAL_SHAPE: np.asarray([image.shape[a] for a in spatial]),
        MetaKeys.SPACE: SpaceKeys.LPS if space == "LPS" else SpaceKeys.RAS,
        MetaKeys.ORIGINAL_CHANNEL_DIM: 0 if has_channel else float("nan"),
        "spacing": np.asarray(sp.spacing if sp.spacing is not None else [1.0] * len(spatial), dtype=np.float64),
        "coord_system": str(sp.coord_system) if sp.coord_system is not None else "unknown",
        "is_seg": bool(image.meta.is_seg),
    }


def _stack(arrays: list, metas: list) -> tuple[np.ndarray, dict]:
    meta = metas[0]
    if len(arrays) == 1:
        return arrays[0], meta
    for other in metas[1:]:
        if not np.array_equal(other[MetaKeys.SPATIAL_SHAPE], meta[MetaKeys.SPATIAL_SHAPE]):
            raise ValueError(f"files stacked as channels need one spatial shape, got "
                             f"{meta[MetaKeys.SPATIAL_SHAPE].tolist()} and {other[MetaKeys.SPATIAL_SHAPE].tolist()}")
        if not np.allclose(other[MetaKeys.AFFINE], meta[MetaKeys.AFFINE], atol=1e-5):
            raise ValueError("files stacked as channels need one affine; resample them onto one grid first")
    n = len(meta[MetaKeys.SPATIAL_SHAPE])
    data = np.concatenate([a if a.ndim > n else a[np.newaxis] for a in arrays], axis=0)  # channels of all files
    meta = dict(meta)
    meta[MetaKeys.ORIGINAL_CHANNEL_DIM] = 0
    return data, meta

