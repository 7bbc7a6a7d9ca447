"""``MLArrayPatchDataset``: MONAI's dataset interface over :class:`~mlarray.training.PatchSampler`.

MONAI's usual patch pipeline (``LoadImaged`` + ``RandCropByPosNegLabeld``) decodes every whole
volume to cut a few patches from it. This dataset reads only the chunks under each patch and
hands MONAI what ``LoadImaged`` + ``EnsureChannelFirstd`` + a crop would have produced: a dict of
channel-first ``MetaTensor`` patches whose affine places the patch in RAS world space, so MONAI's
dictionary transforms (intensity, flips, ``Orientationd``, ``Spacingd``...) run unchanged after it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from monai.data import Dataset, MetaTensor
from monai.utils import MetaKeys, SpaceKeys

from .._array import MLArray
from ..training import PatchSampler, SamplingError
from ._geometry import channel_first, ras_affine
from ._torch_common import SharedEpochMixin, torch_friendly

__all__ = ["MLArrayPatchDataset"]


class MLArrayPatchDataset(SharedEpochMixin, Dataset):
    """Random patches from ``.mla`` files as MONAI dict items.

    Args:
        data: MONAI-style list of dicts, e.g. ``[{"image": "a.mla", "label": "a_seg.mla", "id": 3}]``.
            Keys other than ``image_key``/``label_key`` are copied into every item of that case.
        patch_size: as :class:`~mlarray.training.PatchSampler` (fewer sizes than spatial axes
            draw 2D patches).
        image_key, label_key: the keys holding paths (``label_key=None``: images only).
        num_samples: patches per epoch (``len(dataset)``); default: one per case.
        transform: MONAI transform(s) applied to each item (in the worker).
        affine_lps_to_ras: as :class:`~mlarray.monai.MLArrayReader`.
        **sampler_kwargs: the rest of :class:`~mlarray.training.PatchSampler` (``foreground_fraction``,
            ``seed``, ``dtype`` (default ``float32``), ``pad_mode``, ``cache_dir``...).

    Items: ``{image_key: MetaTensor (C, *patch), label_key: MetaTensor (1, *patch), "case": int,
    "patch_start": int array (start per spatial axis, file voxels), "foreground": bool, ...}``.
    Patch ``i`` of epoch ``e`` depends only on ``(seed, e, i)``, so results do not depend on the
    number of ``DataLoader`` workers; call :meth:`set_epoch` before each epoch: the epoch is shared
    with the workers, so it reaches persistent workers (``persistent_workers=True``) too.
    """

    def __init__(self, data: Sequence[Mapping[str, Any]], patch_size: Union[int, Sequence[int]] = 128, *,
                 image_key: str = "image", label_key: Optional[str] = "label", num_samples: Optional[int] = None,
                 transform: Optional[Union[Callable, Sequence[Callable]]] = None, affine_lps_to_ras: bool = True,
                 precompute_jobs: int = 0, **sampler_kwargs: Any) -> None:
        data = [dict(d) for d in data]
        if not data:
            raise SamplingError("MLArrayPatchDataset needs at least one case in `data`")
        missing = [i for i, d in enumerate(data) if image_key not in d]
        if missing:
            raise KeyError(f"cases {missing[:5]} have no {image_key!r} key; give every case an image path")
        label_paths = ([d[label_key] for d in data] if label_key is not None and all(label_key in d for d in data)
                       else None)
        has_label = label_paths is not None
        if label_key is not None and not has_label and any(label_key in d for d in data):
            raise KeyError(f"some cases have a {label_key!r} path and some do not; give every case one or none")
        sampler_kwargs.setdefault("dtype", np.float32)
        self.sampler = PatchSampler([d[image_key] for d in data], label_paths,
                                    patch_size, length=len(data) if num_samples is None else int(num_samples),
                                    **sampler_kwargs)
        super().__init__(data=data, transform=transform)
        self.image_key, self.label_key = image_key, (label_key if has_label else None)
        self._start_epochs(0)
        self._geometry = [_case_geometry(c.image, not affine_lps_to_ras) for c in self.sampler.cases]
        if precompute_jobs:
            self.sampler.precompute_foreground(jobs=precompute_jobs)

    def __len__(self) -> int:
        return len(self.sampler)

    def _transform(self, index: int) -> Any:
        if not 0 <= int(index) < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} patches")
        item = self.sampler.sample(int(index), epoch=self.epoch)
        case = item["case"]
        info = self.sampler.cases[case]
        affine, space = self._geometry[case]
        patch_affine = _patch_affine(affine, self.sampler.squeezed_axes(case), item["start"])
        out = {k: v for k, v in self.data[case].items() if k not in (self.image_key, self.label_key)}
        out[self.image_key] = _meta_tensor(item["image"], self.sampler.patch_spatial_axes(case), patch_affine,
                                           space, info.image)
        if self.label_key is not None:
            out[self.label_key] = _meta_tensor(item["label"], self.sampler.patch_spatial_axes(case, label=True),
                                               patch_affine, space, info.label)
        out["case"] = case
        out["patch_start"] = item["start"]
        out["foreground"] = item["foreground"]
        return self.transform(out)


def _case_geometry(path: str, keep_lps: bool) -> tuple[np.ndarray, str]:

    return ras_affine(MLArray.open(path, mmap_mode="r"), keep_lps=keep_lps)


def _patch_affine(affine: np.ndarray, squeezed: Sequence[int], start: np.ndarray) -> np.ndarray:
    """The affine of a patch: its first voxel at ``start``. The ``squeezed`` spatial axes (2D
    patches from volumes) move last, so the leading block maps the patch's own axes and MONAI's 2D
    transforms read it directly."""
    n = affine.shape[0] - 1
    shifted = affine.copy()
    shifted[:n, n] = affine[:n, :n] @ np.asarray(start, dtype=np.float64) + affine[:n, n]
    if not squeezed:
        return shifted
    order = [i for i in range(n) if i not in squeezed] + list(squeezed) + [n]
    return shifted[:, order]


def _meta_tensor(patch: np.ndarray, spatial_positions: Sequence[int], affine: np.ndarray, space: str,
                 path: object) -> MetaTensor:
    """``patch`` (file layout, squeezed axes removed) as a channel-first MetaTensor."""
    data = channel_first(np.ascontiguousarray(patch), spatial_positions)
    data = torch_friendly(data)
    meta = {
        MetaKeys.SPATIAL_SHAPE: np.asarray(data.shape[1:]),
        MetaKeys.ORIGINAL_CHANNEL_DIM: 0,
        MetaKeys.SPACE: SpaceKeys.LPS if space == "LPS" else SpaceKeys.RAS,
        MetaKeys.ORIGINAL_AFFINE: affine,
        "filename_or_obj": path,
    }
    return MetaTensor(torch.from_numpy(data), affine=torch.as_tensor(affine, dtype=torch.float64), meta=meta)

