"""Saving the metadata widget's edits: the in-place metadata rewrite of a ``.mla`` file, and what each
file holds now (to tell unsaved edits)."""

from __future__ import annotations

import json
import os
from typing import Optional

from mlarray import MLArray, MLArrayError
from mlarray.meta import Meta

__all__ = ["SavedFiles", "read_metadata", "save_metadata_in_place"]


def save_metadata_in_place(path: str | os.PathLike[str], meta: Meta) -> None:
    """Write ``meta`` into the ``.mla`` file at ``path`` atomically, without touching its pixel data.

    A crash leaves the old file intact; layers that memory-map the old file keep reading it (same
    pixels). Derived fields (layout, pyramid, shape) stay the file's (``MLArray.write_metadata``)."""
    MLArray.write_metadata(os.fspath(path), meta)


def read_metadata(path: str) -> Meta:
    """The metadata stored in the ``.mla`` file at ``path`` (raises ``MLArrayError``/``OSError``)."""
    ml = MLArray.open(path, mmap_mode="r")
    try:
        return ml.meta
    finally:
        ml.close()


class SavedFiles:
    """The metadata of each file as last read from or written to it."""

    def __init__(self) -> None:
        self._json: dict[str, str] = {}  # path -> metadata JSON

    def __contains__(self, path: str) -> bool:
        return path in self._json

    def remember(self, path: str, meta: Optional[Meta] = None) -> Optional[Meta]:
        """Record what ``path`` holds (``meta``, or read from the file); None if it cannot be read."""
        if meta is None:
            try:
                meta = read_metadata(path)
            except (MLArrayError, OSError):
                self._json.pop(path, None)
                return None
        self._json[path] = _key(meta.to_mapping())
        return meta

    def differs(self, path: str, mapping: object) -> bool:
        """Whether the metadata ``mapping`` differs from what the file holds."""
        return _key(mapping) != self._json.get(path)


def _key(mapping: object) -> str:
    return json.dumps(mapping, sort_keys=True)
