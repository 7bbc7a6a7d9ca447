"""The published package's module path ``mlarray.mlarray``: ``from mlarray.mlarray import MLArray`` keeps working.

The class lives in :mod:`mlarray._array`; this module only re-exports it with the published constants.
"""

from __future__ import annotations

import blosc2  # noqa: F401  (the published module exposed it; code patches ``mlarray.mlarray.blosc2``)

from ._array import MLARRAY_DEFAULT_PATCH_SIZE, MLArray
from ._data.array_io import MLARRAY_SUFFIX
from .meta import FORMAT_VERSION

__all__ = ["MLArray", "MLARRAY_DEFAULT_PATCH_SIZE", "MLARRAY_SUFFIX", "MLARRAY_VERSION"]

# The published package wrote "v0" here for its pickle-metadata files; this library writes format v1.
MLARRAY_VERSION = f"v{FORMAT_VERSION}"
