"""Exceptions raised by mlarray.

Every error says which field or file is wrong, what was received, and what to do instead.
All derive from :class:`MLArrayError`, so callers can catch one type.

Code written for the published ``mlarray`` 0.0.x package catches the builtin types it raised:
``RuntimeError`` for file, mode and extension problems, ``TypeError`` for a value of the wrong type
or an array-less ``MLArray``, ``ValueError`` for a wrong value. So ``MLArrayError`` is a
``RuntimeError``, :class:`MetadataError` also a ``ValueError``, :class:`MetadataTypeError` and
:class:`NoArrayError` also ``TypeError``, and :class:`MissingFileError` also ``FileNotFoundError``.
"""

from __future__ import annotations

__all__ = [
    "SamplingError",
    "SamplingTypeError",
    "MLArrayError",
    "MetadataError",
    "CorruptFileError",
    "UnsafeLegacyFileError",
    "FormatVersionError",
    "AffineError",
    "LimitExceededError",
    "MetadataTypeError",
    "NoArrayError",
    "MissingFileError",
    "MissingDependencyError",
    "InputError",
]


class MLArrayError(RuntimeError):
    """Base class for all errors raised by mlarray (a ``RuntimeError``, as the published package raised)."""


class MetadataError(MLArrayError, ValueError):
    """Metadata failed validation. The message names the field, the value and the remedy."""

    def __init__(self, field: str, value: object, problem: str, remedy: str = "") -> None:
        self.field = field
        self.value = value
        self.problem = problem
        self.remedy = remedy
        shown = repr(value.tolist() if hasattr(value, "tolist") else value)
        if len(shown) > 200:
            shown = shown[:197] + "..."
        msg = f"{field}: {problem} (got {shown})"
        if remedy:
            msg += f"; {remedy}"
        super().__init__(msg)

    def __reduce__(self) -> tuple[type[MLArrayError], tuple[object, ...]]:
        # Exceptions pickle as cls(*args) by default; ours take named parts (worker processes send them back).
        return (type(self), (self.field, self.value, self.problem, self.remedy))


class MetadataTypeError(MetadataError, TypeError):
    """A metadata value has the wrong type (e.g. a number where a string belongs); also a ``TypeError``."""


class NoArrayError(MLArrayError, TypeError):
    """Voxel access on an ``MLArray`` that holds metadata only (or was closed); also a ``TypeError``."""


class AffineError(MetadataError):
    """Geometry (spacing, origin, direction, affine) is inconsistent or degenerate."""


class CorruptFileError(MLArrayError, OSError):
    """A file could not be read as MLArray: truncated, damaged or not an .mla file."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[type[MLArrayError], tuple[object, ...]]:
        return (type(self), (self.path, self.problem))


class InputError(MLArrayError, ValueError):
    """Inputs that cannot be used together as asked: files whose grids, shapes or channel counts
    disagree, a metadata-only file where pixels are needed, an unknown option. Also a ``ValueError``."""


class SamplingError(MLArrayError, ValueError):
    """A patch-sampling argument or an image/label pair that cannot be sampled; also a ``ValueError``."""


class SamplingTypeError(SamplingError, TypeError):
    """An argument or array of the wrong kind for sampling (e.g. float labels); also a ``TypeError``."""


class MissingFileError(MLArrayError, FileNotFoundError):
    """No file at the given path; also a ``FileNotFoundError``."""

    def __init__(self, path: object, problem: str = "no MLArray file exists at this path") -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[type[MLArrayError], tuple[object, ...]]:
        return (type(self), (self.path, self.problem))


class UnsafeLegacyFileError(CorruptFileError):
    """A legacy (pickle-based) file holds objects outside the safe allow-list; nothing was executed."""


class FormatVersionError(CorruptFileError):
    """The file was written by a newer, unknown version of the format."""


class LimitExceededError(CorruptFileError):
    """A file asks for more than a safety limit allows (boxes, metadata size, memory, ...).

    Not necessarily damage: the message names the limit and how to raise it for a trusted file
    (see :mod:`mlarray._untrusted.limits`)."""

    def __init__(self, path: object, problem: str, limit: str = "") -> None:
        self.limit = limit
        super().__init__(path, problem)

    def __reduce__(self) -> tuple[type[MLArrayError], tuple[object, ...]]:
        return (type(self), (self.path, self.problem, self.limit))


class MissingDependencyError(MLArrayError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it.

    Also an ``ImportError``, so ``except ImportError`` around an optional feature keeps working."""

    def __init__(self, package: str, feature: str, extra: str) -> None:
        self.package = package
        self.feature = feature
        self.extra = extra
        # RuntimeError comes first in the MRO and takes no keywords: set ImportError's `name` afterwards
        super().__init__(f"{feature} needs {package}, which is not installed; "
                         f"install it with: pip install 'mlarray[{extra}]'")
        self.name = package

    def __reduce__(self) -> tuple[type[MLArrayError], tuple[object, ...]]:
        return (type(self), (self.package, self.feature, self.extra))
