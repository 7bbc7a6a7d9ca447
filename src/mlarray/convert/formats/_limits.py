"""Refuse images whose declared size cannot fit in memory, before any library allocates them.

A damaged or hostile header (MetaImage ``DimSize``, a Zarr array's ``shape``, a plugin's reported
dimensions) can declare terabytes; the readers here load the whole image, so they check the
declared size against ``max_read_bytes`` (docs/spec.md section 6.1: by default the memory this
process may still allocate) and fail with a clear ``LimitExceededError`` instead of being killed
by the kernel.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..._untrusted.input_guard import check_decoded

__all__ = ["check_declared_size"]


def check_declared_size(path: str, shape: Sequence[int], itemsize: int, what: str = "the header") -> None:
    nbytes = int(itemsize) * math.prod(int(n) for n in shape)
    check_decoded(path, nbytes, f"{what} (a {' x '.join(str(int(n)) for n in shape)} image)")
