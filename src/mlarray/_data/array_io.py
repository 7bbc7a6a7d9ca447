"""File-level helpers of :class:`mlarray.MLArray`: paths, opening the base frame, reading metadata and data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .._errors import CorruptFileError, MetadataError, MissingFileError, MLArrayError
from .._file.container import base_offset
from .._file.format import detect_format
from .._file.frame_check import check_frame
from .._types import PathLike, Store
from .._untrusted.limits import gc_paused
from ..meta import Meta
from .memory import check_read
from .writer import resolve_dparams

__all__ = ["MLARRAY_SUFFIX", "check_path", "open_store", "store_modes", "read_meta", "read_all", "read_compressed"]

MLARRAY_SUFFIX = "mla"


def check_path(filepath: PathLike, must_exist: bool) -> str:
    path = os.fspath(filepath)
    if not str(path).endswith(f".{MLARRAY_SUFFIX}"):
        raise MLArrayError(f"{path}: MLArray files end in '.{MLARRAY_SUFFIX}'; rename the target")
    if must_exist and not Path(path).is_file():
        raise MissingFileError(path, "no MLArray file exists at this path; check the path")
    return str(path)


def store_modes(mode: Optional[str], mmap_mode: Optional[str]) -> tuple[str, Optional[str]]:
    """Blosc2 open modes for an existing file from the user-facing ones: a file made by
    ``create(mode="w", mmap_mode="w+")`` is reopened for writing, never truncated."""
    mode = "a" if mode == "w" else (mode or "r")
    mmap_mode = "r+" if mmap_mode == "w+" else mmap_mode
    return mode, mmap_mode


def open_store(path: str, mode: str, mmap_mode: Optional[str], dparams: Any) -> Store:
    import blosc2

    mode, mmap_mode = store_modes(mode, mmap_mode)
    kwargs: dict[str, Any] = {"mode": mode, "dparams": resolve_dparams(dparams)}
    if mmap_mode is not None:
        kwargs["mmap_mode"] = mmap_mode
    for attempt in range(3):
        ino = _inode(path)
        offset = base_offset(path)  # raises its own precise CorruptFileError
        try:
            check_frame(path, offset)  # damage C-Blosc2 would crash on (see _frame_check)
            store = blosc2.open(path, offset=offset, **kwargs)
            break
        except Exception as exc:
            # Blosc2 opens the path more than once; an atomic save replacing the file in between
            # mixes two files. If the file was replaced meanwhile, open the new one again.
            if attempt < 2 and ino is not None and _inode(path) != ino:
                continue
            if isinstance(exc, CorruptFileError):
                raise
            raise CorruptFileError(path, f"is not a readable Blosc2 frame ({type(exc).__name__}: {exc})") from None
    if not isinstance(store, blosc2.NDArray):
        raise CorruptFileError(path, f"holds a {type(store).__name__}, not a Blosc2 NDArray")
    return store


def _inode(path: str) -> Optional[tuple[int, int, int]]:
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino, st.st_mtime_ns)
    except OSError:
        return None


def read_meta(store: Store, path: str, fmt: Any = None) -> tuple[Meta, Optional[bool]]:
    """The file's metadata, and whether its metadata records chunk checksums (None: not recorded)."""
    fmt = fmt or detect_format(store, path)
    mapping, sums_expected = fmt.read_document(store, path)
    try:
        with gc_paused():  # millions of small containers, nothing cyclic (see _limits.gc_paused)
            meta = Meta.from_mapping(mapping)
    except MetadataError as exc:
        raise CorruptFileError(path, f"has invalid metadata: {exc}") from None
    except (TypeError, ValueError, OverflowError, RecursionError, MemoryError) as exc:  # any other failure
        raise CorruptFileError(path, f"has invalid metadata ({type(exc).__name__}: {exc})") from None
    if meta.has_array:
        try:
            shape = tuple(store.shape)
        except Exception as exc:
            raise CorruptFileError(path, f"the array header cannot be read ({exc})") from None
        if meta.spatial.shape is not None and tuple(meta.spatial.shape) != shape:
            raise CorruptFileError(path, f"metadata says shape {list(meta.spatial.shape)} "
                                         f"but the array is {list(shape)}")
        for k, lv in enumerate(meta.pyramid.levels, start=1):  # a level of other rank cannot be a level of this array
            if len(lv["shape"]) != len(shape):
                raise CorruptFileError(path, f"pyramid level {k} has {len(lv['shape'])} axes but the array has "
                                             f"{len(shape)} (damaged metadata)")
        # The frame header is not checksummed; a flipped chunk/block size or dtype would decode every
        # chunk into the wrong places or values. The metadata records them, so compare the two.
        for name, recorded, actual in (("chunk", meta.blosc2.chunk_size, list(store.chunks)),
                                       ("block", meta.blosc2.block_size, list(store.blocks)),
                                       ("dtype", meta.blosc2.dtype, np.dtype(store.dtype).str)):
            if recorded is not None and recorded != actual:
                raise CorruptFileError(path, f"the array header says {name}{'s' * (name != 'dtype')} {actual} but "
                                             f"the metadata recorded {recorded} (damaged header)")
    return meta, sums_expected


def read_all(store: Store, path: str) -> np.ndarray:
    check_read(path, store.shape, store.dtype, Ellipsis, "loading the whole array")
    try:
        return np.asarray(store[...])
    except Exception as exc:
        raise CorruptFileError(path, f"the compressed data cannot be read ({type(exc).__name__}: {exc})") from None


def read_compressed(store: Store, path: str) -> Store:
    """The file's base array as an in-memory Blosc2 NDArray: its compressed chunks, copied once."""
    import blosc2

    try:
        return blosc2.ndarray_from_cframe(store.to_cframe(), copy=True)
    except Exception as exc:
        raise CorruptFileError(path, f"the compressed data cannot be read ({type(exc).__name__}: {exc})") from None
