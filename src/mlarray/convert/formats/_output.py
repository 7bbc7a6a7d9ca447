"""Atomic outputs that are not one file: MetaImage header + data pairs and Zarr directories.

The single-file writers go through :func:`mlarray._file.atomic.atomic_output`. A ``.mhd`` header names
its data file, and an OME-Zarr store is a directory tree, so neither can be written under a
temporary name and renamed as one file. Both are written into a hidden scratch directory beside
the target (named like every other partial output, ``.<name>.<random>.partial``, so the batch
runner's clean-up finds it after a killed worker) and then moved into place with renames.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

from ..._file.atomic import fsync_path

__all__ = ["scratch_dir", "move_files_into_place", "replace_directory"]


@contextlib.contextmanager
def scratch_dir(target: str | os.PathLike) -> Iterator[Path]:
    """A hidden directory beside ``target``; removed afterwards whatever happens."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    tmp.mkdir()
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def move_files_into_place(files: list[Path], folder: Path) -> None:
    """Rename ``files`` (in order) into ``folder``; the caller lists the header last.

    Each rename is atomic, and a header only appears once the data it names is complete.
    """
    for f in files:
        fsync_path(f)
    for f in files:
        os.replace(f, folder / f.name)
    fsync_path(folder, directory=True)


def replace_directory(new: Path, target: str | os.PathLike) -> None:
    """Move the finished directory ``new`` to ``target``, replacing an existing store.

    An existing target is first renamed aside and deleted only after the new store is in place:
    a crash leaves either the old or the new store under the target name (or, between the two
    renames, the old one under its hidden ``.old`` name), never a mix of both.
    """
    target = Path(target)
    for root, _, files in os.walk(new):
        for name in files:
            fsync_path(Path(root) / name)
    old = None
    if target.exists() or target.is_symlink():
        if not target.is_dir() or target.is_symlink():
            raise FileExistsError(f"{target}: exists and is not a directory; remove it first")
        old = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial.old")
        os.replace(target, old)
    os.replace(new, target)
    fsync_path(target.parent, directory=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
