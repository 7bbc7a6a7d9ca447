"""Per-chunk checksums: detect corrupted compressed data instead of returning silent garbage.

C-Blosc2 frames carry no checksums (c-blosc2 issue #69 is still open): a flipped bit inside a
compressed chunk often decodes to different numbers without any error (measured in
``docs/reliability.md``). So ``save`` records a CRC-32 of every *compressed* chunk of the base
array (the bytes ``schunk.get_chunk(i)`` returns) and of every pyramid level cframe, in vlmeta
``"mla.checksums"`` (JSON). Readers verify:

* ``MLArray.open(path)`` (default ``verify="lazy"``): each chunk the first time a read touches it;
* ``MLArray.open(path, verify=True)``, ``MLArray.load(path)``, ``mlarray.validate(path)``: all chunks;
* pyramid level chunks the first time a read touches them.

Checksumming compressed bytes costs a CRC over data that is read anyway and needs no
decompression. Files without the entry (older writers, or a file whose
in-place region writes were interrupted before ``close()``) are read without verification.

In-place region writes (``mmap_mode="r+"``) delete the entry before the first chunk changes and
``close()`` writes a fresh one, so a checksum never describes chunks it was not computed from.
A reader that opened the file before such a write re-checks a mismatch against the file as it is
now, and reports corruption only when the file's current checksums also disagree.
"""

from __future__ import annotations

import base64
import json
import threading
import zlib
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from .._data.chunks import expand_key
from .._data.read_path import Region, chunk_ids
from .._errors import CorruptFileError
from .._types import Store
from .._untrusted.limits import check
from .container import base_offset
from .format import CHECKSUMS_KEY, FormatV1
from .frame_check import check_vlmeta_entries, is_lazy_chunk
from .vlmeta_write import write_entries

__all__ = ["KEY", "array_checksums", "frame_with_checksums", "frame_checksums", "write_checksums", "invalidate",
           "read_checksums", "ChunkVerifier", "VerifiedChunks", "verify_all"]

KEY = CHECKSUMS_KEY
ALGORITHM = "crc32"


def _crc(b: bytes) -> int:
    return zlib.crc32(b) & 0xFFFFFFFF


crc32 = _crc  # the checksum of one compressed chunk, for readers of chunks fetched elsewhere (mlarray._remote)


def array_checksums(arr: Store) -> dict:
    """CRC-32 of every compressed chunk of a Blosc2 NDArray (in memory or on disk)."""
    n = arr.schunk.nchunks
    crcs = np.fromiter((_crc(arr.schunk.get_chunk(i)) for i in range(n)), dtype="<u4", count=n)
    return {"nchunks": int(n), "chunks": base64.b64encode(crcs.tobytes()).decode("ascii")}


def frame_with_checksums(frame: bytes, sums: dict) -> bytes:
    """A pyramid level's frame that also carries its own chunk checksums (vlmeta ``KEY``, the document of
    :func:`array_checksums`).

    The base frame's entry keeps every level's checksums too, and stays what local readers and older
    versions read; the copy in the level lets a remote reader verify a level with the bytes it fetches
    for that level anyway, without the base entry (~5.4 bytes for every chunk of the base array).
    Returns ``frame`` unchanged if re-serialising it would alter a chunk the checksums were computed from."""
    import blosc2

    arr = blosc2.ndarray_from_cframe(frame, copy=True)
    arr.schunk.vlmeta[KEY] = json.dumps({"algorithm": ALGORITHM, **sums}, separators=(",", ":"))
    out = bytes(arr.to_cframe())
    return out if array_checksums(blosc2.ndarray_from_cframe(out)) == sums else frame


def frame_checksums(vlmeta: Any, path: str, what: str) -> Optional[np.ndarray]:
    """The chunk checksums a pyramid level's frame carries itself (:func:`frame_with_checksums`), or None
    when it carries none (levels written before they did)."""
    try:
        raw = vlmeta[KEY] if KEY in vlmeta else None
    except Exception as exc:
        raise CorruptFileError(path, f"the checksum entry of the {what} cannot be read ({type(exc).__name__}: {exc})") \
            from None
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    check(path, "max_meta_bytes", len(raw) if isinstance(raw, str) else 0, f"the checksum entry of the {what}")
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("algorithm") != ALGORITHM:
            raise CorruptFileError(path, f"the checksum entry of the {what} is damaged (not a crc32 checksum "
                                         "document)")
        return _decode_crcs(doc, path)
    except CorruptFileError:
        raise
    except Exception as exc:
        raise CorruptFileError(path, f"the checksum entry of the {what} is damaged ({exc})") from None


def write_checksums(store: Store, level_sums: Optional[dict] = None) -> None:
    """Record the checksums of every chunk of ``store`` and the given per-level checksums."""
    doc = {"algorithm": ALGORITHM, **array_checksums(store), "levels": dict(level_sums or {})}
    write_entries(store, {KEY: json.dumps(doc, separators=(",", ":"))})


def invalidate(store: Store, path: str) -> None:
    """Drop the checksums before chunks are modified in place (``close()`` writes new ones).

    The metadata first records that they are gone: a writer killed before ``close()`` leaves a
    file without checksums that reads fine, not one whose metadata promises missing checksums."""
    try:
        if KEY in store.vlmeta:
            if FormatV1.matches(store):
                FormatV1.record_no_chunk_checksums(store, path)
            write_entries(store, {}, deletes=[KEY])
    except KeyError:
        pass


class Checksums:
    def __init__(self, doc: dict, path: str) -> None:
        try:
            if doc.get("algorithm") != ALGORITHM:
                raise CorruptFileError(path, f"the checksum entry {KEY!r} is damaged (unknown algorithm "
                                             f"{doc.get('algorithm')!r})")
            self.chunks = _decode_crcs(doc, path)
            self.levels = {str(k): _decode_crcs(v, path) for k, v in dict(doc.get("levels") or {}).items()}
        except CorruptFileError:
            raise
        except Exception as exc:
            raise CorruptFileError(path, f"the checksum entry {KEY!r} is damaged ({exc})") from None


def _decode_crcs(doc: dict, path: str) -> np.ndarray:
    crcs = np.frombuffer(base64.b64decode(doc["chunks"], validate=True), dtype="<u4")
    if len(crcs) != int(doc["nchunks"]):
        raise CorruptFileError(path, f"the checksum entry {KEY!r} is damaged (chunk count does not match)")
    return crcs


def read_checksums(store: Store, path: str, expected: Optional[bool] = None) -> Optional[Checksums]:
    """The file's checksums, or None when it has none (older writer, interrupted in-place writes).

    ``expected``: the metadata's record that they exist (``_seal``); then a missing entry is damage."""
    try:
        if KEY not in store.vlmeta:
            if expected:
                raise CorruptFileError(path, f"the metadata records chunk checksums but the entry {KEY!r} is missing "
                                             "(damaged frame trailer); restore the file from a backup or its source")
            return None
        raw = store.vlmeta[KEY]
    except CorruptFileError:
        raise
    except Exception as exc:
        raise CorruptFileError(path, f"the checksum entry cannot be read ({type(exc).__name__}: {exc})") from None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        raise CorruptFileError(path, f"the checksum entry {KEY!r} is damaged (not JSON text)")
    # 5.4 bytes per chunk: the metadata limit leaves room for ~50 M chunks (a 4096^3 volume in 16^3 chunks)
    check(path, "max_meta_bytes", len(raw), f"the checksum entry {KEY!r}")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise CorruptFileError(path, f"the checksum entry {KEY!r} is damaged ({exc})") from None
    if not isinstance(doc, dict):
        raise CorruptFileError(path, f"the checksum entry {KEY!r} is damaged (not an object)")
    return Checksums(doc, path)


def _read_chunk(store: Store, i: int, path: str, what: str = "array") -> bytes:
    """Compressed chunk ``i``, refused if its header is flagged "lazy".

    A stored chunk never carries that flag (bit 3 of header byte 31); with it, C-Blosc2 reads the
    chunk's blocks from a file offset taken from the chunk's own bytes, and on a memory-mapped
    frame an offset outside the file crashes the process (see ``_frame_check``). Memory-mapped
    readers therefore check every chunk's header before its first read, with or without CRCs."""
    try:
        chunk = store.schunk.get_chunk(i)
    except Exception as exc:
        raise CorruptFileError(path, f"chunk {i} of the {what} cannot be read ({type(exc).__name__}: {exc})") from None
    if is_lazy_chunk(chunk):
        raise CorruptFileError(path, f"chunk {i} of the {what} is corrupted (its header is flagged 'lazy'); "
                                     "restore the file from a backup or its source")
    return chunk


def _chunk_crc(store: Store, i: int, path: str, what: str = "array") -> int:
    return _crc(_read_chunk(store, i, path, what))


def _fresh_mismatch(path: str, i: int) -> bool:
    """Re-check chunk ``i`` against the file as it is now (another process may have rewritten it)."""
    import blosc2

    try:
        off = base_offset(str(path))
        check_vlmeta_entries(str(path), off)
        fresh = blosc2.open(str(path), mode="r", offset=off)
        sums = read_checksums(fresh, path)
    except Exception:
        return True
    if sums is None:  # checksums were dropped: in-place writes in progress, nothing to verify against
        return False
    if i >= len(sums.chunks):
        return True
    return _chunk_crc(fresh, i, path) != int(sums.chunks[i])


class VerifiedChunks:
    """Which chunks of one stored array have passed their check: shared by every open of the same
    unchanged file in a process (``_open_cache``), so a chunk is checksummed once, not once per open."""

    def __init__(self, nchunks: int) -> None:
        self.checked = np.zeros(nchunks, dtype=bool)
        self.unchecked = nchunks  # once every chunk is verified, reads skip the bookkeeping
        self._lock = threading.Lock()

    def mark(self, i: int) -> None:
        with self._lock:
            if not self.checked[i]:
                self.checked[i] = True
                self.unchecked -= 1


class ChunkVerifier:
    """Verifies the chunks of one array (the base, or a pyramid level) once each, on first access.

    ``crcs=None`` (a file without checksums): only the chunk headers are checked, so that a
    damaged one is an error rather than a crash in C-Blosc2 (see ``_read_chunk``).
    ``state``: the record of chunks already verified (shared between opens of one unchanged file)."""

    def __init__(self, store: Store, path: str, crcs: Optional[np.ndarray], what: str = "array",
                 state: Optional[VerifiedChunks] = None) -> None:
        self.store, self.path, self.crcs, self.what = store, path, crcs, what
        nchunks = store.schunk.nchunks
        if crcs is not None and nchunks != len(crcs):
            raise CorruptFileError(path, f"the {what} has {nchunks} chunks but checksums for {len(crcs)}")
        self.chunks = tuple(store.chunks)
        self.grid = tuple(-(-s // max(c, 1)) for s, c in zip(store.shape, self.chunks))  # (0,) arrays: chunks (0,)
        if store.size and int(np.prod(self.grid, dtype=np.int64)) != nchunks:
            raise CorruptFileError(path, f"the {what}'s header describes {int(np.prod(self.grid))} chunks but the "
                                         f"frame holds {nchunks} (damaged header)")
        if state is None or len(state.checked) != nchunks:
            state = VerifiedChunks(nchunks)
        self.state = state
        self.enabled = True

    @classmethod
    def again(cls, store: Store, path: str, crcs: Optional[np.ndarray], state: VerifiedChunks,
              geometry: tuple[tuple[int, ...], tuple[int, ...]]) -> "ChunkVerifier":
        """A verifier for a new open of a file whose first open built one with this ``state`` and
        ``geometry`` (chunks, grid): the header checks of ``__init__`` passed then (``_open_cache``)."""
        self = cls.__new__(cls)
        self.store, self.path, self.crcs, self.what = store, path, crcs, "array"
        self.chunks, self.grid = geometry
        self.state, self.enabled = state, True
        return self

    @property
    def checked(self) -> np.ndarray:
        return self.state.checked

    @property
    def unchecked(self) -> int:
        return self.state.unchecked

    def check_chunks(self, idx: Iterable[int]) -> None:
        if not self.enabled:
            return
        checked = self.state.checked
        for i in idx:
            i = int(i)
            if checked[i]:
                continue
            crc = _chunk_crc(self.store, i, self.path, self.what)
            if self.crcs is not None and crc != int(self.crcs[i]):
                # Levels never change in place; the base may have been rewritten by another process.
                if self.what != "array" or _fresh_mismatch(self.path, i):
                    raise CorruptFileError(self.path, f"chunk {i} of the {self.what} is corrupted (checksum "
                                                      "mismatch); restore the file from a backup or its source")
                self.enabled = False  # rewritten in place by another process since we opened it
                return
            self.state.mark(i)

    def check_all(self) -> None:
        if self.state.unchecked:
            self.check_chunks(np.flatnonzero(~self.state.checked))

    def check_key(self, key: Any) -> None:
        if self.enabled and self.state.unchecked:
            self.check_chunks(chunks_for_key(self.store.shape, self.chunks, self.grid, key))

    def check_region(self, region: Region) -> None:
        """Like :meth:`check_key` for a key already parsed by ``_read_path.plan``."""
        if self.enabled and self.state.unchecked:
            self.check_chunks(chunk_ids(region, self.chunks, self.grid))


def chunks_for_key(shape: Sequence[int], chunks: Sequence[int], grid: Sequence[int], key: Any) -> Iterable[int]:
    """Flat indices of the chunks a basic-indexing ``key`` touches (all chunks for fancy keys)."""
    everything = range(int(np.prod(grid, dtype=np.int64)))
    key = expand_key(tuple(k for k in (key if isinstance(key, tuple) else (key,)) if k is not None), len(shape))
    if key is None:
        return everything
    ranges = []
    for k, n, c in zip(key, shape, chunks):
        if isinstance(k, (int, np.integer)):
            k = int(k) + (n if k < 0 else 0)
            if not 0 <= k < n:
                return everything
            ranges.append(range(k // c, k // c + 1))
        elif isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step < 0:
                start, stop = stop + 1, start + 1
            if stop <= start:
                return []
            ranges.append(range(start // c, (stop - 1) // c + 1))
        else:
            return everything
    if not ranges:
        return everything
    flat = np.zeros(1, dtype=np.int64)  # C-order flat chunk index, built axis by axis (no meshgrid)
    for r, g in zip(ranges, grid):
        flat = (flat[:, None] * g + np.asarray(r, dtype=np.int64)[None, :]).ravel()
    return flat.tolist()


class VerifiedArray:
    """A read view of a store that verifies the chunks a slice touches before returning it."""

    def __init__(self, store: Store, verifier: ChunkVerifier) -> None:
        self._store, self._verifier = store, verifier
        self.shape, self.dtype, self.ndim = store.shape, store.dtype, store.ndim
        self.chunks = store.chunks

    def __getitem__(self, key: Any) -> Any:
        self._verifier.check_key(key)
        return self._store[key]


def verify_all(store: Store, path: str, expected: Optional[bool] = None) -> Optional[ChunkVerifier]:
    """Check every chunk; returns the verifier (None when the file carries no checksums).

    Without checksums nothing is read: ``load`` and ``validate`` read through the unmapped frame,
    where C-Blosc2 fails cleanly on a chunk header flagged "lazy" (see ``_read_chunk``)."""
    sums = read_checksums(store, path, expected)
    if sums is None:
        return None
    v = ChunkVerifier(store, path, sums.chunks)
    v.check_all()
    return v
