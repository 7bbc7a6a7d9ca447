"""What the PyTorch and MONAI patch datasets share: the epoch their DataLoader workers follow, and dtypes torch
computes with. Imported only by those datasets, so torch is loaded only when one of them is."""

from __future__ import annotations

import numpy as np

from ..optpkg import optional_import

torch = optional_import("torch", feature="mlarray.torch (PyTorch patch datasets)", extra="torch")

__all__ = ["SharedEpoch", "SharedEpochMixin", "torch_friendly"]


class SharedEpoch:
    """An epoch number that DataLoader workers see change, persistent workers included.

    A plain attribute is copied into each worker when it starts, so workers kept alive across
    epochs (``persistent_workers=True``) would keep the epoch they started with. This holds the
    number in a shared-memory tensor: torch passes shared tensors to its workers by handle (fork,
    spawn and forkserver alike), so a write in the main process is read by every worker.
    """

    def __init__(self, epoch: int = 0) -> None:
        self._value = torch.zeros(1, dtype=torch.int64).share_memory_()
        self.set(epoch)

    def set(self, epoch: int) -> None:
        self._value[0] = int(epoch)

    def get(self) -> int:
        return int(self._value[0])


class SharedEpochMixin:
    """``epoch`` and ``set_epoch`` of a patch dataset, backed by a :class:`SharedEpoch` (declared here once for
    every dataset that draws patches per epoch). The dataset calls :meth:`_start_epochs` in its ``__init__``."""

    _epoch: SharedEpoch

    def _start_epochs(self, epoch: int) -> None:
        self._epoch = SharedEpoch(epoch)

    @property
    def epoch(self) -> int:
        """The epoch whose patches ``dataset[i]`` returns (shared with the DataLoader workers)."""
        return self._epoch.get()

    @epoch.setter
    def epoch(self, value: int) -> None:
        self._epoch.set(value)

    def set_epoch(self, epoch: int) -> None:
        """Draw the patches of ``epoch`` from now on, in this process and in every DataLoader worker.

        Parameters
        ----------
        epoch : int
            The epoch whose patches ``dataset[i]`` returns.
        """
        self._epoch.set(epoch)


def torch_friendly(a: np.ndarray) -> np.ndarray:
    """torch lacks uint16/uint32/uint64 tensors in many ops: widen them to a signed dtype."""
    a = np.ascontiguousarray(a)
    if a.dtype == np.uint16:
        return a.astype(np.int32)
    if a.dtype in (np.uint32, np.uint64):
        return a.astype(np.int64)
    return a
