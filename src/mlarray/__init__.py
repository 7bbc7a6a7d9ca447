"""MLArray: an N-dimensional image format (``.mla``) for machine learning on medical and scientific images.

Blosc2 storage with a stored resolution pyramid and versioned JSON metadata. Heavy modules are
imported on first use, so ``import mlarray`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from ._array import MLARRAY_DEFAULT_PATCH_SIZE, MLArray
    from ._errors import (AffineError, CorruptFileError, FormatVersionError, LimitExceededError, MetadataError,
                          MLArrayError, UnsafeLegacyFileError)
    from ._limits import LIMITS, limits
    from .meta import AxisLabel, CoordSystem, Meta, MetaBbox, MetaBlosc2, MetaPyramid, MetaSpatial, MetaStatistics
    from ._validate import Problem, validate

__all__ = [
    "__version__",
    "MLArray",
    "MLARRAY_DEFAULT_PATCH_SIZE",
    "Meta",
    "MetaSpatial",
    "MetaStatistics",
    "MetaBbox",
    "MetaBlosc2",
    "MetaPyramid",
    "AxisLabel",
    "CoordSystem",
    "validate",
    "Problem",
    "MLArrayError",
    "MetadataError",
    "AffineError",
    "CorruptFileError",
    "UnsafeLegacyFileError",
    "FormatVersionError",
    "LimitExceededError",
    "limits",
    "LIMITS",
]


_LAZY = {
    "MLArray": "._array",
    "MLARRAY_DEFAULT_PATCH_SIZE": "._array",
    "Meta": ".meta",
    "MetaSpatial": ".meta",
    "MetaStatistics": ".meta",
    "MetaBbox": ".meta",
    "MetaBlosc2": ".meta",
    "MetaPyramid": ".meta",
    "AxisLabel": ".meta",
    "CoordSystem": ".meta",
    "validate": "._validate",
    "Problem": "._validate",
    "MLArrayError": "._errors",
    "MetadataError": "._errors",
    "AffineError": "._errors",
    "CorruptFileError": "._errors",
    "UnsafeLegacyFileError": "._errors",
    "FormatVersionError": "._errors",
    "LimitExceededError": "._errors",
    "limits": "._limits",
    "LIMITS": "._limits",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlarray' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
