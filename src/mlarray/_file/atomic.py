"""Atomic file replacement: write beside the target, fsync, then ``os.replace``.

A crash at any moment leaves either the old file or the new one, never a mix. The temporary
name starts with a dot (hidden from file browsers and ``*.mla`` globs), contains ``.partial``, and
ends exactly as the target does (everything after the first dot of its name: ``.ome.tif``,
``.nii.gz``), so writers that choose the format by a compound extension (OME-TIFF, nibabel) still
see it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator

from .._errors import MissingFileError

__all__ = ["atomic_output", "fsync_path"]


def fsync_path(path: str | os.PathLike, directory: bool = False) -> None:
    """Flush a file (or a directory entry) to stable storage."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return  # some filesystems refuse to open directories; the data fsync already happened
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``target``; on success it atomically becomes ``target``."""
    target = Path(target)
    _, dot, rest = target.name.lstrip(".").partition(".")
    ext = dot + rest  # "x.ome.tif" -> ".ome.tif": the last suffix alone would make a plain TIFF
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial{ext}")
    if not target.parent.is_dir():  # else each writer fails its own way (blosc2: "Could not build empty array")
        raise MissingFileError(target.parent, f"the folder to write {target.name} into does not exist; "
                                              "create it first (or save somewhere that exists)")
    try:
        yield str(tmp)
        fsync_path(tmp)
        os.replace(tmp, target)
        fsync_path(target.parent, directory=True)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
