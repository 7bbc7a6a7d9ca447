"""What opening a file learned, kept for the next open of the same unchanged file in this process.

A training loader opens a case, reads one patch and lets go, thousands of times per epoch, so the
checks an open makes (frame pre-flight, metadata JSON, its CRC seal, the chunk-checksum table) and
the chunk CRCs of the first reads would be paid again and again for bytes already checked. Instead,
a read-only open (``mmap_mode="r"``) of a file whose identity matches an earlier verified open
reuses that open's parsed document, checksum table and record of verified chunks: integrity is paid
once per file and process, as issue 15 asked.

**Identity** is ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)``. Every way this library
changes a file gives it a new identity: saves and ``close()`` after region writes rename a new
inode into place, and in-place metadata or region writes move mtime and ctime. ``ctime`` cannot be
set from user space, so ``cp -p``/``rsync -t`` over the same inode changes it too.

**Racy timestamps** (git's "racily clean" problem): file timestamps come from a coarse clock
(a few ms), so a file changed within the same tick as an earlier look keeps its identity. An open
is therefore remembered only when the file's mtime and ctime are at least ``RACY_NS`` older than
the moment it was checked; any change after that must carry a later timestamp. Files written a
moment ago (tests, a save immediately followed by reads) are simply checked again on every open.

Not covered: bytes changed without the file system noticing (bit rot under a still-valid mtime,
writes to the block device). A chunk that passed its CRC in this process is not re-read for that.
``MLArray.open(..., verify=True)`` or ``mlarray.validate`` start from a fresh record
(:func:`forget`), and :func:`clear` empties the cache.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from typing import Any, NamedTuple, Optional, Union

import numpy as np

from .._data.writer import resolve_dparams
from .._errors import CorruptFileError
from .._types import Store
from .._untrusted.limits import metadata_limits_key
from . import integrity as _integrity
from .container import base_offset

__all__ = ["Known", "Reopened", "file_identity", "lookup", "remember", "old_enough", "forget", "clear", "now_ns",
           "open_ndarray", "reopen", "remember_open", "RACY_NS"]

RACY_NS = 2 * 10**9  # two seconds: well above any timestamp granularity but FAT's
_MAX_FILES = 4096
_MAX_DOCUMENT_BYTES = 256 * 2**20  # summed metadata text held for all remembered files


class Known(NamedTuple):
    """One verified open: enough to open the same file again without repeating its checks."""
    offset: int  # byte offset of the base frame
    fmt: Any  # the _format class that read it
    mapping: dict  # the metadata document, seal removed (Meta.from_mapping copies it)
    sums_expected: Optional[bool]
    checksums: Any  # _integrity.Checksums or None
    verified: Any  # _integrity.VerifiedChunks of the base array, shared by every open
    layout: tuple  # (shape, chunks, blocks, dtype str) of the base array as first opened
    verifier_geometry: Any  # (chunks, chunk grid) the first open's ChunkVerifier checked
    cost: int  # bytes charged against _MAX_DOCUMENT_BYTES
    limits_key: tuple  # the metadata limits the open was checked under (_limits.metadata_limits_key)


_lock = threading.Lock()
_files: "OrderedDict[str, tuple[Optional[tuple], Known]]" = OrderedDict()
_held = 0


def file_identity(path: str) -> Optional[tuple]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def lookup(path: str, identity: Optional[tuple]) -> Optional[Known]:
    if identity is None:
        return None
    key = os.path.abspath(path)
    with _lock:
        hit = _files.get(key)
        if hit is None:
            return None
        if hit[0] != identity:
            _drop(key)
            return None
        _files.move_to_end(key)
        return hit[1]


def remember(path: str, identity: Optional[tuple], known: Known, checked_at_ns: int) -> None:
    """Keep ``known`` for ``path`` if its timestamps are safely older than the check (see module doc)."""
    global _held
    if not old_enough(identity, checked_at_ns):
        return
    if known.cost > _MAX_DOCUMENT_BYTES // 16:
        return  # a huge source header: parsing it per open is cheap next to holding many of them
    key = os.path.abspath(path)
    with _lock:
        _drop(key)
        _files[key] = (identity, known)
        _held += known.cost
        while _files and (len(_files) > _MAX_FILES or _held > _MAX_DOCUMENT_BYTES):
            _drop(next(iter(_files)))


def old_enough(identity: Optional[tuple], checked_at_ns: int) -> bool:
    """True when the file's timestamps are ``RACY_NS`` older than the check (see module doc)."""
    return identity is not None and checked_at_ns - max(identity[3], identity[4]) >= RACY_NS


def forget(path: str) -> None:
    with _lock:
        _drop(os.path.abspath(path))


def clear() -> None:
    global _held
    with _lock:
        _files.clear()
        _held = 0


def _drop(key: str) -> None:
    global _held
    old = _files.pop(key, None)
    if old is not None:
        _held -= old[1].cost


def open_ndarray(path: str, offset: int, dparams: Any) -> Store:
    """Open a frame already opened once through ``blosc2.open`` (so known to be a plain NDArray):
    the extension's ``open`` alone, without ``blosc2.open``'s container-type dispatch."""
    import blosc2

    ext_open = getattr(getattr(blosc2, "blosc2_ext", None), "open", None)
    if ext_open is None:
        return blosc2.open(path, mode="r", mmap_mode="r", offset=offset, dparams=dparams)
    store = ext_open(path, "r", offset, mmap_mode="r", dparams=dparams)
    if not isinstance(store, blosc2.NDArray):
        raise CorruptFileError(path, "no longer holds a Blosc2 NDArray")
    return store


def now_ns() -> int:
    return time.time_ns()


# ----------------------------------------------------------------------------- MLArray.open's use


class Reopened(NamedTuple):
    """What :func:`reopen` hands ``MLArray.open``: the opened base array, the earlier open's record and,
    when asked to verify, a chunk verifier that shares the chunks that open already checked."""
    store: Any
    known: Known
    verifier: Optional[_integrity.ChunkVerifier]


def reopen(path: str, identity: Optional[tuple], dparams: Optional[dict],
           verify: Union[bool, str]) -> Optional[Reopened]:
    """Open ``path`` read-only from what an earlier open of the same unchanged file verified; None when
    there is none, other metadata limits are in force, or the file changed meanwhile."""
    known = lookup(path, identity)
    if known is None or known.limits_key != metadata_limits_key():
        return None  # other limits in force: the full open checks the metadata against them
    try:
        store = open_ndarray(path, known.offset, resolve_dparams(dparams))
        same = file_identity(path) == identity and _layout_of(store) == known.layout
    except Exception:
        same = False
    if not same:  # replaced or changed between the look-up and the open: check it afresh
        forget(path)
        return None
    verifier = None
    if verify and known.mapping.get("has_array"):
        crcs = None if known.checksums is None else known.checksums.chunks
        verifier = _integrity.ChunkVerifier.again(store, path, crcs, known.verified, known.verifier_geometry)
    return Reopened(store, known, verifier)


def remember_open(path: str, identity: Optional[tuple], checked_at: int, limits_key: tuple, *, store: Store,
                  fmt: Any, mapping: dict, meta_json: Optional[str], sums_expected: Optional[bool],
                  checksums: Optional[_integrity.Checksums],
                  verifier: Optional[_integrity.ChunkVerifier]) -> None:
    """Keep what a full open of ``path`` verified (its metadata ``mapping``, checksum table, verified
    chunks), for the next open of the unchanged file."""
    if not old_enough(identity, checked_at) or file_identity(path) != identity:
        return
    known = Known(base_offset(path), fmt, mapping, sums_expected, checksums,
                  None if verifier is None else verifier.state, _layout_of(store),
                  None if verifier is None else (verifier.chunks, verifier.grid),
                  len(meta_json or json.dumps(mapping)), limits_key)
    remember(path, identity, known, checked_at)


def _layout_of(store: Store) -> tuple:
    return tuple(store.shape), tuple(store.chunks), tuple(store.blocks), np.dtype(store.dtype).str
