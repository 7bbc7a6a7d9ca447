"""A remote ``.mla`` as the store :class:`mlarray.MLArray` reads: frames parsed by python-blosc2's
``ByteRangeNDSource`` (its extension point for byte-range transports), shifted to where each frame
starts inside the ``.mla`` (docs/spec.md section 1), read through :mod:`.transport`.

What an open costs (none of it pixels, nor anything only a read of the base array needs):

1. the first 8 KiB: the MLArray header and, for files without stored pyramid levels, the base
   frame's header (with levels in front of it, one more request reads that header, overlapping 2.);
2. the file's last 32 KiB: the length of the base frame's trailer (a small trailer whole);
3. the start of the trailer: its vlmeta index and the metadata document, not the entries after it.

Fetched when first needed: the base frame's chunk index (by python-blosc2, on the first read of the
base array) and the ``mla.checksums`` entry (~5.4 bytes for every chunk; on the first base chunk
checked, or the first pyramid level whose frame does not carry its own checksums). A viewer showing
a coarse level of a slide reads neither: a level's frame carries its own checksums, fetched with it.

A read asks python-blosc2's ``Proxy`` for the region; the Proxy asks this module for the chunks it
touches, which come from a process-wide, size-bounded LRU of compressed chunks or, for those not in
it, from overlapping range requests (``max_concurrency``). Each chunk fetched is checked before it
is used: its header (never flagged "lazy", as in :mod:`mlarray._file.integrity`) and, unless opened
with ``verify=False``, its CRC-32 against the file's ``mla.checksums`` entry. Whole chunks are
fetched (never single blocks), because the checksums cover whole compressed chunks.
"""

from __future__ import annotations

import io
import itertools
import os
import threading
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Callable, Hashable, Iterator, Mapping, Optional, Sequence, cast

import numpy as np

from .._errors import CorruptFileError, MLArrayError
from .._file import integrity as _integrity
from .._file.container import HEADER_SIZE, frame_offset
from .._file.format import detect_format
from .._file.frame_check import check_vlmeta_entries_in, frame_header, is_lazy_chunk, trailer_span
from ..optpkg import optional_import
from .disk_cache import DiskCache, disk_cache
from .errors import RemoteError
from .transport import Traffic, make_transport

__all__ = ["RemoteFile", "RemoteStore", "open_store", "open_level", "cache", "ChunkCache"]

FRAME_HEAD = 8192  # what ByteRangeNDSource reads of a frame's header (blosc2 proxy_source._FRAME_PREFETCH)
HEAD_BYTES = HEADER_SIZE + FRAME_HEAD  # the MLArray header and, without levels in front, the base frame's header
# the file's end: where the base frame's trailer starts, and a trailer up to this size whole (a base of up to
# ~6000 chunks, e.g. a 1024³ CT's 22 KB: its open is then 3 requests; a 40000² slide's 236 KB takes a 4th)
TAIL_READ = 32 * 1024
TRAILER_HEAD = 8 * 1024  # the trailer's start: its vlmeta index and the metadata document before the checksums
TAIL_MAX = 16 * 2**20  # the base chunk index and the checksums after it come in one request up to this size
MAX_CONCURRENCY = 8  # overlapping range requests per read (latency, not bandwidth, bounds remote reads)
SMALL_LEVEL = 256 * 1024  # a pyramid level this small is fetched whole when first opened
LEVEL_TAIL = 64 * 1024  # read with a larger level's header: its chunk index and trailer (~8000 chunks)
COALESCE_GAP = 64 * 1024  # neighbouring chunks this close in the file come in one request (gap bytes discarded)
COALESCE_MAX = 16 * 2**20  # at most this much per request, so a large read still overlaps its requests


class ChunkCache:
    """Verified compressed chunks of every remote file, least recently used dropped first.

    Bounded by ``MLARRAY_REMOTE_CACHE_BYTES`` (default 256 MiB) for the whole process, so a loader
    cycling through thousands of remote files holds no more than that."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Optional[bytes]:
        with self._lock:
            v = self._items.get(key)
            if v is not None:
                self._items.move_to_end(key)
            return v

    def put(self, key: Hashable, value: bytes) -> None:
        with self._lock:
            if key in self._items or len(value) > self.max_bytes:
                return
            self._items[key] = value
            self.nbytes += len(value)
            while self.nbytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self.nbytes -= len(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)


cache = ChunkCache(int(os.environ.get("MLARRAY_REMOTE_CACHE_BYTES", str(256 * 2**20))))


class RemoteFile:
    """One remote ``.mla``: its transport, the byte ranges read at open, and a file object over it."""

    def __init__(self, url: str, storage_options: Optional[dict] = None,
                 cache_dir: Optional[str | os.PathLike] = None) -> None:
        self.url = url
        self.transport = make_transport(url, storage_options)
        self.traffic = self.transport.traffic
        self._pinned: list[tuple[int, bytes]] = []
        self._pin_lock = threading.Lock()
        self.pin(0, HEAD_BYTES)
        if self.transport.size is None:  # "Content-Range: bytes 0-65535/*"
            raise RemoteError(url, "the server does not tell the file's size (Content-Range ends in '/*'); "
                                   "reading the frames at its end needs it: download the file and open the local copy")
        self.size = int(self.transport.size)
        etag, modified, _ = self.transport.identity
        # cached chunks are shared between opens of one version; without a validator nothing says two
        # opens saw the same version, so each open keeps its own
        self.key = (url, self.transport.identity) if etag or modified else (url, id(self))
        # the cache folder outlives the process: only a version the server names may be found there again
        self.disk: Optional[DiskCache] = disk_cache(cache_dir) if etag or modified else None
        # where the base frame starts: set by open_store once it has read the header
        self.base_offset = HEADER_SIZE
        self.verify = True  # set by open_store: whether chunks are checked against checksums
        # the base frame's checksum entry, read on first need (see checksums())
        self._sums_loader: Optional[Callable[[], Optional[_integrity.Checksums]]] = None
        self._sums: Optional[_integrity.Checksums] = None
        self._sums_lock = threading.Lock()

    def checksums_from(self, load: Callable[[], Optional[_integrity.Checksums]]) -> None:
        """Where :meth:`checksums` comes from (open_store, once it knows whether the metadata expects them)."""
        with self._sums_lock:
            self._sums_loader, self._sums = load, None

    def checksums(self) -> Optional[_integrity.Checksums]:
        """The base frame's ``mla.checksums`` entry (every chunk's CRC, every level's), fetched on first
        call; None when the file has none or was opened with ``verify=False``."""
        with self._sums_lock:
            if self._sums_loader is not None:
                self._sums, self._sums_loader = self._sums_loader(), None
            return self._sums

    def pin_together(self, spans: Sequence[tuple[int, int]]) -> None:
        """:meth:`pin` several ranges with overlapping requests (one round trip, not one each)."""
        spans = [sp for sp in spans if sp[1] > 0 and self._covered(*sp) is None]
        if len(spans) <= 1:
            for sp in spans:
                self.pin(*sp)
            return
        with ThreadPoolExecutor(len(spans)) as pool:
            list(pool.map(lambda sp: self.pin(*sp), spans))

    def pin(self, offset: int, size: int) -> None:
        """Read a range once and serve every later read inside it from memory."""
        if self._covered(offset, size) is None:
            data = self.transport.read(offset, size)
            with self._pin_lock:
                self._pinned.append((offset, data))

    def holds(self, offset: int, size: int) -> bool:
        """Whether the range was read already (a read of it costs no request)."""
        return self._covered(offset, size) is not None

    def _covered(self, offset: int, size: int) -> Optional[bytes]:
        for start, data in list(self._pinned):
            if start <= offset and offset + size <= start + len(data):
                return data[offset - start:offset - start + size]
            if start <= offset < start + len(data) and start + len(data) == getattr(self, "size", -1):
                return data[offset - start:]  # a read running past the end of the file
        return None

    def read(self, offset: int, size: int) -> bytes:
        if size <= 0 or offset >= self.size:
            return b""
        hit = self._covered(offset, size)
        return hit if hit is not None else self.transport.read(offset, size)

    def fileobj(self) -> BinaryIO:
        # the frame checks (mlarray._file.frame_check) declare BinaryIO but call only seek/read, which
        # _RangeFile has; an io.BufferedReader around it would be a BinaryIO, but its read-ahead would
        # send range requests nobody asked for
        return cast(BinaryIO, _RangeFile(self))


class _RangeFile(io.RawIOBase):
    """``seek``/``read`` over a :class:`RemoteFile`, for the frame checks written for local files."""

    def __init__(self, rfile: RemoteFile) -> None:
        self._r, self._pos = rfile, 0

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos if whence == 0 else (self._pos + pos if whence == 1 else self._r.size + pos)
        return self._pos

    def read(self, n: Optional[int] = -1) -> bytes:
        n = self._r.size - self._pos if n is None or n < 0 else n
        data = self._r.read(self._pos, n)
        self._pos += len(data)
        return data

    def readable(self) -> bool:
        return True


def _byte_range_source() -> type:
    import blosc2

    if not hasattr(blosc2, "ByteRangeNDSource"):  # python-blosc2 4.13 added it
        raise MLArrayError(f"reading .mla files from URLs needs python-blosc2 4.13 or newer (installed: "
                           f"{blosc2.__version__}); install it with: pip install 'mlarray[remote]'")

    class FrameSource(blosc2.ByteRangeNDSource):
        """One Blosc2 frame at ``frame_off`` of a remote ``.mla`` (python-blosc2 parses it)."""

        serves_blocks = False  # whole chunks: the checksums cover whole compressed chunks

        def __init__(self, rfile: RemoteFile, frame_off: int, frame_len: int, what: str,
                     crcs: Optional[Callable[[], Optional[np.ndarray]]] = None,
                     index: tuple[int, int] = (-1, 0)) -> None:
            self._rfile, self._off, self._len, self._what = rfile, frame_off, frame_len, what
            self._index_at, self._index_len = index  # the chunk index: where in the frame, how much to fetch
            self._crcs = crcs  # the checksums, asked for when the first chunk is checked (None: not checked)
            super().__init__(rfile.url, max_concurrency=MAX_CONCURRENCY)
            self.traffic = rfile.traffic

        def set_checksums(self, crcs: Callable[[], Optional[np.ndarray]]) -> None:
            """Check chunks against ``crcs()`` (asked for when the first chunk is checked)."""
            self._crcs = crcs

        def read_range(self, offset: int, size: int) -> bytes:
            size = min(size, self._len - offset)
            if offset == self._index_at and size > 0:
                # python-blosc2 reads the index in up to two guesses (64 KiB, then its exact size): the
                # index's exact extent, known from the trailer's place, comes in one request instead
                self._rfile.pin(self._off + offset, min(max(size, self._index_len), self._len - offset))
            return self._rfile.read(self._off + offset, size) if size > 0 else b""

        def get_chunk(self, nchunk: int) -> bytes:
            chunk = self._cached(nchunk)
            return chunk if chunk is not None else self._keep(nchunk, self._fetch(nchunk))

        def _key(self, nchunk: int) -> tuple:
            return (self._rfile.key, self._off, nchunk)

        def _cached(self, nchunk: int) -> Optional[bytes]:
            """The chunk from memory or the cache folder (checked as if fetched), else None."""
            key = self._key(nchunk)
            chunk = cache.get(key)
            disk = self._rfile.disk
            if chunk is None and disk is not None:
                chunk = disk.get(key)
                if chunk is not None and self._problem(nchunk, chunk) is not None:
                    disk.drop(key)  # not this version's chunk after all: fetched again
                    chunk = None
                if chunk is not None:
                    cache.put(key, chunk)
            return chunk

        def _keep(self, nchunk: int, chunk: bytes) -> bytes:
            """Check a fetched chunk, then keep it in memory (and the cache folder)."""
            problem = self._problem(nchunk, chunk)
            if problem is not None:
                raise CorruptFileError(self._rfile.url, problem)
            key = self._key(nchunk)
            if self._rfile.disk is not None:
                self._rfile.disk.put(key, chunk)
            cache.put(key, chunk)
            return chunk

        def prefetch(self, nchunks: Sequence[int]) -> None:
            """Fetch the chunks a read is about to ask for, those stored next to each other in the file
            in one request: a region's chunks along its last axis usually are (a chunk per request
            costs a round trip per chunk, which latency, not bandwidth, bounds)."""
            wanted = [n for n in nchunks if self._cached(n) is None]
            if len(wanted) < 2:
                return
            try:
                offsets, extents = self._frame_index()  # ByteRangeNDSource's chunk index, read at open
            except Exception as exc:
                raise CorruptFileError(self._rfile.url, f"the chunk index of the {self._what} cannot be read "
                                                        f"({type(exc).__name__}: {exc})") from None
            spans = sorted((int(offsets[n]), int(extents[n]), n) for n in wanted if offsets[n] >= 0)
            if sum(e for _, e, _ in spans) > cache.max_bytes // 2:
                return  # the cache could not hold them until the read asks: fetched chunk by chunk then
            groups: list[list[tuple[int, int, int]]] = []
            for span in spans:
                if groups and span[0] <= groups[-1][-1][0] + groups[-1][-1][1] + COALESCE_GAP \
                        and span[0] + span[1] - groups[-1][0][0] <= COALESCE_MAX:
                    groups[-1].append(span)
                else:
                    groups.append([span])
            if len(groups) <= 1:  # runs of zeros/NaNs live in the index: nothing to fetch for them
                for group in groups:
                    self._fetch_group(group)
                return
            with ThreadPoolExecutor(min(MAX_CONCURRENCY, len(groups))) as pool:
                for _ in pool.map(self._fetch_group, groups):
                    pass

        def _fetch_group(self, group: list[tuple[int, int, int]]) -> None:
            start = group[0][0]
            data = self.read_range(start, max(o + e for o, e, _ in group) - start)
            for off, ext, n in group:
                piece = data[off - start:off - start + ext]
                cbytes = int.from_bytes(piece[12:16], "little") if len(piece) >= 16 else 0
                if not 32 <= cbytes <= len(piece):
                    raise CorruptFileError(self._rfile.url, f"chunk {n} of the {self._what} says it holds {cbytes} "
                                                            f"bytes where {len(piece)} are stored (damaged)")
                self._keep(n, piece[:cbytes])

        def _fetch(self, nchunk: int) -> bytes:
            try:
                return bytes(super().get_chunk(nchunk))
            except MLArrayError:
                raise
            except Exception as exc:  # damaged index or chunk header: blosc2's parser raised
                raise CorruptFileError(self._rfile.url, f"chunk {nchunk} of the {self._what} cannot be read "
                                                        f"({type(exc).__name__}: {exc})") from None

        def _problem(self, nchunk: int, chunk: bytes) -> Optional[str]:
            """What is wrong with a chunk fetched or found in the cache folder, or None."""
            if is_lazy_chunk(chunk):
                return f"chunk {nchunk} of the {self._what} is corrupted (its header is flagged 'lazy')"
            crcs = None if self._crcs is None else self._crcs()
            if crcs is not None and _integrity.crc32(self._as_stored(chunk)) != int(crcs[nchunk]):
                return (f"chunk {nchunk} of the {self._what} is corrupted (checksum mismatch); restore the file "
                        "from its source")
            return None

        def _as_stored(self, chunk: bytes) -> bytes:
            """The bytes a local read of this chunk gives, which its checksum was computed from.

            A run of zeros, NaNs or an unwritten chunk lives in the frame's index, not in the file;
            python-blosc2's source rebuilds it with other header bytes than C-Blosc2's frame reader,
            whose rebuild is what the writer checksummed. Ask C-Blosc2 for its rebuild of the same run."""
            kind = (chunk[31] >> 4) & 0x7 if len(chunk) == 32 else 0
            if kind not in _RUNS:
                return chunk
            key = (kind, self.chunks, self.blocks, self.dtype.str)
            if key not in _RUN_CHUNKS:
                make = {1: blosc2.zeros, 2: lambda *a, **k: blosc2.full(*a[:1], np.nan, **k), 4: blosc2.uninit}[kind]
                arr = make(self.chunks, dtype=self.dtype, chunks=self.chunks, blocks=self.blocks)
                _RUN_CHUNKS[key] = bytes(arr.schunk.get_chunk(0))
            return _RUN_CHUNKS[key] if (_RUN_CHUNKS[key][31] >> 4) & 0x7 == kind else chunk

    return FrameSource


_RUNS = (1, 2, 4)  # C-Blosc2's special chunks kept in the index: zeros, NaNs, uninitialized
_RUN_CHUNKS: dict = {}


_SOURCE_CLASS: Optional[type] = None


def _frame_source(*args: Any, **kwargs: Any) -> Any:
    global _SOURCE_CLASS
    if _SOURCE_CLASS is None:
        _SOURCE_CLASS = _byte_range_source()
    try:
        return _SOURCE_CLASS(*args, **kwargs)
    except MLArrayError:
        raise
    except Exception as exc:
        raise CorruptFileError(args[0].url, f"the {args[3]} is not a readable Blosc2 NDArray frame "
                                            f"({type(exc).__name__}: {exc})") from None


class _Vlmeta(Mapping[str, Any]):
    """A remote frame's vlmeta: which entries it has (its trailer's index, read and checked at open),
    each fetched and decoded on first access, as python-blosc2 decodes it (a Blosc2 chunk holding a
    msgpack value). A checksum entry of every chunk is then not fetched with the metadata."""

    def __init__(self, rfile: RemoteFile, entries: Sequence[tuple[str, int, int]], what: str) -> None:
        self._rfile, self._what = rfile, what
        self._where = {name: (pos, n) for name, pos, n in entries}
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __contains__(self, name: object) -> bool:
        return name in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __getitem__(self, name: str) -> Any:
        with self._lock:
            if name not in self._values:
                pos, n = self._where[name]
                self._values[name] = self._decode(name, self._rfile.read(pos, n), n)
            return self._values[name]

    def _decode(self, name: str, blob: bytes, n: int) -> Any:
        import blosc2

        msgpack = optional_import("msgpack", feature="reading .mla files from URLs", extra="remote")
        if len(blob) != n:
            raise CorruptFileError(self._rfile.url, f"the vlmeta entry {name!r} of the {self._what} is truncated")
        try:
            return msgpack.unpackb(blosc2.decompress(blob), raw=False)
        except Exception as exc:
            raise CorruptFileError(self._rfile.url, f"the vlmeta entry {name!r} of the {self._what} cannot be read "
                                                    f"({type(exc).__name__}: {exc})") from None


def _frame_vlmeta(rfile: RemoteFile, off: int, end: int, what: str) -> tuple[_Vlmeta, int]:
    """The vlmeta of the frame at bytes ``off..end`` and where its trailer starts (where its chunk index
    ends): the trailer's start (index, small entries) fetched unless already read, the limits checked
    before anything is inflated."""
    fh = rfile.fileobj()
    start, length = trailer_span(fh, off, end, rfile.url)
    rfile.pin(start, min(length, TRAILER_HEAD))
    return _Vlmeta(rfile, check_vlmeta_entries_in(fh, off, end, rfile.url), what), start


class _SChunkView:
    """The ``schunk`` attributes MLArray's format code reads: metalayers, vlmeta, chunks."""

    def __init__(self, store: "RemoteStore") -> None:
        self._store = store

    @property
    def meta(self) -> dict:
        return self._store.src.meta

    @property
    def vlmeta(self) -> Mapping[str, Any]:
        return self._store.vlmeta

    @property
    def nchunks(self) -> int:
        return self._store.nchunks

    def get_chunk(self, i: int) -> bytes:
        return self._store.src.get_chunk(int(i))


class RemoteStore:
    """Read-only stand-in for the ``blosc2.NDArray`` of a local ``.mla``'s frame."""

    def __init__(self, rfile: RemoteFile, src: Any, what: str, vlmeta: Mapping[str, Any]) -> None:
        self.rfile, self.src, self.what = rfile, src, what
        self.url = rfile.url
        self.shape, self.chunks, self.blocks = tuple(src.shape), tuple(src.chunks), tuple(src.blocks)
        self.dtype = np.dtype(src.dtype)
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.nchunks = int(np.prod([-(-s // max(c, 1)) for s, c in zip(self.shape, self.chunks)], dtype=np.int64))
        self.schunk = _SChunkView(self)
        self._vlmeta = vlmeta

    @property
    def vlmeta(self) -> Mapping[str, Any]:
        return self._vlmeta

    @property
    def traffic(self) -> Traffic:
        return self.rfile.traffic

    @property
    def cache_dir(self) -> Optional[str]:
        """The cache folder this file's chunks are kept in, or None."""
        return None if self.rfile.disk is None else self.rfile.disk.root

    def __getitem__(self, key: Any) -> np.ndarray:
        import blosc2

        if not self.size:
            return np.empty(self.shape, self.dtype)[key]
        touched = touched_chunks(key, self.shape, self.chunks)
        if touched is not None and len(touched) > 1:
            self.src.prefetch(touched)
        # A Proxy per read: its in-memory cache holds this read's chunks only, the LRU above keeps
        # them between reads (a long-lived Proxy would hold every chunk ever read).
        return np.asarray(blosc2.Proxy(self.src)[key])

    def check_all(self) -> None:
        """Fetch and verify every chunk now (``verify=True``)."""
        with ThreadPoolExecutor(MAX_CONCURRENCY) as pool:
            for _ in pool.map(self.src.get_chunk, range(self.nchunks)):
                pass


def touched_chunks(key: Any, shape: tuple, chunks: tuple) -> Optional[list[int]]:
    """Numbers of the chunks a basic index (ints, step-1 slices, one Ellipsis) touches; None for other keys."""
    key = key if isinstance(key, tuple) else (key,)
    if sum(k is Ellipsis for k in key) > 1:
        return None
    if any(k is Ellipsis for k in key):
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * (len(shape) - len(key) + 1) + key[i + 1:]
    if len(key) > len(shape) or 0 in chunks:
        return None
    key = key + (slice(None),) * (len(shape) - len(key))
    ranges = []
    for k, n, c in zip(key, shape, chunks):
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step != 1:
                return None
            if stop <= start:
                return []
            lo, hi = start, stop - 1
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            lo = hi = int(k) + (n if int(k) < 0 else 0)
            if not 0 <= lo < n:
                return None  # out of bounds: the read itself says so
        else:
            return None
        ranges.append(range(lo // c, hi // c + 1))
    grid = [-(-n // c) for n, c in zip(shape, chunks)]
    return [int(np.ravel_multi_index(idx, grid)) for idx in itertools.product(*ranges)]


_OPEN: "weakref.WeakValueDictionary[str, RemoteFile]" = weakref.WeakValueDictionary()


def open_store(url: str, *, verify: bool | str = True, storage_options: Optional[dict] = None,
               cache_dir: Optional[str | os.PathLike] = None) -> RemoteStore:
    """Open the base frame of the ``.mla`` at ``url`` (see the module doc for what this reads); chunks
    are kept in ``cache_dir`` too (else ``MLARRAY_REMOTE_CACHE_DIR``, see :mod:`.disk_cache`)."""
    rfile = RemoteFile(url, storage_options, cache_dir)
    fh = rfile.fileobj()
    tail = (max(0, rfile.size - TAIL_READ), min(TAIL_READ, rfile.size))

    def read_frame_head(pos: int, n: int) -> bytes:  # the base frame's header comes with its magic
        if not rfile.holds(pos, n):  # levels in front put it elsewhere: fetched together with the file's end
            rfile.pin_together([(pos, min(max(n, FRAME_HEAD), rfile.size - pos)), tail])
        return rfile.read(pos, n)

    off = frame_offset(read_frame_head, rfile.size, url)
    rfile.pin(*tail)
    h = frame_header(fh, off, url)
    index_pos = off + h["header_len"] + h["cbytes"]
    if not off < index_pos <= rfile.size:
        raise CorruptFileError(url, f"the frame at byte {off} puts its chunk index at byte {index_pos}, outside "
                                    f"the {rfile.size}-byte file (truncated or damaged)")
    vlmeta, trailer = _frame_vlmeta(rfile, off, rfile.size, "array")
    rfile.base_offset, rfile.verify = off, bool(verify)
    # the first base read fetches the index; with the checksums after it (that read checks its chunks next)
    with_sums = rfile.size - index_pos if verify and rfile.size - index_pos <= TAIL_MAX else trailer - index_pos
    src = _frame_source(rfile, off, rfile.size - off, "array", index=(index_pos - off, with_sums))
    store = RemoteStore(rfile, src, "array", vlmeta)
    if verify:
        try:
            fmt = detect_format(store, url)
            _, expected = fmt.read_document(store, url)
        except CorruptFileError:
            expected = None  # MLArray reports a damaged document itself, with its own words

        def load() -> Optional[_integrity.Checksums]:
            sums = _integrity.read_checksums(store, url, expected)
            if sums is not None and len(sums.chunks) != store.nchunks:
                raise CorruptFileError(url, f"the array has {store.nchunks} chunks but checksums for "
                                            f"{len(sums.chunks)}")
            return sums

        rfile.checksums_from(load)
        store.src.set_checksums(lambda: None if (sums := rfile.checksums()) is None else sums.chunks)
    _OPEN[url] = rfile
    if verify is True:
        store.check_all()
    return store


def opened(url: str) -> Optional[RemoteFile]:
    """The remote file opened last at ``url`` in this process, while anything still uses it."""
    return _OPEN.get(url)


def open_level(base: RemoteStore, k: int, start: int, end: int, what: str) -> RemoteStore:
    """Pyramid level ``k``: the frame at bytes ``start..end`` of the same remote file (and version) as ``base``."""
    rfile = base.rfile
    if not HEADER_SIZE <= start < end <= rfile.base_offset:
        raise CorruptFileError(rfile.url, f"{what} is said to lie at bytes {start}..{end}, outside the level "
                                          "area between the header and the array")
    # Read what the frame parser asks for first in one round trip: a small level whole, else its
    # header and its end (chunk index, trailer and the level's own checksums) in two overlapping requests.
    if end - start <= SMALL_LEVEL:
        rfile.pin(start, end - start)
    else:
        rfile.pin_together([(start, FRAME_HEAD), (max(start, end - LEVEL_TAIL), end - max(start, end - LEVEL_TAIL))])
    vlmeta, trailer = _frame_vlmeta(rfile, start, end, what)
    h = frame_header(rfile.fileobj(), start, rfile.url)
    index_pos = start + h["header_len"] + h["cbytes"]
    src = _frame_source(rfile, start, end - start, what, index=(index_pos - start, max(trailer - index_pos, 0)))
    store = RemoteStore(rfile, src, what, vlmeta)
    if rfile.verify:
        # the level's own checksums (written since levels carry them), else the base frame's entry
        own = _integrity.frame_checksums(vlmeta, rfile.url, what)

        def crcs() -> Optional[np.ndarray]:
            sums = rfile.checksums() if own is None else None
            found = own if own is not None else (None if sums is None else sums.levels.get(str(k)))
            if found is not None and len(found) != store.nchunks:
                raise CorruptFileError(rfile.url, f"the {what} has {store.nchunks} chunks but checksums for "
                                                  f"{len(found)}")
            return found

        store.src.set_checksums(crcs)
        if own is not None:
            crcs()  # the count, now
    return store
