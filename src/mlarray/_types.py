"""Type aliases the package's signatures share (declared once here)."""

from __future__ import annotations

import os
from typing import Union

__all__ = ["PathLike"]

PathLike = Union[str, "os.PathLike[str]"]
"""A file or folder path as users pass it: ``str`` or ``pathlib.Path`` (any ``os.PathLike``)."""
