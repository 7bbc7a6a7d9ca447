"""The ``.mla`` byte layout: a 16-byte header, the pyramid level frames, then the base frame.

::

    offset 0   b"\\x89MLA\\r\\n\\x1a\\n"   magic (PNG-style: catches text-mode and truncation damage)
    offset 8   uint64 little-endian     offset of the base frame
    offset 16  level 1 frame, level 2 frame, ...   (immutable Blosc2 NDArray frames)
    base_off   base frame                 (Blosc2 NDArray frame; last, because in-place writes grow it)

Every part is an ordinary Blosc2 frame, opened with ``blosc2.open(path, offset=...)`` and
memory-mapped, so opening a file reads no pixel data and a level is only paged in where it is
sliced. (Keeping levels in the base frame's vlmeta would be simpler, but Blosc2 loads all vlmeta
into memory on open: +410 MB RSS for a 40000² slide before any pixel was shown.)
Files without the magic are single b2nd frames at offset 0 (published mlarray 0.0.x files).
"""

from __future__ import annotations

import os
import shutil
import struct
from typing import Callable, Sequence

from .._errors import CorruptFileError

__all__ = ["MAGIC", "HEADER_SIZE", "base_offset", "frame_offset", "level_layout", "assemble"]

MAGIC = b"\x89MLA\r\n\x1a\n"
HEADER_SIZE = 16
# Blosc2 frames start with a msgpack header whose bytes 2..8 read "b2frame"; checking this before
# calling into C keeps arbitrary files away from the C parser.
_FRAME_MAGIC = b"b2frame"


def base_offset(path: str) -> int:
    """Offset of the base frame; checks the header so damaged files fail here, in Python."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size

            def read(pos: int, n: int) -> bytes:
                fh.seek(pos)
                return fh.read(n)

            return frame_offset(read, size, path)
    except CorruptFileError:
        raise  # it is an OSError too; don't wrap our own message
    except OSError as exc:
        raise CorruptFileError(path, f"cannot be read ({exc.strerror or exc})") from None


def frame_offset(read: Callable[[int, int], bytes], size: int, path: str) -> int:
    """:func:`base_offset` of any byte source: ``read(pos, n)`` returns the bytes at ``pos``
    (a local file, or byte ranges of a remote one), ``size`` is the file's length."""
    head = read(0, HEADER_SIZE + 16)
    if head[:8] == MAGIC:
        if len(head) < HEADER_SIZE:
            raise CorruptFileError(path, "is truncated inside the MLArray header")
        (off,) = struct.unpack("<Q", head[8:16])
        if not HEADER_SIZE <= off < size:
            raise CorruptFileError(path, f"header points to the array at byte {off}, outside the "
                                         f"{size}-byte file (truncated or damaged)")
        if _FRAME_MAGIC not in read(off, 16):
            raise CorruptFileError(path, f"no Blosc2 frame at byte {off} where the header puts the array")
        return off
    if _FRAME_MAGIC in head[:16]:
        return 0  # a plain b2nd frame: written by the published mlarray 0.0.x
    raise CorruptFileError(path, "is not an MLArray file (no MLArray or Blosc2 header)")


def level_layout(frame_sizes: Sequence[int]) -> tuple[list[int], int]:
    """Offsets of the level frames and of the base frame that follows them."""
    offsets, pos = [], HEADER_SIZE
    for n in frame_sizes:
        offsets.append(pos)
        pos += int(n)
    return offsets, pos


def assemble(target: str, level_frames: Sequence[bytes], base_src: str, base_src_offset: int = 0) -> int:
    """Write header + level frames + the base frame copied from ``base_src``; returns the base offset."""
    _, base_off = level_layout([len(f) for f in level_frames])
    with open(target, "wb") as out:
        out.write(MAGIC + struct.pack("<Q", base_off))
        for frame in level_frames:
            out.write(frame)
        with open(base_src, "rb") as src:
            src.seek(base_src_offset)
            shutil.copyfileobj(src, out, 16 * 2**20)
        out.flush()
        os.fsync(out.fileno())
    return base_off
