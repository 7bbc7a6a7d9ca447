"""PyTorch ``Dataset`` over ``.mla`` patches (optional extra: ``pip install mlarray[torch]``).

    from torch.utils.data import DataLoader
    from mlarray.torch import PatchDataset

    ds = PatchDataset(images=imgs, labels=segs, patch_size=(128, 128, 128), length=250 * 2, seed=0)
    loader = DataLoader(ds, batch_size=2, num_workers=8, persistent_workers=False)
    for epoch in range(1000):
        ds.set_epoch(epoch)
        for batch in loader:  # batch["image"]: (B, C, 128, 128, 128), batch["label"]: (B, 128, 128, 128)
            ...

Workers receive the dataset pickled as file paths, settings and the small foreground cache; each
worker reopens the files memory-mapped and reads only the chunks its patches touch. Item ``i``
depends only on ``(seed, epoch, i)``, so results do not depend on ``num_workers``.
``set_epoch`` reaches the workers when they are started per epoch (``persistent_workers=False``,
the default); with persistent workers the epoch stays the one they were started with.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import torch  # absolute import: the real PyTorch, never this module
from torch.utils.data import Dataset

from mlarray.training import PatchSampler

__all__ = ["PatchDataset", "MLArrayPatchDataset"]


class PatchDataset(Dataset):
    """``dataset[i]`` -> ``{"image": Tensor, "label": Tensor (if labels), "case": int, "start": LongTensor,
    "foreground": bool}``, patch ``i`` of the current epoch of a :class:`~mlarray.training.PatchSampler`.

    Pass a ready ``sampler`` or the sampler's arguments (``images=``, ``labels=``, ``patch_size=``,
    ...). ``length`` overrides ``len(sampler)``; ``transform`` (a picklable callable on the item dict)
    runs in the worker after conversion to tensors. ``precompute_jobs`` > 0 finds foreground
    locations for every case up front (in parallel) so that workers do not each repeat the scan.
    """

    def __init__(self, sampler: Optional[PatchSampler] = None, *, length: Optional[int] = None, epoch: int = 0,
                 transform: Optional[Callable[[dict], Any]] = None, precompute_jobs: int = 0,
                 **sampler_kwargs) -> None:
        if sampler is None:
            sampler = PatchSampler(**sampler_kwargs)
        elif sampler_kwargs:
            raise TypeError(f"give either a sampler or its arguments, not both ({sorted(sampler_kwargs)})")
        self.sampler = sampler
        self.length = len(sampler) if length is None else int(length)
        self.epoch = int(epoch)
        self.transform = transform
        if precompute_jobs:
            sampler.precompute_foreground(jobs=precompute_jobs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} patches")
        item = self.sampler.sample(int(index), epoch=self.epoch)
        out = {"image": torch.from_numpy(_torch_friendly(item["image"]))}
        if "label" in item:
            out["label"] = torch.from_numpy(_torch_friendly(item["label"]))
        out["case"] = item["case"]
        out["start"] = torch.from_numpy(item["start"])
        out["foreground"] = item["foreground"]
        return self.transform(out) if self.transform is not None else out


def _torch_friendly(a: np.ndarray) -> np.ndarray:
    """torch lacks uint16/uint32/uint64 tensors in many ops: widen them to a signed dtype."""
    a = np.ascontiguousarray(a)
    if a.dtype == np.uint16:
        return a.astype(np.int32)
    if a.dtype in (np.uint32, np.uint64):
        return a.astype(np.int64)
    return a


MLArrayPatchDataset = PatchDataset
