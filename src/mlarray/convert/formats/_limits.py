"""Refuse images whose declared size cannot fit in memory, before any library allocates them.

A damaged or hostile header (MetaImage ``DimSize``, a Zarr array's ``shape``, a plugin's reported
dimensions) can declare terabytes; the readers here load the whole image, so they check the
declared size against what this process may still allocate and fail with a clear error instead
of being killed by the kernel.
"""

from __future__ import annotations

import math

from ..._errors import CorruptFileError
from ..._memory import available_memory

__all__ = ["check_declared_size"]


def check_declared_size(path: str, shape, itemsize: int, what: str = "the header") -> None:
    nbytes = int(itemsize) * math.prod(int(n) for n in shape)
    limit = available_memory()
    if limit is not None and nbytes > limit:
        raise CorruptFileError(path, f"{what} declares a {' x '.join(str(int(n)) for n in shape)} image of "
                                     f"{nbytes / 2**30:.1f} GiB, more than this process can allocate "
                                     f"({limit / 2**30:.1f} GiB); the file is damaged or must be converted on "
                                     "a machine with more memory")
