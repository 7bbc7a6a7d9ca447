"""npe2 sample data (File > Open Sample > MLArray): a synthetic CT phantom, its segmentation, boxes.

The files are written once into a cache folder (``$MLARRAY_SAMPLE_DIR``, else
``$XDG_CACHE_HOME/mlarray/samples`` or ``~/.cache/mlarray/samples``) and opened through the
plugin's reader, so the layers are real lazy, ``.mla``-backed layers (pyramid, metadata, boxes)
that the metadata widget can save back to.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from mlarray.demo import write_sample_files

from ._reader import read_mla

__all__ = ["sample_dir", "ct_phantom", "ct_phantom_segmentation", "ct_phantom_all", "sample_paths"]


def sample_dir() -> Path:
    env = os.environ.get("MLARRAY_SAMPLE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlarray" / "samples"


def sample_paths(size: Optional[int] = None) -> dict:
    """Paths of the cached sample files, written on first use."""

    return write_sample_files(sample_dir(), size)


def _read(paths: list) -> list:

    return read_mla(paths)


def ct_phantom() -> list:
    """CT phantom (Hounsfield units, two-level pyramid) and its bounding boxes."""
    return _read([sample_paths()["image"]])


def ct_phantom_segmentation() -> list:
    """Segmentation of the CT phantom with named, coloured classes (liver, kidney, bone, lung)."""
    return _read([sample_paths()["labels"]])


def ct_phantom_all() -> list:
    """CT phantom, its segmentation and the bounding boxes."""
    p = sample_paths()
    return _read([p["image"], p["labels"]])
