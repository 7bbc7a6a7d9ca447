"""How much memory this process may still allocate, and the guard that refuses reads beyond it.

A small file can declare a terabyte-sized array; ``np.asarray(img)``, ``img.to_numpy()`` or
``img[...]`` would then allocate before anything refused. :func:`check_read` runs before such reads
(``max_read_bytes``, docs/spec.md section 6): by default the limit is the memory available right
now, so a read that cannot succeed fails at once with an error that says how to read a region
instead, or how to raise the limit for a trusted file.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
from numpy.typing import DTypeLike

from .._errors import LimitExceededError
from .._untrusted.limits import is_overridden, limit, remedy
from .chunks import expand_key

__all__ = ["available_memory", "check_read", "selection_nbytes", "SMALL_READ"]

# Arrays up to this size are never checked: no per-read cost for the common case (patch reads).
SMALL_READ = 256 * 2**20


def available_memory() -> Optional[int]:
    """Bytes this process may still allocate (available RAM, and the address-space limit if set)."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            avail = soft if avail is None else min(avail, soft)
    except (ImportError, OSError, ValueError):
        pass
    return avail


def read_allowance() -> Optional[int]:
    """The ``max_read_bytes`` in force: the explicit setting, else the memory available now."""
    return limit("max_read_bytes") if is_overridden("max_read_bytes") else available_memory()


def selection_nbytes(shape: Sequence[int], itemsize: int, key: Any) -> Optional[int]:
    """Bytes ``array[key]`` allocates, for keys of slices, integers, Ellipsis and 1-D index lists;
    None when that is not known cheaply (numpy then sizes the result from the key the caller built)."""
    k = expand_key(key, len(shape))
    if k is None:
        return None
    n = itemsize
    for axis_key, size in zip(k, shape):
        if isinstance(axis_key, slice):
            n *= len(range(*axis_key.indices(int(size))))
        elif isinstance(axis_key, (int, np.integer)) and not isinstance(axis_key, bool):
            continue
        elif isinstance(axis_key, (list, tuple, np.ndarray)) and np.ndim(axis_key) == 1:
            n *= len(axis_key)
        else:
            return None
    return n


def check_read(path: object, shape: Sequence[int], dtype: DTypeLike, key: Any = Ellipsis, what: str = "") -> None:
    """Refuse ``array[key]`` when it would allocate more than ``max_read_bytes``; cheap for small arrays."""
    itemsize = dtype.itemsize if isinstance(dtype, np.dtype) else np.dtype(dtype).itemsize
    full = math.prod(shape) * itemsize
    overridden = is_overridden("max_read_bytes")
    if full <= SMALL_READ and not overridden:
        return  # the common case (patch reads from ordinary files): two look-ups, no key parsing
    full = math.prod(int(s) for s in shape) * itemsize  # shapes of numpy ints: exact Python ints
    explicit = limit("max_read_bytes") if overridden else None
    small = SMALL_READ if explicit is None else min(SMALL_READ, explicit)
    if full <= small:
        return
    nbytes = full if key is Ellipsis else selection_nbytes(shape, itemsize, key)
    if nbytes is None or nbytes <= small:
        return
    allowed = read_allowance()
    if allowed is not None and nbytes > allowed:
        source = "allowed" if is_overridden("max_read_bytes") else "available"
        raise LimitExceededError(
            path, f"{what or 'this read'} needs {nbytes / 2**30:,.1f} GiB, more than the {allowed / 2**30:,.1f} GiB "
                  f"of memory {source} (max_read_bytes); read a region instead (e.g. img[0:64]; "
                  f"MLArray.open reads only the chunks a slice touches), or {remedy('max_read_bytes', nbytes)}",
            "max_read_bytes")
