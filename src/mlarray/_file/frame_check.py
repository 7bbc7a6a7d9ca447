"""Pre-flight checks of a Blosc2 frame, in Python, before C-Blosc2 reads it through a memory map.

C-Blosc2 3.3.5 has two places where a damaged frame makes it copy from a NULL pointer: its
memory-map reader returns no buffer for a read past the end of the file, and the callers below
``memcpy`` from that buffer before checking the byte count (SIGSEGV; with plain file I/O the same
damage is a clean error). Both are reached from bytes no checksum covers, so they are checked here,
before a file reaches ``blosc2.open``:

* **vlmeta entries** (``blosc2_vlmeta_get`` → ``read_lazy_chunk_bytes``). Each entry in the frame
  trailer is a Blosc2 chunk. Bit 3 of its ``blosc2_flags`` byte (byte 31 of the chunk header)
  marks a *lazy* chunk, whose blocks still sit in the file at an offset stored in the chunk's own
  tail; C-Blosc2 sets it only on chunks it builds in memory. Flipped on in a stored entry (with
  bit 0, "uses a dictionary"), it makes C-Blosc2 read a dictionary from a file position taken from
  the entry's data bytes (fuzz case 9293, ``tests/data/reliability/trailer_flip_segfaults_blosc2.mla``).
  The trailer's vlmeta index is walked exactly as ``frame_get_vlmetalayers`` walks it.
* **the first chunk** (``frame_to_schunk`` → ``frame_get_lazychunk`` at open). Opening a frame
  reads chunk 0's header at the offset the chunk index gives, then its block offsets, sized from
  that header. A flipped byte of the index (fuzz case 5404 of the 10k run after the metadata seal)
  points into compressed data whose "header" asks for megabytes past the end of the file. The
  header found there must be one C-Blosc2 writes for an NDArray and must fit in the chunk area.

The same walk over the vlmeta entries also enforces the metadata size limits before anything is
inflated (:mod:`mlarray._untrusted.limits`): each entry's stored chunk header says how large it decompresses, so an
entry above ``max_meta_bytes`` (a 1 GiB ``mla.pad`` of zeros, say) or a metadata entry that would
inflate more than ``max_meta_expansion`` times is refused here, before C-Blosc2 loads the trailer.

The checks read a few dozen bytes plus the chunk index (no pixel data, no metadata text).
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO, Callable, Optional

from .._errors import CorruptFileError
from .._untrusted.limits import EXPANSION_FLOOR, check, limit

__all__ = ["check_frame", "check_vlmeta_entries", "check_vlmeta_entries_in", "trailer_span", "frame_header",
           "is_lazy_chunk"]

# Frame header fields (c-blosc2 README_CFRAME_FORMAT.rst): msgpack markers, then big-endian values.
_HEADER_FIELDS = ((10, 0xD2, ">i", "header_len"), (15, 0xCF, ">q", "frame_len"), (29, 0xD3, ">q", "nbytes"),
                  (38, 0xD3, ">q", "cbytes"))
_HEADER_MIN = 47
_TRAILER_TAIL = 25  # the frame ends with 0xce, uint32 trailer length, 0xd8 0x00 and a 16-byte fingerprint
_CHUNK_HEADER = 32  # extended Blosc2 chunk header
_LAZY_FLAG = 0x08  # bit 3 of blosc2_flags (chunk header byte 31)
_MAX_ENTRIES = 8 * 1024  # BLOSC2_MAX_VLMETALAYERS


def is_lazy_chunk(header: bytes) -> bool:
    """True for an extended Blosc2 chunk header flagged "lazy" (never set in a stored chunk)."""
    return len(header) >= _CHUNK_HEADER and header[2] & 0x05 == 0x05 and bool(header[31] & _LAZY_FLAG)


def _read(fh: BinaryIO, pos: int, n: int) -> bytes:
    fh.seek(pos)
    return fh.read(n)


def _frame_header(fh: BinaryIO, off: int, path: str) -> dict:
    head = _read(fh, off, _HEADER_MIN)
    if len(head) < _HEADER_MIN:
        raise CorruptFileError(path, f"the Blosc2 frame at byte {off} is truncated inside its header")
    out = {}
    for pos, marker, fmt, name in _HEADER_FIELDS:
        if head[pos] != marker:
            raise CorruptFileError(path, f"the Blosc2 frame header at byte {off} is damaged ({name} field); "
                                         "restore the file from a backup or its source")
        out[name] = struct.unpack(fmt, head[pos + 1:pos + 1 + struct.calcsize(fmt)])[0]
    return out


def _trailer_span(fh: BinaryIO, off: int, size: int, path: str) -> tuple[int, int]:
    """Absolute start and length of the trailer, located the way C-Blosc2 locates it."""
    h = _frame_header(fh, off, path)
    end = off + h["frame_len"]
    if not off + _HEADER_MIN <= end - _TRAILER_TAIL or end > size:
        raise CorruptFileError(path, f"the Blosc2 frame at byte {off} claims {h['frame_len']} bytes, which does not "
                                     f"fit the {size}-byte file (truncated or damaged)")
    tail = _read(fh, end - _TRAILER_TAIL, _TRAILER_TAIL)
    if tail[2] != 0xCE:
        raise CorruptFileError(path, f"the Blosc2 frame at byte {off} has a damaged trailer length")
    trailer_len = struct.unpack(">I", tail[3:7])[0]
    # a frame without data keeps its trailer right after the header (c-blosc2 get_trailer_offset)
    start = h["header_len"] if h["nbytes"] <= 0 else h["frame_len"] - trailer_len
    if start < _CHUNK_HEADER or start + trailer_len > h["frame_len"]:
        raise CorruptFileError(path, f"the Blosc2 frame at byte {off} puts its trailer outside the frame")
    return off + start, trailer_len


def _entry_offsets(fh: BinaryIO, start: int, length: int, path: str) -> list[tuple[str, int]]:
    """(name, offset in the trailer) of every vlmeta entry, as ``get_vlmeta_from_trailer`` reads them."""
    def damaged(what: str) -> CorruptFileError:
        return CorruptFileError(path, f"the vlmeta index of the Blosc2 frame trailer is damaged ({what}); "
                                      "restore the file from a backup or its source")

    pos = 9  # fixarray marker, version, fixarray marker, 0xcd + uint16 index size, 0xde, uint16 count
    head = _read(fh, start, pos)
    if len(head) < pos or length < pos:
        raise damaged("truncated")
    if head[6] != 0xDE:
        raise damaged("no map marker")
    count = struct.unpack(">H", head[7:9])[0]
    if count > _MAX_ENTRIES:
        raise damaged(f"{count} entries")
    out = []
    for _ in range(count):
        marker = _read(fh, start + pos, 1)
        if pos + 1 > length or len(marker) < 1 or marker[0] & 0xE0 != 0xA0:
            raise damaged("entry name")
        nslen = marker[0] & 0x1F
        body = _read(fh, start + pos + 1, nslen + 5)
        pos += 1 + nslen + 5
        if pos > length or len(body) < nslen + 5 or body[nslen] != 0xD2:
            raise damaged("entry offset")
        offset = struct.unpack(">i", body[nslen + 1:nslen + 5])[0]
        if not 0 <= offset < length:
            raise damaged(f"entry offset {offset}")
        out.append((body[:nslen].decode("utf-8", "replace"), offset))
    return out


def check_frame(path: str, off: int) -> None:
    """Refuse a frame at byte ``off`` whose vlmeta entries or first chunk would make C-Blosc2 read
    outside the file through a memory map (see the module doc)."""
    def both(fh: BinaryIO, size: int) -> None:
        _check_entries(path, fh, off, size)
        _check_first_chunk(path, fh, off)

    _with_file(path, both)


def check_vlmeta_entries(path: str, off: int) -> None:
    """Only the vlmeta part of :func:`check_frame`."""
    def entries(fh: BinaryIO, size: int) -> None:
        _check_entries(path, fh, off, size)

    _with_file(path, entries)


def check_vlmeta_entries_in(fh: BinaryIO, off: int, size: int, path: str) -> list[tuple[str, int, int]]:
    """:func:`check_vlmeta_entries` over an open file object of ``size`` bytes (e.g. a remote file's
    byte ranges, :mod:`mlarray._remote`): the limits apply before any entry is inflated. Returns every
    entry's name, absolute position of its stored content and the content's length, so a reader of
    byte ranges can fetch the entries it needs only."""
    return _check_entries(path, fh, off, size)


def trailer_span(fh: BinaryIO, off: int, size: int, path: str) -> tuple[int, int]:
    """Absolute start and length of the trailer (vlmeta) of the frame at byte ``off``."""
    return _trailer_span(fh, off, size, path)


def frame_header(fh: BinaryIO, off: int, path: str) -> dict:
    """``header_len``, ``frame_len``, ``nbytes`` and ``cbytes`` of the frame at byte ``off``."""
    return _frame_header(fh, off, path)


def _with_file(path: str, check: Callable[[BinaryIO, int], None]) -> None:
    try:
        with open(path, "rb") as fh:
            check(fh, os.fstat(fh.fileno()).st_size)
    except CorruptFileError:
        raise  # it is an OSError too; don't wrap our own message
    except OSError as exc:
        raise CorruptFileError(path, f"cannot be read ({exc.strerror or exc})") from None


def _check_entries(path: str, fh: BinaryIO, off: int, size: int) -> list[tuple[str, int, int]]:
    start, length = _trailer_span(fh, off, size, path)
    out = []
    for name, offset in _entry_offsets(fh, start, length, path):
        head = _read(fh, start + offset, 5 + _CHUNK_HEADER)
        if len(head) < 5 or head[0] != 0xC6:
            raise CorruptFileError(path, f"the vlmeta entry {name!r} is damaged (no content marker); "
                                         "restore the file from a backup or its source")
        content_len = struct.unpack(">i", head[1:5])[0]
        if content_len < 0 or offset + 5 + content_len > length:
            raise CorruptFileError(path, f"the vlmeta entry {name!r} claims {content_len} bytes, beyond the frame "
                                         "trailer; restore the file from a backup or its source")
        if content_len >= _CHUNK_HEADER and len(head) == 5 + _CHUNK_HEADER and head[5 + 31] & _LAZY_FLAG:
            raise CorruptFileError(path, f"the vlmeta entry {name!r} is damaged (its Blosc2 chunk header is marked "
                                         "'lazy', which a stored entry never is); restore the file from a backup "
                                         "or its source")
        if content_len >= 16 and len(head) >= 5 + 16:
            _check_entry_size(path, name, content_len, struct.unpack("<i", head[9:13])[0])
        out.append((name, start + offset + 5, content_len))
    return out


# Entries holding the metadata document (v1 JSON, legacy gzip'd pickle); only these are inflated on
# every open. Checksums of identical chunks repeat and may compress far more, so they get the size
# limit only; mla.pad is incompressible filler.
_META_ENTRIES = ("mla.meta", "mlarray")
_MSGPACK_OVERHEAD = 16  # vlmeta values are msgpack-packed before compression


def _check_entry_size(path: str, name: str, stored: int, nbytes: int) -> None:
    """Refuse an entry whose chunk header says it inflates beyond the metadata limits."""
    check(path, "max_meta_bytes", max(nbytes - _MSGPACK_OVERHEAD, 0), f"the vlmeta entry {name!r}")
    ratio = limit("max_meta_expansion")
    if name in _META_ENTRIES and ratio is not None and nbytes > EXPANSION_FLOOR and nbytes > ratio * stored:
        check(path, "max_meta_expansion", nbytes // max(stored, 1),
              f"the vlmeta entry {name!r} ({stored:,} bytes stored, {nbytes:,} inflated)")


def _first_chunk_offset(path: str, fh: BinaryIO, off: int, h: dict) -> Optional[int]:
    """Offset of chunk 0 from the chunk index (None: no chunks, or a special chunk not stored in the file)."""
    import blosc2

    index_pos = off + h["header_len"] + h["cbytes"]  # the index follows the chunks (c-blosc2 get_coffsets)
    head = _read(fh, index_pos, _CHUNK_HEADER)
    if len(head) < 16:
        raise CorruptFileError(path, f"the chunk index of the Blosc2 frame at byte {off} is truncated")
    index_cbytes = struct.unpack("<i", head[12:16])[0]
    if not 16 <= index_cbytes <= off + h["frame_len"] - index_pos:
        raise CorruptFileError(path, f"the chunk index of the Blosc2 frame at byte {off} claims {index_cbytes} "
                                     "bytes, outside the frame (damaged index)")
    try:  # an in-memory chunk: C-Blosc2 checks its bounds, and without a frame it reads no file
        offsets = blosc2.decompress(_read(fh, index_pos, index_cbytes))
    except Exception as exc:
        raise CorruptFileError(path, f"the chunk index of the Blosc2 frame at byte {off} cannot be read "
                                     f"({type(exc).__name__}: {exc})") from None
    if len(offsets) < 8:
        return None
    first = struct.unpack("<q", bytes(offsets[:8]))[0]
    return None if first < 0 else first  # negative: zeros/NaN/uninitialized, encoded in the index


def _chunk_header_problem(h: bytes, room: int) -> Optional[str]:
    """Why the 32-byte chunk header ``h`` is not one C-Blosc2 writes for an NDArray chunk, or would
    make it read more than the ``room`` bytes left in the chunk area; None when it is fine."""
    flags, typesize, flags2, bflags = h[2], h[3], h[30], h[31]
    nbytes, blocksize, cbytes = struct.unpack("<iii", h[4:16])
    special = (bflags >> 4) & 0x07
    if flags & 0x05 != 0x05:
        return "not an extended Blosc2 chunk header"
    if flags2 & 0x01 or bflags & _LAZY_FLAG:
        return "flagged 'variable-length blocks' or 'lazy', which a stored NDArray chunk never is"
    if special:
        need = _CHUNK_HEADER + (typesize if special == 3 else 0)  # 3: a repeated value follows the header
        return None if special <= 4 and need <= room else "an invalid special-value chunk"
    if nbytes < 0 or blocksize <= 0 or not _CHUNK_HEADER <= cbytes <= room:
        return f"sizes nbytes={nbytes} blocksize={blocksize} cbytes={cbytes} do not fit the frame"
    block_starts = 0 if flags & 0x02 else 4 * -(-nbytes // blocksize)  # memcpyed chunks have none
    if _CHUNK_HEADER + block_starts > cbytes:
        return f"{-(-nbytes // blocksize)} blocks cannot fit in {cbytes} bytes"
    return None


def _check_first_chunk(path: str, fh: BinaryIO, off: int) -> None:
    h = _frame_header(fh, off, path)
    if h["nbytes"] <= 0:
        return  # no chunks (metadata-only files)
    first = _first_chunk_offset(path, fh, off, h)
    if first is None:
        return
    pos, chunks_end = off + h["header_len"] + first, off + h["header_len"] + h["cbytes"]
    head = _read(fh, pos, _CHUNK_HEADER)
    problem = ("it lies outside the chunk area" if pos + _CHUNK_HEADER > chunks_end or len(head) < _CHUNK_HEADER
               else _chunk_header_problem(head, chunks_end - pos))
    if problem:
        raise CorruptFileError(path, f"chunk 0 of the Blosc2 frame at byte {off} is damaged, or the chunk index "
                                     f"points to the wrong place: {problem}; restore the file from a backup or "
                                     "its source")
