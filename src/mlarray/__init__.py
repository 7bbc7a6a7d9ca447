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
    from ._errors import (
        AffineError,
        CorruptFileError,
        FormatVersionError,
        InputError,
        LimitExceededError,
        MetadataError,
        MetadataTypeError,
        MissingDependencyError,
        MissingFileError,
        MLArrayError,
        NoArrayError,
        UnsafeLegacyFileError,
    )
    from ._metadata.validate import Problem, validate
    from ._untrusted.limits import LIMITS, limits
    from .meta import (
        AxisLabel,
        AxisLabelEnum,
        BaseMeta,
        CoordSystem,
        CoordSystemEnum,
        Meta,
        MetaBbox,
        MetaBlosc2,
        MetaExtra,
        MetaHasArray,
        MetaImageFormat,
        MetaIsSeg,
        MetaPyramid,
        MetaSource,
        MetaSpatial,
        MetaStatistics,
        MetaVersion,
        SingleKeyBaseMeta,
    )
    from .utils import is_serializable

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
    "MetaSource",
    "MetaExtra",
    "MetaIsSeg",
    "MetaHasArray",
    "MetaImageFormat",
    "MetaVersion",
    "BaseMeta",
    "SingleKeyBaseMeta",
    "AxisLabelEnum",
    "CoordSystemEnum",
    "is_serializable",
    "cli_print_header",
    "cli_convert_to_mlarray",
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
    "MetadataTypeError",
    "NoArrayError",
    "MissingFileError",
    "MissingDependencyError",
    "InputError",
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
    "MetaSource": ".meta",
    "MetaExtra": ".meta",
    "MetaIsSeg": ".meta",
    "MetaHasArray": ".meta",
    "MetaImageFormat": ".meta",
    "MetaVersion": ".meta",
    "BaseMeta": ".meta",
    "SingleKeyBaseMeta": ".meta",
    "AxisLabelEnum": ".meta",
    "CoordSystemEnum": ".meta",
    "is_serializable": ".utils",
    "cli_print_header": ".cli",
    "cli_convert_to_mlarray": ".cli",
    "validate": "._metadata.validate",
    "Problem": "._metadata.validate",
    "MLArrayError": "._errors",
    "MetadataError": "._errors",
    "AffineError": "._errors",
    "CorruptFileError": "._errors",
    "UnsafeLegacyFileError": "._errors",
    "FormatVersionError": "._errors",
    "LimitExceededError": "._errors",
    "limits": "._untrusted.limits",
    "LIMITS": "._untrusted.limits",
    "MetadataTypeError": "._errors",
    "NoArrayError": "._errors",
    "MissingFileError": "._errors",
    "MissingDependencyError": "._errors",
    "InputError": "._errors",
}
# The published package's module path ``mlarray.mlarray`` (and ``mlarray.utils``), imported on first use.
_SUBMODULES = {"mlarray", "utils", "meta", "cli"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mlarray' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
