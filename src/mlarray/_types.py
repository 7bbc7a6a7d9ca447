"""Type aliases the package's signatures share (declared once here)."""

from __future__ import annotations

import os
from typing import Any, Union

__all__ = ["PathLike", "Store"]

PathLike = Union[str, "os.PathLike[str]"]
"""A file or folder path as users pass it: ``str`` or ``pathlib.Path`` (any ``os.PathLike``)."""

Store = Any
"""An array's storage: numpy, an in-memory or file-backed ``blosc2.NDArray``, or a remote store
(:mod:`mlarray._remote`). blosc2 ships no type hints, so for a type checker this cannot be narrower than Any."""
