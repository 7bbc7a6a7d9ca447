"""Pre-flight check of a Blosc2 frame's vlmeta entries, in Python, before C-Blosc2 decompresses them.

Each vlmeta entry in the frame trailer is a Blosc2 chunk. Bit 3 of its ``blosc2_flags`` byte
(byte 31 of the extended chunk header) marks a *lazy* chunk: one whose blocks still sit in the
file, at an offset stored in the chunk's own tail. C-Blosc2 sets that bit only on chunks it
builds in memory; it never belongs to a stored entry. A flipped bit there (plus the
"uses a dictionary" bit 0) makes ``blosc2_vlmeta_get`` read the dictionary "lazily" from a file
position taken from the entry's data bytes. With a memory-mapped frame the read past the mapping
returns no buffer, and C-Blosc2 3.3.5 (``read_lazy_chunk_bytes``) copies from it before checking
the byte count: SIGSEGV (fuzz case 9293, ``tests/data/reliability/trailer_flip_segfaults_blosc2.mla``).

So, before a file reaches ``blosc2.open``, :func:`check_vlmeta_entries` locates the trailer and
walks its vlmeta index exactly as C-Blosc2's ``frame_get_vlmetalayers`` does, and refuses an entry
flagged lazy. It reads a few dozen bytes (no pixel data, no metadata text).
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from ._errors import CorruptFileError

__all__ = ["check_vlmeta_entries"]

# Frame header fields (c-blosc2 README_CFRAME_FORMAT.rst): msgpack markers, then big-endian values.
_HEADER_FIELDS = ((10, 0xD2, ">i", "header_len"), (15, 0xCF, ">q", "frame_len"), (29, 0xD3, ">q", "nbytes"))
_HEADER_MIN = 38
_TRAILER_TAIL = 25  # the frame ends with 0xce, uint32 trailer length, 0xd8 0x00 and a 16-byte fingerprint
_CHUNK_HEADER = 32  # extended Blosc2 chunk header
_LAZY_FLAG = 0x08  # bit 3 of blosc2_flags (chunk header byte 31)
_MAX_ENTRIES = 8 * 1024  # BLOSC2_MAX_VLMETALAYERS


def _read(fh: BinaryIO, pos: int, n: int) -> bytes:
    fh.seek(pos)
    return fh.read(n)


def _frame_header(fh: BinaryIO, off: int, path) -> dict:
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


def _trailer_span(fh: BinaryIO, off: int, size: int, path) -> tuple[int, int]:
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


def _entry_offsets(fh: BinaryIO, start: int, length: int, path) -> list[tuple[str, int]]:
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


def check_vlmeta_entries(path, off: int) -> None:
    """Refuse a frame whose vlmeta entries would make C-Blosc2 read outside the file (see module doc)."""
    try:
        with open(path, "rb") as fh:
            _check_entries(path, fh, off, os.fstat(fh.fileno()).st_size)
    except CorruptFileError:
        raise  # it is an OSError too; don't wrap our own message
    except OSError as exc:
        raise CorruptFileError(path, f"cannot be read ({exc.strerror or exc})") from None


def _check_entries(path, fh: BinaryIO, off: int, size: int) -> None:
    start, length = _trailer_span(fh, off, size, path)
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
