"""PyTorch ``Dataset`` over ``.mla`` patches (optional extra: ``pip install mlarray[torch]``).

    from torch.utils.data import DataLoader
    from mlarray.torch import PatchDataset

    ds = PatchDataset(images=imgs, labels=segs, patch_size=(128, 128, 128), length=250 * 2, seed=0)
    loader = DataLoader(ds, batch_size=2, num_workers=8, persistent_workers=True)
    for epoch in range(1000):
        ds.set_epoch(epoch)
        for batch in loader:  # batch["image"]: (B, C, 128, 128, 128), batch["label"]: (B, 128, 128, 128)
            ...

Workers receive the dataset pickled as file paths, settings and the small foreground cache; each
worker reopens the files memory-mapped and reads only the chunks its patches touch. Item ``i``
depends only on ``(seed, epoch, i)``, so results do not depend on ``num_workers`` nor on whether
the workers persist: the epoch lives in a one-number shared-memory tensor that ``set_epoch``
writes and every worker reads, so it reaches workers started in an earlier epoch too.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from mlarray.optpkg import optional_import

torch = optional_import("torch", feature="mlarray.torch (PyTorch patch datasets)", extra="torch")

from torch.utils.data import Dataset  # noqa: E402  (after the check that says which extra brings torch)

from mlarray._frameworks._geometry import channel_first  # noqa: E402
from mlarray._frameworks._torch_common import SharedEpoch, SharedEpochMixin, torch_friendly  # noqa: E402
from mlarray.training import PatchSampler, SamplingTypeError  # noqa: E402

__all__ = ["PatchDataset", "MLArrayPatchDataset", "SharedEpoch"]


class PatchDataset(SharedEpochMixin, Dataset):
    """``dataset[i]`` -> ``{"image": Tensor, "label": Tensor (if labels), "case": int, "start": LongTensor,
    "foreground": bool}``, patch ``i`` of the current epoch of a :class:`~mlarray.training.PatchSampler`.

    ``image`` is channels first, ``(C, *patch)``, always: single-channel files get ``C = 1`` and
    the non-spatial axes of a file (channels, time: a 4-D NIfTI's last axis) are moved to the front
    and merged. ``label`` is ``(*patch)`` (what ``CrossEntropyLoss`` takes; a label file's own
    non-spatial axes, if any, come first). Arrays come in native byte order; unsigned 16/32/64-bit
    data is widened to a signed type torch computes with.

    Call :meth:`set_epoch` before each epoch; it reaches persistent workers too.

    Parameters
    ----------
    sampler : PatchSampler, optional
        A ready sampler; give either it or the sampler's arguments.
    length : int, optional
        ``len(dataset)``; default: ``len(sampler)``.
    epoch : int
        The first epoch.
    transform : callable, optional
        A picklable callable on the item dict, run in the worker after conversion to tensors; its
        result is the item.
    precompute_jobs : int
        More than 0: find foreground locations for every case up front, with that many processes,
        so that workers do not each repeat the scan.
    **sampler_kwargs
        The arguments of :class:`~mlarray.training.PatchSampler` (``images=``, ``labels=``,
        ``patch_size=``, ``slice_axis=``, ...) when no ``sampler`` is given.

    Raises
    ------
    SamplingTypeError
        Both a sampler and sampler arguments were given.
    """

    def __init__(self, sampler: Optional[PatchSampler] = None, *, length: Optional[int] = None, epoch: int = 0,
                 transform: Optional[Callable[[dict], Any]] = None, precompute_jobs: int = 0,
                 **sampler_kwargs: Any) -> None:
        if sampler is None:
            sampler = PatchSampler(**sampler_kwargs)
        elif sampler_kwargs:
            raise SamplingTypeError(f"give either a sampler or its arguments, not both ({sorted(sampler_kwargs)})")
        self.sampler = sampler
        self.length = len(sampler) if length is None else int(length)
        self._start_epochs(epoch)
        self.transform = transform
        if precompute_jobs:
            sampler.precompute_foreground(jobs=precompute_jobs)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} patches")
        item = self.sampler.sample(int(index), epoch=self.epoch)
        case = item["case"]
        image = channel_first(item["image"], self.sampler.patch_spatial_axes(case))
        out = {"image": torch.from_numpy(torch_friendly(image))}
        if "label" in item:
            label = channel_first(item["label"], self.sampler.patch_spatial_axes(case, label=True),
                                  add_channel=False)
            out["label"] = torch.from_numpy(torch_friendly(label))
        out["case"] = case
        out["start"] = torch.from_numpy(item["start"])
        out["foreground"] = item["foreground"]
        return self.transform(out) if self.transform is not None else out


MLArrayPatchDataset = PatchDataset
